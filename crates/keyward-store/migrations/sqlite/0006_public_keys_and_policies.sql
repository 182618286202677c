-- Public-key credentials and key policies.
--
-- A key verifies either with its sealed secret (HMAC, every scheme) or with a public key
-- (RFC 9421's asymmetric algorithms): `public_key` holds the key as its owner gave it (PEM or
-- JWK; public, not sealed) and `public_key_algorithm` its algorithm. Such a key has no secret:
-- its `secret_sealed` is empty, which the triggers below hold to.
--
-- Policies, NULL meaning none: `expires_at_ms` (refused from then on), `allowed_networks` (a
-- JSON array of CIDR ranges the client address must fall in) and `allowed_routes` (a JSON
-- array of route patterns with methods).

ALTER TABLE api_keys ADD COLUMN public_key TEXT;
ALTER TABLE api_keys ADD COLUMN public_key_algorithm TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN allowed_networks TEXT;
ALTER TABLE api_keys ADD COLUMN allowed_routes TEXT;

CREATE TRIGGER api_keys_public_key_insert BEFORE INSERT ON api_keys
    WHEN (NEW.public_key IS NULL) <> (NEW.public_key_algorithm IS NULL)
        OR (NEW.public_key IS NOT NULL AND length(NEW.secret_sealed) > 0)
BEGIN
    SELECT RAISE(ABORT, 'a public-key credential has an algorithm and no secret');
END;

CREATE TRIGGER api_keys_public_key_update BEFORE UPDATE ON api_keys
    WHEN (NEW.public_key IS NULL) <> (NEW.public_key_algorithm IS NULL)
        OR (NEW.public_key IS NOT NULL AND length(NEW.secret_sealed) > 0)
BEGIN
    SELECT RAISE(ABORT, 'a public-key credential has an algorithm and no secret');
END;
