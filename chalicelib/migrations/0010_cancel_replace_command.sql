-- Cancel-replace as one matcher command: the engine cancels the old order and places the
-- new one in the same step, as Binance applies POST /api/v3/order/cancelReplace.
ALTER TABLE order_commands DROP CONSTRAINT order_commands_kind_check;
ALTER TABLE order_commands ADD CONSTRAINT order_commands_kind_check
    CHECK (kind IN ('PLACE', 'CANCEL', 'CANCEL_ALL', 'AMEND', 'CANCEL_REPLACE'));
