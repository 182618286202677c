-- Plain API keys (the api-key scheme): a key that is one value, sent as is.
--
-- Only the value's SHA-256 is kept (`plain_key_digest`, lower-case hex), never the value: it
-- is shown once, when created or rolled. While a roll's overlap lasts
-- (`previous_secret_until_ms`), the value before it (`previous_plain_key_digest`) is accepted
-- too. Such a key has no secret, no public key and no certificate, which the triggers below
-- hold to.

ALTER TABLE api_keys ADD COLUMN plain_key_digest TEXT;
ALTER TABLE api_keys ADD COLUMN previous_plain_key_digest TEXT;

CREATE UNIQUE INDEX api_keys_plain_key_digest ON api_keys (plain_key_digest)
    WHERE plain_key_digest IS NOT NULL;
CREATE INDEX api_keys_previous_plain_key_digest ON api_keys (previous_plain_key_digest)
    WHERE previous_plain_key_digest IS NOT NULL;

CREATE TRIGGER api_keys_plain_insert BEFORE INSERT ON api_keys
    WHEN NEW.plain_key_digest IS NOT NULL
        AND (NEW.public_key IS NOT NULL OR NEW.certificate_match IS NOT NULL
             OR length(NEW.secret_sealed) > 0)
BEGIN
    SELECT RAISE(ABORT, 'a plain API key has no secret, no public key and no certificate');
END;

CREATE TRIGGER api_keys_plain_update BEFORE UPDATE ON api_keys
    WHEN NEW.plain_key_digest IS NOT NULL
        AND (NEW.public_key IS NOT NULL OR NEW.certificate_match IS NOT NULL
             OR length(NEW.secret_sealed) > 0)
BEGIN
    SELECT RAISE(ABORT, 'a plain API key has no secret, no public key and no certificate');
END;
