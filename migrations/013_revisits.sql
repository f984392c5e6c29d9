-- 回访 and 重办 (issue 8 item 6): the hotline's satisfaction callback per work order, and the
-- reopening of a case the citizen was not satisfied with.

-- The latest 回访 result of each case, on the case itself so that the leaders' figures
-- (满意率, 重办率) are one scan of events; every callback is kept in `revisits` below.
ALTER TABLE events
    ADD COLUMN satisfaction text
        CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    ADD COLUMN satisfaction_comment text,
    ADD COLUMN revisited_at timestamptz,
    ADD COLUMN redo_count integer NOT NULL DEFAULT 0 CHECK (redo_count >= 0);
CREATE INDEX events_satisfaction ON events (satisfaction, revisited_at) WHERE satisfaction IS NOT NULL;
CREATE INDEX events_redone ON events (redo_count) WHERE redo_count > 0;

-- One row per 回访 callback. revisit_key makes a repeated delivery idempotent: the hotline's
-- own 回访 number when it sends one, else a digest of the callback's content.
CREATE TABLE revisits (
    id              bigserial PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    integration_id  bigint NOT NULL REFERENCES integrations (id),
    revisit_key     text NOT NULL,
    work_order_no   text NOT NULL,
    satisfaction    text NOT NULL
        CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    comment         text,
    visited_at      timestamptz,
    received_at     timestamptz NOT NULL DEFAULT now(),
    -- reopened: the case went back to its unit as 重办; recorded: stored, nothing reopened
    outcome         text NOT NULL CHECK (outcome IN ('reopened', 'recorded')),
    reason          text NOT NULL,
    state_before    text NOT NULL,
    redo_count      integer NOT NULL,           -- the case's 重办 counter after this callback
    handle_due_at   timestamptz,                -- the new handling deadline when reopened
    -- an operator declined the reopening (closed the case with a reason)
    declined_by     text,
    declined_at     timestamptz,
    decline_reason  text,
    UNIQUE (integration_id, revisit_key)
);
CREATE INDEX revisits_event ON revisits (event_id, id);
CREATE INDEX revisits_received ON revisits (received_at);
