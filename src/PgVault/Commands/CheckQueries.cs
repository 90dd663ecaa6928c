using Npgsql;

namespace PgVault.Commands;

/// <summary>The SQL <c>pgvault check</c> runs against a cluster, in one place.</summary>
internal static class CheckQueries
{
    /// <summary>What <c>check</c> reads of the server's settings and of the connected role.</summary>
    internal sealed record ServerSettings(
        int VersionNumber, string WalLevel, int MaxWalSenders, int MaxReplicationSlots, int SlotsInUse, string? MaxSlotWalKeepSize,
        string Role, bool CanReplicate);

    /// <summary>The replication slot as <c>pg_replication_slots</c> shows it.</summary>
    internal sealed record SlotState(string SlotType, bool Active, string? WalStatus);

    public static async Task<ServerSettings> SettingsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(
            """
            SELECT current_setting('server_version_num')::int,
                   current_setting('wal_level'),
                   current_setting('max_wal_senders')::int,
                   current_setting('max_replication_slots')::int,
                   (SELECT count(*)::int FROM pg_replication_slots),
                   coalesce(current_setting('max_slot_wal_keep_size', true), ''),
                   current_user::text,
                   coalesce((SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), false)
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return new ServerSettings(r.GetInt32(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4),
            r.GetString(5) is { Length: > 0 } keep ? keep : null, r.GetString(6), r.GetBoolean(7));
    }

    public static async Task<SlotState?> SlotAsync(NpgsqlConnection conn, string slot, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT slot_type, active, coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = @slot", conn);
        cmd.Parameters.AddWithValue("slot", slot);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false))
            return null;
        return new SlotState(r.GetString(0), r.GetBoolean(1), r.GetString(2) is { Length: > 0 } status ? status : null);
    }

    /// <summary><c>pg_switch_wal()</c>: ends the current segment (if it holds anything) so that it is sent whole; the LSN returned.</summary>
    public static async Task<string> SwitchWalAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_switch_wal()::text", conn);
        return (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }
}
