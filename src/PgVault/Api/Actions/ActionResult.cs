namespace PgVault.Api.Actions;

/// <summary>
/// What an action of the API's write side ended in: accepted (with what it started), or refused for a reason the
/// endpoint answers with its own status. The message is the ErrorResponse's, word for word.
/// </summary>
/// <typeparam name="T">What an accepted action started.</typeparam>
public abstract record ActionResult<T>
{
    private ActionResult()
    {
    }

    /// <summary>The action started: 202 Accepted.</summary>
    public sealed record Accepted(T Value) : ActionResult<T>;

    /// <summary>The cluster or backup does not exist or is not granted: 404.</summary>
    public sealed record NotFound(string Message) : ActionResult<T>;

    /// <summary>Something already running excludes the action: 409.</summary>
    public sealed record Conflict(string Message) : ActionResult<T>;
}
