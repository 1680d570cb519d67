namespace QuantSharp.Cli;

/// <summary>Exit codes: 0 ok, 1 failure, 2 bad usage or bad input.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int BadInput = 2;
}

/// <summary>Bad command-line usage found after parsing (a value out of range, a missing file).</summary>
internal sealed class UsageException(string message) : Exception(message);
