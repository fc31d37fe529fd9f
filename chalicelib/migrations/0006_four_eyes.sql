-- Four eyes: above an asset's threshold a deposit credit or a withdrawal approval
-- needs a second, different admin. The checks keep it so even for code that forgets.

-- Smallest units; NULL: one admin always suffices.
ALTER TABLE assets
    ADD COLUMN four_eyes_threshold numeric(38, 0) CHECK (four_eyes_threshold >= 0);

-- The first admin's approval of a withdrawal above the threshold; a second admin
-- decides it.
ALTER TABLE withdrawals
    ADD COLUMN first_approved_by bigint REFERENCES users (id),
    ADD COLUMN first_approved_at timestamptz,
    ADD CONSTRAINT withdrawals_four_eyes
        CHECK (status <> 'APPROVED' OR first_approved_by IS NULL
               OR decided_by <> first_approved_by);
-- No admin approves their own withdrawal (NOT VALID: rows from before are history).
ALTER TABLE withdrawals
    ADD CONSTRAINT withdrawals_not_self_approved
        CHECK (status <> 'APPROVED' OR decided_by IS NULL OR decided_by <> user_id) NOT VALID;

-- A deposit credit above the threshold, awaiting a second admin; approving it
-- credits the deposit (deposit_id) once.
CREATE TABLE deposit_credit_requests (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id),
    asset           text NOT NULL REFERENCES assets (symbol),
    amount          numeric(38, 0) NOT NULL CHECK (amount > 0),
    external_txid   text NOT NULL,
    requested_by    bigint NOT NULL REFERENCES users (id),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    approved_by     bigint REFERENCES users (id),
    deposit_id      bigint REFERENCES deposits (id),
    UNIQUE (asset, external_txid),
    CHECK (requested_by <> user_id),
    CHECK (approved_by <> requested_by AND approved_by <> user_id),
    CHECK ((approved_by IS NULL) = (deposit_id IS NULL))
);
CREATE INDEX deposit_credit_requests_pending ON deposit_credit_requests (id)
    WHERE deposit_id IS NULL;
