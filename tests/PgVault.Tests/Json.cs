using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace PgVault.Tests;

/// <summary>Small helpers for reading API responses.</summary>
public static class Json
{
    public static async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> GetAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(new Uri(url, UriKind.RelativeOrAbsolute), TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, body, response);
    }

    public static JsonObject Parse(string body) => JsonNode.Parse(body)!.AsObject();

    /// <summary>Every JSON path whose value is null (the API must leave absent values out instead).</summary>
    public static IEnumerable<string> NullPaths(JsonNode? node, string path = "$")
    {
        switch (node)
        {
            case null:
                yield return path;
                break;
            case JsonObject o:
                foreach (var (k, v) in o)
                {
                    foreach (var p in NullPaths(v, $"{path}.{k}"))
                        yield return p;
                }

                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    foreach (var p in NullPaths(a[i], $"{path}[{i}]"))
                        yield return p;
                }

                break;
        }
    }

    /// <summary>Asserts the body is an IONOS ErrorResponse with this status and returns its first message.</summary>
    public static (string Code, string Message) AssertError(HttpResponseMessage response, string body, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(SpecSchemas.Errors("ErrorResponse", body));
        var json = Parse(body);
        Assert.Equal((int)status, json["httpStatus"]!.GetValue<int>());
        var messages = json["messages"]!.AsArray();
        Assert.NotEmpty(messages);
        var first = messages[0]!;
        var code = first["errorCode"]!.GetValue<string>();
        var message = first["message"]!.GetValue<string>();
        Assert.StartsWith("PGV-", code, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(message));
        return (code, message);
    }

    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);
}
