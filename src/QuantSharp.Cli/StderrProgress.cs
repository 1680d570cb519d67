using System.Diagnostics;

namespace QuantSharp.Cli;

/// <summary>Progress of long work on stderr (so stdout stays clean for results): a live line on a terminal, a line every
/// ~10% or 5 s when redirected.</summary>
internal sealed class StderrProgress(string label)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _live = !Console.IsErrorRedirected;
    private double _lastReport = -1;
    private int _lastDecile = -1;

    public void Report(long done, long total, string detail = "")
    {
        double seconds = _clock.Elapsed.TotalSeconds;
        int decile = total > 0 ? (int)(done * 10 / total) : 0;
        bool finished = done >= total;
        if (_live)
        {
            if (seconds - _lastReport < 0.1 && !finished)
            {
                return;
            }

            Console.Error.Write($"\r{label}: {done}/{total} {detail}  ({seconds:F1} s)   ");
            if (finished)
            {
                Console.Error.WriteLine();
            }
        }
        else if (decile != _lastDecile || seconds - _lastReport > 5 || finished)
        {
            _lastDecile = decile;
            Console.Error.WriteLine($"{label}: {done}/{total} {detail} ({seconds:F1} s)");
        }
        else
        {
            return;
        }

        _lastReport = seconds;
    }
}
