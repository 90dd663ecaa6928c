using System.Diagnostics;
using Npgsql;
using PgVault.Configuration;
using PgVault.Errors;

namespace PgVault.Engine.Postgres;

/// <summary>Finds PostgreSQL's client programs and turns Npgsql connection strings into libpq terms.</summary>
public static class PostgresTools
{
    /// <summary>The directory holding pg_basebackup: the configured one, <c>pg_config --bindir</c>, Debian's, or null (PATH).</summary>
    public static string? FindBinDirectory(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
            return configured;
        foreach (var major in new[] { "17", "16", "15" })
        {
            var debian = $"/usr/lib/postgresql/{major}/bin";
            if (File.Exists(Path.Combine(debian, "pg_basebackup")))
                return debian;
        }

        try
        {
            using var p = Process.Start(new ProcessStartInfo("pg_config", "--bindir") { RedirectStandardOutput = true, UseShellExecute = false });
            if (p is null)
                return null;
            var dir = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(10_000);
            return Directory.Exists(dir) ? dir : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// The directory holding the <c>pg_ctl</c> and <c>postgres</c> of <paramref name="major"/> (to start a server on a
    /// restored data directory of that major), or null: <c>PostgresBinDirectories[major]</c>, else
    /// <c>PostgresBinDirectory</c>, Debian's <c>/usr/lib/postgresql/&lt;major&gt;/bin</c> or <c>pg_config --bindir</c>,
    /// whichever first holds a <c>postgres</c> of that major.
    /// </summary>
    public static string? FindServerBinDirectory(EngineOptions engine, PostgresMajor major)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(major);
        if (engine.PostgresBinDirectories.TryGetValue(major.ToString(), out var configured) && !string.IsNullOrEmpty(configured))
            return configured;
        var candidates = new[] { engine.PostgresBinDirectory, $"/usr/lib/postgresql/{major}/bin", FindBinDirectory(null) };
        return candidates.FirstOrDefault(dir => !string.IsNullOrEmpty(dir) && ServerMajor(dir) == major.Number);
    }

    /// <summary>
    /// The directory whose <c>pg_basebackup</c> backs up a cluster of <paramref name="major"/>: <c>PostgresBinDirectories[major]</c>
    /// when it holds one, else <see cref="FindBinDirectory"/>'s; and that program's major, which must not be older than
    /// the server's (pg_basebackup refuses newer servers: "incompatible server version"). Throws, naming both majors, when it is.
    /// </summary>
    public static string? RequirePgBasebackup(EngineOptions engine, PostgresMajor major, string clusterId)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(major);
        var bin = engine.PostgresBinDirectories.TryGetValue(major.ToString(), out var own) && !string.IsNullOrEmpty(own)
                  && File.Exists(Path.Combine(own, "pg_basebackup"))
            ? own
            : FindBinDirectory(engine.PostgresBinDirectory);
        if (bin is not null && ProgramMajor(bin, "pg_basebackup") is { } toolMajor && toolMajor < major.Number)
        {
            throw new PgVaultException(ErrorCode.BaseBackupFailed,
                $"pg_basebackup of PostgreSQL {toolMajor} ({Path.Combine(bin, "pg_basebackup")}) cannot back up cluster '{clusterId}', which runs " +
                $"PostgreSQL {major}: pg_basebackup backs up servers of its own major and older",
                $"set PgVault:Engine:PostgresBinDirectories:{major} to PostgreSQL {major}'s programs (with pg_basebackup), or " +
                "PgVault:Engine:BaseBackupMethod to Native");
        }

        return bin;
    }

    /// <summary>The major of <c>postgres --version</c> in <paramref name="binDirectory"/>, or null when there is none.</summary>
    public static int? ServerMajor(string binDirectory) => ProgramMajor(binDirectory, "postgres");

    /// <summary>The major of <c><paramref name="name"/> --version</c> in <paramref name="binDirectory"/>, or null when there is none.</summary>
    public static int? ProgramMajor(string binDirectory, string name)
    {
        var program = Path.Combine(binDirectory, name);
        if (!File.Exists(program))
            return null;
        try
        {
            using var p = Process.Start(new ProcessStartInfo(program, "--version") { RedirectStandardOutput = true, UseShellExecute = false });
            if (p is null)
                return null;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(10_000);
            // "postgres (PostgreSQL) 16.4 (Debian 16.4-1)", "pg_basebackup (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
            var match = System.Text.RegularExpressions.Regex.Match(output, @"\(PostgreSQL\) (?<major>\d+)",
                System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1));
            return match.Success ? int.Parse(match.Groups["major"].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    public static string Program(string? binDirectory, string name) =>
        binDirectory is null ? name : Path.Combine(binDirectory, name);

    /// <summary>
    /// A libpq conninfo for an Npgsql connection string, without the password (it goes in <c>PGPASSWORD</c>, never on
    /// a command line where other users could read it).
    /// </summary>
    public static (string ConnInfo, string? Password) ToLibpq(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        var parts = new List<string>();
        void Add(string key, string? value)
        {
            if (!string.IsNullOrEmpty(value))
                parts.Add($"{key}='{value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal)}'");
        }

        Add("host", b.Host);
        if (b.Port != 0)
            Add("port", b.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Add("user", b.Username);
        Add("dbname", b.Database);
        Add("sslmode", b.SslMode switch
        {
            SslMode.Disable => "disable",
            SslMode.Require => "require",
            SslMode.VerifyCA => "verify-ca",
            SslMode.VerifyFull => "verify-full",
            _ => "prefer",
        });
        Add("application_name", "pgvault-basebackup");
        return (string.Join(' ', parts), b.Password);
    }
}
