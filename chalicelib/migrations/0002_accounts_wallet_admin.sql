-- Accounts, API keys, wallet (deposits, withdrawals) and the admin audit log.

ALTER TABLE users
    ADD COLUMN totp_secret_enc      bytea,
    ADD COLUMN totp_enabled         boolean NOT NULL DEFAULT false,
    ADD COLUMN password_changed_at  timestamptz NOT NULL DEFAULT now();

-- API keys. The secret is envelope-encrypted: a data key (KMS in AWS, a local
-- key file in development) encrypts it, and only the encrypted data key is kept.
CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id),
    api_key         text NOT NULL UNIQUE,
    secret_enc      bytea NOT NULL,
    data_key_enc    bytea NOT NULL,
    label           text NOT NULL DEFAULT '',
    permissions     text[] NOT NULL
                    CHECK (permissions <@ ARRAY['READ', 'TRADE', 'WITHDRAW']::text[]
                           AND cardinality(permissions) > 0),
    ip_allowlist    text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    CONSTRAINT api_keys_withdraw_needs_allowlist
        CHECK (NOT ('WITHDRAW' = ANY (permissions)) OR cardinality(ip_allowlist) > 0)
);
CREATE INDEX api_keys_user ON api_keys (user_id) WHERE deleted_at IS NULL;

CREATE TABLE deposit_addresses (
    user_id         bigint NOT NULL REFERENCES users (id),
    asset           text NOT NULL REFERENCES assets (symbol),
    address         text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, asset)
);

-- A deposit is credited once per external transaction id and asset.
CREATE TABLE deposits (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 bigint NOT NULL REFERENCES users (id),
    asset                   text NOT NULL REFERENCES assets (symbol),
    amount                  numeric(38, 0) NOT NULL CHECK (amount > 0),
    external_txid           text NOT NULL,
    ledger_transaction_id   bigint NOT NULL REFERENCES ledger_transactions (id),
    credited_by             bigint REFERENCES users (id),
    created_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (asset, external_txid)
);
CREATE INDEX deposits_user ON deposits (user_id, id);

-- A withdrawal locks the user's funds when requested; approval debits them to the
-- withdrawal clearing account, rejection unlocks them.
CREATE TABLE withdrawals (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id),
    asset               text NOT NULL REFERENCES assets (symbol),
    amount              numeric(38, 0) NOT NULL CHECK (amount > 0),
    address             text NOT NULL CHECK (length(address) BETWEEN 1 AND 128),
    idempotency_key     text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 64),
    status              text NOT NULL DEFAULT 'PENDING'
                        CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    requested_at        timestamptz NOT NULL DEFAULT now(),
    decided_at          timestamptz,
    decided_by          bigint REFERENCES users (id),
    UNIQUE (user_id, idempotency_key),
    CHECK ((status = 'PENDING') = (decided_at IS NULL))
);
CREATE INDEX withdrawals_pending ON withdrawals (id) WHERE status = 'PENDING';
CREATE INDEX withdrawals_user ON withdrawals (user_id, id);

-- Who did what to the exchange's configuration or money, and when.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_user_id   bigint NOT NULL REFERENCES users (id),
    action          text NOT NULL,
    target          text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created ON audit_log (created_at);
