-- A matcher that commits its batches without waiting for them to be flushed and on the
-- synchronous standby (MATCHER_SYNCHRONOUS_COMMIT=false) publishes their events only
-- after a barrier: one row updated here, by a session whose commits wait. A commit
-- that wrote nothing does not wait (PostgreSQL skips the flush and the standby for a
-- transaction without WAL, even with a transaction id), so the barrier writes a row:
-- its own, so that barriers of several matchers never wait on each other.
CREATE TABLE durability_barriers (
    owner         text PRIMARY KEY,
    committed_at  timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON durability_barriers TO exchange_matcher;
