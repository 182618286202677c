-- Keys' usage: how many requests each key made, per bucket of time, per route (`api`,
-- `admin`, `provisioning`, `forward-auth` or a gateway route's name) and per outcome
-- (`code` 0: accepted; else the code of the refusal).
--
-- Each node counts in memory and adds its counts here in batches, with the key's last use: an
-- upsert adds to `requests`, so every node's counts add up. A minute's counts are added to its
-- minute (`bucket_ms` 60000), its hour (3600000) and its UTC day (86400000) in the same
-- transaction, so the roll-ups are exact from the start; minute and hour rows are pruned after
-- the configured retention, day rows are kept. No reference to `api_keys`: a count is never
-- refused (the key is read through `api_keys` when asked for). Without a rowid, a row is stored
-- once, in its key's order.

CREATE TABLE key_usage (
    key_id INTEGER NOT NULL,
    bucket_ms INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    route TEXT NOT NULL,
    code INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (key_id, bucket_ms, start_ms, route, code)
) WITHOUT ROWID;

-- For pruning old buckets.
CREATE INDEX key_usage_bucket_start ON key_usage (bucket_ms, start_ms);
