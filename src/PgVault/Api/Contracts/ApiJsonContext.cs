using System.Text.Json;
using System.Text.Json.Serialization;

namespace PgVault.Api.Contracts;

/// <summary>Source-generated JSON for every contract type: camelCase, nulls left out (times are strings, see ContractMapper).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BackupResponse))]
[JsonSerializable(typeof(ClusterBackupList))]
[JsonSerializable(typeof(BaseBackupResponse))]
[JsonSerializable(typeof(BaseBackupList))]
[JsonSerializable(typeof(ClusterResponse))]
[JsonSerializable(typeof(ClusterList))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(CreateRestoreRequest))]
[JsonSerializable(typeof(CreateBaseBackupRequest))]
[JsonSerializable(typeof(ReadinessResponse))]
[JsonSerializable(typeof(FleetResponse))]
[JsonSerializable(typeof(ClusterHistory))]
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
