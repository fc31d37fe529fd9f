-- The ledger auditor: SPEC's invariants 1-3 checked on the live database, incrementally,
-- and withdrawals halted when one breaks (chalicelib/service_layer/ledger_audit.py).

-- Which database transaction posted each ledger transaction. The auditor finds what is new
-- since its previous pass by visibility (pg_visible_in_snapshot against that pass's
-- snapshot), not by id: ids are taken before commit, so a later id can commit first. The
-- default is evaluated in the posting transaction (stable, so existing rows keep the
-- migration's own id without a rewrite: they are all older than the auditor's first pass).
ALTER TABLE ledger_transactions ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX ledger_transactions_xact ON ledger_transactions (xact_id);

-- One row: where the auditor is, what its last pass found, and the withdrawal halt, so that
-- a pass's result and the halt it sets commit together. No row yet: never audited, not
-- halted.
CREATE TABLE ledger_audit_state (
    singleton           boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- The snapshot of the last pass: every ledger transaction visible in it is counted in
    -- the running sums below.
    audited_snapshot    pg_snapshot NOT NULL,
    passes              bigint NOT NULL DEFAULT 0 CHECK (passes >= 0),
    last_pass_at        timestamptz NOT NULL,
    last_pass_full      boolean NOT NULL,
    last_pass_entries   bigint NOT NULL DEFAULT 0,
    last_full_at        timestamptz,
    -- What the last pass found broken: [{invariant, asset, balance_id, user_id, expected,
    -- actual}], amounts as decimal strings of the smallest unit.
    last_breaks         jsonb NOT NULL DEFAULT '[]',
    withdrawals_halted  boolean NOT NULL DEFAULT false,
    halted_at           timestamptz,
    CHECK (withdrawals_halted = (halted_at IS NOT NULL))
);

-- The sums of every ledger entry counted so far, per account (balance row) and per asset.
CREATE TABLE ledger_audit_balance_sums (
    balance_id  bigint PRIMARY KEY,
    asset       text NOT NULL,
    available   numeric(38, 0) NOT NULL,
    locked      numeric(38, 0) NOT NULL
);
CREATE TABLE ledger_audit_asset_sums (
    asset   text PRIMARY KEY,
    total   numeric(38, 0) NOT NULL
);

-- An audit log entry without an actor is the exchange's own (the auditor's halt); every
-- person's action still names them.
ALTER TABLE audit_log ALTER COLUMN actor_user_id DROP NOT NULL;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_system_actions
    CHECK (actor_user_id IS NOT NULL OR action LIKE 'LEDGER_AUDIT_%');

-- The auditor runs as the functions' role: it reads the ledger, balances, open orders and
-- pending withdrawals, keeps its own tables and writes the halt to the audit log.
GRANT SELECT ON ledger_transactions, ledger_entries, withdrawals, deposits
    TO exchange_functions;
GRANT SELECT, INSERT, UPDATE ON ledger_audit_state TO exchange_functions;
GRANT SELECT, INSERT, UPDATE, DELETE ON ledger_audit_balance_sums, ledger_audit_asset_sums
    TO exchange_functions;
GRANT SELECT, INSERT ON audit_log TO exchange_functions;
-- The API reads the halt (withdrawals, the admin's status) and an admin lifts it.
GRANT SELECT, UPDATE ON ledger_audit_state TO exchange_api;
