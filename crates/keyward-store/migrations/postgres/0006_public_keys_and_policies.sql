-- Public-key credentials and key policies.
--
-- A key verifies either with its sealed secret (HMAC, every scheme) or with a public key
-- (RFC 9421's asymmetric algorithms): `public_key` holds the key as its owner gave it (PEM or
-- JWK; public, not sealed) and `public_key_algorithm` its algorithm. Such a key has no secret:
-- its `secret_sealed` is empty, which the constraint below holds to.
--
-- Policies, NULL meaning none: `expires_at_ms` (refused from then on), `allowed_networks` (a
-- JSON array of CIDR ranges the client address must fall in) and `allowed_routes` (a JSON
-- array of route patterns with methods). Policies change verification, so changing them is
-- told to every node (migration 0004).

ALTER TABLE api_keys
    ADD COLUMN public_key TEXT,
    ADD COLUMN public_key_algorithm TEXT,
    ADD COLUMN expires_at_ms BIGINT,
    ADD COLUMN allowed_networks TEXT,
    ADD COLUMN allowed_routes TEXT,
    ADD CONSTRAINT api_keys_public_key CHECK (
        (public_key IS NULL) = (public_key_algorithm IS NULL)
        AND (public_key IS NULL OR octet_length(secret_sealed) = 0)
    );

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF kind, domain_id, reseller_id, name, token, secret_sealed,
        previous_secret_sealed, previous_secret_until_ms, permissions, state, root_user_id,
        rate_limit_requests, rate_limit_window_ms, credits_refill_amount,
        credits_refill_interval_ms, public_key, public_key_algorithm, expires_at_ms,
        allowed_networks, allowed_routes
        OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();
