-- One sortable key per backup for the stable listing order (created DESC, id): 16 hex digits of
-- (2^63-1 - created_us), ':', id. Pages are found by seeking this key instead of skipping rows.
ALTER TABLE backups ADD COLUMN listing_key text COLLATE "C" NOT NULL DEFAULT '';
UPDATE backups SET listing_key = lpad(to_hex(9223372036854775807 - created_us), 16, '0') || ':' || id;
DROP INDEX backups_listing;
DROP INDEX backups_cluster_listing;
CREATE UNIQUE INDEX backups_listing ON backups (listing_key);
CREATE INDEX backups_cluster_listing ON backups (cluster_id, listing_key);
-- Bumped whenever a backup is added or removed (the listing order changes), so every pgvault instance knows when its
-- cached page boundaries are stale.
CREATE TABLE catalog_state (id integer NOT NULL PRIMARY KEY, backups_generation bigint NOT NULL);
INSERT INTO catalog_state (id, backups_generation) VALUES (1, 0);
