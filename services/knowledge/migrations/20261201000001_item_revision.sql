-- An item's revision: bumped by every write to any of its versions (a draft written or
-- rewritten, a submit, a publish, a rejection, a retirement), under the item's row lock. The
-- API gives it as the ETag and refuses a draft write or a submit whose If-Match names another
-- (412): a rewritten draft keeps its version number, so the number alone cannot tell two
-- writers apart.
ALTER TABLE knowledge.item ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
