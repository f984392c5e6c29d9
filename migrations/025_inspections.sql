-- 一店一档, 综合查一次, the negative list and 首违不罚 (issue 10 items 4-5).

-- 一店一档: one record per inspected company, shop or 三小场所 (small shop, small workshop,
-- small entertainment venue), keyed by its unified social credit code (GB 32100-2015).
CREATE TABLE inspection_targets (
    id          bigserial PRIMARY KEY,
    credit_code text NOT NULL UNIQUE CHECK (credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'),
    name        text NOT NULL CHECK (name <> ''),
    address     text NOT NULL DEFAULT '',
    type        text NOT NULL CHECK (type IN ('company', 'shop', 'small_venue')),
    point       geometry(Point, 4326) NOT NULL,
    grid_code   text,  -- the community grid at the point (null: outside every grid)
    updated_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inspection_targets_grid ON inspection_targets (grid_code);

-- What each department checks at a target of a type (检查事项).
CREATE TABLE inspection_matters (
    department  text NOT NULL REFERENCES departments (code) ON DELETE CASCADE,
    target_type text NOT NULL CHECK (target_type IN ('company', 'shop', 'small_venue')),
    matter_code text NOT NULL CHECK (matter_code <> ''),
    PRIMARY KEY (department, target_type, matter_code)
);

-- 综合查一次: departments' inspections of one target within the merge window, one visit.
CREATE TABLE joint_visits (
    id              bigserial PRIMARY KEY,
    target_id       bigint NOT NULL REFERENCES inspection_targets (id) ON DELETE CASCADE,
    lead_department text NOT NULL REFERENCES departments (code),
    window_start    date NOT NULL,  -- the first member's planned day: the window counts from it
    day             date NOT NULL,  -- scheduled: a working day of the target's calendar
    seq             integer,        -- order in the day's route (null: not routed)
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX joint_visits_target ON joint_visits (target_id, window_start);
CREATE INDEX joint_visits_day ON joint_visits (day);

-- A department's planned inspection of a target; its result once done.
CREATE TABLE inspections (
    id             bigserial PRIMARY KEY,
    target_id      bigint NOT NULL REFERENCES inspection_targets (id) ON DELETE CASCADE,
    department     text NOT NULL REFERENCES departments (code),
    matter_codes   text[] NOT NULL CHECK (cardinality(matter_codes) > 0),
    planned_on     date NOT NULL,
    joint_visit_id bigint NOT NULL REFERENCES joint_visits (id) ON DELETE CASCADE,
    created_by     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    result         jsonb,  -- {violation, minor, matter_code, note}
    done_at        timestamptz
);
CREATE INDEX inspections_joint ON inspections (joint_visit_id);
CREATE INDEX inspections_target ON inspections (target_id);
CREATE INDEX inspections_department ON inspections (department, planned_on);

-- 首违不罚 list: matters whose first minor violation is met with education, not a penalty.
CREATE TABLE lenient_matters (
    matter_code text PRIMARY KEY CHECK (matter_code <> ''),
    added_by    text,
    added_at    timestamptz NOT NULL DEFAULT now()
);

-- An event may name the target it concerns; closed with a violation finding, it counts.
ALTER TABLE events ADD COLUMN target_id bigint REFERENCES inspection_targets (id) ON DELETE SET NULL;
ALTER TABLE events ADD COLUMN violation_found boolean;
CREATE INDEX events_target ON events (target_id) WHERE target_id IS NOT NULL;

-- Violations of a target, from closed events and inspection results. counted: toward the
-- negative list; a lenient one (首违不罚 education) is kept but not counted.
CREATE TABLE target_violations (
    id            bigserial PRIMARY KEY,
    target_id     bigint NOT NULL REFERENCES inspection_targets (id) ON DELETE CASCADE,
    source        text NOT NULL CHECK (source IN ('event', 'inspection')),
    event_id      bigint UNIQUE REFERENCES events (id) ON DELETE SET NULL,
    inspection_id bigint UNIQUE REFERENCES inspections (id) ON DELETE SET NULL,
    matter_code   text,
    minor         boolean NOT NULL DEFAULT false,
    lenient       boolean NOT NULL DEFAULT false,
    note          text,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX target_violations_target ON target_violations (target_id, recorded_at);
