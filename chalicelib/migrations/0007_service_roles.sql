-- Database roles: each service connects as a role that can do only its job.
--
-- Three NOLOGIN group roles hold the privileges: exchange_api (the API and its
-- WebSocket handlers), exchange_matcher (the matching cluster) and exchange_functions
-- (the order sweeper, the candles function and the stream fan-out). Services log in as
-- members of them: locally the stack creates exchange_api_login, exchange_matcher_login
-- and exchange_functions_login (opscli/stack/postgres.py); in AWS the deployer creates
-- one login role per service (CREATE ROLE ... LOGIN IN ROLE exchange_api, say) and keeps
-- its password in that service's Secrets Manager secret.
--
-- None of them owns anything: the tables stay the migrating role's, so no service can
-- run DDL, TRUNCATE, drop the ledger's triggers or grant itself more. The ledger and the
-- audit log are insert-only for every service: INSERT and SELECT, never UPDATE or DELETE.
-- Identity columns draw their values without any privilege on their sequences, and
-- every function the services call (citext's, the ledger's triggers) is PUBLIC, so
-- neither sequences nor functions are granted.
--
-- Roles belong to the cluster, privileges to each database: the roles are created once,
-- by whichever database migrates first (or by the local stack's bootstrap), and each
-- database grants its own tables. Creating a role needs CREATEROLE: Aurora's master user
-- has it, and locally the stack gives it to the owner.

DO $$
DECLARE
    group_role text;
BEGIN
    FOREACH group_role IN ARRAY ARRAY['exchange_api', 'exchange_matcher', 'exchange_functions']
    LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = group_role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', group_role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it meanwhile
            END;
        END IF;
    END LOOP;
END
$$;

-- Nobody but the owner creates objects, temporary tables included.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO exchange_api, exchange_matcher, exchange_functions;

-- The ledger: written by the API (deposits, withdrawals, order locks) and the matcher
-- (settlement), insert-only for both; the append-only trigger stays as a second lock.
GRANT SELECT, INSERT ON ledger_transactions, ledger_entries TO exchange_api, exchange_matcher;

-- The API: accounts and keys, the wallet, the admin's configuration and audit log,
-- order intake (the order, its funds lock and its outbox row) and market data reads.
-- Deposit credit requests (0006) wait for a second admin, who approves them.
GRANT SELECT, INSERT, UPDATE ON users, api_keys, balances, withdrawals,
    deposit_credit_requests, assets, markets, order_commands TO exchange_api;
GRANT SELECT, INSERT ON deposit_addresses, deposits, orders, market_sequences, audit_log
    TO exchange_api;
GRANT SELECT ON trades, candles, candle_progress TO exchange_api;

-- The matcher: its partitions' offsets, the books it rebuilds, and each batch's
-- settlement (trades, order states, balances, market sequences, applied commands).
GRANT SELECT ON markets, assets TO exchange_matcher;
GRANT SELECT, UPDATE ON orders, order_commands TO exchange_matcher;
GRANT SELECT, INSERT ON trades TO exchange_matcher;
GRANT SELECT, INSERT, UPDATE ON balances, market_sequences, matcher_offsets
    TO exchange_matcher;

-- The functions: the sweeper marks republished commands, the candles function folds
-- trades into candles, the fan-out reads orders, fills, balances and market data.
GRANT SELECT, UPDATE ON order_commands TO exchange_functions;
GRANT SELECT, INSERT, UPDATE ON candles, candle_progress TO exchange_functions;
GRANT SELECT ON trades, orders, balances, markets, assets, market_sequences
    TO exchange_functions;
