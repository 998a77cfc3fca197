-- The knowledge base (知识库): items are coded decision trees, kept in every version.

-- One row per item: who owns it and where its versions stand.
CREATE TABLE knowledge.item (
    code              TEXT PRIMARY KEY,
    owner             TEXT NOT NULL,
    latest_version    INT NOT NULL,
    -- The version in force (search, agents), NULL before the first publish or after retiring.
    published_version INT,
    retired_at        TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every version ever written, diffable: draft -> review -> published -> superseded | retired;
-- a review can send a version back (rejected) and the owner writes a new draft.
CREATE TABLE knowledge.item_version (
    code         TEXT NOT NULL REFERENCES knowledge.item (code),
    version      INT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'review', 'published', 'superseded', 'retired', 'rejected')),
    content      JSONB NOT NULL,
    title        TEXT NOT NULL,
    class        TEXT NOT NULL,
    matter_code  TEXT NOT NULL,
    written_by   TEXT NOT NULL,
    written_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    submitted_at TIMESTAMPTZ,
    reviewed_by  TEXT,
    reviewed_at  TIMESTAMPTZ,
    review_note  TEXT,
    PRIMARY KEY (code, version)
);
CREATE INDEX item_version_status ON knowledge.item_version (status);

-- The published leaves, flat: leaf -> item lookups, answer counts, and the naive baseline
-- (ILIKE) the benchmark compares search against.
CREATE TABLE knowledge.leaf (
    code        TEXT PRIMARY KEY,
    item_code   TEXT NOT NULL REFERENCES knowledge.item (code),
    version     INT NOT NULL,
    title       TEXT NOT NULL,
    path        TEXT NOT NULL,
    answer      TEXT NOT NULL,
    keywords    TEXT NOT NULL,
    departments TEXT[] NOT NULL
);
CREATE INDEX leaf_item ON knowledge.leaf (item_code);

-- Update tasks: a policy change or an agent's flag asks the owner to update an item within
-- the configured working days (5 in Guangzhou's rules).
CREATE TABLE knowledge.task (
    id          BIGSERIAL PRIMARY KEY,
    item_code   TEXT NOT NULL REFERENCES knowledge.item (code),
    department  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('policy_change', 'flag')),
    leaf_code   TEXT,
    reason      TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    opened_by   TEXT NOT NULL,
    opened_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    due_at      TIMESTAMPTZ NOT NULL,
    done_at     TIMESTAMPTZ,
    done_by     TEXT,
    done_note   TEXT,
    -- The version whose publishing closed the task.
    done_version INT
);
CREATE INDEX task_open ON knowledge.task (department, due_at) WHERE done_at IS NULL;

-- Contacts per matter and direct answers per leaf, from the ticket events (一次性解答率).
CREATE TABLE knowledge.contact (
    event_id    TEXT PRIMARY KEY,
    ticket_no   BIGINT NOT NULL,
    matter_code TEXT,
    leaf_code   TEXT,
    item_code   TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'answered')),
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX contact_item ON knowledge.contact (item_code, at);
CREATE INDEX contact_matter ON knowledge.contact (matter_code, at);

CREATE TABLE knowledge.outbox (
    id          BIGSERIAL PRIMARY KEY,
    subject     TEXT NOT NULL,
    msg_id      TEXT NOT NULL,
    traceparent TEXT,
    payload     BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
