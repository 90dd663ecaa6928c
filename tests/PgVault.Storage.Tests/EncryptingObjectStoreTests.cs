using System.Security.Cryptography;
using System.Text;
using PgVault.Configuration;
using PgVault.Engine.Storage;
using PgVault.Engine.Storage.Encryption;
using PgVault.Errors;
using PgVault.Storage.S3;
using PgVault.Testing;
using Xunit;

namespace PgVault.Storage.Tests;

/// <summary>Keys for the encryption tests.</summary>
internal static class TestKeys
{
    public static EncryptionKey Key(string id, int seed) => new(id, TestData.Bytes(32, seed));

    public static EncryptionKeyRing Ring(string id = "k1", int seed = 1) => new(Key(id, seed), []);
}

/// <summary>The contract against the encrypting decorator (over the in-memory store), and what encryption must add.</summary>
public sealed class EncryptingObjectStoreTests : ObjectStoreContract
{
    private const int Chunk = 64 * 1024;

    protected override string ExpectedKind => "memory";

    protected override IObjectStore CreateStore() => new EncryptingObjectStore(new InMemoryObjectStore(), TestKeys.Ring());

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Chunk - 1)]
    [InlineData(Chunk)]
    [InlineData(Chunk + 1)]
    [InlineData(3 * Chunk)]
    [InlineData((3 * Chunk) + 77)]
    public async Task Sizes_are_the_content_sizes_and_chunk_boundaries_round_trip(int size)
    {
        var inner = new InMemoryObjectStore();
        var store = new EncryptingObjectStore(inner, TestKeys.Ring());
        var content = TestData.Bytes(size, size);

        var info = await WriteAsync(store, "s/obj", content);

        Assert.Equal(size, info.SizeBytes);
        Assert.Equal(size, (await store.StatAsync("s/obj", Ct))!.SizeBytes);
        Assert.Equal(size, (await ListAsync(store, "s/")).Single().SizeBytes);
        var chunks = Math.Max(1, (size + Chunk - 1) / Chunk);
        Assert.Equal(87 + size + (16L * chunks), (await inner.StatAsync("s/obj", Ct))!.SizeBytes);
        Assert.Equal(content, await ReadAllAsync(store, "s/obj"));
        if (size > 10)
            Assert.Equal(content[^10..], await ReadAllAsync(store, "s/obj", new ReadRange(size - 10, null)));
    }

    [Fact]
    public async Task Ranged_reads_across_chunks_return_the_range()
    {
        var store = CreateStore();
        var content = TestData.Bytes((5 * Chunk) + 123, 4);
        await WriteAsync(store, "r/obj", content);

        foreach (var (offset, length) in new (int, int)[] { (Chunk - 3, 10), (2 * Chunk, Chunk), (Chunk + 5, (3 * Chunk) + 9), (5 * Chunk, 123) })
            Assert.Equal(content.AsSpan(offset, length).ToArray(), await ReadAllAsync(store, "r/obj", new ReadRange(offset, length)));
    }

    [Fact]
    public async Task Nothing_of_the_content_is_visible_in_the_stored_bytes()
    {
        var inner = new InMemoryObjectStore();
        var store = new EncryptingObjectStore(inner, TestKeys.Ring());
        var content = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("INSERT INTO secrets VALUES ('hunter2');\n", 5000)));

        await WriteAsync(store, "p/obj", content);

        var stored = await ReadAllAsync(inner, "p/obj");
        Assert.Equal(-1, stored.AsSpan().IndexOf("hunter2"u8));
        Assert.Equal(-1, stored.AsSpan().IndexOf("INSERT"u8));
        Assert.Equal("PGVE"u8.ToArray(), stored[..4]);
        // Encrypting the same content twice gives different bytes (a fresh salt, so a fresh key, per object).
        await WriteAsync(store, "p/again", content);
        Assert.NotEqual(stored[100..200], (await ReadAllAsync(inner, "p/again"))[100..200]);
    }

    [Fact]
    public async Task A_wrong_key_of_the_same_id_fails_naming_the_key_id()
    {
        var inner = new InMemoryObjectStore();
        await WriteAsync(new EncryptingObjectStore(inner, TestKeys.Ring("prod-2026", 1)), "w/obj", TestData.Bytes(1000));
        var wrong = new EncryptingObjectStore(inner, TestKeys.Ring("prod-2026", 2));

        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(wrong, "w/obj"));

        Assert.Equal(ErrorCode.EncryptionKeyMismatch, ex.Code);
        Assert.Contains("'prod-2026'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'w/obj'", ex.Message, StringComparison.Ordinal);
        var ranged = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(wrong, "w/obj", new ReadRange(500, 10)));
        Assert.Equal(ErrorCode.EncryptionKeyMismatch, ranged.Code);
    }

    [Fact]
    public async Task A_missing_key_fails_naming_the_key_id()
    {
        var inner = new InMemoryObjectStore();
        await WriteAsync(new EncryptingObjectStore(inner, TestKeys.Ring("old", 1)), "m/obj", [1, 2, 3]);

        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(new EncryptingObjectStore(inner, TestKeys.Ring("new", 2)), "m/obj"));

        Assert.Equal(ErrorCode.EncryptionKeyMissing, ex.Code);
        Assert.Contains("key 'old'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'old'", ex.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_rotation_new_objects_use_the_new_key_and_old_ones_stay_readable()
    {
        var inner = new InMemoryObjectStore();
        var k1 = TestKeys.Key("k1", 1);
        var k2 = TestKeys.Key("k2", 2);
        var before = TestData.Bytes(200_000, 1);
        var after = TestData.Bytes(200_000, 2);
        await WriteAsync(new EncryptingObjectStore(inner, new EncryptionKeyRing(k1, [])), "rot/before", before);

        var rotated = new EncryptingObjectStore(inner, new EncryptionKeyRing(k2, [k1]));
        await WriteAsync(rotated, "rot/after", after);

        Assert.Equal(before, await ReadAllAsync(rotated, "rot/before"));
        Assert.Equal(after, await ReadAllAsync(rotated, "rot/after"));
        Assert.Equal("k2", Encoding.ASCII.GetString((await ReadAllAsync(inner, "rot/after")).AsSpan(7, 2)));
        // Once k1 is dropped, what it encrypted is unreadable, and the error says which key is needed.
        var dropped = new EncryptingObjectStore(inner, new EncryptionKeyRing(k2, []));
        Assert.Equal(after, await ReadAllAsync(dropped, "rot/after"));
        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(dropped, "rot/before"));
        Assert.Equal(ErrorCode.EncryptionKeyMissing, ex.Code);
        Assert.Contains("'k1'", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> Tamperings => ["flip a content byte", "flip a tag byte", "flip a header byte", "truncate at a chunk",
        "truncate inside a chunk", "drop the last chunk", "swap two chunks", "append a chunk", "splice in another object's chunk",
        "drop the middle chunk"];

    [Theory]
    [MemberData(nameof(Tamperings))]
    public async Task Tampering_fails_with_ObjectCorrupt_never_garbage(string tampering)
    {
        var inner = new InMemoryObjectStore();
        var store = new EncryptingObjectStore(inner, TestKeys.Ring());
        var content = TestData.Bytes((3 * Chunk) + 500, 7);
        await WriteAsync(store, "t/obj", content);
        await WriteAsync(store, "t/other", TestData.Bytes((3 * Chunk) + 500, 8));
        var stored = await ReadAllAsync(inner, "t/obj");
        var other = await ReadAllAsync(inner, "t/other");
        const int h = 87, c = Chunk + 16;
        byte[] Chunk_(byte[] s, int i) => s.AsSpan(h + (i * c), Math.Min(c, s.Length - h - (i * c))).ToArray();

        var tampered = tampering switch
        {
            "flip a content byte" => Flip(stored, h + c + 1000),
            "flip a tag byte" => Flip(stored, h + c - 1),
            "flip a header byte" => Flip(stored, 50),
            "truncate at a chunk" => stored[..(h + (2 * c))],
            "truncate inside a chunk" => stored[..(h + (2 * c) + 100)],
            "drop the last chunk" => stored[..(h + (3 * c))],
            "swap two chunks" => [.. stored[..h], .. Chunk_(stored, 1), .. Chunk_(stored, 0), .. stored[(h + (2 * c))..]],
            "append a chunk" => [.. stored, .. Chunk_(stored, 3)],
            "splice in another object's chunk" => [.. stored[..(h + c)], .. Chunk_(other, 1), .. stored[(h + (2 * c))..]],
            "drop the middle chunk" => [.. stored[..(h + c)], .. stored[(h + (2 * c))..]],
            _ => throw new ArgumentOutOfRangeException(nameof(tampering)),
        };
        await WriteAsync(inner, "t/obj", tampered);

        var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(store, "t/obj"));

        // A damaged salt or key check cannot be told from another key's: that reads as a key mismatch (whose hint says so).
        Assert.Equal(tampering == "flip a header byte" ? ErrorCode.EncryptionKeyMismatch : ErrorCode.ObjectCorrupt, ex.Code);
        Assert.Contains("'t/obj'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("key 'k1'", ex.Message, StringComparison.Ordinal);

        static byte[] Flip(byte[] s, int at)
        {
            var copy = s.ToArray();
            copy[at] ^= 0x40;
            return copy;
        }
    }

    [Fact]
    public async Task A_corrupt_chunk_yields_no_byte_of_it()
    {
        var inner = new InMemoryObjectStore();
        var store = new EncryptingObjectStore(inner, TestKeys.Ring());
        var content = TestData.Bytes(3 * Chunk, 9);
        await WriteAsync(store, "g/obj", content);
        var stored = await ReadAllAsync(inner, "g/obj");
        stored[87 + Chunk + 16 + 5] ^= 1;   // in chunk 1
        await WriteAsync(inner, "g/obj", stored);

        await using var stream = await store.OpenReadAsync("g/obj", ReadRange.All, Ct);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        var ex = await Assert.ThrowsAsync<PgVaultException>(async () =>
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, Ct)) > 0)
                await received.WriteAsync(buffer.AsMemory(0, n), Ct);
        });

        Assert.Equal(ErrorCode.ObjectCorrupt, ex.Code);
        Assert.Contains("chunk 1", ex.Message, StringComparison.Ordinal);
        Assert.Equal(content[..Chunk], received.ToArray());   // exactly the authenticated chunk 0, nothing after
    }

    [Fact]
    public async Task A_plaintext_object_in_an_encrypted_location_is_refused()
    {
        var inner = new InMemoryObjectStore();
        await WriteAsync(inner, "plain/backup.json", Encoding.UTF8.GetBytes("{\"planted\": true}"));
        await WriteAsync(inner, "plain/tiny", [1, 2]);
        var store = new EncryptingObjectStore(inner, TestKeys.Ring());

        foreach (var key in new[] { "plain/backup.json", "plain/tiny" })
        {
            var ex = await Assert.ThrowsAsync<PgVaultException>(() => ReadAllAsync(store, key));
            Assert.Equal(ErrorCode.ObjectCorrupt, ex.Code);
            Assert.Contains("not encrypted by PgVault", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Keys_come_from_config_the_environment_or_a_file_and_errors_never_show_them()
    {
        using var dir = new TempDirectory("keys");
        var k1 = RandomNumberGenerator.GetBytes(32);
        var k2 = RandomNumberGenerator.GetBytes(32);
        var k3 = RandomNumberGenerator.GetBytes(32);
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "k2.key"), Convert.ToBase64String(k2) + "\n", Ct);
        await File.WriteAllBytesAsync(Path.Combine(dir.Path, "k3.bin"), k3, Ct);
        var variable = "PGVAULT_TEST_KEY_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, Convert.ToBase64String(k1));
        try
        {
            var options = new EncryptionOptions
            {
                KeyId = "k2",
                Keys = { ["k1"] = "env:" + variable, ["k2"] = "file:k2.key", ["k3"] = "file:" + Path.Combine(dir.Path, "k3.bin") },
            };
            var ring = EncryptionKeyRing.FromOptions(options, dir.Path, "PgVault:Locations:x:Encryption");
            Assert.Equal("k2", ring.WriteKey.Id);
            Assert.Equal(["k1", "k2", "k3"], ring.Ids);

            // Each resolved key reads what the same bytes given directly wrote.
            var inner = new InMemoryObjectStore();
            await WriteAsync(new EncryptingObjectStore(inner, new EncryptionKeyRing(new EncryptionKey("k1", k1), [])), "a", [1]);
            await WriteAsync(new EncryptingObjectStore(inner, new EncryptionKeyRing(new EncryptionKey("k3", k3), [])), "c", [3]);
            var store = new EncryptingObjectStore(inner, ring);
            await WriteAsync(store, "b", [2]);
            Assert.Equal([1], await ReadAllAsync(store, "a"));
            Assert.Equal([2], await ReadAllAsync(new EncryptingObjectStore(inner, new EncryptionKeyRing(new EncryptionKey("k2", k2), [])), "b"));
            Assert.Equal([3], await ReadAllAsync(store, "c"));

            Environment.SetEnvironmentVariable(variable, "not base64 of 32 bytes " + Convert.ToBase64String(k1[..10]));
            var ex = Assert.Throws<PgVaultException>(() => EncryptionKeyRing.FromOptions(options, dir.Path, "PgVault:Locations:x:Encryption"));
            Assert.Equal(ErrorCode.InvalidConfiguration, ex.Code);
            Assert.Contains("PgVault:Locations:x:Encryption:Keys:k1", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String(k1[..10]), ex.Describe(), StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }
}

/// <summary>The contract against the encrypting decorator over S3: what a real encrypted s3 location does.</summary>
[Trait("Category", "S3")]
public sealed class EncryptedS3ObjectStoreTests(S3ServerFixture fixture) : ObjectStoreContract, IClassFixture<S3ServerFixture>, IDisposable
{
    private readonly List<S3ObjectStore> _stores = [];

    protected override string ExpectedKind => "s3";

    protected override IObjectStore CreateStore()
    {
        var s3 = new S3ObjectStore(fixture.Server.StoreOptions("enc"));
        _stores.Add(s3);
        return new EncryptingObjectStore(s3, TestKeys.Ring("s3key", 3));
    }

    public void Dispose()
    {
        foreach (var store in _stores)
            store.Dispose();
    }
}

/// <summary>Memory of encrypted writes and reads, measured alone (allocation counts are process-wide).</summary>
[Collection(nameof(MeasuredAlone))]
public sealed class EncryptionMemoryTests : IDisposable
{
    private readonly TempDirectory _dir = new("enc-memory");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_large_object_is_encrypted_and_decrypted_in_bounded_memory()
    {
        var ct = TestContext.Current.CancellationToken;
        var inner = new LocalObjectStore(_dir.Path);
        var store = new EncryptingObjectStore(inner, TestKeys.Ring());
        const long size = 200L * 1024 * 1024;
        await store.WriteAsync("warm", new GeneratedStream(4 * 1024 * 1024), ct);
        await using (var warm = await store.OpenReadAsync("warm", ReadRange.All, ct))
            await warm.CopyToAsync(Stream.Null, ct);

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var info = await store.WriteAsync("big", new GeneratedStream(size, 3), ct);
        var writeAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        before = GC.GetTotalAllocatedBytes(precise: true);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long read = 0;
        await using (var stream = await store.OpenReadAsync("big", ReadRange.All, ct))
        {
            var buffer = new byte[81920];
            int n;
            while ((n = await stream.ReadAsync(buffer, ct)) > 0)
            {
                sha.AppendData(buffer, 0, n);
                read += n;
            }
        }

        var readAllocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(size, info.SizeBytes);
        Assert.Equal(size, read);
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var source = new GeneratedStream(size, 3))
        {
            var buffer = new byte[81920];
            int n;
            while ((n = await source.ReadAsync(buffer, ct)) > 0)
                expected.AppendData(buffer, 0, n);
        }

        Assert.Equal(expected.GetHashAndReset(), sha.GetHashAndReset());
        Assert.True(writeAllocated < 4 * 1024 * 1024, $"encrypting 200 MiB allocated {writeAllocated / 1024} KiB");
        Assert.True(readAllocated < 4 * 1024 * 1024, $"decrypting 200 MiB allocated {readAllocated / 1024} KiB");
        TestContext.Current.SendDiagnosticMessage(
            $"200 MiB encrypted: write allocated {writeAllocated / 1024} KiB, read {readAllocated / 1024} KiB");
    }
}
