using System.CommandLine;
using System.Text.Json;
using PgVault.Security;

namespace PgVault.Commands;

/// <summary><c>pgvault token create</c>: makes a new API token and prints it with the entry for <c>PgVault:Tokens</c>.</summary>
public static class TokenCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Name of the token's principal, e.g. --name monitoring", HelpName = "NAME", DefaultValueFactory = _ => "token" };
        var clusters = new Option<string[]>("--cluster")
        {
            Description = "Cluster id the token may see, e.g. --cluster 6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f (repeat for several; default '*' = all)",
            HelpName = "ID",
            AllowMultipleArgumentsPerToken = true,
        };
        var create = new Command("create", "Create an API token; prints the token once and the config entry holding its hash") { name, clusters };
        create.SetAction(async (result, ct) =>
        {
            var token = TokenHasher.NewToken();
            var grants = result.GetValue(clusters) is { Length: > 0 } c ? c : ["*"];
            var entry = JsonSerializer.Serialize(new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["Name"] = result.GetValue(name)!,
                ["TokenHash"] = TokenHasher.Hash(token),
                ["Clusters"] = grants,
            }, TokenJson.Default.DictionaryStringObject);
            await Console.Out.WriteLineAsync($"token: {token}").ConfigureAwait(false);
            await Console.Out.WriteLineAsync("add to PgVault:Tokens in the configuration (only the hash is stored):").ConfigureAwait(false);
            await Console.Out.WriteLineAsync(entry).ConfigureAwait(false);
            return 0;
        });
        var command = new Command("token", "Manage API tokens") { create };
        return command;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class TokenJson : System.Text.Json.Serialization.JsonSerializerContext;
