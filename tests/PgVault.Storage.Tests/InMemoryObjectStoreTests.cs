using PgVault.Engine.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>The contract against the in-memory fake: passing it is what lets unit tests use the fake.</summary>
public sealed class InMemoryObjectStoreTests : ObjectStoreContract
{
    protected override string ExpectedKind => "memory";

    protected override IObjectStore CreateStore() => new InMemoryObjectStore();

    [Theory]
    [MemberData(nameof(KeysToCompare))]
    public async Task It_accepts_exactly_the_keys_ObjectKeys_accepts(string key)
    {
        var store = new InMemoryObjectStore();
        var accepted = true;
        try
        {
            await store.StatAsync(key, Ct);
        }
        catch (Errors.PgVaultException)
        {
            accepted = false;
        }

        Assert.Equal(ObjectKeys.IsValid(key), accepted);
    }

    public static TheoryData<string> KeysToCompare =>
    [
        .. InvalidKeys.Select(row => (string)row.Data),
        "a", "a/b", "a.b/c=d", "0", "x-y_z", "a./b", "a/b.", "a/b/c/d/e/f", new string('k', 255), new string('k', 1024),
        "a/" + new string('s', 255),
    ];
}
