-- The work queue (issue 9): GET /events with free text, filters, sorts and counts, kept fast
-- at millions of events. The indexed expressions are those of gridsvc/events/search.py:
-- change both together (an expression index serves only the very same expression).

-- Substring search (ILIKE '%...%') over title, description, address and work-order number:
-- pg_trgm's GIN index. Trigrams of CJK text are indexed like Latin ones (the database's
-- C.UTF-8 ctype classifies Han characters as alphanumeric); a query shorter than three
-- characters has no trigram and is answered by the other filters' indexes instead.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX events_search_trgm ON events USING gin (
    (coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || coalesce(address, '')
     || ' ' || coalesce(external_id, '')) gin_trgm_ops);

-- The caller's phone by its last digits: the digits reversed, searched by prefix.
CREATE INDEX events_phone_suffix ON events (
    reverse(regexp_replace(reporter ->> 'phone', '[^0-9]', '', 'g')) text_pattern_ops);

-- The queue lists open events, most urgent or newest first, a page at a time.
CREATE INDEX events_open_due ON events (due_at, id) WHERE state <> 'closed';
CREATE INDEX events_open_received ON events (received_at, id) WHERE state <> 'closed';
CREATE INDEX events_open_id ON events (id) WHERE state <> 'closed';
-- Address-only events (no coordinates) waiting to be placed.
CREATE INDEX events_unlocated ON events (id) WHERE geom IS NULL AND state <> 'closed';

-- Filters and the grid head's scope: township (enforcement grid), community grid, unit.
CREATE INDEX events_township ON events ((grids -> 'enforcement' ->> 'code'), id);
CREATE INDEX events_grid ON events ((grids -> 'community' ->> 'code'), id);
CREATE INDEX events_responsible ON events (responsible_kind, responsible_code);
