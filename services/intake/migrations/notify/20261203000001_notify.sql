-- Notices claimed for sending. A row is written in the same step that decides to send, so a
-- redelivered notice finds it and is not sent a second time; a send that failed and may be
-- retried deletes its row first. Only the notice id (ticket number, history seq, kind): no
-- address and no text.
CREATE TABLE notify.sent (
    notice_id  TEXT PRIMARY KEY,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
