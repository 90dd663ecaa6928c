-- Clusters registered from configuration; backups are the chains the API lists.
-- Times are microseconds since the Unix epoch (UTC); LSNs are 64-bit integers.
CREATE TABLE clusters (
    id               TEXT    NOT NULL PRIMARY KEY,
    display_name     TEXT    NOT NULL,
    created_us       INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    postgres_version TEXT,
    backup_location  TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX clusters_listing ON clusters (created_us DESC, id);

CREATE TABLE backups (
    id                          TEXT    NOT NULL PRIMARY KEY,
    cluster_id                  TEXT    NOT NULL,
    created_us                  INTEGER NOT NULL,
    state                       TEXT    NOT NULL,
    version                     TEXT    NOT NULL,
    is_active                   INTEGER NOT NULL,
    earliest_recovery_target_us INTEGER,
    size_bytes                  INTEGER NOT NULL,
    location                    TEXT    NOT NULL,
    system_identifier           TEXT,
    timeline                    INTEGER,
    start_lsn                   INTEGER,
    end_lsn                     INTEGER
) WITHOUT ROWID;
-- The stable listing order, newest first then id; covering for the key lookup of a page.
CREATE INDEX backups_listing ON backups (created_us DESC, id);
CREATE INDEX backups_cluster_listing ON backups (cluster_id, created_us DESC, id);
