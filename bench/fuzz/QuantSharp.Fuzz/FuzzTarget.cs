namespace QuantSharp.Fuzz;

/// <summary>
/// One parser under fuzzing: <see cref="Run"/> feeds it one input and returns normally when the input was read or was
/// refused with the exception QuantSharp documents (<see cref="QuantSharpException"/> or a subtype); anything else that
/// escapes (an index out of range, an overflow, a null reference, an out-of-memory) is a bug the fuzzer reports.
/// </summary>
/// <param name="Name">The name <c>bench/fuzz/run.sh</c> and the regression folders use.</param>
/// <param name="Parses">What the input is and which code reads it.</param>
/// <param name="Seeds">Files to start from, given the <c>shared/</c> folder: real files that exist there, or small ones the
/// target builds from them (a fuzzer learns fastest from small valid inputs).</param>
/// <param name="Run">Parses one input.</param>
public sealed record FuzzTarget(string Name, string Parses, Func<string, IEnumerable<(string Name, byte[] Bytes)>> Seeds, Action<byte[]> Run)
{
    /// <summary>Runs <see cref="Run"/>, treating the documented refusal as success.</summary>
    /// <returns>Null when the input was read or refused cleanly, else the exception that escaped.</returns>
    public Exception? Check(byte[] input)
    {
        try
        {
            Run(input);
            return null;
        }
        catch (QuantSharpException)
        {
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
