using QuantSharp.Calibration;
using QuantSharp.Models;
using QuantSharp.Quantization;

using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Calibration;

/// <summary>Mixed-precision planning: sensitivities, budget, plan.json.</summary>
public sealed class PlanTests
{
    [Fact]
    public void Plan_MeetsBudget_PrefersLowSensitivity_AndRoundTrips()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        CalibrationData data = AwqTests.SelfData(loaded.Model, 2, 32);
        var measured = MixedPrecisionPlanner.Measure(loaded.Model, data, PlanCandidate.Defaults);
        Assert.Equal(loaded.Model.Spec.BlockLinearNames(loaded.Model.Config.Layers), measured.Select(m => m.Layer));

        // Sensitivity is a KL divergence: ≥ 0, and 8-bit hurts less than ternary on (nearly) every layer.
        Assert.All(measured, m => Assert.All(m.Options, o => Assert.True(o.Sensitivity >= -1e-9)));
        Assert.True(measured.Count(m => m.Options[0].Sensitivity < m.Options[^1].Sensitivity) >= measured.Count - 1);

        long budget = MixedPrecisionPlanner.BudgetForAverageBits(measured, 3.5);
        QuantPlan plan = MixedPrecisionPlanner.Choose(measured, budget);
        Assert.True(plan.TotalBytes <= budget);
        Assert.True(plan.Entries.Select(e => e.Choice).Distinct().Count() > 1, "a 3.5-bit budget should mix widths");

        // A budget that fits everything at 8 bits keeps 8 bits; a budget below the minimum is refused.
        QuantPlan big = MixedPrecisionPlanner.Choose(measured, long.MaxValue);
        Assert.All(big.Entries, e => Assert.Equal("8", e.Choice));
        Assert.True(plan.EstimatedKl >= big.EstimatedKl);
        Assert.Throws<QuantSharpException>(() => MixedPrecisionPlanner.Choose(measured, 10));

        using var dir = new TempDir();
        string path = dir.File("plan.json");
        plan.Save(path);
        QuantPlan back = QuantPlan.Load(path);
        Assert.Equal(plan.Entries, back.Entries);
        Assert.Equal(plan.BudgetBytes, back.BudgetBytes);
        Assert.Contains("sensitivity", plan.ToTable());

        // Applying the plan gives each layer its planned scheme and the planned bytes.
        TransformerModel q = CalibratedQuantization.QuantizeRtn(loaded.Model, back.SpecFor);
        Assert.Equal(plan.TotalBytes, q.BlockLinears().Sum(l => l.Weight.BytesInMemory));
        File.WriteAllText(path, "{\"format\":\"other\"}");
        Assert.Contains("not a quantsharp plan", Assert.Throws<QuantSharpException>(() => QuantPlan.Load(path)).Message);
    }
}
