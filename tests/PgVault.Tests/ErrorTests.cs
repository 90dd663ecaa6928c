using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using PgVault.Errors;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>Every 4xx/5xx body is the IONOS ErrorResponse with a JSON content type, whoever produced it.</summary>
public sealed class ErrorTests : IAsyncLifetime
{
    private ApiServer? _server;
    private HttpClient? _client;

    private ApiServer Server => _server!;

    private HttpClient Client => _client!;

    public async ValueTask InitializeAsync()
    {
        _server = await ApiServer.StartAsync("errors", new Dictionary<string, string?>
        {
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = Security.TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
        }, app =>
        {
            // Endpoints that provoke the framework's own failures, behind the same pipeline.
            app.MapPost("/test/json", (Payload p) => TypedResults.Ok(p.Name)).RequireAuthorization();
            app.MapGet("/test/int", (int n) => TypedResults.Ok(n)).RequireAuthorization();
            app.MapGet("/test/throw", IResult () => throw new InvalidOperationException("secret internal detail")).RequireAuthorization();
        });
        _client = Server.Client(SeededApi.AdminToken);
    }

    public sealed record Payload(string Name);

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_server is not null)
            await _server.DisposeAsync();
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("limit=1.5", "limit")]
    [InlineData("limit=", "limit")]
    [InlineData("limit=1&limit=2", "limit")]
    [InlineData("limit=99999999999999999999", "limit")]
    [InlineData("offset=-1", "offset")]
    [InlineData("offset=x", "offset")]
    public async Task Bad_paging_parameters_answer_400_naming_the_parameter(string query, string parameter)
    {
        foreach (var path in new[] { "/clusters/backups", "/clusters/6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f/backups", "/clusters" })
        {
            var (_, body, response) = await Json.GetAsync(Client, $"{path}?{query}");
            var (code, message) = Json.AssertError(response, body, HttpStatusCode.BadRequest);
            Assert.Equal(ErrorCode.InvalidParameter.Code, code);
            Assert.Contains($"'{parameter}'", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Valid_paging_bounds_are_accepted()
    {
        foreach (var query in new[] { "limit=1", "limit=1000", "offset=0", "offset=5000000", "limit=%2B5" })
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(Client, $"/clusters/backups?{query}")).Status);
    }

    [Fact]
    public async Task Unknown_route_answers_404()
    {
        var (_, body, response) = await Json.GetAsync(Client, "/no/such/endpoint");
        Assert.Equal(ErrorCode.RouteNotFound.Code, Json.AssertError(response, body, HttpStatusCode.NotFound).Code);
        using var anonymous = Server.Client((System.Net.Http.Headers.AuthenticationHeaderValue?)null);
        var (_, body2, response2) = await Json.GetAsync(anonymous, "/no/such/endpoint");
        Json.AssertError(response2, body2, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Wrong_method_answers_405()
    {
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Delete, HttpMethod.Put })
        {
            using var response = await Client.SendAsync(new HttpRequestMessage(method, "/clusters/backups"), TestContext.Current.CancellationToken);
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.Equal(ErrorCode.MethodNotAllowed.Code, Json.AssertError(response, body, HttpStatusCode.MethodNotAllowed).Code);
            Assert.Contains("GET", response.Content.Headers.Allow.Concat(response.Headers.Select(h => string.Join(",", h.Value))));
        }
    }

    [Fact]
    public async Task Unsupported_content_type_answers_415()
    {
        using var content = new StringContent("name=x", Encoding.UTF8, "application/x-www-form-urlencoded");
        using var response = await Client.PostAsync(new Uri("/test/json", UriKind.Relative), content, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Equal(ErrorCode.UnsupportedMediaType.Code, Json.AssertError(response, body, HttpStatusCode.UnsupportedMediaType).Code);
    }

    [Fact]
    public async Task Binding_failures_answer_400()
    {
        var (_, body, response) = await Json.GetAsync(Client, "/test/int?n=abc");
        Json.AssertError(response, body, HttpStatusCode.BadRequest);
        using var malformed = new StringContent("{not json", Encoding.UTF8, "application/json");
        using var r2 = await Client.PostAsync(new Uri("/test/json", UriKind.Relative), malformed, TestContext.Current.CancellationToken);
        Json.AssertError(r2, await r2.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Unhandled_exceptions_answer_500_without_internals()
    {
        var (_, body, response) = await Json.GetAsync(Client, "/test/throw");
        var (code, message) = Json.AssertError(response, body, HttpStatusCode.InternalServerError);
        Assert.Equal(ErrorCode.Internal.Code, code);
        Assert.DoesNotContain("secret internal detail", body, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", body, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", body, StringComparison.Ordinal);
        Assert.Contains("trace id", message, StringComparison.Ordinal);
        // ...but the operator finds it in the log.
        Assert.Contains(Server.Logs.Lines, l => l.Contains("secret internal detail", StringComparison.Ordinal));
    }

    [Fact]
    public void Error_codes_are_unique_and_stable()
    {
        Assert.Equal(ErrorCode.All.Count, ErrorCode.All.Select(c => c.Code).Distinct().Count());
        // Never renumbered: a few codes clients may already depend on.
        Assert.Equal("PGV-0101", ErrorCode.InvalidParameter.Code);
        Assert.Equal("PGV-0103", ErrorCode.Unauthorized.Code);
        Assert.Equal("PGV-0105", ErrorCode.NotFound.Code);
        Assert.Equal("PGV-0110", ErrorCode.RateLimited.Code);
    }
}
