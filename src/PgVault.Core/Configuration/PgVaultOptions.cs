namespace PgVault.Configuration;

/// <summary>The <c>PgVault</c> configuration section. Every property documents its default.</summary>
public sealed class PgVaultOptions
{
    public const string SectionName = "PgVault";

    /// <summary>Where PgVault keeps its own state (SQLite catalog, admin token hash, default repository).
    /// Default <c>./pgvault-data</c>, relative to the working directory.</summary>
    public string DataDirectory { get; set; } = "./pgvault-data";

    /// <summary>The catalog database. Default: SQLite file <c>catalog.db</c> in <see cref="DataDirectory"/>.</summary>
    public CatalogOptions Catalog { get; set; } = new();

    /// <summary>Named backup locations (the IONOS <c>backupLocation</c>). If empty, one location <c>local</c>
    /// of type <c>filesystem</c> at <c>DataDirectory/repository</c>.</summary>
    public Dictionary<string, LocationOptions> Locations { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The PostgreSQL clusters PgVault backs up. Default: none.</summary>
    public List<ClusterOptions> Clusters { get; set; } = [];

    /// <summary>API users (HTTP Basic). If neither users nor tokens are configured, an admin token is created on first
    /// start and its hash kept in <see cref="DataDirectory"/>.</summary>
    public List<UserOptions> Users { get; set; } = [];

    /// <summary>API tokens (<c>Authorization: Bearer</c>).</summary>
    public List<TokenOptions> Tokens { get; set; } = [];

    /// <summary>Per-principal request rate limit of the API.</summary>
    public RateLimitOptions RateLimit { get; set; } = new();

    /// <summary>API switches.</summary>
    public ApiOptions Api { get; set; } = new();

    /// <summary>The backup engine (WAL streaming and base backups of every configured cluster).</summary>
    public EngineOptions Engine { get; set; } = new();

    /// <summary>Log output of <c>serve</c>.</summary>
    public LoggingOptions Logging { get; set; } = new();

    /// <summary>The Prometheus endpoint <c>GET /metrics</c>.</summary>
    public MetricsOptions Metrics { get; set; } = new();

    /// <summary>The readiness endpoint <c>GET /readyz</c>.</summary>
    public HealthOptions Health { get; set; } = new();

    /// <summary>The <see cref="DataDirectory"/> as an absolute path.</summary>
    public string DataDirectoryFullPath => Path.GetFullPath(DataDirectory);
}

public sealed class CatalogOptions
{
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>Provider connection string. For SQLite, if empty: <c>Data Source=DataDirectory/catalog.db</c>.
    /// For PostgreSQL it is required (an Npgsql connection string).</summary>
    public string? ConnectionString { get; set; }
}

public sealed class LocationOptions
{
    public const string Filesystem = "filesystem";

    /// <summary><c>filesystem</c> (S3 comes later).</summary>
    public string Type { get; set; } = Filesystem;

    /// <summary>Directory of a filesystem repository; relative paths are taken from <c>DataDirectory</c>.</summary>
    public string? Path { get; set; }
}

public sealed class ClusterOptions
{
    /// <summary>The cluster's id (a UUID), as the API shows it.</summary>
    public string Id { get; set; } = "";

    /// <summary>Human-readable name. Default: the id.</summary>
    public string? DisplayName { get; set; }

    /// <summary>A replication-capable Npgsql/libpq connection string to the cluster.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Name of a configured location. Default <c>local</c>.</summary>
    public string BackupLocation { get; set; } = "local";

    /// <summary>Physical replication slot PgVault streams WAL through (created if missing), so the server keeps WAL
    /// while PgVault is down. Default <c>pgvault_</c> + the first 12 hex digits of the id.</summary>
    public string? ReplicationSlot { get; set; }

    /// <summary>Cron expression (5 fields, UTC) for base backups. Default <c>0 0 * * *</c> (daily at midnight UTC).</summary>
    public string BaseBackupSchedule { get; set; } = "0 0 * * *";

    /// <summary>The cluster's data directory on this machine (absolute). Needed only for an in-place restore
    /// (<c>POST /clusters/{id}/restore</c>): PgVault stops the cluster with <c>pg_ctl</c>, moves this directory aside
    /// (kept, never deleted), restores into its place and starts the cluster again. Default: none (no in-place restore).</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Server options given to <c>pg_ctl start -o</c> when PgVault starts the cluster after an in-place restore.
    /// Default: the options the cluster was last started with (its <c>postmaster.opts</c>), without <c>-D</c>.</summary>
    public string? StartOptions { get; set; }

    /// <summary>Days of the recovery window kept (the IONOS <c>retentionDays</c>): expiry deletes the base backups and
    /// WAL that no restore to a moment in [now − RetentionDays, now] needs. Default 7; from 1 to 3650.</summary>
    public int RetentionDays { get; set; } = DefaultRetentionDays;

    /// <summary>Complete base backups of the active backup that expiry always keeps, however old (with the WAL they
    /// need). Default null: no minimum beyond what the recovery window needs.</summary>
    public int? MinBaseBackups { get; set; }

    /// <summary>The <see cref="RetentionDays"/> default, also applied to backups of clusters no longer configured.</summary>
    public const int DefaultRetentionDays = 7;

    /// <summary>The slot name in effect.</summary>
    public string SlotName => ReplicationSlot ?? "pgvault_" + Id.Replace("-", "", StringComparison.Ordinal)[..Math.Min(12, Id.Replace("-", "", StringComparison.Ordinal).Length)];
}

public sealed class UserOptions
{
    public string Name { get; set; } = "";

    /// <summary>Output of <c>pgvault hash-password</c>; never the password itself.</summary>
    public string PasswordHash { get; set; } = "";

    /// <summary>Cluster ids this user may see, or <c>*</c> for all. Default: none.</summary>
    public List<string> Clusters { get; set; } = [];
}

public sealed class TokenOptions
{
    public string Name { get; set; } = "";

    /// <summary>Output of <c>pgvault token create</c> (<c>sha256:...</c>); never the token itself.</summary>
    public string TokenHash { get; set; } = "";

    /// <summary>Cluster ids this token may see, or <c>*</c> for all. Default: none.</summary>
    public List<string> Clusters { get; set; } = [];
}

public sealed class RateLimitOptions
{
    /// <summary>Sustained requests per second allowed to one principal (or, unauthenticated, one client address).
    /// Default 200. Zero turns rate limiting off.</summary>
    public int PermitsPerSecond { get; set; } = 200;

    /// <summary>Requests a principal may make at once above the sustained rate. Default 400.</summary>
    public int Burst { get; set; } = 400;
}

public sealed class EngineOptions
{
    /// <summary>Run WAL streaming and base backups for the configured clusters in <c>serve</c>. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Directory of PostgreSQL's client programs (pg_basebackup). Default: <c>pg_config --bindir</c>, else
    /// <c>/usr/lib/postgresql/15/bin</c>, else the PATH.</summary>
    public string? PostgresBinDirectory { get; set; }

    /// <summary>How often the segment being written is made durable in the repository. Default 500 ms, so the WAL
    /// in the repository is at most about a second behind the server (bench/backup measures it).</summary>
    public TimeSpan WalFlushInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Streaming interrupted or lagging longer than this marks the backup DEGRADED. Default 60 s.</summary>
    public TimeSpan WalLagThreshold { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Uncompressed bytes per stored part of a base backup. Default 1 GiB.</summary>
    public long BaseBackupPartSizeBytes { get; set; } = 1L << 30;

    /// <summary>How long an in-place restore waits for the restored cluster to replay its WAL and promote. Default 1 hour.</summary>
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>zstd level for everything written. Default 3.</summary>
    public int CompressionLevel { get; set; } = 3;

    /// <summary>zstd worker threads compressing a base backup in parallel (WAL is compressed on the streaming thread).
    /// Default 2; 0 compresses on the copying thread.</summary>
    public int CompressionWorkers { get; set; } = 2;

    /// <summary>Cron expression (5 fields, UTC) for expiry runs in <c>serve</c> (every repository, every cluster's
    /// <see cref="ClusterOptions.RetentionDays"/>). Default <c>30 * * * *</c> (hourly at half past). Empty turns
    /// scheduled expiry off (<c>pgvault expire</c> still works).</summary>
    public string ExpirySchedule { get; set; } = "30 * * * *";
}

public sealed class ApiOptions
{
    /// <summary>Serves <c>GET /bench/ceiling?bytes=N</c> (a fixed body behind the same auth and limits) for
    /// <c>bench/api</c>. Default false.</summary>
    public bool EnableBenchmarkEndpoint { get; set; }
}

public sealed class LoggingOptions
{
    public const string Text = "text";
    public const string Json = "json";

    /// <summary><c>text</c> (default): one human-readable line per event. <c>json</c>: one JSON object per line
    /// (Microsoft.Extensions.Logging's JSON console formatter: Timestamp, EventId, LogLevel, Category, Message, State).</summary>
    public string Format { get; set; } = Text;
}

public sealed class MetricsOptions
{
    /// <summary>Serve <c>GET /metrics</c> (Prometheus text format, unauthenticated). Default true; false leaves the
    /// path unmapped (404) and collects nothing.</summary>
    public bool Enabled { get; set; } = true;
}

public sealed class HealthOptions
{
    /// <summary>How long <c>GET /readyz</c> waits for each check (catalog, every location) before reporting it failed.
    /// Default 5 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);
}
