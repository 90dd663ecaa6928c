-- The base backups of each chain (a chain is a row of backups), for the engine's state and recovery window.
CREATE TABLE base_backups (
    backup_id      text COLLATE "C" NOT NULL,
    label          text COLLATE "C" NOT NULL,
    state          text    NOT NULL,
    timeline       integer NOT NULL,
    start_lsn      bigint,
    end_lsn        bigint,
    started_us     bigint  NOT NULL,
    completed_us   bigint,
    size_bytes     bigint  NOT NULL,
    database_bytes bigint  NOT NULL,
    error          text,
    PRIMARY KEY (backup_id, label)
);
CREATE INDEX backups_active ON backups (cluster_id, is_active);
