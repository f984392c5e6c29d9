-- Running tallies for the counter strip and /metrics, kept by triggers in the same
-- transaction as the change they count (a rolled-back change rolls its count back).
--
-- Why: with years of history the counters grouped whole tables on every read: /metrics took
-- 1 s over 1M closed events and 2.4M outbox rows, /live/counters the same on every batch of
-- live changes. A tally read is a few dozen rows whatever the history.
--
-- Sharded by backend: every intake bumps the same (kind, label); one row per label would
-- make concurrent transactions queue on its row lock until each commits. Readers sum shards.
CREATE TABLE tallies (
    kind  text NOT NULL,      -- events_state | outbox_status | escalation_level |
                              -- escalation_replied_level | notice_kind_status
    label text NOT NULL,
    shard smallint NOT NULL,
    n     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, label, shard)
);

CREATE FUNCTION tally_bump(p_kind text, p_label text, p_delta bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tallies (kind, label, shard, n) VALUES (p_kind, p_label, pg_backend_pid() % 8, p_delta)
    ON CONFLICT (kind, label, shard) DO UPDATE SET n = tallies.n + EXCLUDED.n
$$;

-- One trigger function per table: each knows which columns it counts.
CREATE FUNCTION tally_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM tally_bump('events_state', OLD.state, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM tally_bump('events_state', NEW.state, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION tally_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM tally_bump('outbox_status', OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM tally_bump('outbox_status', NEW.status, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION tally_escalations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM tally_bump('escalation_level', OLD.level::text, -1);
        IF OLD.replied_at IS NOT NULL THEN
            PERFORM tally_bump('escalation_replied_level', OLD.level::text, -1);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM tally_bump('escalation_level', NEW.level::text, 1);
        IF NEW.replied_at IS NOT NULL THEN
            PERFORM tally_bump('escalation_replied_level', NEW.level::text, 1);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION tally_notices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM tally_bump('notice_kind_status', OLD.kind || ':' || OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM tally_bump('notice_kind_status', NEW.kind || ':' || NEW.status, 1);
    END IF;
    RETURN NULL;
END $$;

-- TRUNCATE fires no row triggers: forget the table's tallies with it.
CREATE FUNCTION tally_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tallies WHERE kind = ANY (TG_ARGV);
    RETURN NULL;
END $$;

-- UPDATE triggers fire only when a counted column is named in the statement, and the WHEN
-- clause skips rows whose counted value did not change (most updates of an event).
CREATE TRIGGER events_tally_ins_del AFTER INSERT OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION tally_events();
CREATE TRIGGER events_tally_upd AFTER UPDATE OF state ON events
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION tally_events();
CREATE TRIGGER events_tally_truncate AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncated('events_state');

CREATE TRIGGER outbox_tally_ins_del AFTER INSERT OR DELETE ON outbox
    FOR EACH ROW EXECUTE FUNCTION tally_outbox();
CREATE TRIGGER outbox_tally_upd AFTER UPDATE OF status ON outbox
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION tally_outbox();
CREATE TRIGGER outbox_tally_truncate AFTER TRUNCATE ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncated('outbox_status');

CREATE TRIGGER escalations_tally_ins_del AFTER INSERT OR DELETE ON escalations
    FOR EACH ROW EXECUTE FUNCTION tally_escalations();
CREATE TRIGGER escalations_tally_upd AFTER UPDATE OF level, replied_at ON escalations
    FOR EACH ROW WHEN (OLD.level IS DISTINCT FROM NEW.level
                       OR (OLD.replied_at IS NULL) <> (NEW.replied_at IS NULL))
    EXECUTE FUNCTION tally_escalations();
CREATE TRIGGER escalations_tally_truncate AFTER TRUNCATE ON escalations
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncated('escalation_level', 'escalation_replied_level');

CREATE TRIGGER notices_tally_ins_del AFTER INSERT OR DELETE ON recipient_notices
    FOR EACH ROW EXECUTE FUNCTION tally_notices();
CREATE TRIGGER notices_tally_upd AFTER UPDATE OF kind, status ON recipient_notices
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tally_notices();
CREATE TRIGGER notices_tally_truncate AFTER TRUNCATE ON recipient_notices
    FOR EACH STATEMENT EXECUTE FUNCTION tally_truncated('notice_kind_status');

-- What is there already.
INSERT INTO tallies (kind, label, shard, n)
SELECT 'events_state', state, 0, count(*) FROM events GROUP BY state
UNION ALL SELECT 'outbox_status', status, 0, count(*) FROM outbox GROUP BY status
UNION ALL SELECT 'escalation_level', level::text, 0, count(*) FROM escalations GROUP BY level
UNION ALL SELECT 'escalation_replied_level', level::text, 0, count(*) FROM escalations
          WHERE replied_at IS NOT NULL GROUP BY level
UNION ALL SELECT 'notice_kind_status', kind || ':' || status, 0, count(*) FROM recipient_notices
          GROUP BY kind, status;

-- "Closed today" on the counter strip: the closed events since midnight, without a scan.
CREATE INDEX events_closed_at ON events (closed_at) WHERE state = 'closed';
