using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>The spec copy shipped with the tests must stay identical to the shared seed spec.</summary>
public sealed class SpecCopyTests
{
    [Fact]
    public void The_shipped_spec_copy_equals_the_shared_seed_spec()
    {
        var shared = TestEnvironment.SpecPath;
        var copy = Path.Combine(AppContext.BaseDirectory, "Spec", "backups-openapi.json");
        Assert.True(File.Exists(copy), "the spec copy is not in the test output");
        if (string.Equals(Path.GetFullPath(shared), Path.GetFullPath(copy), StringComparison.Ordinal))
            Assert.Skip("shared/ is not beside this checkout: nothing to compare the copy with");
        Assert.Equal(File.ReadAllText(shared), File.ReadAllText(copy));
    }
}
