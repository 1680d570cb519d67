namespace QuantSharp.Quantization;

/// <summary>The weight quantization schemes QuantSharp can pack and compute on. The numeric values are the
/// scheme ids stored in each packed weight's <c>qmeta</c> tensor (see docs/formats.md), so they never change.</summary>
public enum QuantSchemeKind
{
    /// <summary>8-bit symmetric, one absmax scale per output row.</summary>
    Int8 = 1,

    /// <summary>4-bit integers grouped along the input dimension, symmetric or with a zero point per group.</summary>
    Int4 = 2,

    /// <summary>bitsandbytes NormalFloat-4 code book, absmax per block of 64.</summary>
    Nf4 = 3,

    /// <summary>bitsandbytes FP4 (e2m1, bias 3) code book, absmax per block of 64.</summary>
    Fp4 = 4,

    /// <summary>1.58-bit {-1, 0, +1} with an absmean scale (BitNet b1.58), 2 bits per weight.</summary>
    Ternary = 5,

    /// <summary>3-bit integers grouped along the input dimension (<see cref="IntGroupScheme"/>), symmetric or with a zero point per group.</summary>
    Int3 = 6,

    /// <summary>2-bit integers grouped along the input dimension (<see cref="IntGroupScheme"/>), symmetric or with a zero point per group.</summary>
    Int2 = 7,

    /// <summary>llama.cpp's IQ2_XS lattice codebook (<see cref="LatticeScheme"/>): 2.31 bits per weight.</summary>
    Iq2Xs = 8,

    /// <summary>llama.cpp's IQ2_S lattice codebook (<see cref="LatticeScheme"/>): 2.56 bits per weight.</summary>
    Iq2S = 9,

    /// <summary>llama.cpp's IQ3_XXS lattice codebook (<see cref="LatticeScheme"/>): 3.06 bits per weight.</summary>
    Iq3Xxs = 10,

    /// <summary>llama.cpp's IQ3_S lattice codebook (<see cref="LatticeScheme"/>): 3.44 bits per weight.</summary>
    Iq3S = 11,
}

/// <summary>Which weights share one ternary absmean scale. Values are stored in <c>qmeta</c>.</summary>
public enum TernaryGranularity
{
    /// <summary>One scale for the whole matrix (BitNet b1.58).</summary>
    PerTensor = 0,

    /// <summary>One scale per output row.</summary>
    PerRow = 1,

    /// <summary>One scale per group of <see cref="QuantSpec.GroupSize"/> inputs of a row.</summary>
    PerGroup = 2,
}
