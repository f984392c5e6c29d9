-- Five years of history (issue 12 item 3): closed events received before a date move, with
-- everything that hangs off them, out of the live tables into schema `archive`
-- (`gridsvc events archive --before DATE`, gridsvc/archive/). The live desk then works on
-- what is live, whatever the history.
--
-- Each archive table has the live table's columns, in the same order (LIKE), so a batch
-- moves with INSERT ... SELECT *. A later migration that adds a column to one of these live
-- tables adds it to its archive table too (tests/test_archive.py compares them). No foreign
-- keys and no triggers here: the archive is a record, not a working set (no tallies, no
-- NOTIFY); an index on id and on the event id for the read-only view of an archived event.
CREATE SCHEMA IF NOT EXISTS archive;

CREATE TABLE archive.events (LIKE public.events);
CREATE UNIQUE INDEX archive_events_id ON archive.events (id);
CREATE INDEX archive_events_received ON archive.events (received_at);
CREATE INDEX archive_events_work_order ON archive.events (integration_id, external_id);

CREATE TABLE archive.event_transitions (LIKE public.event_transitions);
CREATE UNIQUE INDEX archive_event_transitions_id ON archive.event_transitions (id);
CREATE INDEX archive_event_transitions_event ON archive.event_transitions (event_id, id);

CREATE TABLE archive.event_extensions (LIKE public.event_extensions);
CREATE UNIQUE INDEX archive_event_extensions_id ON archive.event_extensions (id);
CREATE INDEX archive_event_extensions_event ON archive.event_extensions (event_id);

CREATE TABLE archive.escalations (LIKE public.escalations);
CREATE UNIQUE INDEX archive_escalations_id ON archive.escalations (id);
CREATE INDEX archive_escalations_event ON archive.escalations (event_id);

CREATE TABLE archive.duban_recipients (LIKE public.duban_recipients);
CREATE INDEX archive_duban_recipients_escalation ON archive.duban_recipients (escalation_id);

CREATE TABLE archive.outbox (LIKE public.outbox);
CREATE UNIQUE INDEX archive_outbox_id ON archive.outbox (id);
CREATE INDEX archive_outbox_event ON archive.outbox (event_id);

CREATE TABLE archive.recipient_notices (LIKE public.recipient_notices);
CREATE UNIQUE INDEX archive_recipient_notices_id ON archive.recipient_notices (id);
CREATE INDEX archive_recipient_notices_event ON archive.recipient_notices (event_id);

CREATE TABLE archive.whistles (LIKE public.whistles);
CREATE UNIQUE INDEX archive_whistles_id ON archive.whistles (id);
CREATE INDEX archive_whistles_event ON archive.whistles (event_id);

CREATE TABLE archive.whistle_attendance (LIKE public.whistle_attendance);
CREATE INDEX archive_whistle_attendance_whistle ON archive.whistle_attendance (whistle_id);

CREATE TABLE archive.attachments (LIKE public.attachments);
CREATE UNIQUE INDEX archive_attachments_id ON archive.attachments (id);
CREATE INDEX archive_attachments_event ON archive.attachments (event_id);

CREATE TABLE archive.revisits (LIKE public.revisits);
CREATE UNIQUE INDEX archive_revisits_id ON archive.revisits (id);
CREATE INDEX archive_revisits_event ON archive.revisits (event_id);

CREATE TABLE archive.patrol_findings (LIKE public.patrol_findings);
CREATE INDEX archive_patrol_findings_event ON archive.patrol_findings (event_id);

-- A target's violations stay live (they count toward the negative list); the live row loses
-- its event link (ON DELETE SET NULL), this copy keeps which archived event it came from.
CREATE TABLE archive.target_violations (LIKE public.target_violations);
CREATE INDEX archive_target_violations_event ON archive.target_violations (event_id);

-- Prometheus counters never go down (a drop reads as a process restart and rate() jumps):
-- the 督办 an archive run moves out of `escalations` are counted here, by level, and /metrics
-- adds them to the live tallies of gridsvc_sla_escalations_total, gridsvc_duban and
-- gridsvc_duban_replied. Gauges (events by state, outbox, notices) describe the live tables.
CREATE TABLE archive.tallies (
    kind  text NOT NULL,      -- escalation_level | escalation_replied_level
    label text NOT NULL,
    n     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, label)
);

-- The 并单 candidate search (every open event's detail view, and intake for auto_merge
-- matters) asks for open events near a point. Through events_geom_gist it found every closed
-- event of the years around that point and dropped them one by one: at 5M events
-- (benchmarks/history.py) 2.6 ms became 46 ms and GET /events/{id} 67 ms (target 50). The
-- same box test over open events only stays as small as the live desk.
CREATE INDEX events_open_geom ON events USING gist (geom) WHERE state <> 'closed';
