using QuantSharp.Quantization.Gguf;
using System.Runtime.InteropServices;
using QuantSharp.Models;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Kernels;

/// <summary>A linear weight under test and whatever keeps its memory alive (a file, a folder, a pinned array).</summary>
internal sealed class BuiltLinear(ILinearWeight linear, params IDisposable?[] owners) : IDisposable
{
    public ILinearWeight Linear { get; } = linear;

    /// <summary>The safetensors file the weight reads, where it reads one.</summary>
    public SafetensorsFile? File { get; init; }

    public void Dispose()
    {
        foreach (IDisposable? owner in owners)
        {
            owner?.Dispose();
        }
    }
}

/// <summary>
/// One way to hold a weight matrix: how to make it from floats (<see cref="Create"/>) and how to save it in its storage
/// form and load it back (<see cref="SaveAndLoad"/>).
/// </summary>
/// <param name="Name">The case's name in test output.</param>
/// <param name="Granularity">Input lengths must be multiples of this (1 when any length works).</param>
/// <param name="RowGranularity">Output counts must be multiples of this (the HF layouts pack 8 or 16 rows per word).</param>
/// <param name="ActivationBlock">0 when activations stay float; else the block over which the kernel rounds them to int8.</param>
/// <param name="MatMulReordersSums">True when the multi-token path sums in another order than MatVec (equal up to rounding).</param>
internal sealed record LinearCase(
    string Name,
    int Granularity,
    int RowGranularity,
    int ActivationBlock,
    bool MatMulReordersSums,
    Func<float[], int, int, BuiltLinear> Create,
    Func<BuiltLinear, string, BuiltLinear> SaveAndLoad)
{
    public override string ToString() => Name;

    /// <summary><paramref name="rows"/> rounded up to a row count this format can hold.</summary>
    public int FitRows(int rows) => (rows + RowGranularity - 1) / RowGranularity * RowGranularity;
}

/// <summary>Every <see cref="ILinearWeight"/> implementation QuantSharp has, in each of its formats.</summary>
internal static class LinearCases
{
    public static readonly IReadOnlyList<LinearCase> All = Build();

    public static LinearCase Get(string name) => All.Single(c => c.Name == name);

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (LinearCase c in All)
        {
            data.Add(c.Name);
        }

        return data;
    }

    private static List<LinearCase> Build()
    {
        var cases = new List<LinearCase>();
        foreach (DType dtype in (DType[])[DType.F32, DType.F16, DType.BF16])
        {
            cases.Add(new LinearCase($"dense-{dtype.ToString().ToLowerInvariant()}", 1, 1, 0, true, (w, rows, cols) => Dense(dtype, w, rows, cols), SaveDense));
        }

        QuantSpec[] specs =
        [
            .. Quantization.QuantTestData.AllSpecs,
            QuantSpec.Int3(128, false), QuantSpec.Int3(32, true), QuantSpec.Int2(64, false), QuantSpec.Int2(32, true),
            QuantSpec.Lattice(QuantSchemeKind.Iq2Xs), QuantSpec.Lattice(QuantSchemeKind.Iq2S),
            QuantSpec.Lattice(QuantSchemeKind.Iq3Xxs), QuantSpec.Lattice(QuantSchemeKind.Iq3S),
        ];
        foreach (QuantSpec spec in specs)
        {
            bool floatActivations = spec.Kind is QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4 || (spec.IsLattice && !LatticeProduct.RoundsActivations(LatticeFormat.For(spec.Kind)!.Type));
            cases.Add(new LinearCase(spec.Name, spec.IsLattice ? LatticeFormat.BlockWeights : 1, 1, floatActivations ? 0 : ActivationQuantizer.Block,
                spec.Kind is QuantSchemeKind.Int8 or QuantSchemeKind.Int4 or QuantSchemeKind.Ternary or QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4 or QuantSchemeKind.Int3 or QuantSchemeKind.Int2 || spec.IsLattice,
                (w, rows, cols) => new BuiltLinear(QuantizedLinear.Quantize("w", w, rows, cols, spec)),
                SaveQuantized));
        }

        foreach (GgmlType type in (GgmlType[])[GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.TQ2_0, GgmlType.Q2_0, GgmlType.IQ4_NL,
                     GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q5_K, GgmlType.TQ1_0, GgmlType.IQ2_XS, GgmlType.IQ3_S])
        {
            bool int8Activations = GgufKernels.HasDirectKernel(type) || LatticeProduct.RoundsActivations(type);
            cases.Add(new LinearCase($"gguf-{GgmlTypeInfo.Name(type)}", GgmlTypeInfo.BlockSize(type), 1, int8Activations ? 32 : 0, true,
                (w, rows, cols) => Gguf(type, w, rows, cols), SaveGguf));
        }

        cases.Add(new LinearCase("hf-gptq-int4-g32", 32, 8, 0, true, (w, rows, cols) => Hf(HfQuantLayout.Gptq, QuantSpec.Int4(32, false), w, rows, cols), (b, dir) => SaveHf(b, dir, HfQuantLayout.Gptq, QuantSpec.Int4(32, false))));
        cases.Add(new LinearCase("hf-gptq-int2-g64", 64, 16, 0, true, (w, rows, cols) => Hf(HfQuantLayout.Gptq, QuantSpec.Int2(64, true), w, rows, cols), (b, dir) => SaveHf(b, dir, HfQuantLayout.Gptq, QuantSpec.Int2(64, true))));
        cases.Add(new LinearCase("hf-awq-int4-g128", 128, 8, 0, true, (w, rows, cols) => Hf(HfQuantLayout.AwqGemm, QuantSpec.Int4(128, false), w, rows, cols), (b, dir) => SaveHf(b, dir, HfQuantLayout.AwqGemm, QuantSpec.Int4(128, false))));
        return cases;
    }

    private static BuiltLinear Dense(DType dtype, float[] w, int rows, int cols)
        => new(new DenseLinear(TensorView.FromBytes("w", dtype, [rows, cols], Bytes(dtype, w))));

    private static BuiltLinear SaveDense(BuiltLinear built, string dir)
    {
        ILinearWeight w = built.Linear;
        DType dtype = Enum.Parse<DType>(w.Scheme, ignoreCase: true);
        return Reopen(dir, writer => writer.Add("w", dtype, [w.Rows, w.Cols], Bytes(dtype, Rows(w))), f => new DenseLinear(f.Tensors["w"]));
    }

    private static byte[] Bytes(DType dtype, float[] w) => dtype switch
    {
        DType.F32 => MemoryMarshal.AsBytes(w.AsSpan()).ToArray(),
        DType.F16 => MemoryMarshal.AsBytes(w.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
        _ => MemoryMarshal.AsBytes(w.Select(BFloat16.FromSingle).ToArray().AsSpan()).ToArray(),
    };

    private static BuiltLinear SaveQuantized(BuiltLinear built, string dir)
        => Reopen(dir, writer => QuantizedLinear.Write(writer, "w.weight", built.Linear), f => QuantizedLinear.Load("w.weight", f.Tensors));

    /// <summary>Quantizes with QuantSharp's GGUF quantizers, or for the lattice types with the lattice scheme (its stored
    /// form is the GGUF blocks), and wraps the blocks the way a loaded GGUF file's tensor is wrapped.</summary>
    private static BuiltLinear Gguf(GgmlType type, float[] w, int rows, int cols)
    {
        byte[] blocks;
        if (LatticeFormat.For(type) is { } lattice)
        {
            var packed = (LatticeLinear)QuantizedLinear.Quantize("w", w, rows, cols, QuantSpec.Lattice(lattice.Kind));
            blocks = Enumerable.Range(0, rows).SelectMany(r => packed.RowData(r).ToArray()).ToArray();
        }
        else
        {
            blocks = GgufQuantize.Matrix(type, w, rows, cols);
        }

        using var writer = new GgufWriter();
        writer.AddTensor("w", type, [cols, rows], blocks);
        GgufFile file = GgufFile.Parse(writer.ToArray(), $"{type}-{rows}x{cols}");
        return new BuiltLinear(GgufLinear.Create(file.GetTensor("w")), file);
    }

    private static BuiltLinear SaveGguf(BuiltLinear built, string dir)
    {
        ILinearWeight w = built.Linear;
        GgmlType type = w switch
        {
            GgufLinear g => g.Type,
            GgufDequantLinear d => d.Type,
            _ => throw new ArgumentException(w.GetType().Name),
        };
        byte[] blocks = Enumerable.Range(0, w.Rows).SelectMany(r => RowData(w, r)).ToArray();
        string path = Path.Combine(dir, "w.gguf");
        using (var writer = new GgufWriter(dir))
        {
            writer.AddTensor("w", type, [w.Cols, w.Rows], blocks);
            writer.Commit(path);
        }

        GgufFile file = GgufFile.Open(path);
        return new BuiltLinear(GgufLinear.Create(file.GetTensor("w")), file);
    }

    private static byte[] RowData(ILinearWeight w, int row) => w switch
    {
        GgufLinear g => g.RowData(row).ToArray(),
        GgufDequantLinear d => d.RowData(row).ToArray(),
        _ => throw new ArgumentException(w.GetType().Name),
    };

    /// <summary>Quantizes with QuantSharp, writes the Hugging Face layout, and reads it with the HF reader.</summary>
    private static BuiltLinear Hf(HfQuantLayout layout, QuantSpec spec, float[] w, int rows, int cols)
    {
        PackedLinear ours = QuantizedLinear.Quantize("w", w, rows, cols, spec);
        var dir = new TempDir();
        return Reopen(dir.Path, writer =>
        {
            if (layout == HfQuantLayout.Gptq)
            {
                HfQuantizedWriter.WriteGptq(writer, "w.weight", ours);
            }
            else
            {
                HfQuantizedWriter.WriteAwq(writer, "w.weight", ours);
            }
        }, f => ReadHf(f, layout, spec), dir);
    }

    private static ILinearWeight ReadHf(SafetensorsFile f, HfQuantLayout layout, QuantSpec spec)
        => layout == HfQuantLayout.Gptq ? new HfGptqLinear("w", f.Tensors, spec.Bits) : new HfAwqLinear("w", f.Tensors, spec.GroupSize);

    /// <summary>Copies every tensor of the HF file behind <paramref name="built"/> into a new file and reads it again.</summary>
    private static BuiltLinear SaveHf(BuiltLinear built, string dir, HfQuantLayout layout, QuantSpec spec)
    {
        SafetensorsFile source = built.File ?? throw new ArgumentException("not file-backed");
        return Reopen(dir, writer =>
        {
            foreach ((string name, TensorView view) in source.Tensors)
            {
                writer.Add(name, view.DType, view.Shape, view.Bytes);
            }
        }, f => ReadHf(f, layout, spec));
    }

    private static BuiltLinear Reopen(string dir, Action<SafetensorsWriter> write, Func<SafetensorsFile, ILinearWeight> read, IDisposable? owner = null)
    {
        string path = Path.Combine(dir, $"w-{Guid.NewGuid():N}.safetensors");
        using (var writer = new SafetensorsWriter(dir))
        {
            write(writer);
            writer.Commit(path);
        }

        SafetensorsFile file = SafetensorsFile.Open(path);
        return new BuiltLinear(read(file), file, owner) { File = file };
    }

    /// <summary>Every row of <paramref name="w"/>, dequantized.</summary>
    public static float[] Rows(ILinearWeight w)
    {
        float[] all = new float[(long)w.Rows * w.Cols];
        for (int r = 0; r < w.Rows; r++)
        {
            w.DequantizeRow(r, all.AsSpan(r * w.Cols, w.Cols));
        }

        return all;
    }
}
