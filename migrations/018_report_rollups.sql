-- Leaders' figures (issue 11 items 1 and 5): daily rollups of the summary's facts, so that
-- GET /reports/summary over a million events reads thousands of rows instead of the events.
-- Built by gridsvc/reports (the `reports.rollup` job and `gridsvc report rollup`); a day is
-- a local day of the event's jurisdiction (its time zone), and every fact sits on the day of
-- its own moment (README "Reports").
--
-- One row per day, summary dimension (`by`) and unit (`key`), kept apart by the scope
-- columns the summary filters on (jurisdiction, township, department; '' where an event has
-- none): a summary reads only its own dimension's rows. Each unit also has a row with
-- township = department = '*' (all of them), which the unscoped summary (the desk, county
-- supervisors) reads. Arrival minutes are counted in 26 buckets (a0..a25, README), so that
-- p50/p90 of any set of days come from sums.
CREATE TABLE report_daily (
    day             date NOT NULL,
    dimension       text NOT NULL CHECK (dimension IN ('township', 'department', 'squad', 'grid', 'matter')),
    jurisdiction    text NOT NULL,           -- the enforcement layer's jurisdiction code
    township        text NOT NULL,           -- enforcement grid code (乡镇)
    department      text NOT NULL,           -- responsible department, if a department's case
    key             text NOT NULL,           -- the unit of `dimension`
    received        integer NOT NULL,
    signed_for      integer NOT NULL,
    signed_in_time  integer NOT NULL,
    closed          integer NOT NULL,
    closed_in_time  integer NOT NULL,
    revisited       integer NOT NULL,
    satisfied       integer NOT NULL,
    resolved        integer NOT NULL,
    redone          integer NOT NULL,
    returns         integer NOT NULL,
    extensions      integer NOT NULL,
    duban           integer NOT NULL,
    a0 integer NOT NULL, a1 integer NOT NULL, a2 integer NOT NULL, a3 integer NOT NULL,
    a4 integer NOT NULL, a5 integer NOT NULL, a6 integer NOT NULL, a7 integer NOT NULL,
    a8 integer NOT NULL, a9 integer NOT NULL, a10 integer NOT NULL, a11 integer NOT NULL,
    a12 integer NOT NULL, a13 integer NOT NULL, a14 integer NOT NULL, a15 integer NOT NULL,
    a16 integer NOT NULL, a17 integer NOT NULL, a18 integer NOT NULL, a19 integer NOT NULL,
    a20 integer NOT NULL, a21 integer NOT NULL, a22 integer NOT NULL, a23 integer NOT NULL,
    a24 integer NOT NULL, a25 integer NOT NULL,
    PRIMARY KEY (dimension, day, jurisdiction, township, department, key)
);
-- A township leader's or a department's summary.
CREATE INDEX report_daily_township ON report_daily (dimension, township, day);
CREATE INDEX report_daily_department ON report_daily (dimension, department, day);

-- The days whose rollups are built (only whole days before today); others are computed
-- from the events directly. One row of state: changes seen up to this moment.
CREATE TABLE report_rollup_days (
    day        date PRIMARY KEY,
    rolled_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE report_rollup_state (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    seen_until timestamptz NOT NULL
);

-- What the rollup reads by time, and how it finds the days a change touched (IF NOT EXISTS:
-- later migrations of other work may index the same columns).
CREATE INDEX IF NOT EXISTS events_updated ON events (updated_at);
CREATE INDEX IF NOT EXISTS events_closed_at_report ON events (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS event_transitions_returns ON event_transitions (at) WHERE action = 'return';
CREATE INDEX IF NOT EXISTS event_extensions_decided ON event_extensions (decided_at) WHERE approved;
CREATE INDEX IF NOT EXISTS event_extensions_event ON event_extensions (event_id);
CREATE INDEX IF NOT EXISTS escalations_raised ON escalations (raised_at);
