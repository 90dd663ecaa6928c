using Microsoft.Data.Sqlite;
using PgVault.Configuration;
using PgVault.Engine.Storage;

namespace PgVault.Hosting;

/// <summary>
/// PgVault's own files hold everything of every database it backs up: the data directory, the SQLite catalog and the
/// filesystem repositories are created owner-only (0700 directories, 0600 files; 0750/0640 with
/// <see cref="PgVaultOptions.GroupAccess"/>), and what an earlier version or an operator left wider is tightened.
/// </summary>
public static class StateDirectory
{
    /// <summary>
    /// Creates the data directory (and an empty SQLite catalog file, so SQLite never creates it with the umask's mode),
    /// and, when <paramref name="tighten"/>, takes away wider permissions in the data directory and every filesystem
    /// repository, saying so in one log line each.
    /// </summary>
    public static void Prepare(PgVaultOptions options, ILogger? logger, bool tighten = true)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (fileMode, directoryMode) = PrivateFiles.Modes(options.GroupAccess);
        var data = options.DataDirectoryFullPath;
        PrivateFiles.CreateDirectories(data, directoryMode);
        if (SqliteFile(options) is { } catalog && !File.Exists(catalog) && !OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(Path.GetDirectoryName(catalog)!);
            try
            {
                using var _ = PrivateFiles.CreateNew(catalog, fileMode, bufferSize: 0, options: FileOptions.None);
            }
            catch (IOException) when (File.Exists(catalog))
            {
                // created meanwhile by another PgVault process
            }
        }

        if (!tighten)
            return;
        var roots = new List<string> { data };
        if (SqliteFile(options) is { } db && !db.StartsWith(data + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            roots.AddRange(new[] { db, db + "-wal", db + "-shm", db + "-journal" }.Where(File.Exists));
        roots.AddRange(options.Locations.Values
            .Where(l => string.Equals(l.Type, LocationOptions.Filesystem, StringComparison.Ordinal) && l.Path is not null)
            .Select(l => Path.GetFullPath(LocationStores.FilesystemPath(options, l)))
            .Where(p => Directory.Exists(p) && !p.StartsWith(data + Path.DirectorySeparatorChar, StringComparison.Ordinal)));
        foreach (var root in roots.Distinct(StringComparer.Ordinal))
        {
            var changed = PrivateFiles.Tighten(root, options.GroupAccess);
            if (changed > 0)
            {
                logger?.LogWarning("permissions: {Count} files and directories under {Path} were readable by other users; now {File}/{Directory} ({Setting})",
                    changed, root, Octal(fileMode), Octal(directoryMode),
                    options.GroupAccess ? "PgVault:GroupAccess is on" : "owner only; PgVault:GroupAccess gives the group read access");
            }
        }
    }

    /// <summary>
    /// Gives <paramref name="directory"/> (created if missing) to <paramref name="group"/> with the set-group-ID bit
    /// (mode 2750), so what PgVault creates below it belongs to that group; with <see cref="PgVaultOptions.GroupAccess"/>
    /// the group may then read it. Used when running as root for the <c>postgres</c> OS user, whose
    /// <c>restore_command</c> reads the repository.
    /// </summary>
    public static async Task ShareWithGroupAsync(string directory, string group, CancellationToken ct)
    {
        PrivateFiles.CreateDirectories(directory, PrivateFiles.GroupDirectoryMode);
        await Engine.Postgres.LocalPostgres.RunAsync("chgrp", [group, directory], asPostgres: false, ct).ConfigureAwait(false);
        await Engine.Postgres.LocalPostgres.RunAsync("chmod", ["2750", directory], asPostgres: false, ct).ConfigureAwait(false);
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);

    /// <summary>The SQLite catalog's file, when the catalog is SQLite.</summary>
    internal static string? SqliteFile(PgVaultOptions options)
    {
        if (string.Equals(options.Catalog.Provider, CatalogOptions.Postgres, StringComparison.Ordinal))
            return null;
        var cs = options.Catalog.ConnectionString;
        if (string.IsNullOrWhiteSpace(cs))
            return Path.Combine(options.DataDirectoryFullPath, "catalog.db");
        var source = new SqliteConnectionStringBuilder(cs).DataSource;
        return string.IsNullOrEmpty(source) || source == ":memory:" || source.StartsWith("file:", StringComparison.Ordinal) ? null : Path.GetFullPath(source);
    }
}
