using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using PgVault.Testing;

namespace PgVault.Tests;

/// <summary>
/// JSON Schemas taken from <c>../shared/spec/backups-openapi.json</c> itself, never copied by hand: the spec's
/// <c>components.schemas</c> become <c>$defs</c> of a 2020-12 schema whose root refers to the one under test.
/// Two test-side tightenings are applied: formats (<c>date-time</c>, <c>uri</c>) are enforced, and objects may carry no
/// property the spec does not declare (<c>unevaluatedProperties: false</c>), except the documented <c>_links</c> mirror.
/// </summary>
public static class SpecSchemas
{
    private static readonly Lazy<JsonObject> Spec = new(() => JsonNode.Parse(File.ReadAllText(TestEnvironment.SpecPath))!.AsObject());
    private static readonly ConcurrentDictionary<string, JsonSchema> Cache = new(StringComparer.Ordinal);
    private static readonly EvaluationOptions Options = new() { RequireFormatValidation = true, OutputFormat = OutputFormat.List };

    public static JsonObject Document => Spec.Value;

    /// <summary>Validates <paramref name="json"/> against component schema <paramref name="name"/>; returns the errors.</summary>
    public static IReadOnlyList<string> Errors(string name, string json)
    {
        var schema = Cache.GetOrAdd(name, Build);
        using var doc = JsonDocument.Parse(json);
        var result = schema.Evaluate(doc.RootElement, Options);
        if (result.IsValid)
            return [];
        return (result.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}"))
            .DefaultIfEmpty("invalid (no details)")
            .ToList();
    }

    private static JsonSchema Build(string name)
    {
        var defs = Spec.Value["components"]!["schemas"]!.DeepClone().AsObject();
        RewriteRefs(defs);
        foreach (var (key, node) in defs)
        {
            var obj = node!.AsObject();
            if (obj["properties"] is not null || obj["allOf"] is not null)
            {
                if (key is "ClusterBackupList")
                    obj["properties"] = new JsonObject { ["_links"] = new JsonObject { ["$ref"] = "#/$defs/PaginationLinks" } };
                obj["unevaluatedProperties"] = false;
            }
        }

        // DeprecatedPagination is only ever used inside allOf; its own unevaluatedProperties would reject the siblings.
        defs["DeprecatedPagination"]!.AsObject().Remove("unevaluatedProperties");
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$defs"] = defs,
            ["$ref"] = $"#/$defs/{name}",
        };
        return JsonSchema.FromText(root.ToJsonString(), new BuildOptions { SchemaRegistry = new SchemaRegistry() },
            new Uri($"https://pgvault.test/spec/{name}"));
    }

    private static void RewriteRefs(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, child) in o.ToList())
                {
                    if (key == "$ref" && child is JsonValue v && v.GetValue<string>() is { } r)
                        o["$ref"] = r.Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
                    else
                        RewriteRefs(child);
                }

                break;
            case JsonArray a:
                foreach (var child in a)
                    RewriteRefs(child);
                break;
        }
    }
}
