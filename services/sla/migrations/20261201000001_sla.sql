-- The SLA service (时限监督). Everything here is derived from the ticket events and the policy;
-- the ledger stays the source of truth for the tickets themselves.

-- What the ticket-event consumer has applied per ticket: the history seq guards against
-- redelivered (or stale) events.
CREATE TABLE sla.ticket (
    ticket_no BIGINT PRIMARY KEY,
    last_seq  INT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One stage clock: a deadline for one stage of one ticket, run against a department (sign_off,
-- handling) or the centre (department NULL: dispatch, return_review, callback).
CREATE TABLE sla.clock (
    id                BIGSERIAL PRIMARY KEY,
    ticket_no         BIGINT NOT NULL,
    stage             TEXT NOT NULL,
    department        TEXT,
    request_type      TEXT NOT NULL,
    urgency           TEXT NOT NULL,
    -- The policy cell, as text ("3 working days"); calendar_hours: the clock runs on the wall
    -- clock (pause and resume count wall-clock time), else on working time.
    limit_text        TEXT NOT NULL,
    calendar_hours    BOOLEAN NOT NULL,
    started_at        TIMESTAMPTZ NOT NULL,
    due_at            TIMESTAMPTZ NOT NULL,
    warn_at           TIMESTAMPTZ NOT NULL,
    -- open (running), paused (waiting on the citizen), met (ended on time), breached (late).
    state             TEXT NOT NULL DEFAULT 'open'
                      CHECK (state IN ('open', 'paused', 'met', 'breached')),
    -- The ladder reached: 0 none, 1 warned (yellow), 2 overdue (red), 3 supervised, 4 escalated.
    level             SMALLINT NOT NULL DEFAULT 0,
    -- The next ladder step and when it is due; NULL when nothing further (or not open).
    next_step         TEXT CHECK (next_step IN ('warning', 'overdue', 'supervise', 'escalate')),
    next_fire_at      TIMESTAMPTZ,
    paused_at         TIMESTAMPTZ,
    remaining_ms      BIGINT,
    warn_remaining_ms BIGINT,
    extensions        INT NOT NULL DEFAULT 0,
    overdue_at        TIMESTAMPTZ,
    supervised_at     TIMESTAMPTZ,
    escalated_at      TIMESTAMPTZ,
    escalated_to      TEXT,
    opened_seq        INT,
    closed_at         TIMESTAMPTZ,
    closed_seq        INT,
    CHECK (due_at >= started_at AND warn_at <= due_at)
);
-- The firing loop's only query: the earliest due steps of open clocks.
CREATE INDEX clock_next_fire ON sla.clock (next_fire_at) WHERE state = 'open';
-- At most one running clock per stage of a ticket.
CREATE UNIQUE INDEX clock_running ON sla.clock (ticket_no, stage) WHERE state IN ('open', 'paused');
CREATE INDEX clock_ticket ON sla.clock (ticket_no);
CREATE INDEX clock_closed ON sla.clock (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX clock_overdue ON sla.clock (due_at) WHERE state IN ('open', 'paused') AND level >= 2;

-- Every SLA event, with when its step was due (scheduled_at) and when it fired: the lateness
-- of the firing loop is fired_at - scheduled_at.
CREATE TABLE sla.event_log (
    id           BIGSERIAL PRIMARY KEY,
    event_id     UUID NOT NULL,
    clock_id     BIGINT NOT NULL,
    ticket_no    BIGINT NOT NULL,
    stage        TEXT NOT NULL,
    department   TEXT,
    kind         TEXT NOT NULL,
    scheduled_at TIMESTAMPTZ,
    fired_at     TIMESTAMPTZ NOT NULL,
    due_at       TIMESTAMPTZ NOT NULL,
    detail       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX event_log_fired ON sla.event_log (fired_at);
CREATE INDEX event_log_ticket ON sla.event_log (ticket_no);

-- Extension requests (延期申请) and the centre's decisions.
CREATE TABLE sla.extension (
    id              BIGSERIAL PRIMARY KEY,
    ticket_no       BIGINT NOT NULL,
    clock_id        BIGINT NOT NULL,
    department      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    until           TIMESTAMPTZ NOT NULL,
    previous_due    TIMESTAMPTZ NOT NULL,
    idempotency_key TEXT,
    -- The ledger history entry of the request: written by the responder and by the consumer,
    -- whichever is first; `announced` once the extension_requested event went out.
    request_seq     INT NOT NULL,
    announced       BOOLEAN NOT NULL DEFAULT false,
    requested_at    TIMESTAMPTZ NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'denied', 'lapsed')),
    decided_at      TIMESTAMPTZ,
    decided_by      TEXT,
    note            TEXT,
    decision_seq    INT,
    UNIQUE (ticket_no, request_seq)
);
CREATE UNIQUE INDEX extension_pending ON sla.extension (ticket_no) WHERE status = 'pending';
CREATE INDEX extension_key ON sla.extension (idempotency_key);
CREATE INDEX extension_status ON sla.extension (status, requested_at);

-- Ledger commands to send (supervision orders), written in the transaction that fired the
-- step; a sender drains them with the idempotency key, so a crash resends and never doubles.
CREATE TABLE sla.command (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    ticket_no       BIGINT NOT NULL,
    command         JSONB NOT NULL,
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE sla.outbox (
    id          BIGSERIAL PRIMARY KEY,
    subject     TEXT NOT NULL,
    msg_id      TEXT NOT NULL,
    traceparent TEXT,
    payload     BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
