using Microsoft.Data.Sqlite;
using PgVault.Configuration;
using PgVault.Errors;

namespace PgVault.Hosting;

/// <summary>
/// With the SQLite catalog, one <c>serve</c> that backs up clusters per catalog: it holds an exclusive lock on a file
/// beside the catalog (<c>catalog.db.serve-lock</c>) while it runs, which the operating system drops when the process
/// ends, however it ends. A second one is refused at start with a message saying why and what to do instead (a fleet
/// needs the PostgreSQL catalog). Commands other than <c>serve</c>, and <c>serve</c> with the engine off, take no lock.
/// </summary>
public sealed class SqliteServeLock : IDisposable
{
    private readonly FileStream _file;

    private SqliteServeLock(FileStream file) => _file = file;

    /// <summary>The lock of the configured SQLite catalog, or null when there is nothing to lock (in-memory catalog).</summary>
    /// <exception cref="PgVaultException"><c>CatalogInUse</c> when another process holds it.</exception>
    public static SqliteServeLock? Acquire(PgVaultOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var cs = options.Catalog.ConnectionString;
        var builder = new SqliteConnectionStringBuilder(string.IsNullOrWhiteSpace(cs)
            ? $"Data Source={Path.Combine(options.DataDirectoryFullPath, "catalog.db")}"
            : cs);
        if (builder.Mode == SqliteOpenMode.Memory || string.IsNullOrEmpty(builder.DataSource)
            || string.Equals(builder.DataSource, ":memory:", StringComparison.Ordinal))
            return null;
        var path = Path.GetFullPath(builder.DataSource) + ".serve-lock";
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            // FileShare.None: on Linux .NET takes flock(LOCK_EX | LOCK_NB), released by the kernel when the process dies.
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            file.SetLength(0);
            var line = System.Text.Encoding.UTF8.GetBytes($"pid {Environment.ProcessId} on {Environment.MachineName} since {DateTimeOffset.UtcNow:O}\n");
            file.Write(line);
            file.Flush();
            return new SqliteServeLock(file);
        }
        catch (IOException ex)
        {
            throw new PgVaultException(ErrorCode.CatalogInUse,
                $"another 'pgvault serve' already backs up the clusters of the SQLite catalog '{Path.GetFullPath(builder.DataSource)}' (it holds '{path}'): " +
                "two instances on one SQLite catalog would both stream every cluster",
                "stop the other instance first; to run several instances, use a PostgreSQL catalog (PgVault:Catalog:Provider=postgres), " +
                "which shares the clusters between them (docs/FLEET.md)", ex);
        }
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>Keeps <c>serve</c>'s <see cref="SqliteServeLock"/> for the app's lifetime (disposed with the app's services).</summary>
public sealed class SqliteServeLockHolder : IDisposable
{
    public SqliteServeLock? Lock { get; set; }

    public void Dispose() => Lock?.Dispose();
}
