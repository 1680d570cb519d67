using QuantSharp.Quantization.Gguf;
using System.Buffers.Binary;
using System.Diagnostics;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>
/// 10,000 corrupted copies of a valid file (flipped bytes, truncations, huge and small integers spliced into the
/// header): the reader must either accept the copy or throw a <see cref="GgufException"/> — never another exception
/// type, never allocate far beyond the file's size, never hang.
/// </summary>
public class GgufFuzzTests
{
    private static readonly ulong[] s_hugeValues =
    [
        ulong.MaxValue, ulong.MaxValue - 7, 1UL << 63, (1UL << 63) - 1, 1UL << 62, 1UL << 32, (1UL << 32) - 1,
        1UL << 31, int.MaxValue, 1UL << 40, 0x8000_0000_0000_0001UL,
    ];

    [Fact]
    public void CorruptedCopies_OnlyThrowGgufException()
    {
        byte[] original = GgufTestFiles.Sample();
        long headerEnd;
        using (GgufFile valid = GgufFile.Parse(original))
        {
            headerEnd = valid.DataOffset;
        }

        var rng = new Random(20240601);
        var seen = new Dictionary<GgufError, int>();
        int accepted = 0;
        var watch = Stopwatch.StartNew();
        var row = new float[4096];
        for (int iteration = 0; iteration < 10_000; iteration++)
        {
            byte[] copy = Mutate(original, (int)headerEnd, rng);
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using GgufFile file = GgufFile.Parse(copy, "fuzz.gguf");
                accepted++;
                foreach (var (_, value) in file.ValuesInOrder)
                {
                    _ = value.ToString();
                }

                foreach (GgufTensorInfo t in file.TensorsInOrder)
                {
                    if (GgmlTypeInfo.CanDequantize(t.Type) && t.RowCount > 0 && t.RowLength <= row.Length)
                    {
                        t.DequantizeRow(0, row);
                    }
                }
            }
            catch (GgufException e)
            {
                seen[e.Error] = seen.GetValueOrDefault(e.Error) + 1;
                Assert.StartsWith("fuzz.gguf: ", e.Message, StringComparison.Ordinal);
            }
            catch (Exception e)
            {
                Assert.Fail($"iteration {iteration}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 32L * copy.Length + (1 << 20), $"iteration {iteration}: parsing a {copy.Length}-byte file allocated {allocated} bytes");
        }

        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"fuzzing took {watch.Elapsed}");

        // The mutations must actually reach the validation paths.
        Assert.InRange(accepted, 100, 9_000);
        foreach (GgufError kind in new[] { GgufError.Truncated, GgufError.CountTooLarge, GgufError.StringTooLong, GgufError.BadMagic,
                     GgufError.UnsupportedVersion, GgufError.UnknownValueType, GgufError.UnknownTensorType, GgufError.TensorOutOfRange })
        {
            Assert.True(seen.ContainsKey(kind), $"no mutation produced {kind}; seen: {string.Join(", ", seen.Select(p => $"{p.Key}={p.Value}"))}");
        }
    }

    private static byte[] Mutate(byte[] original, int headerEnd, Random rng)
    {
        byte[] copy = (byte[])original.Clone();
        int mutations = 1 + rng.Next(3);
        for (int m = 0; m < mutations; m++)
        {
            // Most damage goes into the header, where every byte is interpreted.
            int Position(int width) => Math.Max(0, Math.Min(copy.Length, rng.Next(10) < 8 ? rng.Next(headerEnd) : rng.Next(copy.Length + 1)) - width);
            switch (rng.Next(6))
            {
                case 0:
                    for (int i = 1 + rng.Next(8); i > 0 && copy.Length > 0; i--)
                    {
                        copy[Position(1)] = (byte)rng.Next(256);
                    }

                    break;
                case 1:
                    if (copy.Length > 0)
                    {
                        copy[Position(1)] ^= (byte)(1 << rng.Next(8));
                    }

                    break;
                case 2:
                    Array.Resize(ref copy, rng.Next(rng.Next(10) < 8 ? headerEnd + 1 : copy.Length));
                    break;
                case 3:
                    if (copy.Length >= 8)
                    {
                        int at = rng.Next(2) == 0 ? Position(8) & ~3 : Position(8);
                        ulong huge = rng.Next(4) == 0 ? (ulong)rng.NextInt64() : s_hugeValues[rng.Next(s_hugeValues.Length)];
                        BinaryPrimitives.WriteUInt64LittleEndian(copy.AsSpan(Math.Min(at, copy.Length - 8)), huge);
                    }

                    break;
                case 4:
                    if (copy.Length >= 4)
                    {
                        int at = Position(4);
                        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(Math.Min(at, copy.Length - 4)), (uint)rng.Next(-2, 45));
                    }

                    break;
                default:
                    // Duplicate a slice of the header over another place (plausible-looking structure in the wrong spot).
                    int from = rng.Next(headerEnd), to = rng.Next(headerEnd), len = rng.Next(1, 40);
                    len = Math.Min(len, Math.Min(copy.Length - from, copy.Length - to));
                    if (len > 0)
                    {
                        Buffer.BlockCopy(original, from, copy, to, len);
                    }

                    break;
            }
        }

        return copy;
    }
}
