using QuantSharp.Tokenizers;
using System.CommandLine;
using System.Diagnostics;
using System.Numerics.Tensors;
using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Tensors;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp embed</c>: sentence embeddings from an encoder (BERT, sentence-transformers), or a decoder as a
/// text encoder — one layer's hidden states for every position.</summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var text = new Option<string?>("--text") { Description = "Text to encode (with the checkpoint's tokenizer; specials such as [CLS] or [gMASK] sop are added)." };
        var file = new Option<string?>("--file", "-f") { Description = "Encoders: a UTF-8 file with one text per line (empty lines skipped); one embedding per line." };
        var ids = new Option<string?>("--ids") { Description = "Token ids to encode, comma-separated, used as given (for ChatGLM3 start with [gMASK]=64790, sop=64792)." };
        var layer = new Option<int?>("--layer") { Description = "Hidden state to use, Hugging Face hidden_states indexing: 0 = embeddings, i = output of block i, negative from the end. Default: -1 for encoders, -2 for decoders (Kolors)." };
        var batch = new Option<int>("--batch") { Description = "Encoders: texts per forward pass (sorted by length and packed without padding).", DefaultValueFactory = _ => 32 };
        var maxLength = new Option<int>("--max-length") { Description = "Pad to this many positions (Kolors: 256); 0 = no padding.", DefaultValueFactory = _ => 0 };
        var pad = new Option<string>("--pad") { Description = "Padding side with --max-length: left (as the ChatGLM tokenizers pad) or none.", DefaultValueFactory = _ => "left" };
        var padId = new Option<int?>("--pad-id") { Description = "Pad token id (default: the config's pad_token_id, else 0)." };
        var preset = new Option<string?>("--preset") { Description = "kolors: Kolors' text-encoder call — ChatGLM3 tokenizer ([gMASK] sop added), left padding to 256 positions, hidden_states[-2] for every position (the same as --max-length 256 --layer -2)." };
        var outputFile = new Option<string?>("--output", "-o") { Description = "Encoders: write embeddings F32 [texts, dim] to a .safetensors (tensor 'embeddings') or .npy file. Decoders: write hidden_states F32 [positions, hidden], input_ids and attention_mask I32 [positions] to a .safetensors file, or hidden_states alone to a .npy file." };
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var command = new Command("embed", "Encoders (BERT, sentence-transformers folders): sentence embeddings, pooled and normalized as the checkpoint's\n"
            + "modules.json says. Decoders: run as a text encoder and return one layer's hidden states for every position (pads included);\n"
            + "left padding matches THUDM's GLM code: pads get position 0 and attend to every key, real tokens never see pads.\n"
            + "Examples: quantsharp embed ../shared/models/all-MiniLM-L6-v2 --file sentences.txt --output emb.npy\n"
            + "          quantsharp embed ../shared/models/glm-tiny/chatglm3-tiny --ids 1,2,3,4 --layer -2 --max-length 8 --json\n"
            + "          quantsharp embed path/to/chatglm3-6b-int4 --preset kolors --text \"一只可爱的小猫\" --output prompt.npy")
        {
            model, text, file, ids, layer, batch, maxLength, pad, padId, preset, outputFile, json, threads,
        };
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            string? textValue = parse.GetValue(text), idsValue = parse.GetValue(ids), fileValue = parse.GetValue(file);
            if ((textValue is null ? 0 : 1) + (idsValue is null ? 0 : 1) + (fileValue is null ? 0 : 1) != 1)
            {
                throw new UsageException("give exactly one of --text, --file and --ids");
            }

            string path = CliOptions.ResolveModel(parse.GetValue(model));
            using LoadedModel loaded = ModelOptions.Load(path);
            if (loaded.Model.Spec.IsEncoder)
            {
                return SentenceEmbeddings.Run(loaded, textValue, fileValue, idsValue, parse.GetValue(layer) ?? -1, parse.GetValue(batch), parse.GetValue(outputFile), parse.GetValue(json));
            }

            if (fileValue is not null)
            {
                throw new UsageException($"--file gives sentence embeddings, which need an encoder; {loaded.Model.Config.Architecture} is a decoder: use --text or --ids for its hidden states");
            }

            if (parse.GetValue(outputFile) is string output && !output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) && !output.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            {
                throw new UsageException($"--output {output}: give a .safetensors or .npy file");
            }

            string padSide = parse.GetValue(pad)!;
            if (padSide is not ("left" or "none"))
            {
                throw new UsageException($"--pad {padSide}: only 'left' (as the ChatGLM tokenizers pad) and 'none' are supported");
            }

            int length = parse.GetValue(maxLength);
            int? layerGiven = parse.GetValue(layer);
            switch (parse.GetValue(preset))
            {
                case null:
                    break;
                case "kolors":
                    if (loaded.Tokenizer is not { HasChatGlm3Format: true } && idsValue is null)
                    {
                        throw new UsageException($"--preset kolors encodes with ChatGLM3's tokenizer; {path} has {(loaded.Tokenizer is null ? "no tokenizer" : "another tokenizer")}");
                    }

                    if (length != 0 && length != 256 || layerGiven is not (null or -2) || padSide != "left")
                    {
                        throw new UsageException("--preset kolors fixes --max-length 256, --layer -2 and left padding; leave them out");
                    }

                    length = 256;
                    layerGiven = -2;
                    break;
                case var other:
                    throw new UsageException($"--preset {other}: the only preset is kolors");
            }

            if (length < 0)
            {
                throw new UsageException($"--max-length {length} must not be negative");
            }

            var options = new TextEncoderOptions
            {
                Layer = layerGiven ?? -2,
                PadToLength = padSide == "left" ? length : 0,
                PadId = parse.GetValue(padId),
            };
            return Run(loaded, textValue, idsValue, options, padSide == "none" ? length : 0, parse.GetValue(outputFile), parse.GetValue(json));
        });
        return command;
    }

    private static int Run(LoadedModel loaded, string? text, string? idsText, TextEncoderOptions options, int maxUnpadded, string? outputPath, bool json)
    {
        int[] ids = idsText is not null ? ModelOptions.ParseIds(idsText) : Tokenize(loaded, text!);
        if (maxUnpadded > 0 && ids.Length > maxUnpadded)
        {
            throw new UsageException($"{ids.Length} tokens exceed --max-length {maxUnpadded}");
        }

        var encoder = new TextEncoder(loaded.Model);
        int index = encoder.ResolveLayer(options.Layer);
        int rows = encoder.Rows(ids.Length, options);
        int width = encoder.Width;
        int pads = rows - ids.Length;
        int padId = options.PadId ?? loaded.Model.Config.PadTokenId ?? 0;
        float[] states = new float[rows * width];
        var clock = Stopwatch.StartNew();
        encoder.Encode(ids, options, states);
        double seconds = clock.Elapsed.TotalSeconds;
        int[] inputIds = [.. Enumerable.Repeat(padId, pads), .. ids];
        int[] mask = [.. Enumerable.Repeat(0, pads), .. Enumerable.Repeat(1, ids.Length)];
        if (outputPath is not null)
        {
            Write(outputPath, states, rows, width, inputIds, mask, index, loaded.Model.Config.Layers);
        }

        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteNumber("layer", index);
                w.WriteNumber("hidden_states_count", loaded.Model.Config.Layers + 1);
                w.WriteNumber("positions", rows);
                w.WriteNumber("hidden_size", width);
                w.WriteNumber("pads", pads);
                w.WriteNumber("seconds", Math.Round(seconds, 4));
                w.WriteStartArray("input_ids");
                Array.ForEach(inputIds, w.WriteNumberValue);
                w.WriteEndArray();
                w.WriteStartArray("attention_mask");
                Array.ForEach(mask, w.WriteNumberValue);
                w.WriteEndArray();
                if (outputPath is not null)
                {
                    w.WriteString("output", outputPath);
                }
                else
                {
                    w.WriteStartArray("hidden_states");
                    for (int r = 0; r < rows; r++)
                    {
                        w.WriteStartArray();
                        foreach (float v in states.AsSpan(r * width, width))
                        {
                            w.WriteNumberValue(v);
                        }

                        w.WriteEndArray();
                    }

                    w.WriteEndArray();
                }
            });
            return ExitCodes.Ok;
        }

        Console.Out.WriteLine($"hidden_states[{index}] of {loaded.Model.Config.Layers + 1}: {rows} positions × {width} ({pads} pads), {seconds * 1000:F1} ms");
        Console.Out.WriteLine("pos     id  mask        L2 norm  first values");
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = states.AsSpan(r * width, width);
            string first = string.Join(" ", row[..Math.Min(4, width)].ToArray().Select(v => v.ToString("F4").PadLeft(10)));
            Console.Out.WriteLine($"{r,3} {inputIds[r],6} {mask[r],5} {TensorPrimitives.Norm(row),14:F4}  {first}");
        }

        if (outputPath is not null)
        {
            Console.Out.WriteLine($"wrote {outputPath}");
        }

        return ExitCodes.Ok;
    }

    private static int[] Tokenize(LoadedModel loaded, string text)
    {
        return loaded.RequireTokenizer().Encode(text, addSpecialTokens: true);
    }

    private static void Write(string path, float[] states, int rows, int width, int[] inputIds, int[] mask, int layer, int layers)
    {
        string full = Path.GetFullPath(path);
        if (full.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            // NumPy holds one array: the hidden states (the ids and mask are in --json).
            QuantSharp.Formats.NpyFile.Write(full, [rows, width], states);
            return;
        }


        using var writer = new SafetensorsWriter(Path.GetDirectoryName(full));
        writer.Metadata["hidden_states_index"] = layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
        writer.Metadata["hidden_states_count"] = (layers + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        writer.Add("hidden_states", [rows, width], states);
        writer.Add("input_ids", DType.I32, [rows], System.Runtime.InteropServices.MemoryMarshal.AsBytes(inputIds.AsSpan()));
        writer.Add("attention_mask", DType.I32, [rows], System.Runtime.InteropServices.MemoryMarshal.AsBytes(mask.AsSpan()));
        writer.Commit(full);
    }
}
