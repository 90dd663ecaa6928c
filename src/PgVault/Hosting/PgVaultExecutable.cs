using PgVault.Engine.Restore;

namespace PgVault.Hosting;

/// <summary>This pgvault build as a program another process can run (a restored server's <c>restore_command</c>).</summary>
public static class PgVaultExecutable
{
    /// <summary>How to run this same pgvault build: the program and the arguments before the command.</summary>
    public static PgVaultInvocation Self()
    {
        var process = Environment.ProcessPath ?? "pgvault";
        var pgvault = typeof(PgVaultExecutable).Assembly;
        if (System.Reflection.Assembly.GetEntryAssembly() == pgvault && Path.GetFileNameWithoutExtension(process) != "dotnet")
            return new PgVaultInvocation(process, []); // the pgvault executable itself
        // Run as "dotnet pgvault.dll" (or hosted by another program, e.g. a test host): the same build, through the muxer.
        var dotnet = Path.GetFileNameWithoutExtension(process) == "dotnet" ? process
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        return new PgVaultInvocation(dotnet, [pgvault.Location]);
    }
}
