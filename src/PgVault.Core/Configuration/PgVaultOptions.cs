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

    /// <summary>
    /// Whether the files PgVault writes (data directory, SQLite catalog, filesystem repositories) are readable by their
    /// group: mode 0640 for files and 0750 for directories instead of 0600 and 0700, like PostgreSQL's <c>initdb -g</c>.
    /// Needed when PostgreSQL's OS user must read a filesystem repository PgVault writes as another user (a restore's
    /// <c>restore_command</c> runs <c>pgvault wal-fetch</c> as that user): give the repository directory that group
    /// with the set-group-ID bit (<c>chgrp postgres DIR; chmod 2750 DIR</c>) so new files inherit it. Default false.
    /// </summary>
    public bool GroupAccess { get; set; }

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

    /// <summary>Several instances sharing the clusters through a PostgreSQL catalog (docs/FLEET.md).</summary>
    public FleetOptions Fleet { get; set; } = new();

    /// <summary>The <see cref="DataDirectory"/> as an absolute path.</summary>
    public string DataDirectoryFullPath => Path.GetFullPath(DataDirectory);

    /// <summary>The directory of a filesystem location (relative paths are taken from <see cref="DataDirectory"/>).</summary>
    public string FilesystemPath(LocationOptions location)
    {
        ArgumentNullException.ThrowIfNull(location);
        return Path.IsPathRooted(location.Path!) ? location.Path! : Path.Combine(DataDirectoryFullPath, location.Path!);
    }
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
    public const string S3 = "s3";

    /// <summary><c>filesystem</c> (default) or <c>s3</c>.</summary>
    public string Type { get; set; } = Filesystem;

    /// <summary>Directory of a filesystem repository; relative paths are taken from <c>DataDirectory</c>.</summary>
    public string? Path { get; set; }

    /// <summary>S3: endpoint URL of an S3-compatible service (<c>https://s3.eu-central-1.ionoscloud.com</c>, a MinIO
    /// URL). Default: AWS S3 in <see cref="Region"/>.</summary>
    public string? Endpoint { get; set; }

    /// <summary>S3: the region (the signing region with a custom endpoint). Default <c>us-east-1</c>.</summary>
    public string? Region { get; set; }

    /// <summary>S3: the bucket (must exist). Required for an s3 location.</summary>
    public string? Bucket { get; set; }

    /// <summary>S3: key prefix of the repository in the bucket (<c>pgvault/prod</c>). Default: none (the whole bucket).</summary>
    public string? Prefix { get; set; }

    /// <summary>S3: path-style addressing (<c>https://host/bucket/key</c>), which most self-hosted services need.
    /// Default false (virtual-host style, as AWS prefers).</summary>
    public bool ForcePathStyle { get; set; }

    /// <summary>S3: access key id. Default: none, and then the AWS default chain (environment variables
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the shared credentials file, an instance role).</summary>
    public string? AccessKeyId { get; set; }

    /// <summary>S3: secret access key, required with <see cref="AccessKeyId"/>. Never logged; prefer the environment.</summary>
    public string? SecretAccessKey { get; set; }

    /// <summary>S3: session token of temporary credentials, with <see cref="AccessKeyId"/>. Default none.</summary>
    public string? SessionToken { get; set; }

    /// <summary>S3: storage class of written objects (<c>STANDARD_IA</c>, ...). Default: the bucket's default.</summary>
    public string? StorageClass { get; set; }

    /// <summary>S3: bytes per multipart part; objects up to this size go as one PUT. Memory per write is at most
    /// (<see cref="UploadConcurrency"/> + 1) × this. Default 8 MiB; at least 5 MiB (S3's minimum part).</summary>
    public int PartSizeBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>S3: parts of one object uploaded at the same time. Default 4.</summary>
    public int UploadConcurrency { get; set; } = 4;

    /// <summary>S3: ranged GETs of one large object in flight at the same time when it is read whole (a restore's base
    /// backup part). Memory per read is at most (this + 1) × <see cref="PartSizeBytes"/>. Default 4; 1 reads with one GET.</summary>
    public int ReadConcurrency { get; set; } = 4;

    /// <summary>S3: multipart uploads under the prefix older than this are aborted when <c>serve</c> starts (uploads of
    /// a pgvault that died mid-write). Default 24 hours; zero turns the cleanup off.</summary>
    public TimeSpan AbandonedUploadAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Client-side encryption of everything written to this location (any type). Default: none.</summary>
    public EncryptionOptions? Encryption { get; set; }
}

/// <summary>
/// Client-side encryption of a location: AES-256-GCM in authenticated 64 KiB chunks, each object recording the id of
/// the key that encrypted it. New objects are encrypted with <see cref="KeyId"/>; objects are read with whichever of
/// <see cref="Keys"/> their id names, so rotating is: add a new key, point <see cref="KeyId"/> at it, and keep the old
/// keys for as long as objects encrypted with them are kept.
/// </summary>
public sealed class EncryptionOptions
{
    /// <summary>Id of the key new objects are encrypted with; one of <see cref="Keys"/>. Required.</summary>
    public string KeyId { get; set; } = "";

    /// <summary>Key id (1-32 of <c>A-Z a-z 0-9 . _ -</c>) → 32-byte key, given as <c>base64:&lt;44 characters&gt;</c>,
    /// <c>env:&lt;VARIABLE&gt;</c> (a variable holding the base64) or <c>file:&lt;path&gt;</c> (a file holding the
    /// base64, or the 32 raw bytes; relative to <c>DataDirectory</c>). Never logged.</summary>
    public Dictionary<string, string> Keys { get; set; } = new(StringComparer.Ordinal);

    public const string Base64Scheme = "base64:";
    public const string EnvScheme = "env:";
    public const string FileScheme = "file:";
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

    /// <summary>
    /// Cron expression (5 fields, UTC) for full base backups (typed: PgVault compresses them and records the block map an
    /// incremental one is compared with). Default <c>0 0 * * 0</c> (weekly, Sunday at midnight UTC); empty: none on a
    /// schedule. When several schedules fall on the same minute, one base backup is taken: full before diff before incr.
    /// </summary>
    public string? FullBackupSchedule { get; set; }

    /// <summary>
    /// Cron expression (5 fields, UTC) for <c>diff</c> base backups (the blocks changed since the last full one).
    /// Default: none.
    /// </summary>
    public string? DiffBackupSchedule { get; set; }

    /// <summary>
    /// Cron expression (5 fields, UTC) for <c>incr</c> base backups (the blocks changed since the last base backup of any
    /// type). Default <c>0 0 * * *</c> (daily at midnight UTC; on Sundays the full one is taken instead); empty: none.
    /// </summary>
    public string? IncrementalBackupSchedule { get; set; }

    /// <summary>
    /// The one schedule of earlier versions: cron expression (5 fields, UTC) for full base backups taken as configured
    /// (the server may compress them; they record no block map). Set, it replaces the typed schedules above (which must
    /// then be left out), and the first base backup of a backup is such a one too. Default: none (the typed schedules).
    /// </summary>
    public string? BaseBackupSchedule { get; set; }

    /// <summary>True when the typed schedules are in effect (no <see cref="BaseBackupSchedule"/>).</summary>
    public bool TypedBaseBackups => BaseBackupSchedule is null;

    /// <summary>The <see cref="FullBackupSchedule"/> default.</summary>
    public const string DefaultFullBackupSchedule = "0 0 * * 0";

    /// <summary>The <see cref="IncrementalBackupSchedule"/> default.</summary>
    public const string DefaultIncrementalBackupSchedule = "0 0 * * *";

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

    /// <summary>Failed HTTP Basic logins one client address (and, separately, one user name) may make in a row before
    /// further attempts are refused with 429 without checking the password. Successful logins give their attempt back.
    /// Default 10.</summary>
    public int FailedLoginBurst { get; set; } = 10;

    /// <summary>Failed HTTP Basic logins per minute one client address (and one user name) may make after the burst.
    /// Default 6.</summary>
    public double FailedLoginsPerMinute { get; set; } = 6;

    /// <summary>Password checks (PBKDF2, about 0.2 s of one core each at the default cost) running at the same time;
    /// others wait up to a second for a slot, then get 429. Verified credentials are remembered for a few minutes, so
    /// a client pays the check once. Default: half the processors, at least 1.</summary>
    public int MaxConcurrentPasswordChecks { get; set; } = Math.Max(1, Environment.ProcessorCount / 2);
}

public sealed class EngineOptions
{
    /// <summary>Run WAL streaming and base backups for the configured clusters in <c>serve</c>. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Directory of PostgreSQL's client programs (pg_basebackup). Default: <c>pg_config --bindir</c>, else
    /// <c>/usr/lib/postgresql/15/bin</c>, else the PATH.</summary>
    public string? PostgresBinDirectory { get; set; }

    /// <summary>
    /// PostgreSQL's programs per major (<c>Engine:PostgresBinDirectories:16 = /usr/lib/postgresql/16/bin</c>): the
    /// <c>pg_ctl</c> and <c>postgres</c> that <c>restore --verify</c> and an in-place restore start on a restored data
    /// directory of that major (a server must be of the data directory's major). A major not listed here uses
    /// <see cref="PostgresBinDirectory"/> when its programs are of that major, else Debian's
    /// <c>/usr/lib/postgresql/&lt;major&gt;/bin</c>, else <c>pg_config --bindir</c> when of that major. Default: empty.
    /// </summary>
    public Dictionary<string, string> PostgresBinDirectories { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How often the segment being written is made durable in the repository (as a <c>.partial</c> piece
    /// holding what arrived since the last one; a whole segment is stored as soon as it is complete). Flushes start
    /// this often however long each takes. Default 250 ms, so that under load the WAL in the repository stays well
    /// under a second behind the server (bench/backup measures it) at up to four pieces a second.</summary>
    public TimeSpan WalFlushInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How long the segment being received keeps its bytes in memory, so that it is stored whole from memory once
    /// complete. A segment open longer (a cluster writing less than 16 MiB in this time: an idle or quiet one) lets go of
    /// the bytes already durable as pieces, holds only what is not yet durable, and is stored whole from its pieces once
    /// complete (read back from the repository). Memory for the WAL is taken in 64 KiB chunks as it arrives, from one
    /// pool of the process. Zero: never kept (every segment is stored from its pieces). Default 2 min.
    /// </summary>
    public TimeSpan WalSegmentMemoryHold { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Streaming interrupted or lagging longer than this marks the backup DEGRADED. Default 60 s.</summary>
    public TimeSpan WalLagThreshold { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How base backups are taken. <see cref="BaseBackupMethod.Native"/> (the default): PgVault runs <c>BASE_BACKUP</c>
    /// itself on a replication connection; <see cref="BaseBackupMethod.PgBasebackup"/>: PgVault drives
    /// <c>pg_basebackup -D - -Ft</c> as a child process and reads its tar from a pipe (bench/backup measures both).
    /// </summary>
    public BaseBackupMethod BaseBackupMethod { get; set; } = BaseBackupMethod.Native;

    /// <summary>
    /// Where base backups are compressed. <see cref="BaseBackupCompression.Auto"/> (the default): by the server where it
    /// can (the native method and a server built with zstd), else by PgVault. <see cref="BaseBackupCompression.Server"/>:
    /// PostgreSQL compresses the tar with zstd (<see cref="CompressionLevel"/>, <see cref="CompressionWorkers"/> threads)
    /// in its walsender, as pgBackRest and WAL-G compress on the database host; PgVault stores the server's zstd stream
    /// as it arrives (one part per backup, whatever <see cref="BaseBackupPartSizeBytes"/>) with the SHA-256 of the stored
    /// bytes, never decompressing it. Needs the native method and PostgreSQL 15 or later built with zstd.
    /// <see cref="BaseBackupCompression.Client"/>: in PgVault, with <see cref="CompressionWorkers"/> threads, keeping the
    /// compression CPU off the database server (bench/backup measures both).
    /// </summary>
    public BaseBackupCompression BaseBackupCompression { get; set; } = BaseBackupCompression.Auto;

    /// <summary>
    /// The checksum PostgreSQL computes of every file for a base backup's <c>backup_manifest</c>, which
    /// <c>pg_verifybackup</c> checks a restored copy against. Default <see cref="ManifestChecksum.CRC32C"/>
    /// (pg_basebackup's default), the cheapest for the database server; the SHA-2 ones cost it more CPU per byte backed up
    /// (PgVault checks what it stores with its own SHA-256 either way).
    /// </summary>
    public ManifestChecksum BaseBackupManifestChecksums { get; set; } = ManifestChecksum.CRC32C;

    /// <summary>Uncompressed bytes per stored part of a base backup (parts compressed by PgVault). Default 1 GiB.</summary>
    public long BaseBackupPartSizeBytes { get; set; } = 1L << 30;

    /// <summary>How long an in-place restore waits for the restored cluster to replay its WAL and promote. Default 1 hour.</summary>
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// zstd level for everything written (WAL, base backups, by PgVault or the server). Default 1: on the datasets of
    /// bench/backup it stores about what level 3 stores for clearly less compression CPU (bench/README.md has the
    /// figures); 3 (pgBackRest's default for zst) trades that CPU for a little less storage.
    /// </summary>
    public int CompressionLevel { get; set; } = 1;

    /// <summary>
    /// zstd level of an incremental (<c>diff</c>, <c>incr</c>) base backup's changed blocks. Default 6: they are a
    /// fraction of the cluster, so the CPU per stored byte matters less than for a full one, and on pgbench's changed
    /// pages level 6 stored 0.68× what level 1 stores (levels 9 to 19 gain under 1 % more; docs/INCREMENTAL.md).
    /// </summary>
    public int IncrementalCompressionLevel { get; set; } = 6;

    /// <summary>zstd worker threads compressing a base backup in parallel (WAL is compressed on the streaming thread).
    /// Default 2; 0 compresses on the copying thread. <c>pgvault backup --jobs N</c> overrides it for one backup.</summary>
    public int CompressionWorkers { get; set; } = 2;

    /// <summary>Base backup parts a restore (<c>pgvault restore</c>, an in-place restore) fetches and decompresses at
    /// once, each with up to 8 MiB buffered. Default 2; from 1 to 64. <c>pgvault restore --jobs N</c> overrides it.</summary>
    public int RestoreJobs { get; set; } = 2;

    /// <summary>Whole WAL segments a recovering server's fetch agent keeps fetched ahead of its replay (disk: this × 16
    /// MiB in the restored <c>pg_wal</c>). Default 16; from 1 to 256. Written into the restored server's
    /// <c>restore_command</c> (<c>wal-fetch --prefetch N</c>) when not the default.</summary>
    public int WalPrefetchSegments { get; set; } = DefaultWalPrefetchSegments;

    /// <summary>WAL segments that agent fetches at once (memory: a few MiB of buffers each). Default 4; from 1 to 32.
    /// Written into the <c>restore_command</c> (<c>wal-fetch --prefetch-jobs N</c>) when not the default.</summary>
    public int WalPrefetchJobs { get; set; } = DefaultWalPrefetchJobs;

    /// <summary>The default of <see cref="WalPrefetchSegments"/>.</summary>
    public const int DefaultWalPrefetchSegments = 16;

    /// <summary>The default of <see cref="WalPrefetchJobs"/>.</summary>
    public const int DefaultWalPrefetchJobs = 4;

    /// <summary>Cron expression (5 fields, UTC) for expiry runs in <c>serve</c> (every repository, every cluster's
    /// <see cref="ClusterOptions.RetentionDays"/>). Default <c>30 * * * *</c> (hourly at half past). Empty turns
    /// scheduled expiry off (<c>pgvault expire</c> still works).</summary>
    public string ExpirySchedule { get; set; } = "30 * * * *";
}

/// <summary>How a base backup is taken: see <see cref="EngineOptions.BaseBackupMethod"/>.</summary>
public enum BaseBackupMethod
{
    /// <summary>PgVault runs BASE_BACKUP on its own replication connection.</summary>
    Native,

    /// <summary>PgVault drives pg_basebackup as a child process.</summary>
    PgBasebackup,
}

/// <summary>The checksums of a base backup's manifest: see <see cref="EngineOptions.BaseBackupManifestChecksums"/>.</summary>
public enum ManifestChecksum
{
    /// <summary>No file checksums (pg_verifybackup then checks sizes only).</summary>
    None,

    /// <summary>CRC-32C (pg_basebackup's default).</summary>
    CRC32C,

    /// <summary>SHA-224.</summary>
    SHA224,

    /// <summary>SHA-256.</summary>
    SHA256,

    /// <summary>SHA-384.</summary>
    SHA384,

    /// <summary>SHA-512.</summary>
    SHA512,
}

/// <summary>Where a base backup is compressed: see <see cref="EngineOptions.BaseBackupCompression"/>.</summary>
public enum BaseBackupCompression
{
    /// <summary>By the server where it can, else by PgVault.</summary>
    Auto,

    /// <summary>In PgVault.</summary>
    Client,

    /// <summary>In the PostgreSQL server (BASE_BACKUP's COMPRESSION 'zstd').</summary>
    Server,
}

public sealed class ApiOptions
{
    /// <summary>Serves <c>GET /bench/ceiling?bytes=N</c> (a fixed body behind the same auth and limits) for
    /// <c>bench/api</c>. Default false.</summary>
    public bool EnableBenchmarkEndpoint { get; set; }

    /// <summary>The in-memory read model the backup listings are served from.</summary>
    public ReadModelOptions ReadModel { get; set; } = new();

    /// <summary>HTTPS for the API (the <c>https://</c> URLs of <c>serve --urls</c>). Default: none (HTTP only).</summary>
    public TlsOptions Tls { get; set; } = new();

    /// <summary>The web console at <c>/ui/</c>.</summary>
    public ConsoleOptions Console { get; set; } = new();
}

/// <summary>
/// The web console <c>serve</c> answers at <c>/ui/</c>: sign-in with the API's users and tokens, a session cookie
/// (<c>HttpOnly</c>, <c>SameSite=Strict</c>, <c>Secure</c> over HTTPS) whose state-changing requests carry its CSRF token.
/// </summary>
public sealed class ConsoleOptions
{
    /// <summary>Serve the console and accept its session cookie. Default true; false leaves <c>/ui/</c> unmapped (404)
    /// and the API accepts credentials in the <c>Authorization</c> header only.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>A console session not used for this long ends (sign in again). Default 30 minutes. Sessions also end
    /// 12 hours after sign-in, and when <c>serve</c> restarts.</summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(30);
}

/// <summary>
/// The API's TLS certificate: PEM files, read again when either changes (checked at most every few seconds, at a new
/// connection), so a renewed certificate (certbot, cert-manager) is served without a restart.
/// </summary>
public sealed class TlsOptions
{
    /// <summary>PEM file of the certificate (and its chain). Relative paths are taken from <c>DataDirectory</c>.
    /// Default: none (no HTTPS).</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM file of the private key (PKCS#8, PKCS#1 or SEC1, unencrypted). Default: none, meaning the key is in
    /// <see cref="CertificateFile"/>. Keep it readable by the pgvault user only.</summary>
    public string? KeyFile { get; set; }

    /// <summary><c>Strict-Transport-Security</c> max-age sent on HTTPS responses. Default 365 days; zero sends none.</summary>
    public TimeSpan HstsMaxAge { get; set; } = TimeSpan.FromDays(365);

    /// <summary>True when a certificate is configured.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificateFile);
}

/// <summary>
/// The API's in-memory read model of the backups: every backup's JSON item, already serialized, in listing order and per
/// cluster, so a page is written from memory (no catalog query, no serialization). It follows the catalog's change feed:
/// writes of this process are visible to the next request; writes of other processes sharing the catalog within
/// <see cref="MaxStaleness"/>. Its memory grows with the number of backups (bench/README.md, bench/api, measures it).
/// </summary>
public sealed class ReadModelOptions
{
    /// <summary>Serve the backup listings from the read model. Default true; false serves every request from the
    /// catalog.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How old this process's view of other processes' writes (pgvault instances sharing a PostgreSQL catalog,
    /// <c>pgvault catalog rebuild</c>, <c>pgvault expire</c>) may be: at most this long after its last look at the
    /// catalog's change feed, a request looks again (one single-row query when nothing changed). Default 1 s; zero
    /// looks before every request.</summary>
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The most backups the read model holds (the bound of its memory, which grows with each backup). With more,
    /// the read model turns itself off (with a warning in the log) and the listings are served from the catalog. Default
    /// 1,000,000 (docs/CONFIGURATION.md gives the memory that takes).</summary>
    public int MaxBackups { get; set; } = 1_000_000;
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
