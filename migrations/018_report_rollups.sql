-- Leaders' figures (issue 11 items 1 and 5): daily rollups of the summary's facts, so that
-- GET /reports/summary over a million events reads thousands of rows instead of the events.
-- Built by gridsvc/reports (the `reports.rollup` job and `gridsvc report rollup`); a day is
-- a local day of the event's jurisdiction (its time zone), and every fact sits on the day of
-- its own moment (README "Reports"). The dimensions are '' where an event has none, so that
-- they can be part of the primary key.
CREATE TABLE report_daily (
    day             date NOT NULL,
    jurisdiction    text NOT NULL,           -- the enforcement layer's jurisdiction code
    township        text NOT NULL,           -- enforcement grid code (乡镇)
    department      text NOT NULL,           -- responsible department, if a department's case
    squad           text NOT NULL,           -- squad code
    grid            text NOT NULL,           -- community grid code
    matter          text NOT NULL,           -- matter code
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
    PRIMARY KEY (day, jurisdiction, township, department, squad, grid, matter)
);

-- Minutes from receipt to arrival (到场), counted per bucket (the bucket's upper bound in
-- minutes: 1-minute steps to an hour, 5 to four hours, 15 to a day, then hours), so that
-- p50/p90 of any set of days and units come from sums of counts.
CREATE TABLE report_daily_arrivals (
    day             date NOT NULL,
    jurisdiction    text NOT NULL,
    township        text NOT NULL,
    department      text NOT NULL,
    squad           text NOT NULL,
    grid            text NOT NULL,
    matter          text NOT NULL,
    bucket          integer NOT NULL,
    n               integer NOT NULL,
    PRIMARY KEY (day, jurisdiction, township, department, squad, grid, matter, bucket)
);

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
