-- The department's inbox (the console's /dept, the gateway's open list): its open tickets,
-- newest first, `handlers @> ARRAY[dept] AND status = ANY(open)`. With 100,000 tickets stored
-- (38,000 open) the planner ANDed the handlers index with two bitmaps of every open ticket
-- (ticket_status_created, ticket_open_address): 13 of the list's 20 ms, and the inbox over its
-- 50 ms p99 (docs/performance.md, "The console's pages", 12-05). This index holds the handlers
-- of open tickets only, so it answers both conditions in one small scan, and stays the size of
-- the open work however many finished tickets the ledger keeps. The predicate is the open
-- indexes' (20261204000001_duplicates.sql) word for word; the inbox's query writes it out and
-- checks its own statuses apart (store::list_sql), or the planner still ANDs the bitmap of
-- every open ticket to this one.
CREATE INDEX ticket_open_handlers ON tickets.ticket USING GIN (handlers)
    WHERE status IN ('received','dispatched','returned','accepted','in_progress','awaiting_citizen','replied','reopened');
