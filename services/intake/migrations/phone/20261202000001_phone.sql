-- The phone channel: calls as the call platform reported them (CTI events), and the agents'
-- work on them. The ledger stays the source of truth for tickets; a call only links numbers.

CREATE TABLE phone.call (
    call_id        TEXT PRIMARY KEY,
    direction      TEXT NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out')),
    -- The citizen's number (personal data: shown masked, never logged). NULL when withheld.
    caller         TEXT,
    -- The hotline's side of the call (the number dialled).
    line           TEXT,
    ivr            TEXT,
    -- ringing, answered, ended.
    state          TEXT NOT NULL CHECK (state IN ('ringing', 'answered', 'ended')),
    -- The agent (username) who answered or dialled.
    agent          TEXT,
    ringing_at     TIMESTAMPTZ NOT NULL,
    answered_at    TIMESTAMPTZ,
    ended_at       TIMESTAMPTZ,
    cause          TEXT,
    ticket_nos     BIGINT[] NOT NULL DEFAULT '{}',
    -- The knowledge leaf an answer on the spot (直接答复) used.
    answer_leaf    TEXT,
    -- A missed (abandoned) call worked off the callback list.
    called_back_at TIMESTAMPTZ,
    called_back_by TEXT
);

CREATE INDEX call_agent_open ON phone.call (agent) WHERE state <> 'ended';
CREATE INDEX call_ringing_at ON phone.call (ringing_at);
CREATE INDEX call_caller ON phone.call (caller, ringing_at DESC);
CREATE INDEX call_missed ON phone.call (ringing_at)
    WHERE direction = 'in' AND answered_at IS NULL AND ended_at IS NOT NULL AND called_back_at IS NULL;

-- One row per (call, event) received: the platform repeats events, each is applied once.
CREATE TABLE phone.event (
    call_id     TEXT NOT NULL,
    event       TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, event)
);
