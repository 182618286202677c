-- Permissions a deployment declares (the ones its gateway routes require) join keyward's own
-- six. `*` stands for every permission, including those declared later: the first
-- administrator holds it, and so does every user who held all six of keyward's before, as the
-- first administrator and provisioned domain administrators did. The same in both dialects.

UPDATE users SET permissions = '["*"]'
WHERE permissions = '["activities:read","activities:write","audit:read","keys:manage","keys:reveal","users:manage"]';
