-- 并单 (duplicates): what the duplicate finder searches by, and which tickets were merged into
-- which (services/tickets/src/duplicates.rs).
--
-- address_key: the address normalised by the ledger at creation (`duplicates::address_key`:
-- full-width folded, lower case, letters and digits only, the leading 省/市/区/县 dropped). NULL
-- for tickets created before this migration: the finder's place windows are days long, so
-- after them every ticket it could suggest by address has one (coordinates and the citizen
-- match older ones too).
ALTER TABLE tickets.ticket ADD COLUMN address_key TEXT;
-- On the target of a merge: every ticket merged into it, directly or through a ticket merged
-- into it. Ticket events carry it, so the merged citizens hear about the target's steps.
ALTER TABLE tickets.ticket ADD COLUMN merged_from BIGINT[] NOT NULL DEFAULT '{}';

-- The finder looks only at tickets still being worked on (Status::is_open_for_citizen). These
-- indexes hold only those, so they stay small however many finished tickets the ledger keeps;
-- the queries repeat this predicate word for word so the planner can use them
-- (duplicates::OPEN_STATUSES, checked against this file by a unit test).
CREATE INDEX ticket_open_account ON tickets.ticket ((citizen->>'account_id'))
    WHERE status IN ('received','dispatched','returned','accepted','in_progress','awaiting_citizen','replied','reopened');
-- text_pattern_ops: equality, and prefix ranges compared byte by byte whatever the collation.
CREATE INDEX ticket_open_address ON tickets.ticket (address_key text_pattern_ops)
    WHERE status IN ('received','dispatched','returned','accepted','in_progress','awaiting_citizen','replied','reopened');
-- The same for the address read backwards: "the draft's address ends the stored one".
CREATE INDEX ticket_open_address_reversed ON tickets.ticket (reverse(address_key) text_pattern_ops)
    WHERE status IN ('received','dispatched','returned','accepted','in_progress','awaiting_citizen','replied','reopened');
-- Coordinates as a point (x = longitude, y = latitude) for a bounding-box search.
CREATE INDEX ticket_open_point ON tickets.ticket
    USING gist (point((location->>'long')::float8, (location->>'lat')::float8))
    WHERE status IN ('received','dispatched','returned','accepted','in_progress','awaiting_citizen','replied','reopened')
      AND location ? 'lat' AND location ? 'long';
