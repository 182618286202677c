-- Every API key records the user at its root: the user who created it, or for a key created by
-- a key, that key's root. A key acts with at most what its root user holds now, and not at all
-- while that user is disabled. Keys issued by resellers or by `keyward admin` have no root user.
-- The same as the SQLite migration of the same number, but for UPDATE ... FROM, which
-- PostgreSQL reads more naturally than SQLite's correlated subquery.

ALTER TABLE api_keys ADD COLUMN root_user_id BIGINT REFERENCES users (id);

-- Existing keys: follow created_by_key_id up to the first key a user created.
WITH RECURSIVE lineage (id, root_user_id) AS (
    SELECT id, created_by_user_id FROM api_keys WHERE created_by_user_id IS NOT NULL
    UNION ALL
    SELECT k.id, l.root_user_id FROM api_keys k JOIN lineage l ON k.created_by_key_id = l.id
)
UPDATE api_keys SET root_user_id = lineage.root_user_id FROM lineage WHERE api_keys.id = lineage.id;

CREATE INDEX api_keys_root_user ON api_keys (root_user_id);

-- Revoking every token of a user or key (a new password, a rotated secret) finds them at once.
CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_api_key ON access_tokens (api_key_id);
