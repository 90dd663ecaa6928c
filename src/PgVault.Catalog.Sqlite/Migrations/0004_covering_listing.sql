-- Covering listing indexes: a page is read from the index alone, without a primary-key lookup per row.
DROP INDEX backups_listing;
DROP INDEX backups_cluster_listing;
CREATE UNIQUE INDEX backups_listing ON backups (listing_key, id, cluster_id, created_us, state, version, is_active,
    earliest_recovery_target_us, size_bytes, location, system_identifier, timeline, start_lsn, end_lsn);
CREATE INDEX backups_cluster_listing ON backups (cluster_id, listing_key, id, created_us, state, version, is_active,
    earliest_recovery_target_us, size_bytes, location, system_identifier, timeline, start_lsn, end_lsn);
