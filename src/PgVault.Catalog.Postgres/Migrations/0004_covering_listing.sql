-- Covering listing indexes: a page is read by an index-only scan, without a heap fetch per row.
DROP INDEX backups_listing;
DROP INDEX backups_cluster_listing;
CREATE UNIQUE INDEX backups_listing ON backups (listing_key) INCLUDE (id, cluster_id, created_us, state, version, is_active,
    earliest_recovery_target_us, size_bytes, location, system_identifier, timeline, start_lsn, end_lsn);
CREATE INDEX backups_cluster_listing ON backups (cluster_id, listing_key) INCLUDE (id, created_us, state, version, is_active,
    earliest_recovery_target_us, size_bytes, location, system_identifier, timeline, start_lsn, end_lsn);
