#:project ../../src/QuantSharp/QuantSharp.csproj
#:property AllowUnsafeBlocks=true
using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;

// Compares QuantSharp's quantizers byte for byte with llama.cpp's quantize_row_*_ref from node-llama-cpp's libggml-base.so.
string lib = args[0];
nint h = NativeLibrary.Load(lib);
var rng = new Random(42);
int n = 256 * 64;
int total = 0, mismatched = 0;
foreach (var (type, fn) in new[] { (GgmlType.Q8_0, "quantize_row_q8_0_ref"), (GgmlType.Q4_0, "quantize_row_q4_0_ref"), (GgmlType.Q4_1, "quantize_row_q4_1_ref"),
    (GgmlType.Q5_0, "quantize_row_q5_0_ref"), (GgmlType.Q5_1, "quantize_row_q5_1_ref"), (GgmlType.Q4_K, "quantize_row_q4_K_ref"), (GgmlType.Q5_K, "quantize_row_q5_K_ref"),
    (GgmlType.Q6_K, "quantize_row_q6_K_ref"), (GgmlType.TQ1_0, "quantize_row_tq1_0_ref"), (GgmlType.TQ2_0, "quantize_row_tq2_0_ref"), (GgmlType.Q2_0, "quantize_row_q2_0_ref"),
    (GgmlType.IQ4_NL, "quantize_iq4_nl") })
{
    unsafe
    {
        // IQ4_NL's _ref is not what llama-quantize writes: quantize_iq4_nl(src, dst, nrow, n_per_row, imatrix = NULL) is.
        var f = (delegate* unmanaged<float*, byte*, long, void>)NativeLibrary.GetExport(h, fn);
        var chunk = (delegate* unmanaged<float*, byte*, long, long, float*, nuint>)NativeLibrary.GetExport(h, fn);
        for (int trial = 0; trial < 3; trial++)
        {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, trial - 1) * (1 + 3 * rng.NextDouble() * (i % 97 == 0 ? 1 : 0)));
            var ours = new byte[GgmlTypeInfo.RowBytes(type, n)];
            var theirs = new byte[ours.Length];
            GgufQuantize.Row(type, x, ours);
            fixed (float* px = x) fixed (byte* pt = theirs)
            {
                if (type == GgmlType.IQ4_NL) chunk(px, pt, 1, n, null); else f(px, pt, n);
            }
            int bs = GgmlTypeInfo.TypeSize(type), diff = 0;
            for (int b = 0; b < ours.Length / bs; b++) if (!ours.AsSpan(b * bs, bs).SequenceEqual(theirs.AsSpan(b * bs, bs))) diff++;
            total += ours.Length / bs; mismatched += diff;
            Console.WriteLine($"{type,-6} trial {trial}: {diff}/{ours.Length / bs} blocks differ");
        }
    }
}
Console.WriteLine($"total {mismatched}/{total} blocks differ");

// And the dequantizers of the types QuantSharp reads but does not write: random blocks (finite F16 scales) through both.
int dtotal = 0, dmismatched = 0;
foreach (var (type, fn) in new[] { (GgmlType.Q2_K, "dequantize_row_q2_K"), (GgmlType.Q3_K, "dequantize_row_q3_K"), (GgmlType.IQ4_XS, "dequantize_row_iq4_xs"),
    (GgmlType.IQ4_NL, "dequantize_row_iq4_nl"), (GgmlType.Q2_0, "dequantize_row_q2_0") })
{
    unsafe
    {
        var f = (delegate* unmanaged<byte*, float*, long, void>)NativeLibrary.GetExport(h, fn);
        int bs = GgmlTypeInfo.TypeSize(type), count = GgmlTypeInfo.BlockSize(type) * 64;
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, count)];
        rng.NextBytes(bytes);
        for (int off = 0; off + 1 < bytes.Length; off++)
        {
            // Any byte pair may be an F16 scale in some type: keep exponents finite by clearing the top exponent bit.
            if (((off % bs) is 0 or 1 && type is GgmlType.IQ4_XS or GgmlType.IQ4_NL or GgmlType.Q2_0) || ((off % bs) >= bs - 4 && type == GgmlType.Q2_K) || ((off % bs) >= bs - 2 && type == GgmlType.Q3_K))
            {
                if (off % 2 == 1) bytes[off] &= 0xBF;
            }
        }
        var ours = new float[count];
        var theirs = new float[count];
        GgufDequantize.Row(type, bytes, ours);
        fixed (byte* pb = bytes) fixed (float* pt = theirs) f(pb, pt, count);
        int diff = 0;
        for (int i = 0; i < count; i++) if (BitConverter.SingleToInt32Bits(ours[i]) != BitConverter.SingleToInt32Bits(theirs[i])) diff++;
        dtotal += count; dmismatched += diff;
        Console.WriteLine($"{type,-6} dequantize: {diff}/{count} values differ");
    }
}
Console.WriteLine($"dequantize total {dmismatched}/{dtotal} values differ");
