-- Certificate-bound keys (the mtls scheme), and certificate-bound access tokens.
--
-- `certificate_match` binds a key to a client certificate: `sha256:<hex>` pins one
-- certificate by the SHA-256 of its DER, `san:<name>` admits any certificate from the trusted
-- CA that carries that subject alternative name. Such a key has no secret and no public key,
-- which the constraint below holds to; two active keys cannot claim the same certificate. A
-- change of it is told to every node.

ALTER TABLE api_keys
    ADD COLUMN certificate_match TEXT,
    ADD CONSTRAINT api_keys_certificate CHECK (
        certificate_match IS NULL
        OR (public_key IS NULL AND octet_length(secret_sealed) = 0)
    );

CREATE UNIQUE INDEX api_keys_certificate_match ON api_keys (certificate_match)
    WHERE certificate_match IS NOT NULL AND state = 'active';

DROP TRIGGER api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF kind, domain_id, reseller_id, name, token, secret_sealed,
        previous_secret_sealed, previous_secret_until_ms, permissions, state, root_user_id,
        rate_limit_requests, rate_limit_window_ms, credits_refill_amount,
        credits_refill_interval_ms, public_key, public_key_algorithm, expires_at_ms,
        allowed_networks, allowed_routes, certificate_match
        OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();

-- An access token minted over a connection that presented a client certificate is bound to
-- it (RFC 8705): `certificate_sha256` (`sha256:<hex>`) is that certificate's, and the token is
-- refused on a connection without it.
ALTER TABLE access_tokens ADD COLUMN certificate_sha256 TEXT;
