using System.Diagnostics;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>Runs the real <c>pgvault</c> program (from the test's output directory) with configuration arguments.</summary>
public static class PgVaultProcess
{
    public static readonly string Program = Path.Combine(AppContext.BaseDirectory, "pgvault.dll");

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?> settings)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Program);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in settings)
            psi.ArgumentList.Add($"--{k}={v}");
        return psi;
    }

    /// <summary>Runs to completion (at most <paramref name="timeout"/>); returns exit code and all output.</summary>
    public static async Task<(int Code, string Output)> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?> settings,
        TimeSpan? timeout = null)
    {
        using var p = Process.Start(StartInfo(args, settings))!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(timeout ?? TimeSpan.FromMinutes(3));
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return (p.ExitCode, await stdout + await stderr);
    }
}
