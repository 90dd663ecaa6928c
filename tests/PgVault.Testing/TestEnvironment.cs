namespace PgVault.Testing;

/// <summary>Facts about where the tests run.</summary>
public static class TestEnvironment
{
    /// <summary>True on CI (<c>CI=true</c>): missing prerequisites fail there instead of skipping (Npgsql's habit).</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static bool IsRoot => OperatingSystem.IsLinux() && string.Equals(Environment.UserName, "root", StringComparison.Ordinal);

    /// <summary>Skips the test locally, fails it on CI.</summary>
    public static void RequireOrSkip(bool condition, string reason)
    {
        if (condition)
            return;
        if (IsCi)
            throw new InvalidOperationException($"test prerequisite missing on CI: {reason}");
        Xunit.Assert.Skip(reason);
    }

    /// <summary>
    /// The shared spec file (<c>../shared/spec/backups-openapi.json</c> beside the repository), found by walking up from
    /// the test binary; <c>PGVAULT_SPEC</c> overrides.
    /// </summary>
    public static string SpecPath
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("PGVAULT_SPEC");
            if (!string.IsNullOrEmpty(env))
                return env;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "spec", "backups-openapi.json");
                if (File.Exists(candidate))
                    return candidate;
            }

            // A checkout without shared/ beside it: the copy shipped with the tests (kept equal to the seed by
            // SpecCopyTests whenever shared/ is present).
            var copy = Path.Combine(AppContext.BaseDirectory, "Spec", "backups-openapi.json");
            if (File.Exists(copy))
                return copy;
            throw new FileNotFoundException("shared/spec/backups-openapi.json not found above " + AppContext.BaseDirectory +
                                            "; set PGVAULT_SPEC");
        }
    }
}
