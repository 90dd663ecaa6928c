using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Configuration;
using PgVault.Engine.Restore;
using PgVault.Engine.Storage;
using PgVault.Hosting;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// Every file PgVault writes holds data of the databases it backs up: repository objects, the catalog, the data
/// directory, the WAL spool and temporary files are the owner's only (0600/0700), or the group's to read with
/// <c>PgVault:GroupAccess</c> (0640/0750); wider ones found at start-up are tightened.
/// </summary>
[Trait("Category", "Security")]
public sealed class FileModeTests : IDisposable
{
    private static readonly UnixFileMode GroupOrOther = (UnixFileMode)Convert.ToInt32("077", 8);
    private static readonly UnixFileMode Other = (UnixFileMode)Convert.ToInt32("007", 8);
    private static readonly UnixFileMode GroupWrite = UnixFileMode.GroupWrite;
    private readonly TempDirectory _dir = new("modes");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private static UnixFileMode ModeOf(string path) => File.GetUnixFileMode(path);

    /// <summary>Every file and directory below <paramref name="root"/> (itself included), links left out.</summary>
    private static IEnumerable<string> Tree(string root) =>
        new[] { root }.Concat(Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
            .Where(p => new FileInfo(p).LinkTarget is null);

    private static void AssertNoAccessBeyond(string root, UnixFileMode forbidden)
    {
        var loose = Tree(root).Where(p => (ModeOf(p) & forbidden) != UnixFileMode.None)
            .Select(p => $"{p} ({Convert.ToString((int)ModeOf(p), 8)})").ToList();
        Assert.True(loose.Count == 0, "readable or writable by others: " + string.Join(", ", loose));
    }

    private static async Task WriteObjectsAsync(LocalObjectStore store)
    {
        foreach (var key in new[] { "c/x/wal/00000001/000000010000000000000001-aa.zst", "c/x/chain.json", "top" })
        {
            using var content = new MemoryStream(new byte[100]);
            await store.WriteAsync(key, content, Ct);
        }
    }

    [Fact]
    public async Task Repository_objects_and_directories_are_the_owners_only()
    {
        var root = Path.Combine(_dir.Path, "repo", "nested");
        await WriteObjectsAsync(new LocalObjectStore(root));

        AssertNoAccessBeyond(root, GroupOrOther);
        Assert.Equal(PrivateFiles.FileMode, ModeOf(Path.Combine(root, "top")));
        Assert.Equal(PrivateFiles.DirectoryMode, ModeOf(Path.Combine(root, "c", "x", "wal")));
        Assert.Equal(PrivateFiles.DirectoryMode, ModeOf(root));
    }

    [Fact]
    public async Task With_group_access_the_group_may_read_but_never_write()
    {
        var root = Path.Combine(_dir.Path, "shared-repo");
        await WriteObjectsAsync(new LocalObjectStore(root, groupAccess: true));

        AssertNoAccessBeyond(root, Other | GroupWrite);
        Assert.Equal(PrivateFiles.GroupFileMode, ModeOf(Path.Combine(root, "top")));
        Assert.Equal(PrivateFiles.GroupDirectoryMode, ModeOf(Path.Combine(root, "c", "x")));
    }

    [Fact]
    public async Task The_data_directory_catalog_and_admin_token_of_a_new_server_are_the_owners_only()
    {
        using var data = new TempDirectory("modes-data");
        Directory.Delete(data.Path);
        await using (var server = await ApiServer.StartAsync("modes", new Dictionary<string, string?> { ["PgVault:GroupAccess"] = "false" }, dataDirectory: data))
        {
            Assert.True(File.Exists(Path.Combine(data.Path, "catalog.db")));
            AssertNoAccessBeyond(data.Path, GroupOrOther);
        }

        AssertNoAccessBeyond(data.Path, GroupOrOther);
    }

    [Fact]
    public async Task Wider_files_found_at_start_up_are_tightened_and_logged()
    {
        using var data = new TempDirectory("modes-old");
        var repository = Path.Combine(data.Path, "repository");
        Directory.CreateDirectory(Path.Combine(repository, "c"));
        var oldObject = Path.Combine(repository, "c", "chain.json");
        await File.WriteAllTextAsync(oldObject, "{}", Ct);
        File.SetUnixFileMode(oldObject, (UnixFileMode)Convert.ToInt32("644", 8));
        File.SetUnixFileMode(data.Path, (UnixFileMode)Convert.ToInt32("755", 8));
        var outside = Path.Combine(_dir.Path, "outside");
        await File.WriteAllTextAsync(outside, "x", Ct);
        File.SetUnixFileMode(outside, (UnixFileMode)Convert.ToInt32("644", 8));
        File.CreateSymbolicLink(Path.Combine(repository, "link"), outside);

        await using (var server = await ApiServer.StartAsync("modes-old", new Dictionary<string, string?> { ["PgVault:GroupAccess"] = "false" }, dataDirectory: data))
        {
            AssertNoAccessBeyond(data.Path, GroupOrOther);
            Assert.Contains(server.Logs.Lines, l => l.Contains("were readable by other users", StringComparison.Ordinal));
        }

        // A link is neither followed nor changed.
        Assert.Equal((UnixFileMode)Convert.ToInt32("644", 8), ModeOf(outside));
    }

    [Fact]
    public void State_directory_preparation_creates_the_catalog_file_private_before_sqlite_does()
    {
        var options = new PgVaultOptions { DataDirectory = Path.Combine(_dir.Path, "state", "data") };
        StateDirectory.Prepare(options, NullLogger.Instance);

        Assert.Equal(PrivateFiles.DirectoryMode, ModeOf(options.DataDirectoryFullPath));
        Assert.Equal(PrivateFiles.FileMode, ModeOf(Path.Combine(options.DataDirectoryFullPath, "catalog.db")));
    }

    [Fact]
    public async Task Spool_temporary_and_fetched_wal_files_are_the_owners_only()
    {
        var repo = new SyntheticRepository(new InMemoryObjectStore(), new ManualClock(DateTimeOffset.UtcNow), Guid.NewGuid().ToString());
        await repo.StartChainAsync("chain", 1);
        await repo.SwitchTimelineAsync(2);
        var pgWal = Directory.CreateDirectory(Path.Combine(_dir.Path, "pg_wal")).FullName;
        var destination = Path.Combine(pgWal, "RECOVERYXLOG");
        var (code, message) = await WalFetcher.FetchAsync(repo.Store, repo.BackupId, "00000002.history", destination, Ct);
        Assert.True(code == 0, message);
        Assert.Equal(PrivateFiles.FileMode, ModeOf(destination));

        var spool = PrivateFiles.EnsurePrivateDirectory(WalFetcher.DefaultSpool(destination), "test spool");
        Assert.Equal(PrivateFiles.DirectoryMode, ModeOf(spool));
        var temp = PrivateFiles.CreateTempDirectory(_dir.Path, "pgvault-verify-");
        Assert.Equal(PrivateFiles.DirectoryMode, ModeOf(temp));
        Assert.NotEqual(temp, PrivateFiles.CreateTempDirectory(_dir.Path, "pgvault-verify-"));
    }
}
