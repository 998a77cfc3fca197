-- Photos citizens attach on the web page. Durable here, never in Redis; not served to the
-- public. The ticket is found by its number; one form submission stores its photos once.

CREATE TABLE attachments.photo (
    id           UUID PRIMARY KEY,
    ticket_no    BIGINT NOT NULL,
    -- The form's idempotency key (the ledger's `web:<sha256>`): a form sent twice, once.
    submission   TEXT NOT NULL,
    position     SMALLINT NOT NULL CHECK (position BETWEEN 1 AND 10),
    -- As the browser named the file (personal data possible: never logged).
    file_name    TEXT NOT NULL,
    -- What the bytes are (checked by their signature), not what the browser declared.
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    size_bytes   INTEGER NOT NULL CHECK (size_bytes > 0),
    sha256       BYTEA NOT NULL CHECK (octet_length(sha256) = 32),
    data         BYTEA NOT NULL CHECK (octet_length(data) = size_bytes),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (submission, position)
);

CREATE INDEX photo_ticket ON attachments.photo (ticket_no);
