-- Every unmasking of a citizen's contact details (PIPL): one row per reveal of a ticket's
-- contact and per search by phone number. Who (the token's subject, roles, department), when,
-- which ticket (none for a search), why. Read by supervisors and administrators.
CREATE TABLE tickets.reveal (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    subject     TEXT NOT NULL,
    roles       TEXT[] NOT NULL,
    department  TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('contact', 'phone_search')),
    ticket_no   BIGINT,
    -- For a search: the number searched, masked (the audit must not become a second copy of
    -- the contact data), and how many tickets it found.
    searched    TEXT,
    found       INT,
    reason      TEXT NOT NULL
);
CREATE INDEX reveal_ticket ON tickets.reveal (ticket_no, at);
CREATE INDEX reveal_subject ON tickets.reveal (subject, at);
CREATE INDEX reveal_at ON tickets.reveal (at);
