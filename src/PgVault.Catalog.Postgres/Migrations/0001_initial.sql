-- Clusters registered from configuration; backups are the chains the API lists.
-- Times are microseconds since the Unix epoch (UTC); LSNs are 64-bit integers. Ids sort bytewise (COLLATE "C"),
-- exactly as in the SQLite catalog.
CREATE TABLE clusters (
    id               text COLLATE "C" NOT NULL PRIMARY KEY,
    display_name     text   NOT NULL,
    created_us       bigint NOT NULL,
    state            text   NOT NULL,
    postgres_version text,
    backup_location  text   NOT NULL
);
CREATE INDEX clusters_listing ON clusters (created_us DESC, id);

CREATE TABLE backups (
    id                          text COLLATE "C" NOT NULL PRIMARY KEY,
    cluster_id                  text COLLATE "C" NOT NULL,
    created_us                  bigint  NOT NULL,
    state                       text    NOT NULL,
    version                     text    NOT NULL,
    is_active                   boolean NOT NULL,
    earliest_recovery_target_us bigint,
    size_bytes                  bigint  NOT NULL,
    location                    text    NOT NULL,
    system_identifier           text,
    timeline                    integer,
    start_lsn                   bigint,
    end_lsn                     bigint
);
-- The stable listing order, newest first then id: pages are found by an index-only scan.
CREATE INDEX backups_listing ON backups (created_us DESC, id);
CREATE INDEX backups_cluster_listing ON backups (cluster_id, created_us DESC, id);
