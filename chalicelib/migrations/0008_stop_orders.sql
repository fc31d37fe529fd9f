-- Stop orders: STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT and TAKE_PROFIT_LIMIT wait in the
-- matching engine until the last trade price reaches their stop price, then trade as
-- the MARKET or LIMIT order they stand for.

ALTER TABLE orders DROP CONSTRAINT orders_type_check;
ALTER TABLE orders ADD CONSTRAINT orders_type_check
    CHECK (type IN ('LIMIT', 'MARKET', 'LIMIT_MAKER', 'STOP_LOSS', 'STOP_LOSS_LIMIT',
                    'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'));
-- A stop order has a stop price; no other order has one.
ALTER TABLE orders ADD CONSTRAINT orders_stop_price_by_type
    CHECK ((stop_price IS NOT NULL)
           = (type IN ('STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT')));

-- The market sequence of a stop order's Triggered event, and when that batch settled:
-- NULL while it waits (Binance's isWorking false, workingTime -1). A triggered LIMIT
-- one rests in its queue from working_seq on, so books rebuild queues ordered by
-- coalesce(working_seq, accepted_seq).
ALTER TABLE orders ADD COLUMN working_seq bigint CHECK (working_seq > 0);
ALTER TABLE orders ADD COLUMN working_at timestamptz;
ALTER TABLE orders ADD CONSTRAINT orders_working_stops_only
    CHECK (working_seq IS NULL OR stop_price IS NOT NULL);
