-- Departments as first-class units (issue 8 item 1): a county department (主管部门) gets
-- accounts of its own (role department), which see and act on the cases the department is
-- responsible for, optionally limited to some of its stations (the grids of its specialist
-- layer, specialist:<code>) or to some townships (enforcement grid codes).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'operator', 'grid_head', 'squad', 'integration', 'department'));

-- ON DELETE SET NULL like squads: an account whose department is gone is refused at login
-- (gridsvc/auth/service.py) rather than deleted unseen.
ALTER TABLE users ADD COLUMN department_code text REFERENCES departments (code) ON DELETE SET NULL;
-- A department account limited to areas: specialist grid codes of its department's layer
-- (its stations) and/or enforcement grid codes (townships); both empty: the whole county.
ALTER TABLE users ADD COLUMN station_codes text[] NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN township_codes text[] NOT NULL DEFAULT '{}';
ALTER TABLE users ADD CONSTRAINT users_department_only
    CHECK (department_code IS NULL OR role = 'department');
ALTER TABLE users ADD CONSTRAINT users_department_areas_only
    CHECK ((cardinality(station_codes) = 0 AND cardinality(township_codes) = 0) OR role = 'department');

-- What a department's event list filters on (GET /events for role department).
CREATE INDEX events_responsible_department ON events (responsible_code)
    WHERE responsible_kind = 'department';

-- A whistle (吹哨) notifies the departments it summons: its audit row (action 'whistle')
-- queues the same notice fan-out job as a dispatch or transfer (migrations/008_jobs.sql);
-- the fan-out sends it to the accounts of the summoned departments with a webhook.
DROP TRIGGER event_transitions_notice ON event_transitions;
CREATE TRIGGER event_transitions_notice AFTER INSERT ON event_transitions
    FOR EACH ROW WHEN (NEW.action IN ('dispatch', 'transfer', 'whistle'))
    EXECUTE FUNCTION enqueue_recipient_notices();
