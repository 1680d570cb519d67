using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Formats;

/// <summary>Random-weight checkpoints: shapes, determinism, value statistics, loadability.</summary>
public class SyntheticCheckpointTests
{
    [Fact]
    public void Presets_HaveTheRealModelsParameterCounts()
    {
        Assert.Equal(1_100_048_384, SyntheticModelShape.Parse("tinyllama-1.1b").ParameterCount);
        Assert.Equal(1_235_814_400, SyntheticModelShape.Parse("llama-3.2-1b").ParameterCount);
        Assert.Equal(6_738_415_616, SyntheticModelShape.Parse("llama-2-7b").ParameterCount);
        Assert.Equal(4, SyntheticModelShape.Parse("llama-2-7b-layers:4").Layers);
        Assert.Throws<QuantSharpException>(() => SyntheticModelShape.Parse("gpt-5"));
        Assert.Throws<QuantSharpException>(() => SyntheticModelShape.Parse("tinyllama-1.1b-layers:0"));
        Assert.Throws<QuantSharpException>(() => SyntheticModelShape.Parse("tinyllama-1.1b-layers:23"));
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Writer_IsDeterministic_NormalLike_AndLoadable(DType dtype)
    {
        string dir = Path.Combine(Path.GetTempPath(), "qs-synth-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            RandomTensorSpec[] specs = [new("a", [300, 1000]), new("norm", [1000], 1f), new("b", [7, 3])];
            string p1 = Path.Combine(dir, "1.safetensors"), p2 = Path.Combine(dir, "2.safetensors"), p3 = Path.Combine(dir, "3.safetensors");
            RandomSafetensorsWriter.Write(p1, specs, dtype, 5, 0.02f);
            RandomSafetensorsWriter.Write(p2, specs, dtype, 5, 0.02f);
            RandomSafetensorsWriter.Write(p3, specs, dtype, 6, 0.02f);
            Assert.Equal(File.ReadAllBytes(p1), File.ReadAllBytes(p2));
            Assert.NotEqual(File.ReadAllBytes(p1), File.ReadAllBytes(p3));
            using SafetensorsFile file = SafetensorsFile.Open(p1);
            float[] a = file.Tensors["a"].ToFloatArray();
            double mean = a.Average(), std = Math.Sqrt(a.Select(v => (v - mean) * (v - mean)).Average());
            Assert.InRange(mean, -0.0005, 0.0005);
            Assert.InRange(std, 0.0195, 0.0205);
            Assert.All(file.Tensors["norm"].ToFloatArray(), v => Assert.Equal(1f, v));
            Assert.Equal(dtype, file.Tensors["b"].DType);
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Checkpoint_LoadsAndRuns()
    {
        string dir = Path.Combine(Path.GetTempPath(), "qs-synth-" + Guid.NewGuid().ToString("N"));
        try
        {
            var shape = new SyntheticModelShape("tiny", 64, 128, 2, 4, 2, 32000, 64, 10000, false);
            SyntheticCheckpoint.Write(shape, dir, DType.F16, 1, Path.Combine(TestPaths.Model("llama2-tokenizer"), "tokenizer.model"));
            using LoadedModel loaded = ModelLoader.Load(dir);
            Assert.NotNull(loaded.Tokenizer);
            using (SafetensorsFile file = SafetensorsFile.Open(Path.Combine(dir, "model.safetensors")))
            {
                Assert.Equal(shape.ParameterCount, file.Tensors.Values.Sum(t => t.ElementCount));
            }

            float[] logits = new float[32000];
            using var session = new InferenceSession(loaded.Model, 8);
            session.Forward([1, 2, 3], logits);
            Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, true);
            }
        }
    }
}
