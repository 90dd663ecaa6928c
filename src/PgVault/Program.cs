using PgVault.Commands;

return await Cli.RunAsync(args).ConfigureAwait(false);
