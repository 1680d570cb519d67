using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// GGUF Q4_0 blocks split at load time into one array of 16-byte code groups and one array of F16 scales — the layout
/// of QuantSharp's int4-g32-sym, with the same bytes per weight (18 per 32) — so Q4_0 runs on the int4 kernels
/// (<see cref="Int4Kernels.DotRow"/>, <see cref="InterleavedPrefill.UnpackInt4"/>). In the file's 18-byte blocks the
/// code loads are unaligned and cross cache lines and the scales sit 18 bytes apart; split, the same weights decoded
/// 1.19–1.29× faster (docs/RESULTS.md, fourth pass). llama.cpp repacks Q4_0 at load for the same reason. The file's
/// blocks stay where they were (export and the scalar reference read them) and are not read by decode again.
/// </summary>
internal sealed unsafe class Q4_0SplitLayout
{
    private readonly byte[] _buffer;

    private Q4_0SplitLayout(int rows, int blocks)
    {
        Blocks = blocks;
        long codeBytes = (long)rows * blocks * 16;
        _buffer = GC.AllocateUninitializedArray<byte>(checked((int)(codeBytes + ((long)rows * blocks * 2))), pinned: true);
        fixed (byte* p = _buffer)
        {
            // Pinned (pinned object heap): the pointers stay valid while this object holds the array.
            Codes = p;
            Scales = (Half*)(p + codeBytes);
        }
    }

    /// <summary>Code groups: row r, block b at <c>Codes + (r · Blocks + b) · 16</c> (low nibbles weights 0–15, high 16–31).</summary>
    public byte* Codes { get; }

    /// <summary>Scales: row r, block b at <c>Scales[r · Blocks + b]</c>.</summary>
    public Half* Scales { get; }

    /// <summary>Blocks (32 weights each) per row.</summary>
    public int Blocks { get; }

    /// <summary>Splits <paramref name="rows"/> rows of <paramref name="blocks"/> Q4_0 blocks at <paramref name="data"/>
    /// (rows in parallel).</summary>
    public static Q4_0SplitLayout Create(byte* data, int rows, int blocks)
    {
        var layout = new Q4_0SplitLayout(rows, blocks);
        var state = (Data: (nint)data, Codes: (nint)layout.Codes, Scales: (nint)layout.Scales, Blocks: blocks);
        Parallel.For(0, rows, r =>
        {
            var source = (BlockQ4_0*)state.Data + ((long)r * state.Blocks);
            byte* codes = (byte*)state.Codes + ((long)r * state.Blocks * 16);
            Half* scales = (Half*)state.Scales + ((long)r * state.Blocks);
            for (int b = 0; b < state.Blocks; b++)
            {
                scales[b] = source[b].D;
                Buffer.MemoryCopy(source[b].Qs, codes + (b * 16), 16, 16);
            }
        });
        return layout;
    }
}
