-- The matcher's settlement writes several trade and ledger rows per order. Each
-- foreign key on those append-only tables is a per-row trigger (an index probe and a
-- row lock on the referenced row), which measured as about 40 % of a settlement
-- batch's database time (bench/settlement.py). Their writers already guarantee what
-- the keys checked: trades and ledger entries are derived from the order and balance
-- rows that the same transaction has locked (or created) and updates, so a dangling
-- reference cannot be written. The keys that guard rarely written tables stay, and
-- the tests' ledger check (tests/support/ledger.py) looks for orphans after every
-- scenario.
ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_transaction_id_fkey,
    DROP CONSTRAINT ledger_entries_balance_id_fkey,
    DROP CONSTRAINT ledger_entries_asset_fkey;
ALTER TABLE trades
    DROP CONSTRAINT trades_market_fkey,
    DROP CONSTRAINT trades_maker_order_id_fkey,
    DROP CONSTRAINT trades_taker_order_id_fkey,
    DROP CONSTRAINT trades_maker_user_id_fkey,
    DROP CONSTRAINT trades_taker_user_id_fkey,
    DROP CONSTRAINT trades_maker_fee_asset_fkey,
    DROP CONSTRAINT trades_taker_fee_asset_fkey;

-- Nothing reads it: applied commands are found by primary key.
DROP INDEX order_commands_recent_applied;
