-- Settlement writes fewer index entries per batch (bench/settlement.py: about a quarter
-- less PostgreSQL CPU per command in batches of 500).

-- Every query that looks for a market's open orders also asks for accepted ones
-- (matcher book rebuild, OCO pairs, order book depth), which orders_resting (same
-- columns' predicate plus "accepted_seq IS NOT NULL") serves; the users' own open-order
-- queries go through orders_user_market. This index only cost an entry at every order
-- insert and at every settlement update of an open order (those updates change
-- "status", so they are never HOT and write every index again).
DROP INDEX orders_open_by_market;

-- A balance row changes in nearly every batch that touches its account, and no index
-- covers the amounts, so with room on its page the update is HOT: no new entry in
-- either of its two indexes. Half-full pages keep that room (new pages; a table that
-- already exists gets it as its rows move or after VACUUM FULL). Balances are one row
-- per account and asset: the table stays small.
ALTER TABLE balances SET (fillfactor = 50);
