-- Periods of a cluster's history a recovery window does not show by itself (WAL streaming interrupted, the active backup
-- DEGRADED or FAILED, a backup's WAL ending): written on transitions only, pruned to the retention window.
CREATE TABLE cluster_periods (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster_id text COLLATE "C" NOT NULL,
    backup_id  text COLLATE "C",
    kind       text   NOT NULL,
    started_us bigint NOT NULL,
    ended_us   bigint,
    reason     text   NOT NULL
);
CREATE INDEX cluster_periods_by_cluster ON cluster_periods (cluster_id, started_us);
