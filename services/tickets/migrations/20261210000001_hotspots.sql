-- 社情民意 hotspots (services/tickets/src/hotspots.rs): the district a new ticket's address
-- names, decided by the ledger at creation from the directory (a department code; NULL when
-- the address names none, and for tickets stored before this migration).
ALTER TABLE tickets.ticket ADD COLUMN district TEXT;
-- Counting a period's tickets by matter and district reads this index alone (an index-only
-- scan), not the table's wide rows.
CREATE INDEX ticket_created_hotspot ON tickets.ticket (created_at) INCLUDE (service_code, district);
