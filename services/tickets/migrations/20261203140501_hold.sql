-- A ticket created during a call is held from dispatch until the agent finishes (or the call's
-- wrap-up time passes): Action::Release lifts it. Existing tickets were never held.
ALTER TABLE tickets.ticket ADD COLUMN held BOOLEAN NOT NULL DEFAULT false;
