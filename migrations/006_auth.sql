-- Access control: people and systems that call the API, and their bearer tokens.
--
-- Roles: admin (everything), operator (指挥中心值班员: the dispatch desk), grid_head (网格长:
-- the events of their community grids), squad (执法中队: the events sent to their squad, and
-- their own AVL pings) and integration (the 12345 hotline: its own work orders and callbacks).
CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    -- the login handle, also in URLs (/users/{name}/tokens): no spaces or slashes
    name           text NOT NULL UNIQUE CHECK (name ~ '^[^[:space:]/]{1,64}$'),
    role           text NOT NULL
                   CHECK (role IN ('admin', 'operator', 'grid_head', 'squad', 'integration')),
    grid_codes     text[] NOT NULL DEFAULT '{}',  -- grid_head scope: community grid codes
    -- A squad or integration removed later leaves the account without a scope; such an
    -- account is refused at login (see gridsvc/auth/service.py) rather than deleted unseen.
    squad_id       bigint REFERENCES squads (id) ON DELETE SET NULL,
    integration_id bigint REFERENCES integrations (id) ON DELETE SET NULL,
    webhook_url    text,                          -- optional outbound forward per recipient
    display_name   text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled       boolean NOT NULL DEFAULT false,
    -- A scope column belongs to one role only: an operator with grid codes would read as
    -- "scoped" to someone and as "sees everything" to the code.
    CHECK (cardinality(grid_codes) = 0 OR role = 'grid_head'),
    CHECK (squad_id IS NULL OR role = 'squad'),
    CHECK (integration_id IS NULL OR role = 'integration')
);

-- Only the SHA-256 of a token is kept: a database dump does not let anyone in. token_prefix
-- (the first characters, e.g. "gs_Ab3x9") lets a person recognise and revoke a token.
CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    token_prefix  text NOT NULL,
    label         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE INDEX api_tokens_prefix ON api_tokens (token_prefix);

-- What a grid head's or a squad's event list filters on (GET /events for scoped roles).
CREATE INDEX events_community_grid ON events ((grids -> 'community' ->> 'code'));
CREATE INDEX events_squad ON events (squad_id) WHERE squad_id IS NOT NULL;
