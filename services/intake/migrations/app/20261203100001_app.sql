-- The mobile app's citizen accounts, sessions (refresh-token families), refresh tokens (only
-- their SHA-256), device tokens for push, and the app's own ES256 signing key.
CREATE TABLE IF NOT EXISTS app.citizen (
    id          uuid PRIMARY KEY,
    phone       text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS app.session (
    id          uuid PRIMARY KEY,
    citizen_id  uuid NOT NULL REFERENCES app.citizen (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE IF NOT EXISTS app.refresh_token (
    token_sha256 bytea PRIMARY KEY,
    session_id   uuid NOT NULL REFERENCES app.session (id),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX IF NOT EXISTS refresh_token_session ON app.refresh_token (session_id);

CREATE TABLE IF NOT EXISTS app.device (
    token       text PRIMARY KEY,
    citizen_id  uuid NOT NULL REFERENCES app.citizen (id),
    platform    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS device_citizen ON app.device (citizen_id);

-- One key; the first replica to start makes it (ON CONFLICT keeps the others from racing).
CREATE TABLE IF NOT EXISTS app.signing_key (
    id          smallint PRIMARY KEY CHECK (id = 1),
    kid         text NOT NULL,
    private_pem text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
