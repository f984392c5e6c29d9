-- Weekly patrol plans (巡查计划, issue 10 items 1-3): township squads visit every community
-- grid of their enforcement grids each week; visits are marked by AVL dwell or a check-in
-- tap, missed ones carried to the next working day, and patrol findings linked to a visit.

-- How often a community grid is visited per week (hot spots more than once). Absent: 1.
CREATE TABLE patrol_frequencies (
    grid_code       text PRIMARY KEY,
    visits_per_week integer NOT NULL CHECK (visits_per_week BETWEEN 1 AND 7),
    updated_by      text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One plan per squad and ISO week (re-planning replaces it, visits and all).
CREATE TABLE patrol_plans (
    id                bigserial PRIMARY KEY,
    jurisdiction_code text NOT NULL,
    week              text NOT NULL CHECK (week ~ '^[0-9]{4}-W[0-9]{2}$'),
    squad_id          bigint NOT NULL REFERENCES squads (id) ON DELETE CASCADE,
    solver            text NOT NULL,
    shift_start       time NOT NULL,
    shift_end         time NOT NULL,
    dwell_s           integer NOT NULL CHECK (dwell_s >= 0),
    report            jsonb NOT NULL DEFAULT '{}'::jsonb,  -- unplanned grids and why
    planned_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (squad_id, week)
);
CREATE INDEX patrol_plans_jurisdiction_week ON patrol_plans (jurisdiction_code, week);

-- A day of a plan: its route's figures, recomputed whenever the day's visits change.
CREATE TABLE patrol_days (
    plan_id       bigint NOT NULL REFERENCES patrol_plans (id) ON DELETE CASCADE,
    day           date NOT NULL,
    distance_m    double precision NOT NULL DEFAULT 0,
    duration_s    double precision NOT NULL DEFAULT 0,
    nn_distance_m double precision NOT NULL DEFAULT 0,  -- same visits, greedy nearest neighbour
    PRIMARY KEY (plan_id, day)
);

-- One planned visit of a community grid. status: planned -> arrived (check-in tap or first
-- ping inside) -> done (inside for the dwell time); missed when its day passed undone
-- (then carried: a new visit on the next working day with carried_from set).
CREATE TABLE patrol_visits (
    id           bigserial PRIMARY KEY,
    plan_id      bigint NOT NULL REFERENCES patrol_plans (id) ON DELETE CASCADE,
    grid_id      bigint NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
    grid_code    text NOT NULL,
    day          date NOT NULL,
    seq          integer NOT NULL,
    planned_at   timestamptz NOT NULL,
    point        geometry(Point, 4326) NOT NULL,
    status       text NOT NULL DEFAULT 'planned'
                 CHECK (status IN ('planned', 'arrived', 'done', 'missed')),
    arrived_at   timestamptz,
    checked_in_at timestamptz,  -- the squad's "arrived" tap (its position is also an AVL ping)
    done_at      timestamptz,
    done_by      text CHECK (done_by IN ('avl', 'check_in')),
    carried_from bigint UNIQUE REFERENCES patrol_visits (id) ON DELETE SET NULL,
    added_by     text NOT NULL DEFAULT 'planner',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'done' OR done_at IS NOT NULL)
);
CREATE INDEX patrol_visits_plan_day ON patrol_visits (plan_id, day, seq);
CREATE INDEX patrol_visits_open ON patrol_visits (day) WHERE status IN ('planned', 'arrived');
CREATE INDEX patrol_visits_grid ON patrol_visits (grid_id);

-- A finding reported on patrol (an event of source 'patrol') during a visit.
CREATE TABLE patrol_findings (
    event_id   bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    visit_id   bigint NOT NULL REFERENCES patrol_visits (id) ON DELETE CASCADE,
    linked_by  text NOT NULL CHECK (linked_by IN ('given', 'position')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patrol_findings_visit ON patrol_findings (visit_id);
