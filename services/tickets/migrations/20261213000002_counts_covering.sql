-- The supervisor's counts (services/tickets/src/hotspots.rs) over a period of creation: by
-- channel (the board's contacts today) and by matter class x district (社情民意).
-- ticket_created_hotspot covered only the second; the first read every counted ticket's wide
-- row (100,000 stored, 31,000 of them in the last 12 hours: 180 - 190 ms p50, a parallel
-- sequential scan; docs/performance.md, 12-05). This index carries every column the two read,
-- so each is an index-only scan over the period's entries, and it takes the old one's place:
-- one index written at every step, as before. (The backlog counts open tickets only; the
-- planner reads them through the open tickets' partial indexes.)
CREATE INDEX ticket_created_counts ON tickets.ticket (created_at)
    INCLUDE (channel, service_code, district);
DROP INDEX IF EXISTS tickets.ticket_created_hotspot;
