-- Rate limits on keys and users, and usage quotas (credits) on keys. A rate limit is a number
-- of requests per window; NULL columns mean no limit. A key's credits are spent one per
-- accepted request: `credits_remaining` NULL means the key has no quota; with a refill, the
-- remaining credits are set back to `credits_refill_amount` every `credits_refill_interval_ms`
-- counted from `credits_refilled_at_ms`.

ALTER TABLE api_keys ADD COLUMN rate_limit_requests BIGINT;
ALTER TABLE api_keys ADD COLUMN rate_limit_window_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN credits_remaining BIGINT;
ALTER TABLE api_keys ADD COLUMN credits_refill_amount BIGINT;
ALTER TABLE api_keys ADD COLUMN credits_refill_interval_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN credits_refilled_at_ms BIGINT;
ALTER TABLE users ADD COLUMN rate_limit_requests BIGINT;
ALTER TABLE users ADD COLUMN rate_limit_window_ms BIGINT;
