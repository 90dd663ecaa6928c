using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using PgVault.Errors;

namespace PgVault.Engine.Postgres;

/// <summary>
/// A PostgreSQL cluster on this machine that PgVault manages itself (<c>pgvault quickstart</c>): initdb, pg_ctl start and
/// stop. PostgreSQL refuses to run as root, so when PgVault runs as root every program runs as the <c>postgres</c> OS user,
/// which is made owner of the cluster's directory.
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

        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            await RunAsync(Path.Combine(binDirectory, "initdb"),
                ["-k", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D", DataDirectory], asPostgres: true, ct).ConfigureAwait(false);
            await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"),
                $"\n# pgvault quickstart\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{rootDirectory}'\n" +
                "wal_level = replica\nmax_wal_senders = 5\nmax_replication_slots = 5\n", ct).ConfigureAwait(false);
        }

        Port = FreePort();
        await RunAsync(Path.Combine(binDirectory, "pg_ctl"),
            ["start", "-w", "-t", "60", "-D", DataDirectory, "-l", LogFile, "-o", $"-p {Port.ToString(CultureInfo.InvariantCulture)}"],
            asPostgres: true, ct).ConfigureAwait(false);
    }

    /// <summary>Fills the cluster with pgbench's tables (scale 1, about 15 MB) unless they exist.</summary>
    public async Task InitSampleDataAsync(CancellationToken ct) => await
        RunAsync(Path.Combine(binDirectory, "pgbench"),
            ["-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "postgres"],
            asPostgres: true, ct).ConfigureAwait(false);

    public async Task StopAsync(CancellationToken ct) =>
        await RunAsync(Path.Combine(binDirectory, "pg_ctl"), ["stop", "-m", "fast", "-w", "-D", DataDirectory], asPostgres: true, ct).ConfigureAwait(false);

    public string ConnectionString => $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database=postgres";

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
