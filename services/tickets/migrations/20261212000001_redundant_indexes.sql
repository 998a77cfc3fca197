-- Every index of tickets.ticket is written at each new ticket and again at each step (a step
-- changes the indexed status, so no update is HOT): two of them did no work the others do not.
-- - ticket_created (created_at) is the leading column of ticket_created_hotspot, which covers
--   more: every query that ordered or cut by created_at uses that one.
-- - ticket_message_created (created_at WHERE channel <> 'phone'), the agent desk's messages
--   panel: its newest twenty are read backwards on ticket_created_hotspot, stepping over the
--   phone's tickets among the newest (a few dozen entries), instead of paying one more index
--   entry on every ticket that is not a call.
DROP INDEX IF EXISTS tickets.ticket_created;
DROP INDEX IF EXISTS tickets.ticket_message_created;
