using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>
/// Linear weights of a llama.cpp Llama GGUF file, read in place through <see cref="GgufLinear.Create"/>, except the q/k
/// projections: their rows are put back into Hugging Face order once, at load (see <see cref="GgufLlamaLayout"/>), so
/// the forward pass and its RoPE are exactly those of the safetensors original. Disposing frees those copies and the file.
/// </summary>
public sealed class GgufLinearProvider : ILinearProvider, IDisposable
{
    private readonly GgufFile _file;
    private readonly int _headDim;
    private readonly GgufRowPermutation _copies = new();

    /// <summary>Serves the tensors of <paramref name="file"/> (which it then owns) for a model with heads of
    /// <paramref name="headDim"/> dimensions.</summary>
    public GgufLinearProvider(GgufFile file, int headDim)
    {
        _file = file;
        _headDim = headDim;
    }

    /// <inheritdoc />
    public bool Has(string tensorName) => _file.TensorInfos.ContainsKey(tensorName);

    /// <inheritdoc />
    public ILinearWeight Get(string tensorName)
    {
        GgufTensorInfo t = _file.GetTensor(tensorName);
        if (!GgufLlamaLayout.IsRopePermuted(tensorName))
        {
            return GgufLinear.Create(t);
        }

        if (t.Dimensions.Length < 2 || _headDim % 2 != 0 || t.RowCount % _headDim != 0)
        {
            throw new GgufException(GgufError.BadShape, _file.Location, t.Name, $"{t.DimensionsText} is not a whole number of heads of {_headDim}");
        }

        return GgufLinear.Create(_copies.Permute(t, r => GgufLlamaLayout.GgufRowOfHfRow(r, _headDim)));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _copies.Dispose();
        _file.Dispose();
    }
}
