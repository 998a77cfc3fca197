-- The ticket ledger. tickets.ticket is the current state; tickets.history the immutable steps.
CREATE TABLE tickets.ticket (
    ticket_no         BIGINT PRIMARY KEY,
    status            TEXT NOT NULL,
    channel           TEXT NOT NULL,
    request_type      TEXT NOT NULL,
    service_code      TEXT,
    description       TEXT NOT NULL,
    location          JSONB NOT NULL,
    citizen           JSONB NOT NULL,
    -- Kept apart so agents can find a caller's earlier tickets; never leaves the ledger unmasked
    -- except to the centre.
    citizen_phone     TEXT,
    confidential      BOOLEAN NOT NULL,
    attributes        JSONB NOT NULL,
    media_url         TEXT,
    lead              TEXT,
    co                TEXT[] NOT NULL DEFAULT '{}',
    -- Every department that ever held the ticket: what a department may see.
    handlers          TEXT[] NOT NULL DEFAULT '{}',
    extension_pending BOOLEAN NOT NULL DEFAULT false,
    satisfied         BOOLEAN,
    last_seq          INT NOT NULL,
    traceparent       TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX ticket_status_created ON tickets.ticket (status, created_at);
CREATE INDEX ticket_created ON tickets.ticket (created_at);
CREATE INDEX ticket_service_created ON tickets.ticket (service_code, created_at);
CREATE INDEX ticket_handlers ON tickets.ticket USING GIN (handlers);
CREATE INDEX ticket_citizen_phone ON tickets.ticket (citizen_phone) WHERE citizen_phone IS NOT NULL;

CREATE TABLE tickets.history (
    ticket_no   BIGINT NOT NULL REFERENCES tickets.ticket (ticket_no),
    seq         INT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor       JSONB NOT NULL,
    step        TEXT NOT NULL,
    action      JSONB,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    PRIMARY KEY (ticket_no, seq)
);
CREATE INDEX history_at ON tickets.history (at);

-- One row per command ever executed: a retry with the same key gets the first reply.
CREATE TABLE tickets.command_log (
    idempotency_key TEXT PRIMARY KEY,
    reply           JSONB NOT NULL,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tickets.outbox (
    id          BIGSERIAL PRIMARY KEY,
    subject     TEXT NOT NULL,
    msg_id      TEXT NOT NULL,
    traceparent TEXT,
    payload     BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
