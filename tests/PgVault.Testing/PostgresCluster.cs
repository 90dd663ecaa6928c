using System.Diagnostics;
using System.Text;
using Npgsql;

namespace PgVault.Testing;

/// <summary>
/// A real PostgreSQL cluster for tests: <c>initdb -k</c> into a temp directory, a free loopback port, <c>pg_ctl start -w</c>;
/// on dispose <c>pg_ctl stop -m immediate</c> and the directory is deleted. When the tests run as root (sessions and CI
/// do), every PostgreSQL program runs as the <c>postgres</c> OS user, which owns the directory.
/// Binaries of PostgreSQL 15 (the default, and the major the whole suite runs on): <c>PG_BIN</c>, else
/// <c>/usr/lib/postgresql/15/bin</c>, else <c>pg_config --bindir</c>. Of the other majors (the version matrix):
/// <c>PG{major}_BIN</c>, else the npm server build <c>tests/tools/install-postgres.sh</c> installs (server programs only:
/// no pg_basebackup, psql or pg_dump).
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);
    private readonly TempDirectory _root;
    private bool _running;

    private PostgresCluster(TempDirectory root, string binDirectory, int port, int major)
    {
        _root = root;
        BinDirectory = binDirectory;
        Port = port;
        Major = major;
    }

    /// <summary>The major the suite runs on unless a test asks for another.</summary>
    public const int DefaultMajor = 15;

    /// <summary>The majors the version matrix runs against (PostgreSQL 15 is covered by the whole suite).</summary>
    public static IReadOnlyList<int> MatrixMajors { get; } = [14, 16, 17, 18];

    public string BinDirectory { get; }

    /// <summary>The PostgreSQL major of this cluster's binaries.</summary>
    public int Major { get; }

    public int Port { get; private set; }

    public string DataDirectory => Path.Combine(_root.Path, "data");

    public string LogFile => Path.Combine(_root.Path, "postgres.log");

    /// <summary>Connection string for <paramref name="database"/> as the superuser <c>postgres</c> over TCP.</summary>
    public string ConnectionString(string database = "postgres") =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = "postgres",
            Database = database,
            Timeout = 15,
            // Bulk statements of the tests (a relation past 1 GiB, pgbench initialisation) outlast Npgsql's 30 s
            // default on a loaded 2-core machine; still bounded.
            CommandTimeout = 300,
        }.ToString();

    /// <summary>The binaries of PostgreSQL <paramref name="major"/>, or null when they are not installed.</summary>
    public static string? FindBinDirectory(int major)
    {
        if (major == DefaultMajor)
            return FindBinDirectory();
        var env = Environment.GetEnvironmentVariable($"PG{major}_BIN");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "initdb")))
            return env;
        // tests/tools/postgres/node_modules/pg{major}/native/bin of the checkout holding the test binary.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "tools", "postgres", "node_modules", $"pg{major}", "native", "bin");
            if (File.Exists(Path.Combine(candidate, "initdb")))
                return candidate;
        }

        return null;
    }

    /// <summary>The PostgreSQL 15 binaries, or null when none are installed.</summary>
    public static string? FindBinDirectory()
    {
        var env = Environment.GetEnvironmentVariable("PG_BIN");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "initdb")))
            return env;
        const string debian = "/usr/lib/postgresql/15/bin";
        if (File.Exists(Path.Combine(debian, "initdb")))
            return debian;
        try
        {
            var (code, output) = RunRaw("pg_config", ["--bindir"], TimeSpan.FromSeconds(10));
            var dir = output.Trim();
            return code == 0 && File.Exists(Path.Combine(dir, "initdb")) ? dir : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Starts a new cluster; skips the test locally (fails on CI) when PostgreSQL is not installed.</summary>
    /// <param name="name">Short name, used in the directory name.</param>
    /// <param name="extraConfig">Lines appended to postgresql.conf.</param>
    /// <param name="major">The PostgreSQL major to run (<see cref="DefaultMajor"/> unless a version matrix test).</param>
    /// <param name="port">The port to listen on (a test that puts a server where another one was); null for one of
    /// <see cref="TestPorts"/>.</param>
    public static async Task<PostgresCluster> StartAsync(string name, string? extraConfig = null, CancellationToken ct = default,
        int major = DefaultMajor, int? port = null)
    {
        var bin = FindBinDirectory(major);
        TestEnvironment.RequireOrSkip(bin is not null, major == DefaultMajor
            ? "PostgreSQL binaries not found (set PG_BIN or install postgresql-15)"
            : $"PostgreSQL {major} binaries not found (run tests/tools/install-postgres.sh or set PG{major}_BIN)");
        var root = new TempDirectory("pg-" + name);
        var cluster = new PostgresCluster(root, bin!, port ?? TestPorts.Next(), major);
        try
        {
            await cluster.InitAsync(extraConfig, ct);
            await cluster.StartAsync(retryOtherPorts: port is null, ct);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts a streaming standby of <paramref name="primary"/> (pg_basebackup -R), which can later be promoted.
    /// </summary>
    public static async Task<PostgresCluster> StartStandbyAsync(string name, PostgresCluster primary, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(primary);
        var root = new TempDirectory("pg-" + name);
        var cluster = new PostgresCluster(root, primary.BinDirectory, TestPorts.Next(), primary.Major);
        try
        {
            await cluster.PrepareDirectoryAsync(ct);
            await cluster.RunPgAsync("pg_basebackup",
                ["-h", "127.0.0.1", "-p", primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres",
                 "-D", cluster.DataDirectory, "-R", "-X", "stream", "-c", "fast"], ct);
            await File.AppendAllTextAsync(Path.Combine(cluster.DataDirectory, "postgresql.conf"),
                $"\n# standby\nunix_socket_directories = '{root.Path}'\nhot_standby = on\n", ct);
            await cluster.StartAsync(retryOtherPorts: true, ct);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task PrepareDirectoryAsync(CancellationToken ct)
    {
        if (TestEnvironment.IsRoot)
        {
            // The postgres user must be able to reach and own its directories.
            await RunCheckedAsync("chmod", ["755", Path.GetDirectoryName(_root.Path)!], ct);
            await RunCheckedAsync("chown", ["postgres:postgres", _root.Path], ct);
        }
    }

    private async Task InitAsync(string? extraConfig, CancellationToken ct)
    {
        await PrepareDirectoryAsync(ct);
        await RunPgAsync("initdb", ["-k", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D", DataDirectory], ct);
        var conf = new StringBuilder()
            .AppendLine("listen_addresses = '127.0.0.1'")
            .AppendLine($"unix_socket_directories = '{_root.Path}'")
            .AppendLine("wal_level = replica")
            .AppendLine("max_wal_senders = 10")
            .AppendLine("max_replication_slots = 10")
            .AppendLine("fsync = off")
            .AppendLine("synchronous_commit = off")
            .AppendLine("full_page_writes = on")
            .AppendLine("shared_buffers = 32MB")
            .AppendLine("max_connections = 100");
        if (extraConfig is not null)
            conf.AppendLine(extraConfig);
        var confPath = Path.Combine(DataDirectory, "postgresql.conf");
        // Appending keeps the file's owner (postgres) even when the tests run as root.
        await File.AppendAllTextAsync(confPath, "\n# added by PgVault.Testing\n" + conf, ct);
    }

    private async Task StartAsync(bool retryOtherPorts, CancellationToken ct)
    {
        // A port picked free can be taken (by a process that does not go through TestPorts) before postgres binds it:
        // then postgres fails to start, and another port is tried.
        for (var attempt = 1; ; attempt++)
        {
            var (code, output) = await RunPgRawAsync("pg_ctl",
                ["start", "-w", "-t", "60", "-D", DataDirectory, "-l", LogFile, "-o", $"-p {Port}"], ct);
            if (code == 0)
            {
                _running = true;
                await CheckListenerAsync(ct);
                return;
            }

            if (attempt == 3 || !retryOtherPorts)
                throw new InvalidOperationException($"pg_ctl start failed ({code}): {output}\n{SafeReadLog()}");
            Port = TestPorts.Next();
        }
    }

    /// <summary>
    /// Proves that what answers on <see cref="Port"/> is this cluster (its data directory and major), not another
    /// server: a test must never talk to a server it did not start.
    /// </summary>
    private async Task CheckListenerAsync(CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString()) { Pooling = false }.ToString());
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(
            "SELECT current_setting('data_directory'), current_setting('server_version_num')::int / 10000", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var (directory, major) = (reader.GetString(0), reader.GetInt32(1));
        if (directory != DataDirectory || major != Major)
        {
            throw new InvalidOperationException(
                $"port {Port} is answered by PostgreSQL {major} of '{directory}', not by this cluster (PostgreSQL {Major} of '{DataDirectory}')");
        }
    }

    public async Task<NpgsqlConnection> OpenAsync(string database = "postgres", CancellationToken ct = default)
    {
        var conn = new NpgsqlConnection(ConnectionString(database));
        await conn.OpenAsync(ct);
        return conn;
    }

    public async Task ExecuteAsync(string sql, string database = "postgres", CancellationToken ct = default)
    {
        await using var conn = await OpenAsync(database, ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Creates a fresh database named after the test (lowercase, unique) and returns its name.</summary>
    public async Task<string> CreateDatabaseAsync(string hint, CancellationToken ct = default)
    {
        var clean = new string(hint.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(40).ToArray());
        var name = $"t_{clean}_{Guid.NewGuid():N}"[..Math.Min(63, clean.Length + 35)];
        await ExecuteAsync($"CREATE DATABASE \"{name}\"", ct: ct);
        return name;
    }

    /// <summary>Stops the server (<c>pg_ctl stop -m fast</c>) and keeps its directory; its port is free again.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (!_running)
            return;
        await RunPgAsync("pg_ctl", ["stop", "-m", "fast", "-w", "-t", "60", "-D", DataDirectory], ct);
        _running = false;
        // The pool's idle connections are to this server, which is gone: not for whatever listens on the port next.
        await using var conn = new NpgsqlConnection(ConnectionString());
        NpgsqlConnection.ClearPool(conn);
    }

    public async ValueTask DisposeAsync()
    {
        if (_running)
        {
            _running = false;
            await RunPgRawAsync("pg_ctl", ["stop", "-m", "immediate", "-w", "-t", "30", "-D", DataDirectory], CancellationToken.None);
        }

        _root.Dispose();
    }

    private string SafeReadLog()
    {
        try
        {
            return File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log)";
        }
        catch (IOException ex)
        {
            return "(log unreadable: " + ex.Message + ")";
        }
    }

    private async Task RunPgAsync(string program, string[] args, CancellationToken ct, string? stdin = null)
    {
        var (code, output) = await RunPgRawAsync(program, args, ct, stdin);
        if (code != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({code}): {output}");
    }

    /// <summary>Runs a PostgreSQL program (from <see cref="BinDirectory"/> unless a shell tool) as the postgres user when root.</summary>
    public Task<(int Code, string Output)> RunPgRawAsync(string program, string[] args, CancellationToken ct, string? stdin = null)
    {
        var path = File.Exists(Path.Combine(BinDirectory, program)) ? Path.Combine(BinDirectory, program) : program;
        return TestEnvironment.IsRoot
            ? RunAsync("runuser", ["-u", "postgres", "--", path, .. args], ct, stdin)
            : RunAsync(path, args, ct, stdin);
    }

    private static async Task RunCheckedAsync(string program, string[] args, CancellationToken ct)
    {
        var (code, output) = await RunAsync(program, args, ct);
        if (code != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({code}): {output}");
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, string[] args, CancellationToken ct, string? stdin = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + program);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException ex)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {CommandTimeout}", ex);
        }

        return (process.ExitCode, (await stdout) + (await stderr));
    }

    private static (int Code, string Output) RunRaw(string program, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeout))
            p.Kill();
        return (p.ExitCode, output);
    }
}
