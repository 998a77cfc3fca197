-- Tickets made during a call are held from dispatch (暂缓派单) until released: by the agent
-- finishing the call, or by the sweeper once the call has ended and the wrap-up time passed.
-- One row per held ticket; every replica's sweeper takes rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE phone.held_ticket (
    ticket_no     BIGINT PRIMARY KEY,
    call_id       TEXT NOT NULL,
    held_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the hold ended here: released, or found already ended in the ledger (answered on
    -- the spot, say). NULL while held.
    ended_at      TIMESTAMPTZ,
    -- finished (the agent), wrap_up (the sweeper after the hang-up), stale (the sweeper: no
    -- hang-up came), moved_on (the ledger had ended the hold), unknown (no such ticket).
    end_cause     TEXT,
    ended_by      TEXT
);
CREATE INDEX held_ticket_call ON phone.held_ticket (call_id) WHERE ended_at IS NULL;
CREATE INDEX held_ticket_open ON phone.held_ticket (held_at) WHERE ended_at IS NULL;
