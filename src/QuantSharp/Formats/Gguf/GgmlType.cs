namespace QuantSharp.Formats.Gguf;

/// <summary>
/// ggml tensor type ids as stored in a GGUF tensor info (<c>enum ggml_type</c>). Ids that llama.cpp retired
/// (4, 5, 31–33, 36–38) and the types QuantSharp does not read (NVFP4 = 40, Q1_0 = 41) are absent; a file that uses
/// one is rejected as an unknown type.
/// </summary>
public enum GgmlType : uint
{
    /// <summary>ggml's <c>GGML_TYPE_F32</c> (0).</summary>
    F32 = 0,
    /// <summary>ggml's <c>GGML_TYPE_F16</c> (1).</summary>
    F16 = 1,
    /// <summary>ggml's <c>GGML_TYPE_Q4_0</c> (2).</summary>
    Q4_0 = 2,
    /// <summary>ggml's <c>GGML_TYPE_Q4_1</c> (3).</summary>
    Q4_1 = 3,
    /// <summary>ggml's <c>GGML_TYPE_Q5_0</c> (6).</summary>
    Q5_0 = 6,
    /// <summary>ggml's <c>GGML_TYPE_Q5_1</c> (7).</summary>
    Q5_1 = 7,
    /// <summary>ggml's <c>GGML_TYPE_Q8_0</c> (8).</summary>
    Q8_0 = 8,
    /// <summary>ggml's <c>GGML_TYPE_Q8_1</c> (9).</summary>
    Q8_1 = 9,
    /// <summary>ggml's <c>GGML_TYPE_Q2_K</c> (10).</summary>
    Q2_K = 10,
    /// <summary>ggml's <c>GGML_TYPE_Q3_K</c> (11).</summary>
    Q3_K = 11,
    /// <summary>ggml's <c>GGML_TYPE_Q4_K</c> (12).</summary>
    Q4_K = 12,
    /// <summary>ggml's <c>GGML_TYPE_Q5_K</c> (13).</summary>
    Q5_K = 13,
    /// <summary>ggml's <c>GGML_TYPE_Q6_K</c> (14).</summary>
    Q6_K = 14,
    /// <summary>ggml's <c>GGML_TYPE_Q8_K</c> (15).</summary>
    Q8_K = 15,
    /// <summary>ggml's <c>GGML_TYPE_IQ2_XXS</c> (16).</summary>
    IQ2_XXS = 16,
    /// <summary>ggml's <c>GGML_TYPE_IQ2_XS</c> (17).</summary>
    IQ2_XS = 17,
    /// <summary>ggml's <c>GGML_TYPE_IQ3_XXS</c> (18).</summary>
    IQ3_XXS = 18,
    /// <summary>ggml's <c>GGML_TYPE_IQ1_S</c> (19).</summary>
    IQ1_S = 19,
    /// <summary>ggml's <c>GGML_TYPE_IQ4_NL</c> (20).</summary>
    IQ4_NL = 20,
    /// <summary>ggml's <c>GGML_TYPE_IQ3_S</c> (21).</summary>
    IQ3_S = 21,
    /// <summary>ggml's <c>GGML_TYPE_IQ2_S</c> (22).</summary>
    IQ2_S = 22,
    /// <summary>ggml's <c>GGML_TYPE_IQ4_XS</c> (23).</summary>
    IQ4_XS = 23,
    /// <summary>ggml's <c>GGML_TYPE_I8</c> (24).</summary>
    I8 = 24,
    /// <summary>ggml's <c>GGML_TYPE_I16</c> (25).</summary>
    I16 = 25,
    /// <summary>ggml's <c>GGML_TYPE_I32</c> (26).</summary>
    I32 = 26,
    /// <summary>ggml's <c>GGML_TYPE_I64</c> (27).</summary>
    I64 = 27,
    /// <summary>ggml's <c>GGML_TYPE_F64</c> (28).</summary>
    F64 = 28,
    /// <summary>ggml's <c>GGML_TYPE_IQ1_M</c> (29).</summary>
    IQ1_M = 29,
    /// <summary>ggml's <c>GGML_TYPE_BF16</c> (30).</summary>
    BF16 = 30,
    /// <summary>ggml's <c>GGML_TYPE_TQ1_0</c> (34).</summary>
    TQ1_0 = 34,
    /// <summary>ggml's <c>GGML_TYPE_TQ2_0</c> (35).</summary>
    TQ2_0 = 35,
    /// <summary>ggml's <c>GGML_TYPE_MXFP4</c> (39).</summary>
    MXFP4 = 39,
    /// <summary>ggml's <c>GGML_TYPE_Q2_0</c> (42).</summary>
    Q2_0 = 42,
}

/// <summary>Block geometry of each <see cref="GgmlType"/>: how many elements a block holds and how many bytes it takes.</summary>
public static class GgmlTypeInfo
{
    /// <summary>Elements per super-block of the K-quants and ternary types.</summary>
    public const int QK_K = 256;

    /// <summary>True when this library can dequantize <paramref name="type"/> (and so multiply by it).</summary>
    public static bool CanDequantize(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K
        or GgmlType.TQ1_0 or GgmlType.TQ2_0 or GgmlType.Q2_0 or GgmlType.IQ4_NL or GgmlType.IQ4_XS
        or GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ2_S or GgmlType.IQ3_XXS or GgmlType.IQ3_S or GgmlType.IQ1_S or GgmlType.IQ1_M;

    /// <summary>True when QuantSharp's GGUF quantizers (Quantization/Gguf) can produce <paramref name="type"/> from floats.</summary>
    public static bool CanQuantize(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0
        or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.TQ1_0 or GgmlType.TQ2_0 or GgmlType.Q2_0 or GgmlType.IQ4_NL;

    /// <summary>Elements per block (1 for plain types), or 0 for an unknown id.</summary>
    public static int BlockSize(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.F64
            or GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1
            or GgmlType.IQ4_NL or GgmlType.MXFP4 => 32,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K
            or GgmlType.IQ2_XXS or GgmlType.IQ2_XS or GgmlType.IQ3_XXS or GgmlType.IQ1_S or GgmlType.IQ3_S
            or GgmlType.IQ2_S or GgmlType.IQ4_XS or GgmlType.IQ1_M or GgmlType.TQ1_0 or GgmlType.TQ2_0 => QK_K,
        GgmlType.Q2_0 => 64,
        _ => 0,
    };

    /// <summary>Bytes per block (per element for plain types), or 0 for an unknown id.</summary>
    public static int TypeSize(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.I32 => 4,
        GgmlType.F16 or GgmlType.BF16 or GgmlType.I16 => 2,
        GgmlType.I8 => 1,
        GgmlType.F64 or GgmlType.I64 => 8,
        GgmlType.Q4_0 => 18,
        GgmlType.Q4_1 => 20,
        GgmlType.Q5_0 => 22,
        GgmlType.Q5_1 => 24,
        GgmlType.Q8_0 => 34,
        GgmlType.Q8_1 => 36,
        GgmlType.Q2_K => 84,
        GgmlType.Q3_K => 110,
        GgmlType.Q4_K => 144,
        GgmlType.Q5_K => 176,
        GgmlType.Q6_K => 210,
        GgmlType.Q8_K => 292,
        GgmlType.IQ2_XXS => 66,
        GgmlType.IQ2_XS => 74,
        GgmlType.IQ3_XXS => 98,
        GgmlType.IQ1_S => 50,
        GgmlType.IQ4_NL => 18,
        GgmlType.IQ3_S => 110,
        GgmlType.IQ2_S => 82,
        GgmlType.IQ4_XS => 136,
        GgmlType.IQ1_M => 56,
        GgmlType.TQ1_0 => 54,
        GgmlType.TQ2_0 => 66,
        GgmlType.MXFP4 => 17,
        GgmlType.Q2_0 => 18,
        _ => 0,
    };

    /// <summary>Bytes of one row of <paramref name="rowLength"/> elements; the length must be a multiple of the block size.</summary>
    public static long RowBytes(GgmlType type, long rowLength) => rowLength / BlockSize(type) * TypeSize(type);

    /// <summary>Bits per weight, e.g. 4.5 for Q4_0.</summary>
    public static double BitsPerWeight(GgmlType type) => TypeSize(type) * 8.0 / BlockSize(type);

    /// <summary>Lower-case name as llama.cpp's tools spell it ("q4_k", "tq2_0", "f16").</summary>
    public static string Name(GgmlType type) => type.ToString().ToLowerInvariant();

    /// <summary>Parses a name such as "q4_k" or "Q8_0" (case-insensitive); false for an unknown name.</summary>
    public static bool TryParse(string name, out GgmlType type)
    {
        foreach (GgmlType t in Enum.GetValues<GgmlType>())
        {
            if (string.Equals(t.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                type = t;
                return true;
            }
        }

        type = default;
        return false;
    }
}
