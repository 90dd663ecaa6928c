using System.Net;
using System.Net.Sockets;

namespace PgVault.Testing;

/// <summary>
/// Loopback ports for the servers the tests start, never the same one twice in a test process. The kernel hands out a
/// free port at random (<c>bind</c> to port 0), so in a suite that starts hundreds of servers a port often comes back:
/// a test whose server listens where another test's server listened earlier can meet what that server left behind in
/// the process (Npgsql keeps a data source per connection string, with the first server's version, for the life of
/// the process). A port this class handed out is never handed out again.
/// </summary>
public static class TestPorts
{
    private static readonly HashSet<int> Taken = [];
    private static readonly Lock Gate = new();

    /// <summary>A loopback port free now and never returned before in this process.</summary>
    public static int Next()
    {
        for (var attempt = 1; ; attempt++)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (Gate)
            {
                if (Taken.Add(port))
                    return port;
            }

            if (attempt == 1000)
                throw new InvalidOperationException("no loopback port left that this test process has not used yet");
        }
    }

    /// <summary>Records <paramref name="port"/> as used (a server on a port chosen elsewhere), so it is not handed out.</summary>
    public static void Reserve(int port)
    {
        lock (Gate)
            Taken.Add(port);
    }
}
