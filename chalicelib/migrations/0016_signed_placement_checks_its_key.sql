-- A placement signed with an API key checks, in its own statement, that the key still
-- exists: the API keeps keys it has read (and their unsealed secrets) for a few seconds
-- per container, so that a placement reads nothing before its write, and a key deleted
-- since must refuse the very next placement (KEY_DELETED, nothing written), as it did
-- when every request read its key.
CREATE FUNCTION place_signed_order_command(
    p_api_key_id bigint, p_user_id bigint, p_market text, p_client_order_id text,
    p_side text, p_type text, p_time_in_force text, p_stp text, p_price numeric,
    p_qty numeric, p_quote_qty numeric, p_stop_price numeric, p_lock_asset text,
    p_lock_amount numeric, p_lock_whole boolean, p_filters numeric[], p_status text,
    p_payload jsonb,
    OUT code text, OUT order_id bigint, OUT command_id bigint, OUT locked numeric,
    OUT spend_cap numeric)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
    PERFORM 1 FROM api_keys k
        WHERE k.id = p_api_key_id AND k.user_id = p_user_id AND k.deleted_at IS NULL;
    IF NOT FOUND THEN
        code := 'KEY_DELETED';
        RETURN;
    END IF;
    SELECT p.code, p.order_id, p.command_id, p.locked, p.spend_cap
        INTO code, order_id, command_id, locked, spend_cap
        FROM place_order_command(p_user_id, p_market, p_client_order_id, p_side, p_type,
            p_time_in_force, p_stp, p_price, p_qty, p_quote_qty, p_stop_price, p_lock_asset,
            p_lock_amount, p_lock_whole, p_filters, p_status, p_payload) p;
END;
$$;
