-- Periods of a cluster's history a recovery window does not show by itself (WAL streaming interrupted, the active backup
-- DEGRADED or FAILED, a backup's WAL ending): written on transitions only, pruned to the retention window.
CREATE TABLE cluster_periods (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster_id TEXT    NOT NULL,
    backup_id  TEXT,
    kind       TEXT    NOT NULL,
    started_us INTEGER NOT NULL,
    ended_us   INTEGER,
    reason     TEXT    NOT NULL
);
CREATE INDEX cluster_periods_by_cluster ON cluster_periods (cluster_id, started_us);
