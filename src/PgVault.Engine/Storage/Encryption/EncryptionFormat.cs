using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using PgVault.Errors;

namespace PgVault.Engine.Storage.Encryption;

/// <summary>
/// The stored form of an encrypted object (format version 1): a fixed header, then the content in AES-256-GCM chunks.
/// </summary>
/// <remarks>
/// <code>
/// header (87 bytes):  "PGVE"  version=1  log2(chunk size)=16  key id length  key id (32 bytes, zero-padded)
///                     salt (32 random bytes)  key check (16 bytes)
/// chunks:             ciphertext of up to 64 KiB of content, then its 16-byte GCM tag; every chunk but the last holds
///                     exactly 64 KiB; an empty object is one empty chunk
/// </code>
/// <para>Each object has its own key, derived from the configured key and the object's random salt (HKDF-SHA256), so
/// chunk nonces never repeat across objects: the nonce of chunk <c>i</c> is <c>i</c> (8 bytes, big-endian), three
/// zero bytes and a final-chunk flag (1 on the last chunk). The whole header is each chunk's associated data. So
/// modifying, reordering, dropping, appending or splicing in chunks (or changing the header) fails authentication, and
/// so does a truncation at a chunk boundary (the new last chunk was not sealed as final) — the STREAM construction of
/// Hoang, Reyhanitabar, Rogaway and Vizár, as used by age and Tink.</para>
/// <para>The key check (HKDF of the key and salt) tells "this is another key than the one that encrypted the object"
/// apart from corruption, before any content is decrypted.</para>
/// <para>The header and chunk sizes are fixed, so the content's length follows from the stored length alone
/// (<see cref="ContentLength"/>): listings need no extra reads.</para>
/// </remarks>
internal static class EncryptionFormat
{
    public const int ChunkBytes = 64 * 1024;
    public const int TagBytes = 16;
    public const int StoredChunkBytes = ChunkBytes + TagBytes;
    public const int MaxKeyIdLength = 32;
    public const int HeaderBytes = 4 + 1 + 1 + 1 + MaxKeyIdLength + SaltBytes + KeyCheckBytes;

    private const int SaltBytes = 32;
    private const int KeyCheckBytes = 16;
    private const byte Version = 1;
    private const byte ChunkSizeLog2 = 16;
    private static readonly byte[] Magic = "PGVE"u8.ToArray();
    private static readonly byte[] ChunkKeyInfo = "PgVault chunk key v1"u8.ToArray();
    private static readonly byte[] KeyCheckInfo = "PgVault key check v1"u8.ToArray();

    /// <summary>The content length of an object stored in <paramref name="storedBytes"/> bytes (0 for anything shorter
    /// than an empty encrypted object: reading it fails).</summary>
    public static long ContentLength(long storedBytes)
    {
        var body = storedBytes - HeaderBytes;
        if (body < TagBytes)
            return 0;
        var chunks = (body + StoredChunkBytes - 1) / StoredChunkBytes;
        return body - (chunks * TagBytes);
    }

    /// <summary>Where chunk <paramref name="index"/> starts in the stored object.</summary>
    public static long StoredOffsetOfChunk(long index) => HeaderBytes + (index * StoredChunkBytes);

    /// <summary>A new header for an object encrypted with <paramref name="key"/>, and the object's chunk key.</summary>
    public static (byte[] Header, byte[] ChunkKey) NewHeader(EncryptionKey key)
    {
        var header = new byte[HeaderBytes];
        Magic.CopyTo(header, 0);
        header[4] = Version;
        header[5] = ChunkSizeLog2;
        var id = Encoding.ASCII.GetBytes(key.Id);
        header[6] = (byte)id.Length;
        id.CopyTo(header, 7);
        var salt = header.AsSpan(7 + MaxKeyIdLength, SaltBytes);
        RandomNumberGenerator.Fill(salt);
        Derive(key.Material, salt, KeyCheckInfo, KeyCheckBytes).CopyTo(header, 7 + MaxKeyIdLength + SaltBytes);
        return (header, Derive(key.Material, salt, ChunkKeyInfo, 32));
    }

    /// <summary>
    /// Checks a stored header and returns the object's chunk key. Throws <see cref="ErrorCode.ObjectCorrupt"/> for
    /// something that is not such a header, <see cref="ErrorCode.EncryptionKeyMissing"/> when its key id is not
    /// configured and <see cref="ErrorCode.EncryptionKeyMismatch"/> when the configured key of that id is another key.
    /// </summary>
    public static byte[] OpenHeader(ReadOnlySpan<byte> header, EncryptionKeyRing keys, string objectKey)
    {
        if (header.Length < HeaderBytes || !header[..4].SequenceEqual(Magic))
        {
            throw new PgVaultException(ErrorCode.ObjectCorrupt, $"object '{objectKey}' is not encrypted by PgVault (no encryption header)",
                "a location with Encryption configured reads only objects PgVault encrypted; was encryption turned on for a " +
                "repository that already held backups?");
        }

        if (header[4] != Version || header[5] != ChunkSizeLog2 || header[6] is 0 or > MaxKeyIdLength)
            throw new PgVaultException(ErrorCode.ObjectCorrupt, $"object '{objectKey}' has an unknown encryption header (version {header[4]})");
        var id = Encoding.ASCII.GetString(header.Slice(7, header[6]));
        if (!keys.TryGet(id, out var key))
        {
            throw new PgVaultException(ErrorCode.EncryptionKeyMissing,
                $"object '{objectKey}' was encrypted with key '{id}', which is not configured (configured: {string.Join(", ", keys.Ids)})",
                $"add the key '{id}' to the location's Encryption:Keys; keep every key that encrypted objects still kept");
        }

        var salt = header.Slice(7 + MaxKeyIdLength, SaltBytes);
        var check = Derive(key.Material, salt, KeyCheckInfo, KeyCheckBytes);
        if (!CryptographicOperations.FixedTimeEquals(check, header.Slice(7 + MaxKeyIdLength + SaltBytes, KeyCheckBytes)))
        {
            throw new PgVaultException(ErrorCode.EncryptionKeyMismatch,
                $"object '{objectKey}' was encrypted with key '{id}', but the configured key '{id}' is a different key",
                $"configure the key that was in use as '{id}' when the object was written (or, if it is configured, the " +
                "object's header is damaged)");
        }

        return Derive(key.Material, salt, ChunkKeyInfo, 32);
    }

    /// <summary>The nonce of chunk <paramref name="index"/>.</summary>
    public static void Nonce(Span<byte> nonce, long index, bool final)
    {
        nonce.Clear();
        BinaryPrimitives.WriteInt64BigEndian(nonce, index);
        nonce[11] = final ? (byte)1 : (byte)0;
    }

    private static byte[] Derive(ReadOnlySpan<byte> key, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info, int length)
    {
        var output = new byte[length];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, key, output, salt, info);
        return output;
    }
}
