if (args.Length > 0 && args[0] == "tokenizers")
{
    return QuantSharp.Benchmarks.TokenizerThroughput.Run(args);
}

if (args.Length > 0 && args[0] == "tokenizer-scaling")
{
    return QuantSharp.Benchmarks.PreTokenizerScaling.Run(args);
}

if (args.Length > 0 && args[0] == "quick-f16")
{
    return QuantSharp.Benchmarks.F16KernelTimer.Run(args);
}

if (args.Length > 0 && args[0] == "quick")
{
    return QuantSharp.Benchmarks.QuickKernelTimer.Run(args);
}

BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
