using System.CommandLine;

namespace QuantSharp.Cli;

/// <summary>The verbs, in the order --help lists them.</summary>
internal static class Verbs
{
    public static IEnumerable<Command> All() =>
    [
        InspectCommand.Create(),
        TokenizeCommand.Create(),
        TemplateCommand.Create(),
        ChatCommand.Create(),
        GenerateCommand.Create(),
        ServeCommand.Create(),
        PerplexityCommand.Create(),
        QuantizeCommand.Create(),
        ImatrixCommand.Create(),
        PlanCommand.Create(),
        EmbedCommand.Create(),
        FidelityCommand.Create(),
        ExportCommand.Create(),
        SynthCommand.Create(),
        BenchCommand.Create(),
        BandwidthCommand.Create(),
        CalibReportCommand.Create(),
    ];
}
