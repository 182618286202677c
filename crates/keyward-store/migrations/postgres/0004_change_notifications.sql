-- Every change that affects verification is told to every keyward node on the database, in the
-- transaction that makes it: a NOTIFY on channel `keyward_changes` is delivered when (and only
-- if) the transaction commits. Triggers do the telling, so a change made by any node, by
-- `keyward admin` or by hand in psql is told the same way. Payloads: `key:<id>`, `user:<id>`,
-- `domain:<id>`, `token:<digest>`. A key's last use is not such a change, and is not told.

CREATE FUNCTION keyward_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
    -- One branch per table: a record's fields are looked up only in the branch that runs.
    IF TG_TABLE_NAME = 'api_keys' THEN
        PERFORM pg_notify('keyward_changes', 'key:' || changed.id);
    ELSIF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('keyward_changes', 'user:' || changed.id);
    ELSIF TG_TABLE_NAME = 'domains' THEN
        PERFORM pg_notify('keyward_changes', 'domain:' || changed.id);
    ELSIF TG_TABLE_NAME = 'access_tokens' THEN
        PERFORM pg_notify('keyward_changes', 'token:' || changed.digest);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF kind, domain_id, reseller_id, name, token, secret_sealed,
        previous_secret_sealed, previous_secret_until_ms, permissions, state, root_user_id
        OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();

CREATE TRIGGER users_changed
    AFTER UPDATE OF domain_id, username, password_hash, permissions, state OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();

CREATE TRIGGER domains_changed
    AFTER UPDATE OF reseller_id, state OR DELETE ON domains
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();

CREATE TRIGGER access_tokens_changed
    AFTER UPDATE OF revoked_at_ms, expires_at_ms OR DELETE ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION keyward_notify_change();
