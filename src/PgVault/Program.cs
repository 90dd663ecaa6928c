using PgVault.Commands;

// The thread pool's workers spin for a while before they sleep, waiting for more work: worth it for the server's request
// latency, wasted CPU for the one-off commands (backup, restore, wal-fetch), whose work comes from sockets and files.
// On a small machine that spinning competes with the database server's compression (bench/README.md, bench/backup).
// Read when the thread pool starts, so it must be set before anything uses it.
if (args.Length == 0 || !string.Equals(args[0], "serve", StringComparison.Ordinal))
    AppContext.SetData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", 0);

return await Cli.RunAsync(args).ConfigureAwait(false);
