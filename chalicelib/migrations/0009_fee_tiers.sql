-- Fee tiers: lower maker and taker fees for accounts that trade more, as Binance's VIP
-- levels. A tier applies from a 30-day traded volume counted in one asset (the quote
-- volume of the account's trades in markets quoted in it). An account's tier is either
-- pinned by an admin or assigned from its volume when tiers are recomputed. A tier
-- never raises a fee: the rate charged is the lower of the market's and the tier's.
CREATE TABLE fee_tiers (
    tier            integer PRIMARY KEY CHECK (tier BETWEEN 1 AND 100),
    volume_asset    text NOT NULL REFERENCES assets (symbol),
    min_volume      numeric(38, 0) NOT NULL CHECK (min_volume >= 0),
    maker_fee_ppm   integer NOT NULL CHECK (maker_fee_ppm BETWEEN 0 AND 100000),
    taker_fee_ppm   integer NOT NULL CHECK (taker_fee_ppm BETWEEN 0 AND 100000),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_fee_tiers (
    user_id         bigint PRIMARY KEY REFERENCES users (id),
    tier            integer NOT NULL REFERENCES fee_tiers (tier) ON DELETE CASCADE,
    pinned          boolean NOT NULL,
    -- The 30-day volume (in the tier's volume asset) it was assigned by; NULL if pinned.
    volume_30d      numeric(38, 0) CHECK (volume_30d >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The API's admin routes set tiers; the matcher charges by them when it settles.
GRANT SELECT, INSERT, UPDATE, DELETE ON fee_tiers, user_fee_tiers TO exchange_api;
GRANT SELECT ON fee_tiers, user_fee_tiers TO exchange_matcher, exchange_functions;
