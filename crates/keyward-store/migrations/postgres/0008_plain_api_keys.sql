-- Plain API keys (the api-key scheme): a key that is one value, sent as is.
--
-- Only the value's SHA-256 is kept (`plain_key_digest`, lower-case hex), never the value: it
-- is shown once, when created or rolled. While a roll's overlap lasts
-- (`previous_secret_until_ms`), the value before it (`previous_plain_key_digest`) is accepted
-- too. Such a key has no secret, no public key and no certificate, which the constraint below
-- holds to. A change of either digest is told to every node.

ALTER TABLE api_keys
    ADD COLUMN plain_key_digest TEXT,
    ADD COLUMN previous_plain_key_digest TEXT,
    ADD CONSTRAINT api_keys_plain CHECK (
        plain_key_digest IS NULL
        OR (public_key IS NULL AND certificate_match IS NULL AND octet_length(secret_sealed) = 0)
    );

CREATE UNIQUE INDEX api_keys_plain_key_digest ON api_keys (plain_key_digest)
    WHERE plain_key_digest IS NOT NULL;
CREATE INDEX api_keys_previous_plain_key_digest ON api_keys (previous_plain_key_digest)
    WHERE previous_plain_key_digest IS NOT NULL;

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF kind, domain_id, reseller_id, name, token, secret_sealed,
        previous_secret_sealed, previous_secret_until_ms, permissions, state, root_user_id,
        rate_limit_requests, rate_limit_window_ms, credits_refill_amount,
        credits_refill_interval_ms, public_key, public_key_algorithm, expires_at_ms,
        allowed_networks, allowed_routes, certificate_match, plain_key_digest,
        previous_plain_key_digest
        OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();
