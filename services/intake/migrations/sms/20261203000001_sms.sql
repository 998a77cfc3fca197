-- The SMS channel's STOP list (退订): numbers that asked for no more messages. A number is kept
-- only as HMAC-SHA256 under `sms.number_key` (hex), so the list holds no phone number and cannot
-- be reversed by hashing every possible number without the key.
CREATE TABLE sms.stop_list (
    number_hash TEXT PRIMARY KEY CHECK (length(number_hash) = 64),
    stopped_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
