using System.Diagnostics;
using Npgsql;

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
