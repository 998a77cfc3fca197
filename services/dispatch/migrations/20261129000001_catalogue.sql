-- The dispatch catalogue (派单目录): which department handles which matter, where.
CREATE TABLE dispatch.catalogue (
    code                 TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    description          TEXT NOT NULL,
    grp                  TEXT NOT NULL,
    keywords             TEXT[] NOT NULL DEFAULT '{}',
    default_request_type TEXT NOT NULL,
    -- 'city': always `department`; 'district': the district government of the address.
    scope                TEXT NOT NULL CHECK (scope IN ('city', 'district')),
    department           TEXT,
    co_handlers          TEXT[] NOT NULL DEFAULT '{}',
    attributes           JSONB NOT NULL DEFAULT '[]',
    version              INT NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (scope = 'district' OR department IS NOT NULL)
);

-- Every change, who made it and why: the catalogue changes only through this audited path.
CREATE TABLE dispatch.catalogue_history (
    code       TEXT NOT NULL,
    version    INT NOT NULL,
    changed_by TEXT NOT NULL,
    reason     TEXT NOT NULL,
    entry      JSONB NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (code, version)
);

-- Tickets with no confident route, waiting for an operator.
CREATE TABLE dispatch.manual_queue (
    ticket_no   BIGINT PRIMARY KEY,
    reason      TEXT NOT NULL,
    ticket      JSONB NOT NULL,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    resolved_by TEXT,
    resolved_to TEXT
);
CREATE INDEX manual_queue_open ON dispatch.manual_queue (enqueued_at) WHERE resolved_at IS NULL;

-- Every routing decision, for precision figures and audits.
CREATE TABLE dispatch.decision (
    ticket_no  BIGINT NOT NULL,
    event_id   TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    lead       TEXT,
    reason     TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_no, event_id)
);
