-- What self-trade prevention prevented (Binance's GET /api/v3/myPreventedMatches): one
-- row per PreventedMatch event, written by the matcher in the batch's settlement
-- transaction. The id is Binance's preventedMatchId; (market, sequence) names the event,
-- so a batch settled twice could not record it twice.
CREATE TABLE prevented_matches (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market                      text NOT NULL REFERENCES markets (symbol),
    sequence                    bigint NOT NULL CHECK (sequence > 0),
    taker_order_id              bigint NOT NULL REFERENCES orders (id),
    maker_order_id              bigint NOT NULL REFERENCES orders (id),
    user_id                     bigint NOT NULL REFERENCES users (id),
    -- The taker's mode that acted.
    mode                        text NOT NULL
                                CHECK (mode IN ('EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH')),
    price                       numeric(38, 0) NOT NULL CHECK (price > 0),
    maker_prevented_quantity    numeric(38, 0) NOT NULL CHECK (maker_prevented_quantity > 0),
    prevented_at                timestamptz NOT NULL,
    UNIQUE (market, sequence),
    CHECK (maker_order_id <> taker_order_id)
);
CREATE INDEX prevented_matches_by_taker ON prevented_matches (taker_order_id, id);
CREATE INDEX prevented_matches_by_maker ON prevented_matches (maker_order_id, id);

GRANT SELECT, INSERT ON prevented_matches TO exchange_matcher;
GRANT SELECT ON prevented_matches TO exchange_api, exchange_functions;
