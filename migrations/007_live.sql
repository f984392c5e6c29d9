-- Live pages: photos attached to events, and the notices forwarded to each recipient's own
-- webhook (a county relays them to its messaging app).

-- A photo (JPEG / PNG / WebP, recognised by its bytes) stored on disk under the attachments
-- directory as <storage_key>; the row says what it is and who sent it. The audit trail of
-- the event records the upload too.
CREATE TABLE attachments (
    id           bigserial PRIMARY KEY,
    event_id     bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    mime         text NOT NULL CHECK (mime IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes        integer NOT NULL CHECK (bytes > 0),
    filename     text,                              -- as the phone named it (shown only)
    storage_key  text NOT NULL,
    uploaded_by  text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_event ON attachments (event_id, id);

-- Each recipient's signing secret for its notices (X-Signature like the 12345 callbacks).
CREATE TABLE notice_secrets (
    user_id     bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Outbox of per-recipient notices: one row per (dispatch or transfer, recipient with a
-- webhook_url), delivered by a background sender with retries, in order per recipient.
CREATE TABLE recipient_notices (
    id               bigserial PRIMARY KEY,
    event_id         bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    transition_id    bigint NOT NULL REFERENCES event_transitions (id) ON DELETE CASCADE,
    url              text NOT NULL,
    kind             text NOT NULL,                 -- dispatched, transferred
    payload          jsonb NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX recipient_notices_pending ON recipient_notices (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX recipient_notices_user ON recipient_notices (user_id, id);

-- Dispatches and transfers waiting to be turned into notices: written by a trigger in the
-- transaction of the change itself (nothing is missed, whichever process or tool made it);
-- the producer decides the recipients by the same scope rules as the pages and deletes the
-- row in the transaction that writes their notices.
CREATE TABLE notice_queue (
    transition_id  bigint PRIMARY KEY REFERENCES event_transitions (id) ON DELETE CASCADE,
    event_id       bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    queued_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION queue_recipient_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notice_queue (transition_id, event_id) VALUES (NEW.id, NEW.event_id);
    PERFORM pg_notify('gridsvc_notices', 'queue:' || NEW.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER event_transitions_notice AFTER INSERT ON event_transitions
    FOR EACH ROW WHEN (NEW.action IN ('dispatch', 'transfer'))
    EXECUTE FUNCTION queue_recipient_notice();

CREATE FUNCTION notify_recipient_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridsvc_notices', 'notice:' || NEW.id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER recipient_notices_notify AFTER INSERT ON recipient_notices
    FOR EACH ROW EXECUTE FUNCTION notify_recipient_notice();
