using System.Security.Cryptography.X509Certificates;
using PgVault.Configuration;
using PgVault.Errors;

namespace PgVault.Hosting;

/// <summary>
/// The API's certificate from <c>PgVault:Api:Tls</c>: loaded at start (a bad file fails the start), and loaded again at a
/// new connection when a file's size or modification time changed since (looked at most every
/// <see cref="CheckInterval"/>). A renewed file that cannot be loaded (half written, a key that does not match) leaves
/// the previous certificate in use and is logged; the next change is tried again.
/// </summary>
public sealed class TlsCertificates
{
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(2);

    private readonly string _certificateFile;
    private readonly string? _keyFile;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private X509Certificate2 _current;
    private (DateTime, long, DateTime, long) _loadedStamp;
    private long _lastCheck;

    public TlsCertificates(PgVaultOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        var tls = options.Api.Tls;
        _certificateFile = Path.GetFullPath(tls.CertificateFile!, options.DataDirectoryFullPath);
        _keyFile = string.IsNullOrWhiteSpace(tls.KeyFile) ? null : Path.GetFullPath(tls.KeyFile, options.DataDirectoryFullPath);
        _time = time;
        _loadedStamp = Stamp();
        try
        {
            _current = Load();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new PgVaultException(ErrorCode.InvalidConfiguration,
                $"unable to load the TLS certificate '{_certificateFile}'{(_keyFile is null ? "" : $" with key '{_keyFile}'")}: {ex.Message}",
                "PgVault:Api:Tls:CertificateFile and KeyFile must be PEM files of a certificate and its unencrypted private key", ex);
        }

        _lastCheck = time.GetTimestamp();
    }

    /// <summary>Logged to when a changed file cannot be loaded (set once the host is built).</summary>
    public ILogger? Logger { get; set; }

    /// <summary>The certificate to present (reloaded first when a file changed).</summary>
    public X509Certificate2 Current
    {
        get
        {
            lock (_lock)
            {
                var now = _time.GetTimestamp();
                if (_time.GetElapsedTime(_lastCheck, now) < CheckInterval)
                    return _current;
                _lastCheck = now;
                var stamp = Stamp();
                if (stamp == _loadedStamp)
                    return _current;
                _loadedStamp = stamp;
                try
                {
                    _current = Load();
                    Logger?.LogInformation("TLS certificate reloaded from {CertificateFile}: {Subject}, valid until {NotAfter:u}",
                        _certificateFile, _current.Subject, _current.NotAfter.ToUniversalTime());
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException
                                               or System.Security.Cryptography.CryptographicException or ArgumentException)
                {
                    Logger?.LogWarning("unable to reload the TLS certificate from {CertificateFile} ({Reason}); still serving {Subject}",
                        _certificateFile, ex.Message, _current.Subject);
                }

                return _current;
            }
        }
    }

    private X509Certificate2 Load() => X509Certificate2.CreateFromPemFile(_certificateFile, _keyFile);

    private (DateTime, long, DateTime, long) Stamp()
    {
        var cert = new FileInfo(_certificateFile);
        var key = _keyFile is null ? null : new FileInfo(_keyFile);
        return (cert.Exists ? cert.LastWriteTimeUtc : default, cert.Exists ? cert.Length : -1,
            key is { Exists: true } ? key.LastWriteTimeUtc : default, key is { Exists: true } ? key.Length : -1);
    }
}
