using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Text.Json;
using QuantSharp.Tensors;

namespace QuantSharp.Formats;

/// <summary>One tensor of a random checkpoint: its name, shape, and either random values or a constant.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Shape">Shape.</param>
/// <param name="Constant">When set, every element has this value (norm weights); otherwise random.</param>
/// <param name="Outliers">Random values only: a few input columns (the last dimension; about 1 in 200, the same
/// columns in every tensor of that width) are scaled ×<see cref="RandomSafetensorsWriter.OutlierScale"/>, as trained
/// LLM weights have salient input channels, so that quantizing them is representative.</param>
public sealed record RandomTensorSpec(string Name, long[] Shape, float? Constant = null, bool Outliers = false)
{
    /// <summary>Number of elements.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Writes a safetensors file of deterministic pseudo-random tensors quickly enough for billion-parameter checkpoints:
/// the header is computed first, the file is sized and memory-mapped, and chunks of every tensor are filled in parallel
/// straight into the mapping (no second copy through a temporary data file). The file appears atomically (temp, then rename).
/// </summary>
/// <remarks>
/// Values are approximately normal with mean 0 and standard deviation <c>std</c>: the Irwin–Hall sum of four 16-bit
/// uniforms from one SplitMix64 output, centred and scaled (bounded at ±3.46σ, which does not matter for speed
/// measurements and keeps generation at about a nanosecond per value). Each chunk of <see cref="ChunkElements"/> elements
/// has its own stream seeded from (seed, tensor index, chunk index), so the bytes do not depend on the thread count.
/// </remarks>
[SkipLocalsInit]
public static unsafe class RandomSafetensorsWriter
{
    /// <summary>Elements per independently seeded chunk.</summary>
    public const int ChunkElements = 1 << 16;

    /// <summary>How much larger the values of an outlier column are (see <see cref="RandomTensorSpec.Outliers"/>).</summary>
    public const float OutlierScale = 8f;

    /// <summary>Whether input column <paramref name="column"/> is an outlier column (about 1 in 200, fixed by the seed).</summary>
    public static bool IsOutlierColumn(ulong seed, long column)
    {
        ulong state = seed ^ ((ulong)column * 0xD6E8FEB86659FD93UL) ^ 0x5851F42D4C957F2DUL;
        return SplitMix(ref state) % 200 == 0;
    }

    /// <summary>Writes <paramref name="tensors"/> in <paramref name="dtype"/> to <paramref name="path"/>.</summary>
    /// <param name="path">Output file; replaced atomically.</param>
    /// <param name="tensors">Tensors in file order.</param>
    /// <param name="dtype">F32, F16 or BF16.</param>
    /// <param name="seed">Random seed.</param>
    /// <param name="std">Standard deviation of the random values.</param>
    /// <param name="progress">Called with (bytes done, bytes total) from worker threads.</param>
    /// <exception cref="ArgumentException">A non-float dtype or an empty tensor list.</exception>
    public static void Write(string path, IReadOnlyList<RandomTensorSpec> tensors, DType dtype, ulong seed, float std, Action<long, long>? progress = null)
    {
        if (!DTypeInfo.IsFloat(dtype))
        {
            throw new ArgumentException($"random tensors must be F32, F16 or BF16, not {dtype}", nameof(dtype));
        }

        if (tensors.Count == 0)
        {
            throw new ArgumentException("no tensors to write", nameof(tensors));
        }

        int elementSize = DTypeInfo.SizeOf(dtype);
        var offsets = new long[tensors.Count + 1];
        for (int i = 0; i < tensors.Count; i++)
        {
            offsets[i + 1] = offsets[i] + (tensors[i].ElementCount * elementSize);
        }

        byte[] header = Header(tensors, dtype, offsets);
        long dataStart = 8 + header.Length;
        long total = dataStart + offsets[^1];
        var chunks = new List<(int Tensor, long Chunk)>();
        for (int i = 0; i < tensors.Count; i++)
        {
            long n = (tensors[i].ElementCount + ChunkElements - 1) / ChunkElements;
            for (long c = 0; c < n; c++)
            {
                chunks.Add((i, c));
            }
        }

        var outlierColumns = new Dictionary<long, bool[]>();
        foreach (RandomTensorSpec t in tensors)
        {
            long width = t.Shape[^1];
            if (t.Outliers && !outlierColumns.ContainsKey(width))
            {
                outlierColumns[width] = [.. Enumerable.Range(0, checked((int)width)).Select(c => IsOutlierColumn(seed, c))];
            }
        }

        AtomicFile.Write(path, stream =>
        {
            stream.SetLength(total);
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            stream.Write(len);
            stream.Write(header);
            stream.Flush();
            using var map = MemoryMappedFile.CreateFromFile(stream, null, total, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
            using MemoryMappedViewAccessor view = map.CreateViewAccessor(0, total, MemoryMappedFileAccess.ReadWrite);
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            try
            {
                byte* data = basePtr + view.PointerOffset + dataStart;
                long done = 0;
                Parallel.For(0, chunks.Count, k =>
                {
                    (int t, long c) = chunks[k];
                    RandomTensorSpec spec = tensors[t];
                    long first = c * ChunkElements;
                    int count = (int)Math.Min(ChunkElements, spec.ElementCount - first);
                    bool[]? outliers = spec.Outliers ? outlierColumns[spec.Shape[^1]] : null;
                    Fill(data + offsets[t] + (first * elementSize), count, dtype, spec.Constant, Mix(seed, (ulong)t, (ulong)c), std, outliers, first);
                    long now = Interlocked.Add(ref done, (long)count * elementSize);
                    progress?.Invoke(now, offsets[^1]);
                });
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }

            view.Flush();
        });
    }

    private static byte[] Header(IReadOnlyList<RandomTensorSpec> tensors, DType dtype, long[] offsets)
        => SafetensorsHeader.Build(
            new Dictionary<string, string> { ["format"] = "pt", ["quantsharp_synthetic"] = "random weights, for speed measurements only" },
            tensors.Select((t, i) => new SafetensorsEntry(t.Name, dtype, t.Shape, offsets[i], offsets[i + 1])));

    private static ulong Mix(ulong seed, ulong tensor, ulong chunk)
    {
        ulong state = seed ^ (tensor * 0x9E3779B97F4A7C15UL) ^ (chunk * 0xC2B2AE3D27D4EB4FUL);
        return SplitMix(ref state);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Fills <paramref name="count"/> elements at <paramref name="destination"/> (element <paramref name="first"/>
    /// of its tensor onwards); columns marked in <paramref name="outliers"/> are scaled by <see cref="OutlierScale"/>.</summary>
    internal static void Fill(byte* destination, int count, DType dtype, float? constant, ulong state, float std, bool[]? outliers = null, long first = 0)
    {
        const int Block = 4096;
        float* values = stackalloc float[Block];
        // Four U(0, 65536) summed have mean 131070 and standard deviation 65536 / sqrt(3).
        float scale = std / (65536f / MathF.Sqrt(3f));
        for (int start = 0; start < count; start += Block)
        {
            int n = Math.Min(Block, count - start);
            if (constant is float c)
            {
                new Span<float>(values, n).Fill(c);
            }
            else
            {
                for (int i = 0; i < n; i++)
                {
                    ulong r = SplitMix(ref state);
                    long sum = (long)(r & 0xFFFF) + (long)((r >> 16) & 0xFFFF) + (long)((r >> 32) & 0xFFFF) + (long)(r >> 48);
                    values[i] = (sum - 131070) * scale;
                }

                if (outliers is not null)
                {
                    int column = (int)((first + start) % outliers.Length);
                    for (int i = 0; i < n; i++)
                    {
                        if (outliers[column])
                        {
                            values[i] *= OutlierScale;
                        }

                        if (++column == outliers.Length)
                        {
                            column = 0;
                        }
                    }
                }
            }

            var source = new ReadOnlySpan<float>(values, n);
            switch (dtype)
            {
                case DType.F32:
                    source.CopyTo(new Span<float>(destination + (start * 4L), n));
                    break;
                case DType.F16:
                    TensorPrimitives.ConvertToHalf(source, new Span<Half>(destination + (start * 2L), n));
                    break;
                default:
                    ushort* bf = (ushort*)(destination + (start * 2L));
                    for (int i = 0; i < n; i++)
                    {
                        bf[i] = BFloat16.FromSingle(values[i]);
                    }

                    break;
            }
        }
    }
}
