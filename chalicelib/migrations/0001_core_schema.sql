-- Core schema: assets, markets, users, balances, the double-entry ledger,
-- orders and their outbox, trades, market sequences and the matcher's offsets.
-- Money is NUMERIC(38,0): integers of each asset's smallest unit, never floats.

CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE assets (
    symbol      text PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9]{1,20}$'),
    name        text NOT NULL DEFAULT '',
    scale       smallint NOT NULL CHECK (scale BETWEEN 0 AND 18),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Prices are integers of the quote asset's smallest unit per one whole unit of
-- the base asset; quantities are integers of the base asset's smallest unit.
CREATE TABLE markets (
    symbol          text PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9]{2,40}$'),
    base_asset      text NOT NULL REFERENCES assets (symbol),
    quote_asset     text NOT NULL REFERENCES assets (symbol),
    status          text NOT NULL DEFAULT 'TRADING' CHECK (status IN ('TRADING', 'HALT', 'BREAK')),
    tick_size       numeric(38, 0) NOT NULL CHECK (tick_size > 0),
    lot_size        numeric(38, 0) NOT NULL CHECK (lot_size > 0),
    min_qty         numeric(38, 0) NOT NULL CHECK (min_qty > 0),
    max_qty         numeric(38, 0) NOT NULL,
    min_notional    numeric(38, 0) NOT NULL DEFAULT 0 CHECK (min_notional >= 0),
    -- Fee rates in parts per million of the amount received (1000 = 0.1%).
    maker_fee_ppm   integer NOT NULL DEFAULT 1000 CHECK (maker_fee_ppm BETWEEN 0 AND 100000),
    taker_fee_ppm   integer NOT NULL DEFAULT 1000 CHECK (taker_fee_ppm BETWEEN 0 AND 100000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (base_asset <> quote_asset),
    CHECK (max_qty >= min_qty),
    CHECK (min_qty % lot_size = 0 AND max_qty % lot_size = 0)
);

-- The matcher's per-market counters: every event carries the next sequence.
CREATE TABLE market_sequences (
    market          text PRIMARY KEY REFERENCES markets (symbol),
    last_sequence   bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
    last_trade_id   bigint NOT NULL DEFAULT 0 CHECK (last_trade_id >= 0)
);

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           citext NOT NULL UNIQUE,
    password_hash   text NOT NULL,
    is_admin        boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per ledger account. USER accounts belong to a user and can never go
-- negative; the exchange's own accounts (fees collected, deposit and withdrawal
-- clearing) have no user, and the clearing accounts carry the negative side of
-- money that entered or left, so every asset's accounts sum to zero.
CREATE TABLE balances (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_kind    text NOT NULL
                    CHECK (account_kind IN ('USER', 'FEE', 'DEPOSIT_CLEARING', 'WITHDRAWAL_CLEARING')),
    user_id         bigint REFERENCES users (id),
    asset           text NOT NULL REFERENCES assets (symbol),
    available       numeric(38, 0) NOT NULL DEFAULT 0,
    locked          numeric(38, 0) NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT balances_user_owned CHECK ((account_kind = 'USER') = (user_id IS NOT NULL)),
    CONSTRAINT balances_available_nonnegative CHECK (account_kind <> 'USER' OR available >= 0),
    CONSTRAINT balances_locked_nonnegative CHECK (locked >= 0),
    CONSTRAINT balances_one_account UNIQUE NULLS NOT DISTINCT (account_kind, user_id, asset)
);

CREATE TABLE ledger_transactions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    -- What caused it (deposit tx id, order id, trade id...): unique per kind so
    -- a repeated request cannot move money twice.
    reference       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, reference)
);

CREATE TABLE ledger_entries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  bigint NOT NULL REFERENCES ledger_transactions (id),
    balance_id      bigint NOT NULL REFERENCES balances (id),
    asset           text NOT NULL REFERENCES assets (symbol),
    bucket          text NOT NULL CHECK (bucket IN ('AVAILABLE', 'LOCKED')),
    amount          numeric(38, 0) NOT NULL CHECK (amount <> 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_balance ON ledger_entries (balance_id, id);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- Double entry enforced by the database: every INSERT statement into the ledger
-- must balance to zero per transaction and asset, so writers insert all entries
-- of a transaction in one statement and an unbalanced write is impossible.
CREATE FUNCTION ledger_entries_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT transaction_id, asset, sum(amount) AS total INTO unbalanced
    FROM new_entries GROUP BY transaction_id, asset HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance for %: sum is %',
            unbalanced.transaction_id, unbalanced.asset, unbalanced.total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_entries_balanced
    AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_balanced();

-- The ledger is append-only.
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only; post a correcting transaction instead'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();

CREATE TABLE orders (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 bigint NOT NULL REFERENCES users (id),
    market                  text NOT NULL REFERENCES markets (symbol),
    client_order_id         text NOT NULL CHECK (client_order_id ~ '^[.A-Za-z0-9:/_-]{1,36}$'),
    side                    text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    type                    text NOT NULL
                            CHECK (type IN ('LIMIT', 'MARKET', 'LIMIT_MAKER',
                                            'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT')),
    time_in_force           text CHECK (time_in_force IN ('GTC', 'IOC', 'FOK')),
    self_trade_prevention   text NOT NULL DEFAULT 'NONE'
                            CHECK (self_trade_prevention IN ('NONE', 'EXPIRE_TAKER',
                                                             'EXPIRE_MAKER', 'EXPIRE_BOTH')),
    price                   numeric(38, 0) CHECK (price > 0),
    stop_price              numeric(38, 0) CHECK (stop_price > 0),
    quantity                numeric(38, 0) CHECK (quantity > 0),
    quote_order_qty         numeric(38, 0) CHECK (quote_order_qty > 0),
    executed_qty            numeric(38, 0) NOT NULL DEFAULT 0 CHECK (executed_qty >= 0),
    cumulative_quote_qty    numeric(38, 0) NOT NULL DEFAULT 0 CHECK (cumulative_quote_qty >= 0),
    -- Funds still locked for this order (in the quote asset for buys, base for sells).
    locked_amount           numeric(38, 0) NOT NULL DEFAULT 0 CHECK (locked_amount >= 0),
    status                  text NOT NULL DEFAULT 'NEW'
                            CHECK (status IN ('NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED',
                                              'REJECTED', 'EXPIRED', 'EXPIRED_IN_MATCH')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (quantity IS NOT NULL OR quote_order_qty IS NOT NULL),
    CHECK (quantity IS NULL OR executed_qty <= quantity),
    CHECK (status IN ('NEW', 'PARTIALLY_FILLED') OR locked_amount = 0)
);
-- Binance: newClientOrderId is unique among a user's open orders.
CREATE UNIQUE INDEX orders_open_client_order_id ON orders (user_id, client_order_id)
    WHERE status IN ('NEW', 'PARTIALLY_FILLED');
CREATE INDEX orders_client_order_id ON orders (user_id, client_order_id);
CREATE INDEX orders_user_market ON orders (user_id, market, id);
CREATE INDEX orders_open_by_market ON orders (market, id) WHERE status IN ('NEW', 'PARTIALLY_FILLED');

-- Outbox of commands for the matcher (place, cancel, cancel-all, amend). A row is
-- written in the same transaction as the order change; the publisher marks it
-- published, and the sweeper republishes rows left unpublished after a crash.
CREATE TABLE order_commands (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market          text NOT NULL REFERENCES markets (symbol),
    kind            text NOT NULL CHECK (kind IN ('PLACE', 'CANCEL', 'CANCEL_ALL', 'AMEND')),
    order_id        bigint REFERENCES orders (id),
    user_id         bigint NOT NULL REFERENCES users (id),
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX order_commands_unpublished ON order_commands (created_at) WHERE published_at IS NULL;

CREATE TABLE trades (
    market          text NOT NULL REFERENCES markets (symbol),
    id              bigint NOT NULL CHECK (id > 0),
    sequence        bigint NOT NULL CHECK (sequence > 0),
    price           numeric(38, 0) NOT NULL CHECK (price > 0),
    quantity        numeric(38, 0) NOT NULL CHECK (quantity > 0),
    quote_quantity  numeric(38, 0) NOT NULL CHECK (quote_quantity >= 0),
    maker_order_id  bigint NOT NULL REFERENCES orders (id),
    taker_order_id  bigint NOT NULL REFERENCES orders (id),
    maker_user_id   bigint NOT NULL REFERENCES users (id),
    taker_user_id   bigint NOT NULL REFERENCES users (id),
    buyer_is_maker  boolean NOT NULL,
    maker_fee       numeric(38, 0) NOT NULL CHECK (maker_fee >= 0),
    maker_fee_asset text NOT NULL REFERENCES assets (symbol),
    taker_fee       numeric(38, 0) NOT NULL CHECK (taker_fee >= 0),
    taker_fee_asset text NOT NULL REFERENCES assets (symbol),
    executed_at     timestamptz NOT NULL,
    PRIMARY KEY (market, id),
    UNIQUE (market, sequence),
    CHECK (maker_order_id <> taker_order_id)
);
CREATE INDEX trades_maker_user ON trades (maker_user_id, market, id);
CREATE INDEX trades_taker_user ON trades (taker_user_id, market, id);
CREATE INDEX trades_executed_at ON trades (market, executed_at);

-- Where the matcher is in each partition of the orders topic. Settlement moves
-- next_offset forward in the same transaction as the trades it wrote, and only
-- if owner_epoch still matches: an instance that lost the partition is fenced.
CREATE TABLE matcher_offsets (
    topic           text NOT NULL,
    partition       integer NOT NULL CHECK (partition >= 0),
    next_offset     bigint NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    owner_epoch     bigint NOT NULL DEFAULT 0 CHECK (owner_epoch >= 0),
    owner           text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
