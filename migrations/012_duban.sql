-- 督办 that reaches people (issue 8 item 5): levels per stage and matter, the people each
-- level reaches (the responsible unit, the township leader, the county), a notice per
-- recipient (inbox + webhook, through recipient_notices) and the written reply.

-- Township leaders (乡镇分管领导) and county supervisors (县级督查) sign in as role
-- ``leader``; their reach is in duban_leaders (set by `gridsvc duban leaders add`). The role
-- list is rewritten whole (with ``department`` of migration 009), whatever the name of the
-- check that holds it.
DO $$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'users'::regclass AND contype = 'c'
          AND pg_get_constraintdef(oid) LIKE '%''integration''%'
          AND pg_get_constraintdef(oid) NOT LIKE '%integration_id%'
    LOOP
        EXECUTE format('ALTER TABLE users DROP CONSTRAINT %I', found.conname);
    END LOOP;
END;
$$;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'operator', 'grid_head', 'squad', 'integration', 'department', 'leader'));

CREATE TABLE duban_leaders (
    user_id         bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    reach           text NOT NULL CHECK (reach IN ('township', 'county')),
    -- township: the enforcement grid codes (乡镇) this leader answers for
    township_codes  text[] NOT NULL DEFAULT '{}',
    CHECK ((reach = 'township') = (cardinality(township_codes) > 0))
);
CREATE INDEX duban_leaders_townships ON duban_leaders USING gin (township_codes);

-- Levels per matter and stage ('*': any). The most specific set that exists applies whole
-- (matter+stage, matter, stage, then the default of GRIDSVC_DUBAN_LEVELS). Level n is raised
-- when a stage has run ``factor`` times its time limit (1 = at the deadline).
CREATE TABLE duban_levels (
    matter_code  text NOT NULL DEFAULT '*',
    stage        text NOT NULL DEFAULT '*',
    level        smallint NOT NULL CHECK (level BETWEEN 1 AND 9),
    factor       numeric NOT NULL CHECK (factor >= 1),
    audience     text NOT NULL CHECK (audience IN ('unit', 'township', 'county')),
    PRIMARY KEY (matter_code, stage, level)
);

-- An escalation row is one 督办: its level, whom it addressed and the written reply.
ALTER TABLE escalations
    ADD COLUMN audience      text CHECK (audience IN ('unit', 'township', 'county')),
    ADD COLUMN factor        numeric,
    ADD COLUMN transition_id bigint REFERENCES event_transitions (id) ON DELETE SET NULL,
    ADD COLUMN reply         text,
    ADD COLUMN replied_by    text,
    ADD COLUMN replied_at    timestamptz,
    ADD CHECK ((reply IS NULL) = (replied_at IS NULL));
CREATE INDEX escalations_unreplied ON escalations (raised_at) WHERE replied_at IS NULL;
CREATE INDEX escalations_event ON escalations (event_id, id);

-- Who a 督办 reached: one row per recipient (their inbox); notice_id: the webhook notice
-- (recipient_notices) when the recipient has a webhook_url.
CREATE TABLE duban_recipients (
    escalation_id  bigint NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notice_id      bigint REFERENCES recipient_notices (id) ON DELETE SET NULL,
    PRIMARY KEY (escalation_id, user_id)
);
CREATE INDEX duban_recipients_user ON duban_recipients (user_id, escalation_id);
