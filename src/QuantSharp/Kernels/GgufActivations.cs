using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Kernels;

/// <summary>
/// One token's activations quantized once per call for the integer GGUF kernels: blocks of 32 int8 values with a
/// float scale each (<c>x ≈ Scale[b] · Q[32b + i]</c>) and the block's integer sum (for the min term of Q4_K).
/// A float scale per 32 values keeps the activation error at or below llama.cpp's (Q8_0 with a half scale, or Q8_K
/// with one scale per 256).
/// </summary>
internal unsafe struct GgufActivations
{
    public sbyte* Q;
    public float* Scale;
    public int* Sum;

    /// <summary>Bytes of scratch needed for <paramref name="tokens"/> × <paramref name="cols"/> activations.</summary>
    public static nuint ScratchBytes(int tokens, int cols) => (nuint)((long)tokens * cols + (long)tokens * (cols / 32) * 8 + 64);

    /// <summary>Quantizes <paramref name="tokens"/> rows of <paramref name="cols"/> floats (cols a multiple of 32) into
    /// <paramref name="scratch"/>; token t's view is <c>At(scratch, tokens, cols, t)</c>.</summary>
    public static void Quantize(float* x, int tokens, int cols, byte* scratch)
    {
        int blocks = cols / 32;
        sbyte* q = (sbyte*)scratch;
        float* scale = (float*)(scratch + (((long)tokens * cols + 31) & ~31L));
        int* sum = (int*)(scale + (long)tokens * blocks);
        long totalBlocks = (long)tokens * blocks;
        for (long b = 0; b < totalBlocks; b++)
        {
            QuantizeBlock(x + b * 32, q + b * 32, out scale[b], out sum[b]);
        }
    }

    public static GgufActivations At(byte* scratch, int tokens, int cols, int token)
    {
        int blocks = cols / 32;
        float* scale = (float*)(scratch + (((long)tokens * cols + 31) & ~31L));
        int* sum = (int*)(scale + (long)tokens * blocks);
        return new GgufActivations
        {
            Q = (sbyte*)scratch + (long)token * cols,
            Scale = scale + (long)token * blocks,
            Sum = sum + (long)token * blocks,
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuantizeBlock(float* x, sbyte* q, out float scale, out int sum)
    {
        if (Avx2.IsSupported)
        {
            var signMask = Vector256.Create(0x7FFFFFFF).AsSingle();
            Vector256<float> a0 = Avx.LoadVector256(x), a1 = Avx.LoadVector256(x + 8), a2 = Avx.LoadVector256(x + 16), a3 = Avx.LoadVector256(x + 24);
            Vector256<float> m = Avx.Max(Avx.Max(Avx.And(a0, signMask), Avx.And(a1, signMask)), Avx.Max(Avx.And(a2, signMask), Avx.And(a3, signMask)));
            Vector128<float> m4 = Sse.Max(m.GetLower(), m.GetUpper());
            m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b01_00_11_10));
            m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b10_11_00_01));
            float amax = m4.ToScalar();
            scale = amax / 127f;
            var inv = Vector256.Create(scale != 0 ? 127f / amax : 0f);
            Vector256<int> i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(a0, inv)));
            Vector256<int> i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(a1, inv)));
            Vector256<int> i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(a2, inv)));
            Vector256<int> i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(a3, inv)));
            Vector256<int> s = Avx2.Add(Avx2.Add(i0, i1), Avx2.Add(i2, i3));
            Vector128<int> s4 = Sse2.Add(s.GetLower(), s.GetUpper());
            s4 = Sse2.Add(s4, Sse2.Shuffle(s4, 0b01_00_11_10));
            s4 = Sse2.Add(s4, Sse2.Shuffle(s4, 0b10_11_00_01));
            sum = s4.ToScalar();
            // Pack 32 ints → 32 sbytes; the packs work per 128-bit lane, so restore order with a dword permute.
            Vector256<short> p01 = Avx2.PackSignedSaturate(i0, i1);
            Vector256<short> p23 = Avx2.PackSignedSaturate(i2, i3);
            Vector256<sbyte> p = Avx2.PackSignedSaturate(p01, p23);
            p = Avx2.PermuteVar8x32(p.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
            Avx.Store(q, p);
            return;
        }

        QuantizeBlockScalar(x, q, out scale, out sum);
    }

    internal static void QuantizeBlockScalar(float* x, sbyte* q, out float scale, out int sum)
    {
        float amax = 0;
        for (int i = 0; i < 32; i++)
        {
            amax = Math.Max(amax, MathF.Abs(x[i]));
        }

        scale = amax / 127f;
        float inv = scale != 0 ? 127f / amax : 0f;
        sum = 0;
        for (int i = 0; i < 32; i++)
        {
            int v = (int)MathF.Round(x[i] * inv, MidpointRounding.ToEven);
            q[i] = (sbyte)v;
            sum += v;
        }
    }
}
