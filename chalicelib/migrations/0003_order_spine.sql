-- The order spine: what the matcher needs to resume exactly and apply commands once.

-- The market sequence of the order's Accepted event: NULL until the matcher has
-- accepted it; resting orders ordered by it rebuild every price level's queue.
ALTER TABLE orders ADD COLUMN accepted_seq bigint CHECK (accepted_seq > 0);
-- MARKET orders whose spend is not bounded by their own size (a BUY by base
-- quantity, a SELL by quote amount) may spend at most this much of the lock.
ALTER TABLE orders ADD COLUMN spend_cap numeric(38, 0) NOT NULL DEFAULT 0 CHECK (spend_cap >= 0);
-- Why the order left the book (engine DoneReason), for order queries and events.
ALTER TABLE orders ADD COLUMN done_reason text;
CREATE INDEX orders_resting ON orders (market, accepted_seq)
    WHERE status IN ('NEW', 'PARTIALLY_FILLED') AND accepted_seq IS NOT NULL;

-- Set by the matcher in the same transaction as the command's effects; a command
-- delivered again (a republish after a crash) is recognised and skipped.
ALTER TABLE order_commands ADD COLUMN applied_at timestamptz;
CREATE INDEX order_commands_recent_applied ON order_commands (market, id)
    WHERE applied_at IS NOT NULL;
