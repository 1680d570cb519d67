using System.CommandLine;
using QuantSharp.Evaluation;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp bandwidth</c>: the machine's memory read and copy bandwidth (the ceiling for decode, which streams every weight once per token).</summary>
internal static class BandwidthCommand
{
    public static Command Create()
    {
        var size = new Option<int>("--mib") { Description = "Buffer size in MiB (copy moves one half onto the other).", DefaultValueFactory = _ => 256 };
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var command = new Command("bandwidth", "Measure memory read and copy bandwidth (GB/s; copy counts bytes read + written), best of 5 passes.\n"
            + "Example: quantsharp bandwidth --json")
        {
            size, json, threads,
        };
        command.SetAction(parse =>
        {
            int mib = parse.GetValue(size);
            if (mib is < 1 or > 8000)
            {
                throw new UsageException($"--mib {mib} must be between 1 and 8000");
            }

            int t = parse.GetValue(threads);
            var probe = new BandwidthProbe((long)mib << 20);
            BandwidthResult r = probe.Measure(t);
            double copy = probe.MeasureCopyGBps(t);
            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(w =>
                {
                    w.WriteNumber("read_gb_per_second", Math.Round(r.ReadGBps, 2));
                    w.WriteNumber("median_read_gb_per_second", Math.Round(r.MedianReadGBps, 2));
                    w.WriteNumber("copy_gb_per_second", Math.Round(copy, 2));
                    w.WriteNumber("buffer_bytes", r.BufferBytes);
                    w.WriteNumber("threads", r.Threads);
                });
            }
            else
            {
                Console.Out.WriteLine($"read {r.ReadGBps:F1} GB/s, copy {copy:F1} GB/s (read + written), {r.Threads} threads, buffers of {CliOptions.Bytes(r.BufferBytes)}");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
