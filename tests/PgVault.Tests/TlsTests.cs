using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PgVault.Errors;
using PgVault.Hosting;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>HTTPS for the API: the configured PEM certificate, reloaded when its files change, and HSTS.</summary>
public sealed class TlsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static async Task WriteCertificateAsync(string directory, string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Written aside and renamed, as a renewal tool does, so the server never reads half a pair.
        await File.WriteAllTextAsync(Path.Combine(directory, "key.pem.new"), key.ExportPkcs8PrivateKeyPem(), Ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "cert.pem.new"), cert.ExportCertificatePem(), Ct);
        File.Move(Path.Combine(directory, "key.pem.new"), Path.Combine(directory, "key.pem"), overwrite: true);
        File.Move(Path.Combine(directory, "cert.pem.new"), Path.Combine(directory, "cert.pem"), overwrite: true);
    }

    /// <summary>One request on a new connection; returns the status, the HSTS header and the certificate's subject.</summary>
    private static async Task<(HttpStatusCode Status, string? Hsts, string Subject)> GetAsync(Uri baseAddress, string path)
    {
        string subject = "";
        using var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => { subject = cert?.Subject ?? ""; return cert is not null; } },
        };
        using var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", SeededApi.AdminToken);
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative), Ct);
        var hsts = response.Headers.TryGetValues("Strict-Transport-Security", out var values) ? values.Single() : null;
        return (response.StatusCode, hsts, subject);
    }

    [Fact]
    public async Task The_API_serves_HTTPS_with_HSTS_and_picks_up_a_renewed_certificate()
    {
        using var dir = new TempDirectory("tls");
        await WriteCertificateAsync(dir.Path, "pgvault-first");
        await using var server = await ApiServer.StartAsync("tls", new Dictionary<string, string?>
        {
            ["PgVault:Api:Tls:CertificateFile"] = Path.Combine(dir.Path, "cert.pem"),
            ["PgVault:Api:Tls:KeyFile"] = Path.Combine(dir.Path, "key.pem"),
            ["PgVault:Api:Tls:HstsMaxAge"] = "1.00:00:00",
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
        }, urls: "https://127.0.0.1:0");
        Assert.Equal("https", server.BaseAddress.Scheme);

        var (status, hsts, subject) = await GetAsync(server.BaseAddress, "/clusters");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("max-age=86400", hsts);
        Assert.Equal("CN=pgvault-first", subject);

        await WriteCertificateAsync(dir.Path, "pgvault-renewed");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while ((await GetAsync(server.BaseAddress, "/healthz")).Subject != "CN=pgvault-renewed")
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the renewed certificate was not served within 30 s");
            await Task.Delay(200, Ct);
        }

        // A broken renewal keeps the last good certificate.
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "cert.pem"), "not a certificate", Ct);
        await Task.Delay(TlsCertificates.CheckInterval + TimeSpan.FromMilliseconds(500), Ct);
        Assert.Equal("CN=pgvault-renewed", (await GetAsync(server.BaseAddress, "/healthz")).Subject);
        Assert.Contains(server.Logs.Lines, l => l.Contains("unable to reload the TLS certificate", StringComparison.Ordinal));
    }

    [Fact]
    public void An_https_URL_without_a_certificate_or_an_unreadable_certificate_fails_the_start()
    {
        using var dir = new TempDirectory("tls-bad");
        var settings = new Dictionary<string, string?> { ["PgVault:DataDirectory"] = dir.Path };
        var ex = Assert.Throws<PgVaultException>(() => PgVaultApp.Build(null, [], "https://127.0.0.1:0", settings));
        Assert.Contains("PgVault:Api:Tls:CertificateFile", ex.Hint, StringComparison.Ordinal);

        settings["PgVault:Api:Tls:CertificateFile"] = Path.Combine(dir.Path, "missing.pem");
        ex = Assert.Throws<PgVaultException>(() => PgVaultApp.Build(null, [], "https://127.0.0.1:0", settings));
        Assert.Equal(ErrorCode.InvalidConfiguration, ex.Code);
        Assert.Contains("missing.pem", ex.Message, StringComparison.Ordinal);
    }
}
