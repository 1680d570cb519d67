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
        // Blocks never straddle tokens (cols is a multiple of 32), so all tokens quantize as one row.
        float* scale = (float*)(scratch + (((long)tokens * cols + 31) & ~31L));
        int* sum = (int*)(scale + (long)tokens * (cols / 32));
        ActivationQuantizer.QuantizeRow(x, checked(tokens * cols), (sbyte*)scratch, scale, sum);
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
}
