using System.Text.Json.Nodes;
using PgVault.Errors;

namespace PgVault.Api.Actions;

/// <summary>
/// An action's outcome as it travels through the fleet's queue, from the instance that carried it out to the one that
/// answers the client: the <see cref="ActionResult{T}"/> (its value as the response body's JSON text, so the bytes
/// are those the carrying instance would have sent), or the <see cref="PgVaultException"/> it was refused with.
/// </summary>
public static class ActionOutcomes
{
    /// <summary>Encodes a result; <paramref name="body"/> writes an accepted value as its response body's JSON text (null: none).</summary>
    public static JsonObject Encode<T>(ActionResult<T> result, Func<T, string?> body)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(body);
        return result switch
        {
            ActionResult<T>.Accepted accepted => new JsonObject { ["result"] = "accepted", ["body"] = body(accepted.Value) },
            ActionResult<T>.Conflict conflict => new JsonObject { ["result"] = "conflict", ["message"] = conflict.Message },
            ActionResult<T>.NotFound notFound => new JsonObject { ["result"] = "notFound", ["message"] = notFound.Message },
            _ => throw new ArgumentOutOfRangeException(nameof(result), result, "an action result of an unknown kind"),
        };
    }

    /// <summary>Encodes a refusal (or a failure) thrown while carrying the action out.</summary>
    public static JsonObject Encode(PgVaultException refusal)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        return new JsonObject { ["result"] = "error", ["code"] = refusal.Code.Code, ["message"] = refusal.Message, ["hint"] = refusal.Hint };
    }

    /// <summary>
    /// Decodes an outcome into the result the endpoint answers with; throws the refusal it carries, as the carrying
    /// instance threw it (so the API's exception handler writes the same response).
    /// </summary>
    /// <param name="outcome">The encoded outcome.</param>
    /// <param name="body">Reads an accepted value from its response body's JSON text (null: none).</param>
    public static ActionResult<T> Decode<T>(JsonObject outcome, Func<string?, T> body)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        ArgumentNullException.ThrowIfNull(body);
        var message = outcome["message"]?.GetValue<string>() ?? "";
        switch (outcome["result"]?.GetValue<string>())
        {
            case "accepted":
                return new ActionResult<T>.Accepted(body(outcome["body"]?.GetValue<string>()));
            case "conflict":
                return new ActionResult<T>.Conflict(message);
            case "notFound":
                return new ActionResult<T>.NotFound(message);
            case "error":
                var code = outcome["code"]?.GetValue<string>();
                throw new PgVaultException(ErrorCode.All.FirstOrDefault(c => string.Equals(c.Code, code, StringComparison.Ordinal)) ?? ErrorCode.Internal,
                    message, outcome["hint"]?.GetValue<string>());
            default:
                throw new PgVaultException(ErrorCode.Internal, $"the fleet's queue returned an outcome this instance does not understand: {outcome.ToJsonString()}",
                    "run the same PgVault version on every instance of the fleet");
        }
    }
}
