using System.CommandLine;
using PgVault.Security;

namespace PgVault.Commands;

/// <summary><c>pgvault hash-password</c>: reads a password from standard input and prints the hash for <c>PgVault:Users</c>.</summary>
public static class HashPasswordCommand
{
    public static Command Create()
    {
        var iterations = new Option<int>("--iterations")
        {
            Description = $"PBKDF2 iterations (from {PasswordHasher.MinIterations} to {PasswordHasher.MaxIterations}), e.g. --iterations {PasswordHasher.DefaultIterations * 2}",
            HelpName = "N",
            DefaultValueFactory = _ => PasswordHasher.DefaultIterations,
        };
        var command = new Command("hash-password", "Read a password from stdin (one line) and print its hash") { iterations };
        command.SetAction(async (result, ct) =>
        {
            var password = await Console.In.ReadLineAsync(ct).ConfigureAwait(false);
            if (string.IsNullOrEmpty(password))
            {
                await Console.Error.WriteLineAsync("pgvault: no password on standard input (example: echo 'secret' | pgvault hash-password)").ConfigureAwait(false);
                return Cli.ExitConfiguration;
            }

            var n = result.GetValue(iterations);
            if (n is < PasswordHasher.MinIterations or > PasswordHasher.MaxIterations)
            {
                await Console.Error.WriteLineAsync($"pgvault: --iterations must be from {PasswordHasher.MinIterations} to {PasswordHasher.MaxIterations}").ConfigureAwait(false);
                return Cli.ExitConfiguration;
            }

            await Console.Out.WriteLineAsync(PasswordHasher.Hash(password, n)).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}
