-- Order intake in one round trip: a placement's checks that need the database, the
-- lock of its funds and its rows (order, ledger lock, command) in one statement.
--
-- The API checks the order's shape and the market's filters first, against the market
-- as it last read it; the function refuses with STALE_MARKET when the market's filters
-- or status have changed since, so the API reads it again and checks anew (a halt
-- refuses the very next placement). Everything else refuses with a code and writes
-- nothing, in the order the API checked them before: CLOSED, DUPLICATE_ORDER_ID,
-- INSUFFICIENT_BALANCE. The funds move as any ledger posting does: one ORDER_LOCK
-- transaction whose two entries are inserted by one statement.
--
-- The matcher's applied_at says which commands it has; published_at now only records
-- the sweeper's last republish, so the hot path never marks a command published.
CREATE FUNCTION place_order_command(
    p_user_id bigint, p_market text, p_client_order_id text, p_side text, p_type text,
    p_time_in_force text, p_stp text, p_price numeric, p_qty numeric,
    p_quote_qty numeric, p_stop_price numeric, p_lock_asset text, p_lock_amount numeric,
    p_lock_whole boolean, p_filters numeric[], p_status text, p_payload jsonb,
    OUT code text, OUT order_id bigint, OUT command_id bigint, OUT locked numeric,
    OUT spend_cap numeric)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    v_market markets%ROWTYPE;
    v_balance_id bigint;
    v_available numeric;
    v_transaction_id bigint;
BEGIN
    SELECT * INTO v_market FROM markets WHERE symbol = p_market;
    IF NOT FOUND OR v_market.status <> p_status OR ARRAY[v_market.tick_size,
            v_market.lot_size, v_market.min_qty, v_market.max_qty, v_market.min_notional]
            IS DISTINCT FROM p_filters THEN
        code := 'STALE_MARKET';
        RETURN;
    END IF;
    IF v_market.status <> 'TRADING' THEN
        code := 'CLOSED';
        RETURN;
    END IF;
    PERFORM 1 FROM orders o WHERE o.user_id = p_user_id
        AND o.client_order_id = p_client_order_id AND o.status IN ('NEW', 'PARTIALLY_FILLED');
    IF FOUND THEN
        code := 'DUPLICATE_ORDER_ID';
        RETURN;
    END IF;
    SELECT b.id, b.available INTO v_balance_id, v_available FROM balances b
        WHERE b.account_kind = 'USER' AND b.user_id = p_user_id AND b.asset = p_lock_asset
        FOR UPDATE;
    v_available := coalesce(v_available, 0);
    locked := CASE WHEN p_lock_whole THEN v_available ELSE p_lock_amount END;
    spend_cap := CASE WHEN p_lock_whole THEN v_available ELSE 0 END;
    IF NOT (0 < locked AND locked <= v_available) THEN
        code := 'INSUFFICIENT_BALANCE';
        RETURN;
    END IF;
    INSERT INTO orders (user_id, market, client_order_id, side, type, time_in_force,
            self_trade_prevention, price, quantity, quote_order_qty, locked_amount,
            spend_cap, stop_price, status)
        VALUES (p_user_id, p_market, p_client_order_id, p_side, p_type, p_time_in_force,
            p_stp, p_price, p_qty, p_quote_qty, locked, spend_cap, p_stop_price, 'NEW')
        ON CONFLICT (user_id, client_order_id) WHERE status IN ('NEW', 'PARTIALLY_FILLED')
        DO NOTHING RETURNING id INTO order_id;
    IF order_id IS NULL THEN  -- a concurrent placement took the client order id
        code := 'DUPLICATE_ORDER_ID';
        RETURN;
    END IF;
    INSERT INTO ledger_transactions (kind, reference) VALUES ('ORDER_LOCK', 'order:' || order_id)
        RETURNING id INTO v_transaction_id;
    UPDATE balances SET available = available - locked, locked = balances.locked + locked,
        updated_at = now() WHERE id = v_balance_id;
    INSERT INTO ledger_entries (transaction_id, balance_id, asset, bucket, amount)
        VALUES (v_transaction_id, v_balance_id, p_lock_asset, 'AVAILABLE', -locked),
               (v_transaction_id, v_balance_id, p_lock_asset, 'LOCKED', locked);
    command_id := nextval(pg_get_serial_sequence('order_commands', 'id'));
    INSERT INTO order_commands (id, market, kind, order_id, user_id, payload)
        OVERRIDING SYSTEM VALUE
        VALUES (command_id, p_market, 'PLACE', order_id, p_user_id,
            p_payload || jsonb_build_object('command_id', command_id, 'order_id', order_id,
                                            'locked', locked, 'spend_cap', spend_cap));
    code := 'PLACED';
END;
$$;

GRANT USAGE ON SEQUENCE order_commands_id_seq TO exchange_api;

-- The sweeper looks for commands the matcher has not applied (the hot path no longer
-- marks anything published).
DROP INDEX order_commands_unpublished;
CREATE INDEX order_commands_unapplied ON order_commands (id) WHERE applied_at IS NULL;
