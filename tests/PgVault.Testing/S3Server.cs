using System.Diagnostics;
using System.Globalization;
using PgVault.Storage.S3;

namespace PgVault.Testing;

/// <summary>
/// A real S3-protocol server on loopback for the tests: <c>tests/tools/s3-server.js</c> (s3rver 3.7.1 from npm, plus the
/// multipart-upload listing/abort and Content-MD5 checks it lacks), installed by <c>test.sh</c> into
/// <c>tests/tools/node_modules</c>. Each instance runs its own process on a free port with its own directory, holding
/// one bucket <see cref="Bucket"/>; tests isolate themselves by key prefix. Missing node or the npm install skips
/// locally and fails on CI.
/// </summary>
public sealed class S3Server : IAsyncDisposable
{
    public const string Bucket = "pgvault-test";

    /// <summary>s3rver accepts any credentials; these are what the tests configure.</summary>
    public const string AccessKeyId = "S3RVER";

    public const string SecretAccessKey = "S3RVER";

    private static int _prefixes;
    private readonly Process _process;
    private readonly TempDirectory _directory;

    private S3Server(Process process, TempDirectory directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public Uri Endpoint => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>Where the server keeps its buckets (objects are files named <c>{key}._S3rver_object</c>).</summary>
    public string DataDirectory => _directory.Path;

    /// <summary>The script, found by walking up from the test binary to <c>tests/tools</c>; null when absent.</summary>
    public static string? ScriptPath
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var script = Path.Combine(dir.FullName, "tests", "tools", "s3-server.js");
                if (File.Exists(script))
                    return script;
            }

            return null;
        }
    }

    /// <summary>Starts a server (at most 30 s), or skips the test (fails it on CI) when it cannot be installed here.</summary>
    public static async Task<S3Server> StartAsync(CancellationToken ct)
    {
        var script = ScriptPath;
        TestEnvironment.RequireOrSkip(script is not null, "tests/tools/s3-server.js not found above " + AppContext.BaseDirectory);
        var modules = Path.Combine(Path.GetDirectoryName(script)!, "node_modules", "s3rver");
        TestEnvironment.RequireOrSkip(Directory.Exists(modules), "s3rver is not installed: run ./test.sh (npm install in tests/tools)");

        var directory = new TempDirectory("s3");
        var psi = new ProcessStartInfo("node")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,   // held open: the server exits when it closes (this process died)
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(script)!,
        };
        foreach (var arg in new[] { script!, "--directory", directory.Path, "--port", "0", "--bucket", Bucket })
            psi.ArgumentList.Add(arg);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            directory.Dispose();
            TestEnvironment.RequireOrSkip(false, "node is not installed: " + ex.Message);
            throw;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            while (true)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
                if (line is null)
                {
                    var error = await process.StandardError.ReadToEndAsync(timeout.Token).ConfigureAwait(false);
                    throw new InvalidOperationException("the S3 server exited at start: " + error);
                }

                if (line.StartsWith("listening ", StringComparison.Ordinal))
                    return new S3Server(process, directory, int.Parse(line["listening ".Length..], CultureInfo.InvariantCulture));
            }
        }
        catch
        {
            Stop(process);
            process.Dispose();
            directory.Dispose();
            throw;
        }
    }

    /// <summary>A key prefix no other test uses (a test's own repository in the shared bucket).</summary>
    public static string NewPrefix(string name) =>
        $"{name}-{Interlocked.Increment(ref _prefixes).ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 20, 60)];

    /// <summary>Store options for this server under a new prefix; <paramref name="endpoint"/> overrides (a proxy).</summary>
    public S3ObjectStoreOptions StoreOptions(string name, Uri? endpoint = null) => new()
    {
        Bucket = Bucket,
        Prefix = NewPrefix(name),
        Endpoint = endpoint ?? Endpoint,
        Region = "us-east-1",
        ForcePathStyle = true,
        AccessKeyId = AccessKeyId,
        SecretAccessKey = SecretAccessKey,
        PartSizeBytes = 5 * 1024 * 1024,
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromSeconds(2),
        RequestTimeout = TimeSpan.FromSeconds(30),
    };

    public async ValueTask DisposeAsync()
    {
        Stop(_process);
        await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _process.Dispose();
        _directory.Dispose();
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }
}

/// <summary>
/// One <see cref="S3Server"/> shared by a test class (<c>IClassFixture</c>). When the server cannot run here, <see cref="Server"/>
/// skips the test that asks for it (and fails it on CI) rather than failing the whole class.
/// </summary>
public sealed class S3ServerFixture : Xunit.IAsyncLifetime
{
    private S3Server? _server;
    private Exception? _startFailure;

    /// <summary>The running server; skips (locally) or fails (CI) the calling test when it could not start.</summary>
    public S3Server Server
    {
        get
        {
            if (_server is not null)
                return _server;
            if (_startFailure is Xunit.Sdk.SkipException skip)
                Xunit.Assert.Skip(skip.Message);
            throw new InvalidOperationException("the S3 server did not start", _startFailure);
        }
    }

    public async ValueTask InitializeAsync()
    {
        try
        {
            _server = await S3Server.StartAsync(CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // kept and rethrown (or turned into a skip) by each test that asks for the server
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _startFailure = ex;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync().ConfigureAwait(false);
    }
}
