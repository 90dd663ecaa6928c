namespace PgVault.Errors;

/// <summary>
/// An error PgVault knows how to explain: it carries a stable <see cref="ErrorCode"/>, a message that says what failed
/// and on which object, and optionally a hint the operator can act on.
/// </summary>
public class PgVaultException : Exception
{
    public PgVaultException(ErrorCode code, string message, string? hint = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        Hint = hint;
    }

    public PgVaultException()
        : this(ErrorCode.Internal, "unexpected error")
    {
    }

    public PgVaultException(string message)
        : this(ErrorCode.Internal, message)
    {
    }

    public PgVaultException(string message, Exception innerException)
        : this(ErrorCode.Internal, message, null, innerException)
    {
    }

    public ErrorCode Code { get; }

    /// <summary>What the operator can do about it, or null.</summary>
    public string? Hint { get; }

    /// <summary>The message with its hint, as the CLI prints it.</summary>
    public string Describe() => Hint is null ? $"{Code.Code}: {Message}" : $"{Code.Code}: {Message}\nHINT: {Hint}";
}
