-- 并单 the operator confirms (issue 8 item 2).
-- Text similarity of candidate duplicates (pg_trgm similarity of title and description).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Per matter: which other matters' open events are offered as 并单 candidates too (never
-- linked automatically), and whether intake may link a same-matter event on its own (only
-- above the similarity threshold, GRIDSVC_DUPLICATE_AUTO_SIMILARITY).
ALTER TABLE matters
    ADD COLUMN related_matters text[] NOT NULL DEFAULT '{}',
    ADD COLUMN auto_merge boolean NOT NULL DEFAULT false;

-- Every event detail lists the duplicates linked to it, and every master's move looks them up.
CREATE INDEX events_duplicate_of ON events (duplicate_of) WHERE duplicate_of IS NOT NULL;
