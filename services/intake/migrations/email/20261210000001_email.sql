-- The email channel: what a received message left behind besides its ticket. The ledger stays
-- the source of truth for tickets; this schema keeps attachments (never Redis: they are the
-- citizen's evidence and must outlive any cache) and which ticket each message went to.

-- One row per message taken, by its key (`email:<sha256>` of our address, the sender and the
-- Message-ID): the ticket it opened or added to, once the ledger took it.
CREATE TABLE email.message (
    message_key TEXT PRIMARY KEY,
    -- 'ticket' (opened one) or 'supplement' (added to one).
    kind        TEXT NOT NULL CHECK (kind IN ('ticket', 'supplement')),
    ticket_no   BIGINT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    settled_at  TIMESTAMPTZ
);

-- Attachments, decoded. A message sent again finds its rows by (message_key, position) and
-- keeps their ids, which the ticket's attributes name.
CREATE TABLE email.attachment (
    id           UUID PRIMARY KEY,
    message_key  TEXT NOT NULL REFERENCES email.message (message_key) ON DELETE CASCADE,
    position     INT NOT NULL,
    -- The name as the citizen's client gave it (personal data: never logged).
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    content      BYTEA NOT NULL,
    stored_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (message_key, position)
);
