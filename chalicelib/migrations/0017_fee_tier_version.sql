-- The matcher keeps every account's fee-tier rates in memory and reads them again only
-- when this number has moved: reading the tiers of a batch's traders cost a round trip
-- per batch, after matching (the makers are known only then). The number is read with
-- the batch's first statements, which wait for a round trip anyway.
CREATE TABLE fee_tier_version (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version     bigint NOT NULL,
    -- The transaction that last moved it: one that changes many accounts' tiers (a
    -- recompute) moves it once, not once per statement.
    changed_by  xid8
);
-- One row, never deleted or reset: a matcher compares the number with the one it read
-- the tiers at, so the number must never come back to an earlier value.
INSERT INTO fee_tier_version (version) VALUES (0);

CREATE FUNCTION fee_tiers_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fee_tier_version SET version = version + 1, changed_by = pg_current_xact_id()
        WHERE changed_by IS DISTINCT FROM pg_current_xact_id();
    RETURN NULL;
END;
$$;

CREATE TRIGGER fee_tiers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fee_tiers
    FOR EACH STATEMENT EXECUTE FUNCTION fee_tiers_changed();
CREATE TRIGGER user_fee_tiers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_fee_tiers
    FOR EACH STATEMENT EXECUTE FUNCTION fee_tiers_changed();

GRANT SELECT, UPDATE ON fee_tier_version TO exchange_api;
GRANT SELECT ON fee_tier_version TO exchange_matcher, exchange_functions;
