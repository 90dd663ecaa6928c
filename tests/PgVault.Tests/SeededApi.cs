using PgVault.Catalog;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// One server for the read-only API tests, with two configured clusters, a third cluster known only to the catalog,
/// three principals and a catalog of backups in every state. Tests only read it.
/// </summary>
public sealed class SeededApi : IAsyncLifetime
{
    public const string ClusterA = "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f";
    public const string ClusterB = "0f9e8d7c-6b5a-4c3d-8e2f-112233445566";
    public const string AdminToken = "pgv_test-admin-token-0123456789abcdefghijklmnop";
    public const string ScopedToken = "pgv_test-scoped-token-0123456789abcdefghijklmno";
    public const string Password = "correct horse battery staple";
    public static readonly DateTimeOffset T0 = new(2026, 11, 1, 8, 30, 15, TimeSpan.Zero);

    private ApiServer? _server;

    public ApiServer Server => _server ?? throw new InvalidOperationException("not started");

    /// <summary>Every seeded backup, in the API's order (newest first, then id).</summary>
    public IReadOnlyList<BackupRecord> Backups { get; private set; } = [];

    public async ValueTask InitializeAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["PgVault:Clusters:0:Id"] = ClusterA,
            ["PgVault:Clusters:0:DisplayName"] = "alpha",
            ["PgVault:Clusters:0:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Clusters:1:Id"] = ClusterB.ToUpperInvariant(), // any spelling of a UUID is accepted
            ["PgVault:Clusters:1:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Users:0:Name"] = "alice",
            ["PgVault:Users:0:PasswordHash"] = PasswordHasher.Hash(Password, PasswordHasher.MinIterations),
            ["PgVault:Users:0:Clusters:0"] = "*",
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
            ["PgVault:Tokens:1:Name"] = "scoped",
            ["PgVault:Tokens:1:TokenHash"] = TokenHasher.Hash(ScopedToken),
            ["PgVault:Tokens:1:Clusters:0"] = ClusterB,
            ["PgVault:RateLimit:PermitsPerSecond"] = "0",
            // The tests send wrong passwords on purpose, far more than the failed-login throttle allows by default.
            ["PgVault:RateLimit:FailedLoginBurst"] = "1000000",
        };
        _server = await ApiServer.StartAsync("seeded", settings);

        var random = new Random(42);
        var states = Enum.GetValues<BackupState>();
        var sizes = new long[] { 0, 1, 1024 * 1024, (1024 * 1024) + 1, 5L * 1024 * 1024 * 1024 };
        var list = new List<BackupRecord>();
        for (var i = 0; i < 230; i++)
        {
            var cluster = i % 5 == 0 ? ClusterB : ClusterA;
            var created = T0.AddMinutes(-random.Next(0, 100)).AddTicks(random.Next(0, 3) * 10);
            list.Add(new BackupRecord
            {
                Id = $"{cluster}-{i:x4}{random.Next():x4}-15",
                ClusterId = cluster,
                CreatedDate = created,
                State = states[i % states.Length],
                Version = "15",
                IsActive = i % 7 == 0,
                EarliestRecoveryTargetTime = i % 3 == 0 ? null : created.AddSeconds(90.5),
                SizeBytes = sizes[i % sizes.Length],
                Location = "local",
            });
        }

        // A cluster removed from the configuration whose backups remain in the catalog.
        list.Add(new BackupRecord
        {
            Id = "orphan-backup-15", ClusterId = "99999999-9999-4999-8999-999999999999", CreatedDate = T0,
            State = BackupState.Available, Version = "15", IsActive = false, Location = "local", SizeBytes = 10,
        });
        await Server.Catalog.SaveBackupsAsync(list, TestContext.Current.CancellationToken);
        Backups = list.OrderByDescending(b => b.CreatedDate).ThenBy(b => b.Id, StringComparer.Ordinal).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
    }
}
