-- OHLCV candles for every Binance interval, kept by the candles function (lambdas/)
-- from the trades on market-events. Times are ms since the epoch (UTC), amounts are
-- integers of smallest units as everywhere: prices in quote units per whole base unit,
-- volume in base units, quote volume in quote units.
CREATE TABLE candles (
    market                  text NOT NULL REFERENCES markets (symbol),
    interval                text NOT NULL CHECK (interval IN ('1m', '3m', '5m', '15m', '30m',
                                '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M')),
    open_time               bigint NOT NULL,
    close_time              bigint NOT NULL CHECK (close_time > open_time),
    open                    numeric(38, 0) NOT NULL CHECK (open > 0),
    high                    numeric(38, 0) NOT NULL,
    low                     numeric(38, 0) NOT NULL CHECK (low > 0),
    close                   numeric(38, 0) NOT NULL CHECK (close > 0),
    volume                  numeric(38, 0) NOT NULL CHECK (volume > 0),
    quote_volume            numeric(38, 0) NOT NULL CHECK (quote_volume >= 0),
    trade_count             bigint NOT NULL CHECK (trade_count > 0),
    -- Binance's "taker buy base/quote asset volume": trades whose buyer was the taker.
    taker_buy_volume        numeric(38, 0) NOT NULL CHECK (taker_buy_volume >= 0),
    taker_buy_quote_volume  numeric(38, 0) NOT NULL CHECK (taker_buy_quote_volume >= 0),
    first_trade_id          bigint NOT NULL,
    last_trade_id           bigint NOT NULL CHECK (last_trade_id >= first_trade_id),
    PRIMARY KEY (market, interval, open_time),
    CHECK (high >= open AND high >= close AND high >= low),
    CHECK (low <= open AND low <= close)
);

-- The last trade id folded into the candles of each market: trades arrive in trade id
-- order per market (one partition per market), so a redelivered trade is one at or
-- below it, and is skipped.
CREATE TABLE candle_progress (
    market          text PRIMARY KEY REFERENCES markets (symbol),
    last_trade_id   bigint NOT NULL DEFAULT 0 CHECK (last_trade_id >= 0)
);
