using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using PgVault.Errors;

namespace PgVault.Engine.Postgres;

/// <summary>
/// A minimal client of PostgreSQL's frontend/backend protocol (version 3) for a physical replication connection
/// (<c>replication=true</c>): enough to run <c>BASE_BACKUP</c> and read its COPY OUT stream, which Npgsql does not expose.
/// Connects over TCP or a Unix socket, with TLS when the connection string's <c>SslMode</c> asks for it, and
/// authenticates with trust, password, MD5 or SCRAM-SHA-256 (the methods a <c>pg_hba.conf</c> may ask for).
/// </summary>
/// <remarks>
/// Messages are read into one reused buffer (grown to the largest message); a message's body is valid until the next
/// read. Nothing here is specific to base backups but the replication parameter.
/// </remarks>
internal sealed class ReplicationWire : IAsyncDisposable
{
    private const int InitialBufferBytes = 256 * 1024;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private byte[] _buffer = new byte[InitialBufferBytes];
    private int _start;   // first unread byte in _buffer
    private int _end;     // end of the bytes read into _buffer

    private ReplicationWire(Socket socket, Stream stream)
    {
        _socket = socket;
        _stream = stream;
    }

    /// <summary>Opens a physical replication connection for the Npgsql connection string, authenticated and ready for a query.</summary>
    public static async Task<ReplicationWire> ConnectAsync(string connectionString, string applicationName, CancellationToken ct)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        var host = (b.Host ?? "localhost").Split(',')[0].Trim();
        var port = b.Port == 0 ? 5432 : b.Port;
        var user = b.Username ?? Environment.GetEnvironmentVariable("PGUSER") ?? Environment.UserName;
        var password = b.Password ?? Environment.GetEnvironmentVariable("PGPASSWORD");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (b.Timeout > 0)
            timeout.CancelAfter(TimeSpan.FromSeconds(b.Timeout));

        Socket socket;
        if (host.StartsWith('/'))
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await ConnectOrDisposeAsync(socket, new UnixDomainSocketEndPoint(Path.Combine(host, $".s.PGSQL.{port}")), timeout.Token)
                .ConfigureAwait(false);
        }
        else
        {
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = 1 << 20 };
            await ConnectOrDisposeAsync(socket, host, port, timeout.Token).ConfigureAwait(false);
        }

        Stream stream = new NetworkStream(socket, ownsSocket: false);
        ReplicationWire? wire = null;
        try
        {
            if (!host.StartsWith('/') && b.SslMode is not SslMode.Disable and not SslMode.Allow)
                stream = await NegotiateTlsAsync(stream, host, b.SslMode, timeout.Token).ConfigureAwait(false);
            wire = new ReplicationWire(socket, stream);
            await wire.StartupAsync(user, b.Database, applicationName, password, timeout.Token).ConfigureAwait(false);
            return wire;
        }
        catch
        {
            if (wire is not null)
                await wire.DisposeAsync().ConfigureAwait(false);
            else
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                socket.Dispose();
            }

            throw;
        }
    }

    private static async Task ConnectOrDisposeAsync(Socket socket, System.Net.EndPoint endPoint, CancellationToken ct)
    {
        try
        {
            await socket.ConnectAsync(endPoint, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task ConnectOrDisposeAsync(Socket socket, string host, int port, CancellationToken ct)
    {
        try
        {
            await socket.ConnectAsync(host, port, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<Stream> NegotiateTlsAsync(Stream stream, string host, SslMode mode, CancellationToken ct)
    {
        // SSLRequest: length 8, code 80877103.
        var request = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(request, 8);
        BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
        await stream.WriteAsync(request, ct).ConfigureAwait(false);
        var answer = new byte[1];
        await stream.ReadExactlyAsync(answer, ct).ConfigureAwait(false);
        if (answer[0] != (byte)'S')
        {
            if (mode is SslMode.Prefer)
                return stream;
            throw new PgVaultException(ErrorCode.BaseBackupFailed, $"the server at '{host}' does not accept TLS connections (SslMode={mode})");
        }

        var verify = mode is SslMode.VerifyCA or SslMode.VerifyFull;
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false,
            (_, _, _, errors) => !verify || errors == SslPolicyErrors.None ||
                                 (mode is SslMode.VerifyCA && errors == SslPolicyErrors.RemoteCertificateNameMismatch));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, ct).ConfigureAwait(false);
        return ssl;
    }

    private async Task StartupAsync(string user, string? database, string applicationName, string? password, CancellationToken ct)
    {
        var body = new List<byte>();
        void Param(string key, string value)
        {
            body.AddRange(Encoding.UTF8.GetBytes(key));
            body.Add(0);
            body.AddRange(Encoding.UTF8.GetBytes(value));
            body.Add(0);
        }

        Param("user", user);
        if (!string.IsNullOrEmpty(database))
            Param("database", database);
        Param("replication", "true");
        Param("application_name", applicationName);
        body.Add(0);
        var startup = new byte[8 + body.Count];
        BinaryPrimitives.WriteInt32BigEndian(startup, startup.Length);
        BinaryPrimitives.WriteInt32BigEndian(startup.AsSpan(4), 196608); // protocol 3.0
        body.CopyTo(startup, 8);
        await _stream.WriteAsync(startup, ct).ConfigureAwait(false);

        Scram? scram = null;
        while (true)
        {
            var (type, message) = await ReadMessageAsync(ct).ConfigureAwait(false);
            switch (type)
            {
                case (byte)'R':
                    var code = BinaryPrimitives.ReadInt32BigEndian(message.Span);
                    switch (code)
                    {
                        case 0:
                            break;
                        case 3:
                            await SendAsync((byte)'p', Encoding.UTF8.GetBytes(RequirePassword(password) + "\0"), ct).ConfigureAwait(false);
                            break;
                        case 5:
                            await SendAsync((byte)'p', Md5Response(user, RequirePassword(password), message.Span.Slice(4, 4)), ct)
                                .ConfigureAwait(false);
                            break;
                        case 10:
                            if (!Encoding.UTF8.GetString(message.Span[4..]).Split('\0').Contains("SCRAM-SHA-256"))
                                throw Fail("the server asks for a SASL mechanism other than SCRAM-SHA-256");
                            scram = new Scram(RequirePassword(password));
                            await SendAsync((byte)'p', scram.InitialResponse(), ct).ConfigureAwait(false);
                            break;
                        case 11:
                            await SendAsync((byte)'p', (scram ?? throw Fail("unexpected SASL message")).FinalResponse(message.Span[4..]), ct)
                                .ConfigureAwait(false);
                            break;
                        case 12:
                            (scram ?? throw Fail("unexpected SASL message")).VerifyServer(message.Span[4..]);
                            break;
                        default:
                            throw Fail($"the server asks for an authentication method PgVault does not support (code {code})");
                    }

                    break;
                case (byte)'E':
                    throw ServerError(message.Span);
                case (byte)'Z':
                    return;
                case (byte)'K':
                    BackendPid = BinaryPrimitives.ReadInt32BigEndian(message.Span);
                    break;
                case (byte)'S':
                    var fields = Encoding.UTF8.GetString(message.Span).Split('\0');
                    if (fields.Length >= 2)
                        _parameters[fields[0]] = fields[1];
                    break;
                default:
                    break; // NoticeResponse
            }
        }
    }

    private static string RequirePassword(string? password) =>
        password ?? throw Fail("the server asks for a password, but the connection string has none (nor PGPASSWORD)");

    private static byte[] Md5Response(string user, string password, ReadOnlySpan<byte> salt)
    {
        var inner = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(password + user)));
        var outer = MD5.HashData([.. Encoding.ASCII.GetBytes(inner), .. salt]);
        return Encoding.ASCII.GetBytes("md5" + Convert.ToHexStringLower(outer) + "\0");
    }

    /// <summary>Sends a simple query; its results are read with <see cref="ReadMessageAsync"/>.</summary>
    /// <summary>The server process of this connection (BackendKeyData), e.g. to find it in <c>pg_stat_progress_basebackup</c>.</summary>
    public int BackendPid { get; private set; }

    private readonly Dictionary<string, string> _parameters = new(StringComparer.Ordinal);

    /// <summary>The server's <c>server_version</c> as this connection's start-up reported it (e.g. <c>16.4</c>).</summary>
    public string ServerVersion => _parameters.GetValueOrDefault("server_version", "");

    public Task QueryAsync(string sql, CancellationToken ct) => SendAsync((byte)'Q', Encoding.UTF8.GetBytes(sql + "\0"), ct);

    private async Task SendAsync(byte type, byte[] body, CancellationToken ct)
    {
        var message = new byte[5 + body.Length];
        message[0] = type;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), 4 + body.Length);
        body.CopyTo(message, 5);
        await _stream.WriteAsync(message, ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The next message: its type and body (without the length), valid until the next call. Throws when the server
    /// closed the connection.
    /// </summary>
    public async ValueTask<(byte Type, ReadOnlyMemory<byte> Body)> ReadMessageAsync(CancellationToken ct)
    {
        _start = _end == _start ? (_end = 0) : _start;
        await FillAsync(5, ct).ConfigureAwait(false);
        var type = _buffer[_start];
        var length = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_start + 1));
        if (length < 4)
            throw Fail($"malformed message from the server (type '{(char)type}', length {length})");
        await FillAsync(1 + length, ct).ConfigureAwait(false);
        var body = _buffer.AsMemory(_start + 5, length - 4);
        _start += 1 + length;
        return (type, body);
    }

    /// <summary>Makes sure at least <paramref name="count"/> unread bytes are in the buffer.</summary>
    private async ValueTask FillAsync(int count, CancellationToken ct)
    {
        if (_end - _start >= count)
            return;
        if (_buffer.Length - _start < count)
        {
            // Move the unread bytes to the front, into a larger buffer if the message does not fit.
            var target = count > _buffer.Length ? new byte[Math.Max(count, _buffer.Length * 2)] : _buffer;
            Buffer.BlockCopy(_buffer, _start, target, 0, _end - _start);
            _end -= _start;
            _start = 0;
            _buffer = target;
        }

        while (_end - _start < count)
        {
            var n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
            if (n == 0)
                throw Fail("the server closed the connection");
            _end += n;
        }
    }

    /// <summary>
    /// The error of an ErrorResponse body (its severity, code, message and detail fields): a <see cref="PgVaultException"/>
    /// wrapping the server's error as a <see cref="PostgresException"/>, so callers decide on its SQLSTATE
    /// (<see cref="PostgresErrors.SqlState"/>) as they do for errors on Npgsql's connections.
    /// </summary>
    public static PgVaultException ServerError(ReadOnlySpan<byte> body)
    {
        string? message = null, code = null, detail = null, severity = null, invariantSeverity = null;
        while (body.Length > 1 && body[0] != 0)
        {
            var field = (char)body[0];
            var end = body[1..].IndexOf((byte)0);
            var value = Encoding.UTF8.GetString(body.Slice(1, end < 0 ? body.Length - 1 : end));
            switch (field)
            {
                case 'M': message = value; break;
                case 'C': code = value; break;
                case 'D': detail = value; break;
                case 'S': severity = value; break;
                case 'V': invariantSeverity = value; break;
            }

            body = end < 0 ? [] : body[(end + 2)..];
        }

        var text = $"the server reported an error{(code is null ? "" : $" ({code})")}: {message}{(detail is null ? "" : $" ({detail})")}";
        var server = new PostgresException(message ?? "", severity ?? "ERROR", invariantSeverity ?? severity ?? "ERROR", code ?? "", detail: detail);
        return new PgVaultException(ErrorCode.BaseBackupFailed, text,
            code == PostgresErrors.DataCorrupted ? "the server found data pages whose checksums do not match: the cluster has corrupt data" : null,
            server);
    }

    private static PgVaultException Fail(string message) => new(ErrorCode.BaseBackupFailed, "replication connection: " + message);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.Connected)
            {
                // Terminate: tells the server the session ends on purpose.
                await _stream.WriteAsync(new byte[] { (byte)'X', 0, 0, 0, 4 }).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The connection is gone already.
        }
        finally
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
            _socket.Dispose();
        }
    }

    /// <summary>The client side of SCRAM-SHA-256 (RFC 5802/7677) without channel binding, as libpq does it by default.</summary>
    private sealed class Scram(string password)
    {
        private readonly string _clientNonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        private string _clientFirstBare = "";
        private byte[] _serverSignature = [];

        public byte[] InitialResponse()
        {
            _clientFirstBare = "n=,r=" + _clientNonce;
            var first = Encoding.UTF8.GetBytes("n,," + _clientFirstBare);
            var mechanism = Encoding.ASCII.GetBytes("SCRAM-SHA-256\0");
            var body = new byte[mechanism.Length + 4 + first.Length];
            mechanism.CopyTo(body, 0);
            BinaryPrimitives.WriteInt32BigEndian(body.AsSpan(mechanism.Length), first.Length);
            first.CopyTo(body, mechanism.Length + 4);
            return body;
        }

        public byte[] FinalResponse(ReadOnlySpan<byte> serverFirstBytes)
        {
            var serverFirst = Encoding.UTF8.GetString(serverFirstBytes);
            var attributes = serverFirst.Split(',').Where(a => a.Length > 2).ToDictionary(a => a[0], a => a[2..]);
            var nonce = attributes['r'];
            if (!nonce.StartsWith(_clientNonce, StringComparison.Ordinal))
                throw Fail("the server's SCRAM nonce does not extend the client's");
            var salt = Convert.FromBase64String(attributes['s']);
            var iterations = int.Parse(attributes['i'], System.Globalization.CultureInfo.InvariantCulture);
            var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
            var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
            var storedKey = SHA256.HashData(clientKey);
            var withoutProof = "c=biws,r=" + nonce;
            var authMessage = Encoding.UTF8.GetBytes(_clientFirstBare + "," + serverFirst + "," + withoutProof);
            var signature = HMACSHA256.HashData(storedKey, authMessage);
            var proof = new byte[clientKey.Length];
            for (var i = 0; i < proof.Length; i++)
                proof[i] = (byte)(clientKey[i] ^ signature[i]);
            _serverSignature = HMACSHA256.HashData(HMACSHA256.HashData(salted, "Server Key"u8), authMessage);
            return Encoding.UTF8.GetBytes(withoutProof + ",p=" + Convert.ToBase64String(proof));
        }

        public void VerifyServer(ReadOnlySpan<byte> serverFinalBytes)
        {
            var serverFinal = Encoding.UTF8.GetString(serverFinalBytes);
            if (!serverFinal.StartsWith("v=", StringComparison.Ordinal) ||
                !CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(serverFinal[2..].Split(',')[0]), _serverSignature))
                throw Fail("the server's SCRAM signature is wrong: it does not know the password");
        }
    }
}
