-- Indexes behind foreign keys whose referenced rows are deleted or updated in bulk.
-- Without them every deleted event (or transition) scans the referencing table: deleting
-- 10,000 events took 15 s at city scale, and an archive of old events would take hours.
-- Foreign keys to rows that are practically never deleted (matters, grids, squads,
-- jurisdictions, users) are left without one: an index there costs every insert for nothing.
CREATE INDEX IF NOT EXISTS event_extensions_event ON event_extensions (event_id);
CREATE INDEX IF NOT EXISTS escalations_transition ON escalations (transition_id)
    WHERE transition_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS recipient_notices_event ON recipient_notices (event_id);
CREATE INDEX IF NOT EXISTS recipient_notices_transition ON recipient_notices (transition_id);
CREATE INDEX IF NOT EXISTS duban_recipients_notice ON duban_recipients (notice_id)
    WHERE notice_id IS NOT NULL;
