using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;
using PgVault.Errors;

namespace PgVault.Engine.Postgres;

/// <summary>
/// A PostgreSQL cluster on this machine that PgVault manages itself (<c>pgvault quickstart</c>): initdb, pg_ctl start and
/// stop. PostgreSQL refuses to run as root, so when PgVault runs as root every program runs as the <c>postgres</c> OS user,
/// which is made owner of the cluster's directory.
/// <para>
/// Who may connect: over TCP (loopback) only with the password this class generates at each start (SCRAM-SHA-256);
/// without a password only through the Unix socket, which sits in the cluster's own directory (mode 0700) with socket
/// permissions 0700, so only the OS user that owns the cluster (and root) can reach it. Other local users get nothing.
/// </para>
/// </summary>
public sealed class LocalPostgres(string binDirectory, string rootDirectory)
{
    public string DataDirectory => Path.Combine(rootDirectory, "pgdata");

    public string LogFile => Path.Combine(rootDirectory, "postgres.log");

    public int Port { get; private set; }

    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.UserName == "root";

    /// <summary>Creates the cluster if it does not exist yet, and starts it on a free loopback port.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(rootDirectory);
        if (IsRoot && OperatingSystem.IsLinux())
        {
            await RunAsync("chown", ["postgres:postgres", rootDirectory], asPostgres: false, ct).ConfigureAwait(false);
            // The postgres user must be able to reach its directory.
            for (var dir = Path.GetDirectoryName(Path.GetFullPath(rootDirectory)); dir is not null && dir != "/"; dir = Path.GetDirectoryName(dir))
            {
                var mode = File.GetUnixFileMode(dir);
                if ((mode & UnixFileMode.OtherExecute) == UnixFileMode.None)
                    File.SetUnixFileMode(dir, mode | UnixFileMode.OtherExecute);
            }
        }

        if (OperatingSystem.IsLinux())
            File.SetUnixFileMode(rootDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            await RunAsync(Path.Combine(binDirectory, "initdb"),
                ["-k", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D", DataDirectory], asPostgres: true, ct).ConfigureAwait(false);
            await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"),
                $"\n# pgvault quickstart\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{rootDirectory}'\n" +
                "wal_level = replica\nmax_wal_senders = 5\nmax_replication_slots = 5\n", ct).ConfigureAwait(false);
        }

        // Written at every start, so a cluster made by an older quickstart (which trusted every local TCP connection) is
        // locked down too. The file is the cluster's; PostgreSQL reads it as its owner.
        await File.WriteAllTextAsync(Path.Combine(DataDirectory, "pg_hba.conf"), HbaConf, ct).ConfigureAwait(false);
        if (IsRoot)
            await RunAsync("chown", ["postgres:postgres", Path.Combine(DataDirectory, "pg_hba.conf")], asPostgres: false, ct).ConfigureAwait(false);

        Port = FreePort();
        await RunAsync(Path.Combine(binDirectory, "pg_ctl"),
            ["start", "-w", "-t", "60", "-D", DataDirectory, "-l", LogFile, "-o",
                $"-p {Port.ToString(CultureInfo.InvariantCulture)} -c unix_socket_permissions=0700 -c password_encryption=scram-sha-256"],
            asPostgres: true, ct).ConfigureAwait(false);

        // A new password at every start: it lives only in the configuration the quickstart writes (mode 0600).
        Password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        await using var connection = new NpgsqlConnection(SocketConnectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var alter = new NpgsqlCommand($"ALTER ROLE postgres PASSWORD '{Password}'", connection);
        await alter.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The cluster's <c>pg_hba.conf</c>: the Unix socket (in a directory only the cluster's owner can enter) without a
    /// password, loopback TCP — replication included — only with one.
    /// </summary>
    public const string HbaConf = """
        # Written by pgvault quickstart at every start.
        # Unix socket: its directory and the socket are mode 0700, so only the cluster's OS user (and root) reach it.
        local   all           all                     trust
        local   replication   all                     trust
        # Loopback TCP: the password pgvault quickstart generates at every start (in its pgvault.json, mode 0600).
        host    all           all     127.0.0.1/32    scram-sha-256
        host    replication   all     127.0.0.1/32    scram-sha-256

        """;

    /// <summary>The password of the <c>postgres</c> role for TCP connections, set by <see cref="StartAsync"/>.</summary>
    public string Password { get; private set; } = "";

    private string SocketConnectionString =>
        $"Host={rootDirectory};Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database=postgres;Pooling=false";

    /// <summary>Fills the cluster with pgbench's tables (scale 1, about 15 MB) unless they exist.</summary>
    public async Task InitSampleDataAsync(CancellationToken ct) => await
        RunAsync(Path.Combine(binDirectory, "pgbench"),
            ["-i", "-s", "1", "-q", "-h", rootDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "postgres"],
            asPostgres: true, ct).ConfigureAwait(false);

    public async Task StopAsync(CancellationToken ct) =>
        await RunAsync(Path.Combine(binDirectory, "pg_ctl"), ["stop", "-m", "fast", "-w", "-D", DataDirectory], asPostgres: true, ct).ConfigureAwait(false);

    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Password={Password};Database=postgres";

    public static async Task<string> RunAsync(string program, string[] args, bool asPostgres, CancellationToken ct)
    {
        var psi = asPostgres && IsRoot ? new ProcessStartInfo("runuser") : new ProcessStartInfo(program);
        if (asPostgres && IsRoot)
        {
            foreach (var a in new[] { "-u", "postgres", "--", program })
                psi.ArgumentList.Add(a);
        }

        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.WorkingDirectory = "/";
        using var p = Process.Start(psi) ?? throw new PgVaultException(ErrorCode.PostgresUnavailable, $"unable to start {program}");
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var errors = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        if (p.ExitCode != 0)
        {
            throw new PgVaultException(ErrorCode.PostgresUnavailable,
                $"{Path.GetFileName(program)} failed (exit {p.ExitCode}): {(await errors.ConfigureAwait(false)).Trim()} {(await output.ConfigureAwait(false)).Trim()}");
        }

        return await output.ConfigureAwait(false);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
