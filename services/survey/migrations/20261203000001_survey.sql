-- The callback survey (回访). The ledger keeps the ticket; this schema keeps when each callback
-- is due, how it went, and the detailed answer the ledger records only as satisfied or not.

-- One survey per completion (办结) or answer on the spot (直接答复): `completion_seq` is the
-- ledger history entry it asks about.
CREATE TABLE survey.survey (
    id              BIGSERIAL PRIMARY KEY,
    ticket_no       BIGINT NOT NULL,
    completion_seq  INT NOT NULL,
    -- case: 一事一评 of a department's handling; on_the_spot: "was this answered?"
    kind            TEXT NOT NULL CHECK (kind IN ('case', 'on_the_spot')),
    channel         TEXT NOT NULL,
    -- How the citizen is asked: a link by wechat, sms, email or app, or a phone callback task
    -- in the agents' work list; none: no way back to the citizen (unreachable when due).
    method          TEXT NOT NULL CHECK (method IN ('wechat', 'sms', 'email', 'app', 'phone', 'none')),
    -- Where a link goes (openid, number, address). Personal data: cleared when the survey ends.
    address         TEXT,
    lead            TEXT,
    service_code    TEXT,
    agent           TEXT,
    request_type    TEXT NOT NULL,
    completed_at    TIMESTAMPTZ NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    state           TEXT NOT NULL DEFAULT 'scheduled'
                    CHECK (state IN ('scheduled', 'invited', 'answered', 'unreachable', 'cancelled')),
    attempts        INT NOT NULL DEFAULT 0,
    -- The next invitation (or, after the last, the unreachable verdict); NULL: nothing further.
    next_attempt_at TIMESTAMPTZ,
    -- The live link's nonce: single use, cleared by the answer.
    link_nonce      TEXT,
    link_expires_at TIMESTAMPTZ,
    answered_at     TIMESTAMPTZ,
    answered_via    TEXT CHECK (answered_via IN ('link', 'agent', 'ivr', 'message')),
    answered_by     TEXT,
    resolved        BOOLEAN,
    case_rating     TEXT CHECK (case_rating IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    call_rating     TEXT CHECK (call_rating IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    comment         TEXT,
    -- What followed: closed, reopened (重办), review (a supervisor decides).
    outcome         TEXT CHECK (outcome IN ('closed', 'reopened', 'review')),
    -- When the firing loop picked it up at its due time (lateness = fired_at - due_at).
    fired_at        TIMESTAMPTZ,
    UNIQUE (ticket_no, completion_seq)
);
-- The firing loop's only query.
CREATE INDEX survey_next ON survey.survey (next_attempt_at) WHERE state IN ('scheduled', 'invited');
CREATE INDEX survey_ticket ON survey.survey (ticket_no);
CREATE INDEX survey_completed ON survey.survey (completed_at);
-- The agents' callback work list.
CREATE INDEX survey_calls ON survey.survey (due_at) WHERE method = 'phone' AND state = 'invited';

-- What the event consumer has applied per ticket (history seq guard), and its reopens.
CREATE TABLE survey.ticket (
    ticket_no  BIGINT PRIMARY KEY,
    last_seq   INT NOT NULL,
    reopens    INT NOT NULL DEFAULT 0,
    -- The agent who took the contact (话务, rated apart), when one did.
    agent      TEXT,
    -- A 重办 waits for its dispatch to get the supervision order (督办).
    supervise_next_dispatch BOOLEAN NOT NULL DEFAULT false
);

-- Unsatisfied past the reopen limit: a supervisor reopens once more or rules (Conclude).
CREATE TABLE survey.review (
    ticket_no  BIGINT PRIMARY KEY,
    survey_id  BIGINT NOT NULL REFERENCES survey.survey (id),
    reopens    INT NOT NULL,
    opened_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at TIMESTAMPTZ,
    decided_by TEXT,
    decision   TEXT CHECK (decision IN ('reopen', 'explained', 'unreasonable_repeat')),
    rule       TEXT,
    note       TEXT
);
CREATE INDEX review_open ON survey.review (opened_at) WHERE decided_at IS NULL;

-- Ledger commands written with the step that caused them (hotline_bus::command_outbox sends
-- them; one ticket's in id order: the survey answer before the reopen or close).
CREATE TABLE survey.command (
    id              BIGSERIAL PRIMARY KEY,
    command         JSONB NOT NULL,
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX command_next ON survey.command (next_attempt_at);
