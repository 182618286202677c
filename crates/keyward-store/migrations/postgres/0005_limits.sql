-- Rate limits on keys and users, and usage quotas (credits) on keys. A rate limit is a number
-- of requests per window; NULL columns mean no limit. A key's credits are spent one per
-- accepted request: `credits_remaining` NULL means the key has no quota; with a refill, the
-- remaining credits are set back to `credits_refill_amount` every `credits_refill_interval_ms`
-- counted from `credits_refilled_at_ms`.
--
-- Limits change verification, so setting them is told to every node (migration 0004). Spending
-- a credit is not: it writes `credits_remaining` and `credits_refilled_at_ms` only, which the
-- trigger does not watch. Setting a key's credits always writes the refill columns too, so
-- that it is told.

ALTER TABLE api_keys
    ADD COLUMN rate_limit_requests BIGINT,
    ADD COLUMN rate_limit_window_ms BIGINT,
    ADD COLUMN credits_remaining BIGINT,
    ADD COLUMN credits_refill_amount BIGINT,
    ADD COLUMN credits_refill_interval_ms BIGINT,
    ADD COLUMN credits_refilled_at_ms BIGINT;
ALTER TABLE users
    ADD COLUMN rate_limit_requests BIGINT,
    ADD COLUMN rate_limit_window_ms BIGINT;

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF kind, domain_id, reseller_id, name, token, secret_sealed,
        previous_secret_sealed, previous_secret_until_ms, permissions, state, root_user_id,
        rate_limit_requests, rate_limit_window_ms, credits_refill_amount,
        credits_refill_interval_ms
        OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();

DROP TRIGGER users_changed ON users;
CREATE TRIGGER users_changed
    AFTER UPDATE OF domain_id, username, password_hash, permissions, state,
        rate_limit_requests, rate_limit_window_ms
        OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();
