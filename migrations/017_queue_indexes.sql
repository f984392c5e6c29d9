-- The work queue at a million events (benchmarks/work_queue.py; issue 9): indexes that
-- follow the order and filters gridsvc/events/search.py writes. Change both together.

-- 014's index of open events by id only: small and in heap order, the planner preferred it
-- for every open-queue query and then read and sorted all open events (758 ms at offset 2000).
DROP INDEX IF EXISTS events_open_id;

-- "Newest first" is ORDER BY received_at DESC, id DESC (search._order): the same key order,
-- so a page at any offset walks the index instead of sorting every open event. It replaces
-- 014's ascending (received_at, id), which served the same order only backwards.
DROP INDEX IF EXISTS events_open_received;
CREATE INDEX events_open_received_desc ON events (received_at DESC, id DESC) WHERE state <> 'closed';

-- A township (enforcement grid) filter sorted by deadline: search writes one chosen value as
-- `(grids -> 'enforcement' ->> 'code') = $n` and orders by due_at ASC NULLS LAST, id ASC,
-- which this index returns in order (the first page reads 100 entries).
CREATE INDEX events_open_township_due ON events ((grids -> 'enforcement' ->> 'code'), due_at, id)
    WHERE state <> 'closed';

-- The counts per filter read every open event's facet columns. Carried in a covering index
-- of open events they come from an index-only scan instead of one heap page per event (the
-- open events are scattered over the whole table). `grids` is included whole because the
-- planner allows an index-only scan only when every column the query names is in the index.
CREATE INDEX events_open_facets ON events (id)
    INCLUDE (state, stage, due_at, stage_started_at, grids, matter_code, responsible_kind,
             responsible_code, responsible_name, source, geom)
    WHERE state <> 'closed';
