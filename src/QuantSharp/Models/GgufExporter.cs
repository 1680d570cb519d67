using QuantSharp.Quantization.Gguf;
using QuantSharp.Tokenizers;
using System.Runtime.InteropServices;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Quantization;

namespace QuantSharp.Models;

/// <summary>Options for <see cref="GgufExporter.Export"/>.</summary>
public sealed class GgufExportOptions
{
    /// <summary>Block type of the linear weights inside the blocks (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, TQ2_0, …).</summary>
    public required GgmlType Type { get; init; }

    /// <summary>Type of <c>output.weight</c>; default <see cref="DefaultOuterType"/>.</summary>
    public GgmlType? OutputType { get; init; }

    /// <summary>Type of <c>token_embd.weight</c>; default <see cref="DefaultOuterType"/>.</summary>
    public GgmlType? EmbeddingType { get; init; }

    /// <summary><c>general.name</c>; default: the model folder or file name.</summary>
    public string? Name { get; init; }

    /// <summary>Called with (tensors done, total) after each tensor.</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>Embedding and classifier type used when not given: the block type, except Q8_0 for TQ1_0/TQ2_0/Q2_0 and
    /// the lattice types IQ2_XS/IQ2_S/IQ3_XXS/IQ3_S (models below 4 bits keep their embedding and classifier at higher
    /// precision).</summary>
    public static GgmlType DefaultOuterType(GgmlType type)
        => type is GgmlType.TQ1_0 or GgmlType.TQ2_0 or GgmlType.Q2_0 || LatticeFormat.For(type) is not null ? GgmlType.Q8_0 : type;
}

/// <summary>What happened to one tensor in an export.</summary>
/// <param name="Name">GGUF tensor name.</param>
/// <param name="Shape">ne in ggml order (row length first).</param>
/// <param name="Source">Scheme the weight had in QuantSharp (f32, int4-g32-sym, gguf-q4_0, …).</param>
/// <param name="Requested">Type asked for.</param>
/// <param name="Written">Type written (differs when the row length does not divide the requested block size).</param>
/// <param name="Action"><c>copied</c> (same representation, bytes unchanged), <c>converted</c> (float to float),
/// <c>quantized</c> (float to blocks), <c>requantized</c> (dequantized, then quantized to another grid),
/// <c>repacked</c> (same grid, lossless re-layout).</param>
/// <param name="Note">Why the written type differs, or an empty string.</param>
/// <param name="Bytes">Bytes of tensor data.</param>
public sealed record GgufTensorExport(string Name, long[] Shape, string Source, GgmlType Requested, GgmlType Written, string Action, string Note, long Bytes);

/// <summary>The result of an export.</summary>
/// <param name="Path">File written.</param>
/// <param name="FileBytes">Its size.</param>
/// <param name="Tensors">Per tensor, in file order.</param>
public sealed record GgufExportReport(string Path, long FileBytes, IReadOnlyList<GgufTensorExport> Tensors)
{
    /// <summary>Bits per weight over all 2-D tensors (tensor data only).</summary>
    public double BitsPerWeight
    {
        get
        {
            var matrices = Tensors.Where(t => t.Shape.Length == 2).ToList();
            return matrices.Sum(t => t.Bytes) * 8.0 / matrices.Sum(t => t.Shape[0] * t.Shape[1]);
        }
    }
}

/// <summary>
/// Writes a loaded Llama-family model as a llama.cpp GGUF file (architecture <c>llama</c>), or a GLM one (ChatGLM3,
/// GLM-4) as architecture <c>chatglm</c> with fused QKV and gate/up (<see cref="GgufChatGlmLayout"/>): the <c>ARCH.*</c>
/// hyper-parameters, <c>general.file_type</c>, <c>general.quantization_version</c> 2, the vocabulary (SentencePiece, or tiktoken as <c>gpt2</c>) as
/// <c>tokenizer.ggml.*</c>, norms in F32 and every matrix in the requested type, with q/k rows permuted into llama.cpp's
/// RoPE order (<see cref="GgufLlamaLayout"/>). Works from any checkpoint QuantSharp loads: GGUF blocks of the
/// requested type are copied, QuantSharp's int4-g32-sym is repacked losslessly into Q4_0 (same grid: F16 scale per 32
/// weights, codes q − 8) and its ternary with one scale per row, tensor or multiple of 64 inputs into Q2_0 (codes
/// t + 1, the scale rounded to F16), anything else is dequantized row by row and quantized with llama.cpp's reference quantizers
/// (<see cref="GgufQuantize"/>). Rows that the requested block does not divide fall back per tensor: Q4_K → Q5_0,
/// Q5_K → Q5_1, Q6_K → Q8_0 (as llama.cpp), TQ1_0/TQ2_0/Q2_0 → Q4_0, and F16 when 32 does not divide either. The file is
/// written atomically.
/// </summary>
public static class GgufExporter
{
    /// <summary>Writes <paramref name="loaded"/> to <paramref name="path"/>.</summary>
    /// <exception cref="QuantSharpException">Neither a Llama-family model without biases nor a GLM, a Llama without its
    /// tokenizer, a tokenizer of a kind that cannot be written (a Hugging Face tokenizer.json BPE, for one), a tensor
    /// over 2 GiB in the requested type, or a type QuantSharp cannot quantize to.</exception>
    public static GgufExportReport Export(LoadedModel loaded, string path, GgufExportOptions options)
    {
        TransformerModel model = loaded.Model;
        ModelConfig c = model.Config;
        ArchitectureSpec spec = model.Spec;
        bool glm = IsGlm(spec);
        if (!glm && (spec.Q is null || spec.K is null || spec.V is null || spec.Gate is null || spec.Up is null || spec.QkvBias || spec.Rope != RopeStyle.RotateHalf || spec.RotaryFraction != 1.0))
        {
            throw new QuantSharpException($"{loaded.Path}: GGUF export supports the Llama architecture (separate q/k/v and gate/up, no biases, full RoPE) and GLM (ChatGLM3, GLM-4); {c.Architecture} is neither");
        }

        if (c.RopeScaling is not null && glm)
        {
            throw new QuantSharpException($"{loaded.Path}: rope_scaling '{c.RopeScaling.Type}' cannot be written for llama.cpp's chatglm architecture; the file would run with unscaled frequencies");
        }

        Action<GgufWriter> writeVocabulary = VocabularyWriter(loaded, glm);
        GgmlType main = options.Type;
        GgmlType output = options.OutputType ?? GgufExportOptions.DefaultOuterType(main);
        GgmlType embedding = options.EmbeddingType ?? GgufExportOptions.DefaultOuterType(main);
        foreach (GgmlType t in new[] { main, output, embedding })
        {
            if (!CanWrite(t))
            {
                throw new QuantSharpException($"GGUF type {GgmlTypeInfo.Name(t)} cannot be written by QuantSharp; use f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, tq1_0, tq2_0, q2_0, iq4_nl, iq2_xs, iq2_s, iq3_xxs or iq3_s");
            }
        }

        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        using var writer = new GgufWriter(directory);
        WriteMetadata(writer, loaded, glm, main, options.Name);
        writeVocabulary(writer);

        var report = new List<GgufTensorExport>();
        var jobs = new List<(string Name, Action Write)>();
        void Matrix(string name, ILinearWeight w, GgmlType type, bool rope) => jobs.Add((name, () => report.Add(WriteMatrix(writer, name, w, type, rope ? c.HeadDim : 0))));
        void Norm(string name, float[] v) => jobs.Add((name, () => report.Add(WriteNorm(writer, name, v))));

        Matrix(GgufLlamaLayout.Embedding, model.Embedding, embedding, false);
        for (int i = 0; i < model.Blocks.Length; i++)
        {
            BlockWeights b = model.Blocks[i];
            string p = GgufLlamaLayout.Block(i);
            Norm(p + GgufLlamaLayout.AttnNorm, b.AttnNorm);
            if (glm)
            {
                Matrix(p + GgufChatGlmLayout.Qkv, b.Qkv!, main, false);
                if (b.QkvBias is float[] bias)
                {
                    Norm(p + ArchitectureSpec.BiasOf(GgufChatGlmLayout.Qkv), bias);
                }
            }
            else
            {
                Matrix(p + GgufLlamaLayout.Q, b.Q!, main, true);
                Matrix(p + GgufLlamaLayout.K, b.K!, main, true);
                Matrix(p + GgufLlamaLayout.V, b.V!, main, false);
            }

            Matrix(p + GgufLlamaLayout.O, b.O, main, false);
            Norm(p + GgufLlamaLayout.FfnNorm, b.MlpNorm);
            if (glm)
            {
                Matrix(p + GgufChatGlmLayout.GateUp, b.GateUp!, main, false);
            }
            else
            {
                Matrix(p + GgufLlamaLayout.Gate, b.Gate!, main, false);
                Matrix(p + GgufLlamaLayout.Up, b.Up!, main, false);
            }

            Matrix(p + GgufLlamaLayout.Down, b.Down, main, false);
        }

        (float[] finalNorm, ILinearWeight head) = model.RequireHead();
        Norm(GgufLlamaLayout.FinalNorm, finalNorm);
        if (c.RopeScaling is { } scaling)
        {
            // llama.cpp's converter writes rope_scaling (llama3, linear) as one divisor per rotated pair.
            Norm(GgufLlamaLayout.RopeFrequencies, scaling.DivisorsFor(c.HeadDim, c.RopeTheta));
        }

        if (!c.TieWordEmbeddings && !ReferenceEquals(head, model.Embedding))
        {
            Matrix(GgufLlamaLayout.Output, head, output, false);
        }

        for (int j = 0; j < jobs.Count; j++)
        {
            jobs[j].Write();
            options.Progress?.Invoke(j + 1, jobs.Count);
        }

        writer.Commit(path);
        return new GgufExportReport(path, new FileInfo(path).Length, report);
    }

    /// <summary>The type a row of <paramref name="cols"/> values is written in when <paramref name="requested"/> is asked for.</summary>
    public static GgmlType Fit(GgmlType requested, int cols)
    {
        GgmlType t = requested;
        if (cols % GgmlTypeInfo.BlockSize(t) != 0)
        {
            t = t switch
            {
                GgmlType.Q4_K => GgmlType.Q5_0,
                GgmlType.Q5_K => GgmlType.Q5_1,
                GgmlType.Q6_K => GgmlType.Q8_0,
                GgmlType.TQ1_0 or GgmlType.TQ2_0 or GgmlType.Q2_0 => GgmlType.Q4_0,
                _ when LatticeFormat.For(t) is not null => GgmlType.Q4_0, // where a lattice checkpoint has int4-g32-sym: repacked losslessly
                _ => GgmlType.F16,
            };
        }

        return cols % GgmlTypeInfo.BlockSize(t) == 0 ? t : GgmlType.F16;
    }

    /// <summary><c>general.file_type</c> (llama.cpp's <c>llama_ftype</c>) for a model whose blocks are <paramref name="type"/>.</summary>
    public static uint FileType(GgmlType type) => type switch
    {
        GgmlType.F32 => 0,
        GgmlType.F16 => 1,
        GgmlType.Q4_0 => 2,
        GgmlType.Q4_1 => 3,
        GgmlType.Q8_0 => 7,
        GgmlType.Q5_0 => 8,
        GgmlType.Q5_1 => 9,
        GgmlType.Q4_K => 15,
        GgmlType.Q5_K => 17,
        GgmlType.Q6_K => 18,
        GgmlType.BF16 => 32,
        GgmlType.TQ1_0 => 36,
        GgmlType.TQ2_0 => 37,
        GgmlType.Q2_0 => 41,
        GgmlType.IQ4_NL => 25,
        GgmlType.IQ2_XS => 20,
        GgmlType.IQ3_XXS => 23,
        GgmlType.IQ3_S => 26,
        GgmlType.IQ2_S => 28,
        _ => throw new QuantSharpException($"no llama.cpp file type for {type}"),
    };

    /// <summary>True for a GLM block recipe (fused QKV with optional bias, fused gate-first MLP, RMSNorm, RoPE on the first
    /// half of each head as adjacent pairs), which llama.cpp runs as architecture <c>chatglm</c>.</summary>
    private static bool IsGlm(ArchitectureSpec spec)
        => spec.Qkv is not null && spec.GateUp is not null && spec.Rope == RopeStyle.InterleavedPartial && spec.RotaryFraction == 0.5
            && spec.Norm == NormKind.Rms && spec.Mlp == MlpKind.SwiGlu && !spec.LinearBias && !spec.PostNorm;

    /// <summary>How the vocabulary is written: a Llama needs its SentencePiece or tiktoken (Llama 3) tokenizer; a GLM writes ChatGLM3's
    /// SentencePiece vocabulary or GLM-4's tiktoken one (as <c>gpt2</c> with recovered merges), padded to the embedding's
    /// rows, or — for a checkpoint without a tokenizer — llama.cpp's <c>no_vocab</c> (it then runs on token ids).</summary>
    private static Action<GgufWriter> VocabularyWriter(LoadedModel loaded, bool glm)
    {
        int vocab = loaded.Model.Config.VocabSize;
        switch (loaded.Tokenizer)
        {
            case { Model: SentencePieceBpeTokenizer sp } tokenizer when !glm:
                return w => GgufVocabulary.Write(w, sp.Model, tokenizer.AddBosByDefault);
            case { Model: SentencePieceBpeTokenizer } tokenizer:
                return w => GgufVocabulary.WritePadded(w, tokenizer, vocab, "chatglm-spm");
            case { Model: BytePairModel { Order: MergeOrder.TokenRank, ByteLevel: true } } tokenizer when glm:
                return w => GgufVocabulary.WriteRankedBytePair(w, tokenizer, vocab, "chatglm-bpe", tokenizer.TokenToId("<|user|>"));
            case { Model: BytePairModel { Order: MergeOrder.TokenRank, ByteLevel: true } } tokenizer:
                // Llama 3's tiktoken vocabulary: llama.cpp's "llama-bpe" pre-tokenizer (which also takes a piece that is a whole token as is).
                return w => GgufVocabulary.WriteRankedBytePair(w, tokenizer, vocab, "llama-bpe", tokenizer.TokenToId("<|eot_id|>"));
            case null when glm:
                return w => GgufVocabulary.WriteNone(w);
            case null:
                throw new QuantSharpException($"{loaded.Path}: GGUF export needs the model's tokenizer (SentencePiece or tiktoken tokenizer.model), which this checkpoint lacks");
            default:
                throw new QuantSharpException($"{loaded.Path}: GGUF export writes SentencePiece vocabularies (Llama 2, ChatGLM3) and tiktoken ones (Llama 3, GLM-4); this checkpoint's {loaded.Tokenizer.Kind} tokenizer cannot be written yet");
        }
    }

    private static void WriteMetadata(GgufWriter w, LoadedModel loaded, bool glm, GgmlType main, string? name)
    {
        ModelConfig c = loaded.Model.Config;
        string arch = glm ? GgufChatGlmLayout.Architecture : "llama";
        w.Add("general.architecture", arch);
        w.Add("general.name", name ?? Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(loaded.Path)));
        w.Add("general.file_type", FileType(main));
        w.Add("general.quantization_version", 2u);
        w.Add(arch + ".context_length", (uint)c.MaxPositions);
        w.Add(arch + ".embedding_length", (uint)c.HiddenSize);
        w.Add(arch + ".block_count", (uint)c.Layers);
        w.Add(arch + ".feed_forward_length", (uint)c.IntermediateSize);
        w.Add(arch + ".attention.head_count", (uint)c.Heads);
        w.Add(arch + ".attention.head_count_kv", (uint)c.KvHeads);
        if (c.HeadDim * c.Heads != c.HiddenSize)
        {
            w.Add(arch + ".attention.key_length", (uint)c.HeadDim);
            w.Add(arch + ".attention.value_length", (uint)c.HeadDim);
        }

        w.Add(arch + ".rope.dimension_count", (uint)(glm ? c.HeadDim / 2 : c.HeadDim));
        w.Add(arch + ".rope.freq_base", (float)c.RopeTheta);
        w.Add(arch + ".attention.layer_norm_rms_epsilon", c.NormEps);
        w.Add(arch + ".vocab_size", (uint)c.VocabSize);
    }

    private static GgufTensorExport WriteNorm(GgufWriter w, string name, float[] values)
    {
        w.AddTensor(name, GgmlType.F32, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()));
        return new GgufTensorExport(name, [values.Length], "f32", GgmlType.F32, GgmlType.F32, "copied", "", values.Length * 4L);
    }

    private static GgufTensorExport WriteMatrix(GgufWriter w, string name, ILinearWeight weight, GgmlType requested, int ropeHeadDim)
    {
        int rows = weight.Rows, cols = weight.Cols;
        GgmlType type = Fit(requested, cols);
        string note = type == requested ? "" : $"row length {cols} is not a multiple of the {GgmlTypeInfo.Name(requested)} block of {GgmlTypeInfo.BlockSize(requested)}";
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        if (rowBytes * rows > Array.MaxLength)
        {
            throw new QuantSharpException($"{name}: {rowBytes * rows:N0} bytes in {GgmlTypeInfo.Name(type)} is over the 2 GiB one tensor can take in this exporter; write it as f16, bf16 or a quantized type (--output-type / --embedding-type)");
        }

        byte[] data = new byte[rowBytes * rows];
        float[] row = new float[cols];
        string action = ActionFor(weight, type);
        byte[]? lattice = action is "quantized" or "requantized" ? QuantizeLattice(name, weight, type) : null;
        for (int r = 0; r < rows; r++)
        {
            int target = ropeHeadDim > 0 ? GgufLlamaLayout.GgufRowOfHfRow(r, ropeHeadDim) : r;
            Span<byte> destination = data.AsSpan((int)(target * rowBytes), (int)rowBytes);
            switch (action)
            {
                case "copied" when weight is GgufLinear g:
                    g.RowData(r).CopyTo(destination);
                    break;
                case "copied" when weight is GgufDequantLinear g:
                    g.RowData(r).CopyTo(destination);
                    break;
                case "copied" when weight is LatticeLinear l:
                    l.RowData(r).CopyTo(destination);
                    break;
                case "quantized" or "requantized" when lattice is not null:
                    lattice.AsSpan((int)(r * rowBytes), (int)rowBytes).CopyTo(destination);
                    break;
                case "repacked" when type == GgmlType.Q4_0:
                    RepackInt4G32SymRow(((PackedLinear)weight).Packed, r, destination);
                    break;
                case "repacked":
                    RepackTernaryRow(((PackedLinear)weight).Packed, r, destination);
                    break;
                default:
                    weight.DequantizeRow(r, row);
                    GgufQuantize.Row(type, row, destination);
                    break;
            }
        }

        w.AddTensor(name, type, [cols, rows], data);
        return new GgufTensorExport(name, [cols, rows], weight.Scheme, requested, type, action, note, data.Length);
    }

    private static string ActionFor(ILinearWeight weight, GgmlType type)
    {
        bool floatTarget = type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;
        return weight switch
        {
            GgufLinear g when g.Type == type => "copied",
            GgufDequantLinear g when g.Type == type => "copied",
            LatticeLinear l when l.BlockType == type => "copied",
            DenseLinear d when d.Scheme == GgmlTypeInfo.Name(type) => "copied",
            PackedLinear p when type == GgmlType.Q4_0 && IsInt4G32Sym(p) => "repacked",
            PackedLinear p when type == GgmlType.Q2_0 && IsTernaryOn64(p) => "repacked",
            DenseLinear when floatTarget => "converted",
            DenseLinear => "quantized",
            _ when floatTarget && weight.Scheme is "f32" or "f16" or "bf16" or "gguf-f32" or "gguf-f16" or "gguf-bf16" => "converted",
            _ => "requantized",
        };
    }

    /// <summary>A lattice target (IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S): the whole matrix coded by <see cref="LatticeScheme"/>
    /// (round to nearest, no importance matrix; quantize with <c>--scheme iq2_xs --imatrix</c> first for better), or null
    /// for other types.</summary>
    private static byte[]? QuantizeLattice(string name, ILinearWeight weight, GgmlType type)
    {
        if (LatticeFormat.For(type) is not LatticeFormat format)
        {
            return null;
        }

        float[] values = new float[(long)weight.Rows * weight.Cols];
        for (int r = 0; r < weight.Rows; r++)
        {
            weight.DequantizeRow(r, values.AsSpan(r * weight.Cols, weight.Cols));
        }

        return new LatticeScheme(QuantSpec.Lattice(format.Kind)).Quantize(name, values, weight.Rows, weight.Cols)["qweight"].Data;
    }

    /// <summary>True when <see cref="Export"/> can write block weights of <paramref name="type"/>: the types
    /// <see cref="GgufQuantize"/> produces and the lattice types.</summary>
    public static bool CanWrite(GgmlType type) => GgmlTypeInfo.CanQuantize(type) || LatticeFormat.For(type) is not null;

    private static bool IsInt4G32Sym(PackedLinear p)
        => SchemeFormat.IsQ4_0Grid(p.Spec) && p.Cols % 32 == 0;

    /// <summary>One row of QuantSharp int4-g32-sym as Q4_0 blocks: both store an F16 scale per 32 weights and codes
    /// q ∈ 0..15 meaning (q − 8)·scale, with code j in the low and code j + 16 in the high nibble of byte j.</summary>
    private static void RepackInt4G32SymRow(PackedWeight packed, int row, Span<byte> destination)
    {
        int groups = packed.Cols / 32;
        int rowBytes = PackLayout.RowBytes4(packed.Cols);
        ReadOnlySpan<byte> q = packed.Parts["qweight"].Bytes.Slice(row * rowBytes, rowBytes);
        ReadOnlySpan<byte> scales = packed.Parts["scales"].Bytes.Slice(row * groups * 2, groups * 2);
        for (int g = 0; g < groups; g++)
        {
            Span<byte> block = destination.Slice(g * 18, 18);
            scales.Slice(g * 2, 2).CopyTo(block);
            q.Slice(g * 16, 16).CopyTo(block[2..]);
        }
    }

    /// <summary>Ternary whose scale units are whole Q2_0 blocks: one scale per tensor or row, or per group of a multiple of 64.</summary>
    private static bool IsTernaryOn64(PackedLinear p)
        => p.Spec.Kind == QuantSchemeKind.Ternary && p.Cols % 64 == 0 && TernaryScheme.ScaleSpan(p.Spec, p.Cols) % 64 == 0;

    /// <summary>One row of QuantSharp ternary as Q2_0 blocks: the block's scale (rounded to F16) and the stored codes
    /// t + 1 ∈ {0, 1, 2}, which Q2_0 reads as the same values (q − 1)·d.</summary>
    private static void RepackTernaryRow(PackedWeight packed, int row, Span<byte> destination)
    {
        int cols = packed.Cols, span = TernaryScheme.ScaleSpan(packed.Spec, cols);
        int perRow = cols / span;
        int rowBytes = PackLayout.RowBytes2(cols);
        ReadOnlySpan<byte> q = packed.Parts["qweight"].Bytes.Slice(row * rowBytes, rowBytes);
        ReadOnlySpan<float> scales = MemoryMarshal.Cast<byte, float>(packed.Parts["scales"].Bytes);
        for (int b = 0; b < cols / 64; b++)
        {
            float scale = packed.Spec.Granularity switch
            {
                TernaryGranularity.PerTensor => scales[0],
                TernaryGranularity.PerRow => scales[row],
                _ => scales[(row * perRow) + (b * 64 / span)],
            };
            Span<byte> block = destination.Slice(b * 18, 18);
            BitConverter.TryWriteBytes(block, (Half)scale);
            for (int j = 0; j < 16; j++)
            {
                int c = (b * 64) + (4 * j);
                block[2 + j] = (byte)(PackLayout.Code2(q, c) | (PackLayout.Code2(q, c + 1) << 2) | (PackLayout.Code2(q, c + 2) << 4) | (PackLayout.Code2(q, c + 3) << 6));
            }
        }
    }
}
