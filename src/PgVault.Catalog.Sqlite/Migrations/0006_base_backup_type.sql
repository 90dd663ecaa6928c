-- The type of each base backup (full, diff or incr, as its backup.json records it); rows written before are full.
ALTER TABLE base_backups ADD COLUMN type TEXT NOT NULL DEFAULT 'full';
