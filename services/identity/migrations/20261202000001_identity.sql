-- The issuer's state. Every replica reads and writes here, so lockout counts and single-use
-- codes and refresh tokens hold across replicas.

CREATE TABLE identity.accounts (
    username        TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL DEFAULT '',
    -- Argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash   TEXT NOT NULL,
    roles           TEXT[] NOT NULL,
    dept            TEXT,
    disabled        BOOLEAN NOT NULL DEFAULT false,
    failed_attempts INT NOT NULL DEFAULT 0,
    locked_until    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE identity.signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    -- PKCS#8 PEM. Readable by whoever reads this schema: the database is the key store of the
    -- local issuer (a city's own provider keeps its keys elsewhere).
    private_pem     TEXT NOT NULL,
    public_jwk      JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when a newer key took over: the key still verifies until its last tokens expire.
    retired_at      TIMESTAMPTZ
);
-- One current key at a time, even when replicas start together.
CREATE UNIQUE INDEX signing_keys_one_current ON identity.signing_keys ((true)) WHERE retired_at IS NULL;

CREATE TABLE identity.refresh_tokens (
    -- SHA-256 of the opaque token: the token itself is never stored.
    digest          BYTEA PRIMARY KEY,
    -- Every token rotated from one sign-in shares the family; a replayed token revokes it.
    family          UUID NOT NULL,
    username        TEXT NOT NULL REFERENCES identity.accounts (username) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON identity.refresh_tokens (family);
CREATE INDEX refresh_tokens_username ON identity.refresh_tokens (username);
CREATE INDEX refresh_tokens_expires ON identity.refresh_tokens (expires_at);

CREATE TABLE identity.authorization_codes (
    digest          BYTEA PRIMARY KEY,
    -- The refresh family the code's tokens start: a replayed code revokes it.
    family          UUID NOT NULL,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    -- PKCE S256: BASE64URL(SHA-256(code_verifier)).
    code_challenge  TEXT NOT NULL,
    username        TEXT NOT NULL REFERENCES identity.accounts (username) ON DELETE CASCADE,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX authorization_codes_expires ON identity.authorization_codes (expires_at);
