namespace QuantSharp.Kernels;

/// <summary>
/// Which instruction-set path the decode kernels take. Each kernel keeps a scalar reference and an AVX2 path; where
/// the CPU has AVX-512 (F + BW, with 512-bit vectors accelerated) the compute-bound kernels also have a 512-bit path,
/// which doubles the work per instruction. Setting the environment variable <c>QUANTSHARP_NO_AVX512=1</c> keeps them
/// on AVX2 (for A/B measurements and to exercise the AVX2 path on an AVX-512 machine).
/// </summary>
internal static class KernelIsa
{
    /// <summary>Whether the 512-bit kernels run.</summary>
    internal static readonly bool UseAvx512 =
        Avx512F.IsSupported && Avx512BW.IsSupported && Vector512.IsHardwareAccelerated
        && Environment.GetEnvironmentVariable("QUANTSHARP_NO_AVX512") != "1";

    /// <summary>Whether the 256-bit AVX2 + FMA kernels can run.</summary>
    internal static bool UseAvx2 => Avx2.IsSupported && Fma.IsSupported;
}
