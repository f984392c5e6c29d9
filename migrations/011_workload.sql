-- Issue 8 items 4 and 7: squads set their own status with a reason, the history of those
-- changes, and who reported an event found on patrol (巡查上报: the reporter sees it).

-- 在岗 available, 忙碌 busy, 休息 off_duty, 离线 offline (the phone is off or out of reach).
ALTER TABLE squads DROP CONSTRAINT squads_status_check;
ALTER TABLE squads ADD CONSTRAINT squads_status_check
    CHECK (status IN ('available', 'busy', 'off_duty', 'offline'));
ALTER TABLE squads
    ADD COLUMN status_reason text,
    ADD COLUMN status_since  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN status_by     text;

-- Every status change, for the audit and for "how long was it 忙碌".
CREATE TABLE squad_status_changes (
    id          bigserial PRIMARY KEY,
    squad_id    bigint NOT NULL REFERENCES squads (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    reason      text
);
CREATE INDEX squad_status_changes_squad ON squad_status_changes (squad_id, id);

-- Open caseload per squad (the cases in its hands) is counted at every recommendation.
CREATE INDEX events_squad_open ON events (squad_id)
    WHERE state IN ('dispatched', 'signed_for', 'on_scene');

-- The account that reported an event from the field; it keeps seeing the event wherever it
-- is routed. NULL for hotline, whistle and desk-entered events.
ALTER TABLE events ADD COLUMN reported_by bigint REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX events_reported_by ON events (reported_by) WHERE reported_by IS NOT NULL;
