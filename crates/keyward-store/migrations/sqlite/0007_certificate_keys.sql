-- Certificate-bound keys (the mtls scheme), and certificate-bound access tokens.
--
-- `certificate_match` binds a key to a client certificate: `sha256:<hex>` pins one
-- certificate by the SHA-256 of its DER, `san:<name>` admits any certificate from the trusted
-- CA that carries that subject alternative name. Such a key has no secret and no public key,
-- which the triggers below hold to; two active keys cannot claim the same certificate.

ALTER TABLE api_keys ADD COLUMN certificate_match TEXT;

CREATE UNIQUE INDEX api_keys_certificate_match ON api_keys (certificate_match)
    WHERE certificate_match IS NOT NULL AND state = 'active';

CREATE TRIGGER api_keys_certificate_insert BEFORE INSERT ON api_keys
    WHEN NEW.certificate_match IS NOT NULL
        AND (NEW.public_key IS NOT NULL OR length(NEW.secret_sealed) > 0)
BEGIN
    SELECT RAISE(ABORT, 'a certificate-bound key has no secret and no public key');
END;

CREATE TRIGGER api_keys_certificate_update BEFORE UPDATE ON api_keys
    WHEN NEW.certificate_match IS NOT NULL
        AND (NEW.public_key IS NOT NULL OR length(NEW.secret_sealed) > 0)
BEGIN
    SELECT RAISE(ABORT, 'a certificate-bound key has no secret and no public key');
END;

-- An access token minted over a connection that presented a client certificate is bound to
-- it (RFC 8705): `certificate_sha256` (`sha256:<hex>`) is that certificate's, and the token is
-- refused on a connection without it.
ALTER TABLE access_tokens ADD COLUMN certificate_sha256 TEXT;
