using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgVault.Testing;

/// <summary>What <see cref="FaultProxy"/> does to one request.</summary>
public enum Fault
{
    /// <summary>Forward it.</summary>
    None,

    /// <summary>Answer 500 InternalError without forwarding.</summary>
    InternalError,

    /// <summary>Answer 503 SlowDown without forwarding.</summary>
    ServiceUnavailable,

    /// <summary>Answer 429 with <c>Retry-After: 1</c> without forwarding.</summary>
    TooManyRequests,

    /// <summary>Reset the connection (RST) after reading the request, without forwarding.</summary>
    ResetBeforeResponse,

    /// <summary>Forward, then send the response's headers and half its body, then reset the connection.</summary>
    ResetMidResponse,

    /// <summary>Forward after a pause of <see cref="FaultProxy.SlowDelay"/>.</summary>
    Slow,

    /// <summary>Forward with one byte of the request body flipped (damage in transit).</summary>
    CorruptRequestBody,
}

/// <summary>
/// An HTTP/1.1 proxy on loopback between a client and an S3 server that injects faults chosen per request by a policy:
/// 5xx, 429 with Retry-After, connection resets (before or in the middle of a response) and slow answers. Each client
/// connection carries one request (the proxy asks the server to close, and closes after the response).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Uri _upstream;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<string> _log = [];
    private readonly Lock _lock = new();
    private Func<string, string, int, Fault> _policy = (_, _, _) => Fault.None;
    private int _requests;
    private int _inFlight;
    private int _maxInFlight;
    private bool _down;
    private int _refused;

    public FaultProxy(Uri upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        _upstream = upstream;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptLoopAsync();
    }

    /// <summary>How long <see cref="Fault.Slow"/> holds a request.</summary>
    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromSeconds(2);

    public Uri Endpoint => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>
    /// While true the S3 service is "down": every connection is reset as soon as it is accepted, before a byte of the
    /// request is read (what a client sees from a host whose service is not running behind a load balancer). Requests
    /// in flight when it is set finish normally.
    /// </summary>
    public bool Down
    {
        get => Volatile.Read(ref _down);
        set => Volatile.Write(ref _down, value);
    }

    /// <summary>Connections reset because the proxy was <see cref="Down"/>.</summary>
    public int RefusedConnections => Volatile.Read(ref _refused);

    /// <summary>Chooses the fault of each request from its method, path-and-query and number (1-based, over the proxy's life).</summary>
    public void SetPolicy(Func<string, string, int, Fault> policy) => _policy = policy ?? throw new ArgumentNullException(nameof(policy));

    /// <summary>"METHOD path → fault" of every request so far.</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_lock)
                return [.. _log];
        }
    }

    /// <summary>The most requests the proxy was handling at once.</summary>
    public int MaxConcurrentRequests => Volatile.Read(ref _maxInFlight);

    /// <summary>How many requests were faulted.</summary>
    public int FaultCount
    {
        get
        {
            lock (_lock)
                return _log.Count(l => !l.EndsWith("-> None", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// A policy failing a random <paramref name="share"/> of requests with a random fault (seeded: repeatable) drawn
    /// from <paramref name="faults"/> (default: every fault).
    /// </summary>
    public static Func<string, string, int, Fault> Random(double share, int seed, params Fault[] faults)
    {
        var random = new Random(seed);
        if (faults.Length == 0)
            faults = [Fault.InternalError, Fault.ServiceUnavailable, Fault.TooManyRequests, Fault.ResetBeforeResponse, Fault.ResetMidResponse, Fault.Slow];
        var gate = new Lock();
        return (_, _, _) =>
        {
            lock (gate)
                return random.NextDouble() < share ? faults[random.Next(faults.Length)] : Fault.None;
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => HandleAsync(client), CancellationToken.None);
        }
    }

    private async Task HandleAsync(Socket client)
    {
        using var _ = client;
        var ct = _stop.Token;
        if (Down)
        {
            Interlocked.Increment(ref _refused);
            Reset(client);
            return;
        }

        try
        {
            await using var clientStream = new NetworkStream(client, ownsSocket: false);
            var request = await ReadMessageAsync(clientStream, isResponse: false, ct);
            if (request is null)
                return;
            var (method, target) = ParseRequestLine(request.Head);
            var number = Interlocked.Increment(ref _requests);
            var inFlight = Interlocked.Increment(ref _inFlight);
            for (var max = Volatile.Read(ref _maxInFlight); inFlight > max; max = Volatile.Read(ref _maxInFlight))
                Interlocked.CompareExchange(ref _maxInFlight, inFlight, max);
            try
            {
                await HandleRequestAsync(client, clientStream, request, method, target, number, ct);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away (or the proxy is stopping): nothing to answer.
        }
    }

    private async Task HandleRequestAsync(Socket client, NetworkStream clientStream, Message request, string method, string target, int number,
        CancellationToken ct)
    {
        var fault = _policy(method, target, number);
        lock (_lock)
            _log.Add($"{method} {target} -> {fault}");

        switch (fault)
        {
            case Fault.InternalError:
                await RespondAsync(clientStream, 500, "Internal Server Error", "InternalError", null, ct);
                return;
            case Fault.ServiceUnavailable:
                await RespondAsync(clientStream, 503, "Service Unavailable", "SlowDown", null, ct);
                return;
            case Fault.TooManyRequests:
                await RespondAsync(clientStream, 429, "Too Many Requests", "SlowDown", "1", ct);
                return;
            case Fault.ResetBeforeResponse:
                Reset(client);
                return;
            case Fault.Slow:
                await Task.Delay(SlowDelay, ct);
                break;
            case Fault.CorruptRequestBody when request.Body.Length > 0:
                request.Body[request.Body.Length / 2] ^= 0x20;
                break;
        }

        var response = await ForwardAsync(request, ct);
        if (fault == Fault.ResetMidResponse && response.Body.Length > 1)
        {
            await clientStream.WriteAsync(response.Head, ct);
            await clientStream.WriteAsync(response.Body.AsMemory(0, response.Body.Length / 2), ct);
            await clientStream.FlushAsync(ct);
            await Task.Delay(50, ct);
            Reset(client);
            return;
        }

        await clientStream.WriteAsync(response.Head, ct);
        await clientStream.WriteAsync(response.Body, ct);
        await clientStream.FlushAsync(ct);
        client.Shutdown(SocketShutdown.Send);
    }

    private async Task<Message> ForwardAsync(Message request, CancellationToken ct)
    {
        using var upstream = new TcpClient();
        await upstream.ConnectAsync(_upstream.Host, _upstream.Port, ct);
        await using var stream = upstream.GetStream();
        await stream.WriteAsync(WithConnectionClose(request.Head), ct);
        await stream.WriteAsync(request.Body, ct);
        await stream.FlushAsync(ct);
        return await ReadMessageAsync(stream, isResponse: true, ct)
               ?? throw new IOException("the S3 server closed the connection without answering");
    }

    private static async Task RespondAsync(Stream client, int status, string reason, string code, string? retryAfter, CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(
            $"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>");
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n")
            .Append("Content-Type: application/xml\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n")
            .Append(retryAfter is null ? "" : $"Retry-After: {retryAfter}\r\n")
            .Append("Connection: close\r\n\r\n");
        await client.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), ct);
        await client.WriteAsync(body, ct);
        await client.FlushAsync(ct);
    }

    private static void Reset(Socket socket)
    {
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    private static (string Method, string Target) ParseRequestLine(byte[] head)
    {
        var line = Encoding.ASCII.GetString(head, 0, Array.IndexOf(head, (byte)'\r'));
        var parts = line.Split(' ');
        return (parts[0], parts.Length > 1 ? parts[1] : "");
    }

    private static byte[] WithConnectionClose(byte[] head)
    {
        var text = Encoding.ASCII.GetString(head);
        var lines = text.Split("\r\n")
            .Where(l => l.Length > 0 && !l.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase)
                        && !l.StartsWith("Expect:", StringComparison.OrdinalIgnoreCase))
            .ToList();
        lines.Add("Connection: close");
        return Encoding.ASCII.GetBytes(string.Join("\r\n", lines) + "\r\n\r\n");
    }

    /// <summary>Reads one HTTP message (head, and a body of Content-Length bytes, or to the end for a response
    /// without one); null when the connection closed before any byte.</summary>
    private static async Task<Message?> ReadMessageAsync(Stream stream, bool isResponse, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int headEnd;
        while ((headEnd = IndexOfHeadEnd(buffer)) < 0)
        {
            var n = await stream.ReadAsync(chunk, ct);
            if (n == 0)
                return buffer.Length == 0 ? null : throw new IOException("the connection closed inside a message head");
            await buffer.WriteAsync(chunk.AsMemory(0, n), ct);
        }

        var all = buffer.ToArray();
        var head = all[..headEnd];
        var headText = Encoding.ASCII.GetString(head);
        long? length = null;
        foreach (var line in headText.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                length = long.Parse(line["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture);
            if (line.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) && !isResponse)
                throw new NotSupportedException("the fault proxy does not take chunked requests");
        }

        if (!isResponse && headText.Contains("\r\nExpect: 100-continue", StringComparison.OrdinalIgnoreCase) && all.Length == headEnd)
        {
            // The client waits for this before it sends the body (the SDK asks for it on PUT).
            await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), ct);
            await stream.FlushAsync(ct);
        }

        var body = new MemoryStream();
        await body.WriteAsync(all.AsMemory(headEnd), ct);
        var noBody = isResponse && (headText.StartsWith("HTTP/1.1 204", StringComparison.Ordinal) || headText.StartsWith("HTTP/1.1 304", StringComparison.Ordinal));
        while (!noBody && (length is null ? isResponse : body.Length < length))
        {
            var n = await stream.ReadAsync(chunk, ct);
            if (n == 0)
                break;
            await body.WriteAsync(chunk.AsMemory(0, n), ct);
        }

        return new Message(head, body.ToArray());
    }

    private static int IndexOfHeadEnd(MemoryStream buffer)
    {
        var span = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        var i = span.IndexOf("\r\n\r\n"u8);
        return i < 0 ? -1 : i + 4;
    }

    private sealed record Message(byte[] Head, byte[] Body);
}
