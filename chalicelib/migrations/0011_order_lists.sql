-- Order lists (Binance's OCO, OTO and OTOCO): one row per list; its orders point to it.
-- A list's listStatusType and listOrderStatus follow from its orders' statuses, so the
-- matcher keeps writing order rows only.
CREATE TABLE order_lists (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 bigint NOT NULL REFERENCES users (id),
    market                  text NOT NULL REFERENCES markets (symbol),
    list_client_order_id    text NOT NULL
                            CHECK (list_client_order_id ~ '^[.A-Za-z0-9:/_-]{1,36}$'),
    -- Binance names an OTOCO's contingency type OTO.
    contingency_type        text NOT NULL CHECK (contingency_type IN ('OCO', 'OTO')),
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_lists_by_user ON order_lists (user_id, id);
CREATE INDEX order_lists_by_client_id ON order_lists (user_id, list_client_order_id);

ALTER TABLE orders ADD COLUMN order_list_id bigint REFERENCES order_lists (id);
-- An OCO leg's other leg. The list's funds are locked once, on one leg (its
-- locked_amount); when that leg expires because the other one started working, the lock
-- moves to the other leg.
ALTER TABLE orders ADD COLUMN oco_sibling_id bigint REFERENCES orders (id);
ALTER TABLE orders ADD CONSTRAINT orders_sibling_in_list
    CHECK (oco_sibling_id IS NULL OR order_list_id IS NOT NULL);
CREATE INDEX orders_by_list ON orders (order_list_id) WHERE order_list_id IS NOT NULL;

-- An OTO's pending order waits, PENDING_NEW, until its working order has filled.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED',
                      'EXPIRED_IN_MATCH', 'PENDING_NEW'));
ALTER TABLE orders DROP CONSTRAINT orders_check2;
ALTER TABLE orders ADD CONSTRAINT orders_lock_while_open
    CHECK (status IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_NEW') OR locked_amount = 0);

-- An order list placed as one matcher command (its legs in the payload).
ALTER TABLE order_commands DROP CONSTRAINT order_commands_kind_check;
ALTER TABLE order_commands ADD CONSTRAINT order_commands_kind_check
    CHECK (kind IN ('PLACE', 'CANCEL', 'CANCEL_ALL', 'AMEND', 'CANCEL_REPLACE', 'PLACE_OCO',
                    'PLACE_OTO'));

-- The API records lists and links an OCO's legs once both rows exist; the matcher and
-- the functions read them.
GRANT SELECT, INSERT ON order_lists TO exchange_api;
GRANT UPDATE (oco_sibling_id) ON orders TO exchange_api;
GRANT SELECT ON order_lists TO exchange_matcher, exchange_functions;
