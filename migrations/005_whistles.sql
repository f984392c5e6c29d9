-- 吹哨报到: what the whistles API needs beyond the tables of 003.

-- Who signed the arrival, the note given with 报到, and where the phone was on 到场 (WGS84,
-- with the system it was sent in), so that the attendance row tells the whole story without
-- reading the audit trail.
ALTER TABLE whistle_attendance ADD COLUMN ack_note text;
ALTER TABLE whistle_attendance ADD COLUMN arrived_by text;
ALTER TABLE whistle_attendance ADD COLUMN arrive_note text;
ALTER TABLE whistle_attendance ADD COLUMN arrive_position geometry(Point, 4326);
ALTER TABLE whistle_attendance ADD COLUMN arrive_crs text;

-- 到场 only after 报到 (scoring counts them separately); who and when come together.
ALTER TABLE whistle_attendance ADD CONSTRAINT whistle_attendance_ack_before_arrive
    CHECK (arrived_at IS NULL OR acknowledged_at IS NOT NULL);
ALTER TABLE whistle_attendance ADD CONSTRAINT whistle_attendance_ack_by
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL));
ALTER TABLE whistle_attendance ADD CONSTRAINT whistle_attendance_arrive_by
    CHECK ((arrived_at IS NULL) = (arrived_by IS NULL));
ALTER TABLE whistle_attendance ADD CONSTRAINT whistle_attendance_due_order
    CHECK (arrive_due_at >= ack_due_at);
ALTER TABLE whistles ADD CONSTRAINT whistles_arrive_after_ack CHECK (arrive_minutes >= ack_minutes);

CREATE INDEX whistles_event ON whistles (event_id);
CREATE INDEX whistles_summoned ON whistles (summoned_at);
CREATE INDEX whistles_township ON whistles (township_code, summoned_at);
CREATE INDEX whistle_attendance_department ON whistle_attendance (department);
-- The operator's "awaiting 报到" counter.
CREATE INDEX whistle_attendance_awaiting_ack ON whistle_attendance (whistle_id)
    WHERE acknowledged_at IS NULL;
