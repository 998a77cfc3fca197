-- Smart dispatch: what the classifier said, how fast, and what happened afterwards.

-- The manual queue's order (0 emergency, 1 a proposed 不予受理, 2 everything else) and what
-- the agent sees beside the ticket: the top three suggestions and the proposed rule.
ALTER TABLE dispatch.manual_queue
    ADD COLUMN priority SMALLINT NOT NULL DEFAULT 2,
    ADD COLUMN suggestions JSONB,
    ADD COLUMN proposal JSONB;
DROP INDEX dispatch.manual_queue_open;
CREATE INDEX manual_queue_open ON dispatch.manual_queue (priority, enqueued_at) WHERE resolved_at IS NULL;

-- Each decision's source and the classifier's view; returned_at / corrected_to come later from
-- the department's return (退单) and the centre's ruling on it: the measured precision.
ALTER TABLE dispatch.decision
    ADD COLUMN via TEXT NOT NULL DEFAULT 'catalogue',
    ADD COLUMN category TEXT,
    ADD COLUMN confidence REAL,
    ADD COLUMN matter TEXT,
    ADD COLUMN model TEXT,
    ADD COLUMN latency_ms REAL,
    ADD COLUMN returned_at TIMESTAMPTZ,
    ADD COLUMN corrected_to TEXT;
CREATE INDEX decision_at ON dispatch.decision (at);

-- What people taught the classifier: a ticket's text and the class its department belongs to,
-- from a correction (a return ruled wrong, a manual dispatch). `hotline dispatch corrections`
-- writes them out for `hotline dispatch train --extra`.
CREATE TABLE dispatch.correction (
    ticket_no BIGINT NOT NULL,
    source    TEXT NOT NULL CHECK (source IN ('return', 'manual')),
    text      TEXT NOT NULL,
    category  TEXT NOT NULL,
    lead      TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_no, source, lead)
);
