namespace PgVault.Engine;

internal static class EngineAssembly;
