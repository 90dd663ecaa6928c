-- The base backups of each chain (a chain is a row of backups), for the engine's state and recovery window.
CREATE TABLE base_backups (
    backup_id      TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    timeline       INTEGER NOT NULL,
    start_lsn      INTEGER,
    end_lsn        INTEGER,
    started_us     INTEGER NOT NULL,
    completed_us   INTEGER,
    size_bytes     INTEGER NOT NULL,
    database_bytes INTEGER NOT NULL,
    error          TEXT,
    PRIMARY KEY (backup_id, label)
) WITHOUT ROWID;
CREATE INDEX backups_active ON backups (cluster_id, is_active);
