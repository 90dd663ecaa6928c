-- The change feed of the backups, read by the API's in-memory read model (one per pgvault instance). Every write to
-- backups first takes the next backups_change_seq (the catalog_state row serialises writers, so sequence numbers
-- commit in order), stamps every row it writes with it, and a deleted backup leaves its id in backup_deletions.
-- A reader asks for everything after the last sequence number it has seen. Deletions are pruned after a day; a reader
-- that has not looked since before deletions_pruned_seq reloads every backup.
ALTER TABLE catalog_state ADD COLUMN backups_change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE catalog_state ADD COLUMN deletions_pruned_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backups ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX backups_changes ON backups (change_seq);
CREATE TABLE backup_deletions (change_seq INTEGER NOT NULL PRIMARY KEY, id TEXT NOT NULL, deleted_us INTEGER NOT NULL);
