-- The agent desk's messages panel (services/tickets/src/messages.rs): the newest contacts that
-- came by message. Each index holds only those rows, so the newest twenty are read from its end
-- without stepping over the phone's tickets or every ticket's other steps.
CREATE INDEX ticket_message_created ON tickets.ticket (created_at) WHERE channel <> 'phone';
CREATE INDEX history_message_at ON tickets.history (at)
    WHERE step IN ('supplement', 'provide_information');
