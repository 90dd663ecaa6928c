namespace PgVault.Testing;

/// <summary>A directory under /tmp/pgvault-tests that is deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string name)
    {
        var root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pgvault-tests");
        Directory.CreateDirectory(root);
        Path = System.IO.Path.Combine(root, $"{name}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 9, 60)]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
