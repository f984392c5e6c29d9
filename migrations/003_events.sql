-- Events: matter catalogue, delegation lists, calendar, events and their lifecycle,
-- hotline integrations with the feedback outbox, and whistles (吹哨).

-- County departments (主管部门). Specialist layers name them: specialist:<code>.
CREATE TABLE departments (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z0-9_-]+$'),
    name       text NOT NULL,
    name_zh    text NOT NULL
);

-- 事项清单: matters with hierarchical codes (kind / major / minor, as GB/T 30428).
CREATE TABLE matters (
    code                  text PRIMARY KEY,          -- e.g. EV-01-01 (event), PT-01-01 (part)
    kind                  text NOT NULL CHECK (kind IN ('event', 'part', 'other')),
    major_code            text NOT NULL,
    major_name            text NOT NULL,
    minor_code            text NOT NULL,
    name                  text NOT NULL,             -- minor class name
    handling_unit         text,                      -- 处置单位 (as written in the standard)
    supervising_department text,                     -- 主管部门 (as written)
    owner_department      text REFERENCES departments (code),  -- who gets it when not delegated
    handling_level        text NOT NULL DEFAULT 'township'
                          CHECK (handling_level IN ('township', 'grid')),
    auto_dispatch         boolean NOT NULL DEFAULT false,
    source                text,
    imported_at           timestamptz NOT NULL DEFAULT now()
);

-- One matter has several filing conditions, each with its closing condition and time limit.
CREATE TABLE matter_conditions (
    matter_code        text NOT NULL REFERENCES matters (code) ON DELETE CASCADE,
    position           smallint NOT NULL,
    filing_condition   text,
    closing_condition  text,
    time_limit_text    text,
    limit_amount       numeric,
    limit_unit         text CHECK (limit_unit IN ('clock_hours', 'working_hours', 'working_days',
                                                  'calendar_days')),
    PRIMARY KEY (matter_code, position),
    CHECK ((limit_amount IS NULL) = (limit_unit IS NULL))
);

-- 赋权事项清单: the matters delegated to a township (by its enforcement grid code), with
-- effective dates. A new version of a township's list closes the previous one.
CREATE TABLE delegation_lists (
    id               bigserial PRIMARY KEY,
    enforcement_code text NOT NULL,
    version          integer NOT NULL,
    name             text NOT NULL,
    effective_from   timestamptz NOT NULL,
    effective_to     timestamptz,
    source           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (enforcement_code, version),
    CHECK (effective_to IS NULL OR effective_to > effective_from)
);
CREATE TABLE delegation_items (
    list_id     bigint NOT NULL REFERENCES delegation_lists (id) ON DELETE CASCADE,
    matter_code text NOT NULL REFERENCES matters (code),
    PRIMARY KEY (list_id, matter_code)
);

-- The county's calendar: public holidays and the weekend days made working days (调休).
CREATE TABLE calendar_days (
    jurisdiction_code text NOT NULL DEFAULT '*',     -- '*' = every jurisdiction
    day               date NOT NULL,
    working           boolean NOT NULL,
    name              text,
    PRIMARY KEY (jurisdiction_code, day)
);

-- Hotline integrations: each has its own HMAC secret and callback URL.
CREATE TABLE integrations (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    secret        text NOT NULL,
    callback_url  text,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    id                 bigserial PRIMARY KEY,
    source             text NOT NULL CHECK (source IN ('hotline', 'whistle', 'operator', 'patrol')),
    integration_id     bigint REFERENCES integrations (id),
    external_id        text,                          -- the hotline's work-order number (工单号)
    title              text NOT NULL,
    description        text,
    matter_code        text REFERENCES matters (code),
    matter_text        text,                          -- the matter as the caller/hotline named it
    condition_position smallint,
    address            text,
    geom               geometry(Point, 4326),         -- WGS84; NULL when only an address came
    source_crs         text,
    source_lng         double precision,
    source_lat         double precision,
    reporter           jsonb NOT NULL DEFAULT '{}'::jsonb,
    reported_at        timestamptz,
    received_at        timestamptz NOT NULL DEFAULT now(),
    state              text NOT NULL DEFAULT 'received',
    suspended_from     text,                          -- state to resume after 挂账
    responsible_kind   text CHECK (responsible_kind IN ('squad', 'department', 'grid_head', 'triage')),
    responsible_code   text,                          -- grid code / department code
    responsible_name   text,
    co_handlers        jsonb NOT NULL DEFAULT '[]'::jsonb,  -- 协办
    grids              jsonb NOT NULL DEFAULT '{}'::jsonb,  -- layer -> {id, code} at routing time
    routing            jsonb NOT NULL DEFAULT '{}'::jsonb,  -- why: grid, list version, rule
    squad_id           bigint,                        -- the squad dispatched
    duplicate_of       bigint REFERENCES events (id),
    stage              text,                          -- the SLA stage running now
    stage_started_at   timestamptz,
    due_at             timestamptz,                   -- deadline of the running stage
    dispatched_at      timestamptz,
    handle_due_at      timestamptz,                   -- the matter's handling time limit
    overdue_since      timestamptz,
    closed_at          timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (state IN ('received', 'routed', 'dispatched', 'signed_for', 'on_scene', 'handled',
                     'verified', 'closed', 'returned', 'suspended')),
    CHECK ((integration_id IS NULL) = (external_id IS NULL))
);
-- Idempotency by work-order number, per integration: concurrent deliveries meet here.
CREATE UNIQUE INDEX events_work_order ON events (integration_id, external_id);
CREATE INDEX events_geom_gist ON events USING gist (geom);
CREATE INDEX events_open ON events (state, due_at) WHERE state <> 'closed';
CREATE INDEX events_received ON events (received_at);

-- The audit trail: who did what, when, from which state to which.
CREATE TABLE event_transitions (
    id          bigserial PRIMARY KEY,
    event_id    bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    note        text,
    data        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX event_transitions_event ON event_transitions (event_id, id);

-- 延期: extension requests need approval.
CREATE TABLE event_extensions (
    id            bigserial PRIMARY KEY,
    event_id      bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    extra_minutes integer NOT NULL CHECK (extra_minutes > 0),
    reason        text NOT NULL,
    decided_by    text,
    decided_at    timestamptz,
    approved      boolean
);

-- 督办: escalations raised when a stage runs over its time limit.
CREATE TABLE escalations (
    id          bigserial PRIMARY KEY,
    event_id    bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    stage       text NOT NULL,
    due_at      timestamptz NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    level       smallint NOT NULL DEFAULT 1,
    UNIQUE (event_id, stage, due_at, level)
);

-- Transactional outbox of hotline feedback: written in the same transaction as the state
-- change, delivered in order per event, retried with backoff until acknowledged.
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    event_id         bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    integration_id   bigint NOT NULL REFERENCES integrations (id),
    kind             text NOT NULL,                  -- signed_for, handled, returned, ...
    payload          jsonb NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_event ON outbox (event_id, id);

-- 吹哨报到: a township summons county departments for a matter at a place.
CREATE TABLE whistles (
    id                bigserial PRIMARY KEY,
    event_id          bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    township_code     text NOT NULL,
    summoned_by       text NOT NULL,
    summoned_at       timestamptz NOT NULL DEFAULT now(),
    ack_minutes       integer NOT NULL CHECK (ack_minutes > 0),
    arrive_minutes    integer NOT NULL CHECK (arrive_minutes > 0)
);
CREATE TABLE whistle_attendance (
    whistle_id       bigint NOT NULL REFERENCES whistles (id) ON DELETE CASCADE,
    department       text NOT NULL REFERENCES departments (code),
    ack_due_at       timestamptz NOT NULL,
    arrive_due_at    timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    arrived_at       timestamptz,
    PRIMARY KEY (whistle_id, department)
);

-- Live updates for maps and inboxes (several app processes: everyone hears every change).
CREATE FUNCTION notify_event_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridsvc_events', json_build_object(
        'id', NEW.id, 'state', NEW.state, 'op', TG_OP)::text);
    RETURN NEW;
END;
$$;
CREATE TRIGGER events_notify AFTER INSERT OR UPDATE OF state, squad_id, due_at ON events
    FOR EACH ROW EXECUTE FUNCTION notify_event_changed();

-- Wake the outbox senders as soon as a message is written.
CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridsvc_outbox', NEW.id::text);
    RETURN NEW;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION notify_outbox();
