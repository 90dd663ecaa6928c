using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgVault.Api.Contracts;

/// <summary>Source-generated JSON for every contract type: camelCase, nulls left out, UTC times ending in Z.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BackupResponse))]
[JsonSerializable(typeof(ClusterBackupList))]
[JsonSerializable(typeof(ClusterResponse))]
[JsonSerializable(typeof(ClusterList))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(HealthResponse))]
public sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The context the API writes with: as <see cref="JsonSerializerContext"/>'s default, but leaving characters such as
    /// <c>'</c>, <c>&amp;</c> and <c>&lt;</c> unescaped, so messages and links read as written. Responses are JSON, never
    /// embedded in HTML.
    /// </summary>
    public static ApiJsonContext Api { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

/// <summary>
/// Writes times as IONOS does: UTC, ISO 8601, whole seconds, ending in <c>Z</c> (<c>2026-11-26T20:24:19Z</c>).
/// Reads any ISO 8601 time.
/// </summary>
public sealed class UtcTimestampConverter : JsonConverter<DateTimeOffset>
{
    public const string Format = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Span<char> buffer = stackalloc char[20];
        value.UtcDateTime.TryFormat(buffer, out var written, Format, CultureInfo.InvariantCulture);
        writer.WriteStringValue(buffer[..written]);
    }
}
