-- Every API key records the user at its root: the user who created it, or for a key created by
-- a key, that key's root. A key acts with at most what its root user holds now, and not at all
-- while that user is disabled. Keys issued by resellers or by `keyward admin` have no root user.
-- The PostgreSQL migration of the same number does the same; differences are noted there.

ALTER TABLE api_keys ADD COLUMN root_user_id BIGINT REFERENCES users (id);

-- Existing keys: follow created_by_key_id up to the first key a user created.
WITH RECURSIVE lineage (id, root_user_id) AS (
    SELECT id, created_by_user_id FROM api_keys WHERE created_by_user_id IS NOT NULL
    UNION ALL
    SELECT k.id, l.root_user_id FROM api_keys k JOIN lineage l ON k.created_by_key_id = l.id
)
UPDATE api_keys SET root_user_id = (SELECT l.root_user_id FROM lineage l WHERE l.id = api_keys.id)
WHERE id IN (SELECT id FROM lineage);

CREATE INDEX api_keys_root_user ON api_keys (root_user_id);

-- Revoking every token of a user or key (a new password, a rotated secret) finds them at once.
CREATE INDEX access_tokens_user ON access_tokens (user_id);
CREATE INDEX access_tokens_api_key ON access_tokens (api_key_id);
