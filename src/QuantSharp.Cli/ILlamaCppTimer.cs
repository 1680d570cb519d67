namespace QuantSharp.Cli;

/// <summary>llama.cpp ready to time one GGUF file at a fixed thread count, prompt and decode length; every
/// <see cref="Run"/> is one timed prefill + decode, so <c>bench</c> can alternate llama.cpp's runs with its own.</summary>
internal interface ILlamaCppTimer : IDisposable
{
    /// <summary>One timed run.</summary>
    /// <exception cref="QuantSharpException">llama.cpp failed or its output could not be read.</exception>
    LlamaCppRun Run();
}
