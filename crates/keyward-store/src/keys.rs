//! API keys: create, list, rename, regenerate the token, rotate the secret, revoke; and the
//! unsealed credentials the server's cache verifies with.
//!
//! A key records the user at its root (the user who created it, or the root of the key that
//! did) and acts with at most what that user holds now, and not at all while that user is
//! disabled. The access tokens minted from a key (by logging in with its token and secret) die
//! with what minted them: at once when its token is regenerated or it is revoked, and when the
//! overlap of a secret rotation ends.

use keyward_sig::KeyKind;
use keyward_sig::api_key::API_KEY;
use keyward_sig::certificate::{CertificateBinding, ClientCertificate, MTLS};
use keyward_sig::mac::HMAC_SHA256;
use keyward_sig::public_key::{Algorithm, PublicKey};
use keyward_sig::token::{CredentialKind, TokenDigest};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Acquire, AnyConnection, Row};

use crate::audit::{self, Change};
use crate::error::StoreError;
use crate::invalidation::Invalidation;
use crate::limits::{KeyLimits, write_key_limits};
use crate::model::{
    Actor, ApiKey, Credits, KeyCredentials, KeyOwner, KeyPolicy, KeyState, KeyVerification,
    Permissions, RateLimit, Secret,
};
use crate::policy::write_key_policy;
use crate::{Store, random_30};

/// A key to create.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// Its owner.
    pub owner: KeyOwner,
    /// The application's name.
    pub name: String,
    /// Its permissions (the server checks they are within its creator's).
    pub permissions: Permissions,
    /// Its rate limit and credits.
    pub limits: KeyLimits,
    /// Its public key, for a public-key credential (which has no secret).
    pub public_key: Option<NewPublicKey>,
    /// The client certificate it is bound to, for an `mtls` credential (no secret either).
    pub certificate: Option<CertificateBinding>,
    /// Whether it is a plain API key (the `api-key` scheme): one value, sent as is, of which
    /// only the digest is kept (no secret either).
    pub plain: bool,
    /// Its expiry, client networks and routes.
    pub policy: KeyPolicy,
}

impl NewApiKey {
    /// A key of `owner` named `name` holding `permissions`, with a secret, no limits and no
    /// policy: the fields to change from there are public.
    pub fn new(owner: KeyOwner, name: String, permissions: Permissions) -> Self {
        NewApiKey {
            owner,
            name,
            permissions,
            limits: KeyLimits::default(),
            policy: KeyPolicy::default(),
            public_key: None,
            certificate: None,
            plain: false,
        }
    }
}

/// The public key of a public-key credential: the text as its owner gave it (PEM or JWK), and
/// the key read from it (which is what checks it).
#[derive(Clone, Debug)]
pub struct NewPublicKey {
    /// The PEM or JWK text, stored as given.
    pub text: String,
    /// The key, parsed from `text`.
    pub key: PublicKey,
}

/// The key in `row`, its credits as of `now_ms`.
fn key_from_row(row: &AnyRow, now_ms: i64) -> Result<ApiKey, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let certificate = row
        .try_get::<Option<String>, _>("certificate_match")?
        .map(|text| {
            CertificateBinding::from_db(&text).ok_or_else(|| {
                sqlx::Error::Decode(format!("certificate_match {text:?} is not a binding").into())
            })
        })
        .transpose()?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        kind: if kind == "reseller" { KeyKind::Reseller } else { KeyKind::Domain },
        domain_id: row.try_get("domain_id")?,
        reseller_id: row.try_get("reseller_id")?,
        name: row.try_get("name")?,
        token: row.try_get("token")?,
        algorithm: match (&certificate, row.try_get::<Option<String>, _>("public_key_algorithm")?) {
            (Some(_), _) => MTLS.to_owned(),
            (None, Some(algorithm)) => algorithm,
            (None, None) if is_plain(row)? => API_KEY.to_owned(),
            (None, None) => HMAC_SHA256.to_owned(),
        },
        public_key: row.try_get("public_key")?,
        certificate,
        permissions: Permissions::from_db(row.try_get("permissions")?),
        created_by_user_id: row.try_get("created_by_user_id")?,
        created_by_key_id: row.try_get("created_by_key_id")?,
        root_user_id: row.try_get("root_user_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
        previous_secret_until_ms: row.try_get("previous_secret_until_ms")?,
        state: if state == "active" { KeyState::Active } else { KeyState::Revoked },
        rate_limit: RateLimit::from_row(row, "")?,
        credits: Credits::from_row(row, now_ms)?,
        policy: KeyPolicy::from_row(row)?,
        root_rate_limit: None,
    })
}

/// A key as it may act: its permissions narrowed to what its root user holds now, so a key
/// never holds more than the person behind it, even after that person lost a permission. The
/// row must carry the root user's permissions as `root_permissions`, and its rate limit as
/// `root_rate_limit_*` (see `active_keys!`).
pub(crate) fn effective_key(row: &AnyRow, now_ms: i64) -> Result<ApiKey, sqlx::Error> {
    let mut key = key_from_row(row, now_ms)?;
    key.root_rate_limit = RateLimit::from_row(row, "root_")?;
    if let Some(root) = row.try_get::<Option<String>, _>("root_permissions")? {
        key.permissions = key.permissions.intersection(Permissions::from_db(&root));
    }
    Ok(key)
}

/// Keys `k` that may act, with their root user's permissions: active, of an active domain (or
/// of a reseller), and with an active root user (or none). The caller appends conditions, so
/// nothing is spliced into SQL at run time.
macro_rules! active_keys {
    ($conditions:literal) => {
        concat!(
            "SELECT k.*, r.permissions AS root_permissions, \
             r.rate_limit_requests AS root_rate_limit_requests, \
             r.rate_limit_window_ms AS root_rate_limit_window_ms FROM api_keys k \
             LEFT JOIN domains d ON d.id = k.domain_id LEFT JOIN users r ON r.id = k.root_user_id \
             WHERE k.state = 'active' AND (k.domain_id IS NULL OR d.state = 'active') \
             AND (k.root_user_id IS NULL OR r.state = 'active') AND ",
            $conditions
        )
    };
}
pub(crate) use active_keys;

/// Revokes every live access token minted from key `id`.
async fn revoke_tokens_of(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE access_tokens SET revoked_at_ms = $1 WHERE api_key_id = $2 AND revoked_at_ms IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// One key, by id, of an owner: `$1` the id, `$2` the domain, `$3` the reseller (one is NULL).
const OWNED_KEY: &str =
    "SELECT * FROM api_keys WHERE id = $1 AND (domain_id = $2 OR reseller_id = $3)";

/// What asking for the secret of a key without one answers.
const NO_SECRET: StoreError = StoreError::InvalidState(
    "the API key has no secret: it verifies with a public key or a client certificate, or is \
     a plain API key, which is shown only when created or rolled",
);

/// Whether the key in `row` verifies without a secret (a public key, a client certificate, a
/// plain key's digest).
fn has_no_secret(row: &AnyRow) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<Option<String>, _>("public_key")?.is_some()
        || row.try_get::<Option<String>, _>("certificate_match")?.is_some()
        || is_plain(row)?)
}

/// Whether the key in `row` is a plain API key.
fn is_plain(row: &AnyRow) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<Option<String>, _>("plain_key_digest")?.is_some())
}

/// The associated data that binds a sealed secret to its key row.
fn seal_context(id: i64) -> Vec<u8> {
    format!("keyward/api-key-secret/v1/{id}").into_bytes()
}

impl Store {
    fn mint(kind: CredentialKind) -> String {
        kind.mint(&random_30())
    }

    fn unseal(&self, id: i64, sealed: &[u8]) -> Result<Secret, StoreError> {
        let bytes = self.master.open(sealed, &seal_context(id))?;
        String::from_utf8(bytes).map(Secret).map_err(|_| StoreError::Unseal)
    }

    /// Creates a key; returns it with its secret, which is shown this once (none for a
    /// public-key or certificate credential; for a plain key, the key itself). Audited.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        new: &NewApiKey,
    ) -> Result<(ApiKey, Option<Secret>), StoreError> {
        let now = self.now_ms();
        let token = Self::mint(CredentialKind::ApiKeyToken);
        let secret = match (&new.public_key, &new.certificate, new.plain) {
            (None, None, false) => Some(Secret(Self::mint(CredentialKind::ApiKeySecret))),
            (None, None, true) => Some(Secret(Self::mint(CredentialKind::PlainApiKey))),
            (Some(_), None, false) | (None, Some(_), false) => None,
            _ => {
                return Err(StoreError::InvalidState(
                    "a key is one of: a secret, a public key, a client certificate, a plain key",
                ));
            }
        };
        let plain_digest = match &secret {
            Some(plain) if new.plain => Some(TokenDigest::of(&plain.0).to_hex()),
            _ => None,
        };
        let (kind, domain_id, reseller_id) = match new.owner {
            KeyOwner::Domain(id) => ("domain", Some(id), None),
            KeyOwner::Reseller(id) => ("reseller", None, Some(id)),
        };
        let mut tx = self.write_transaction().await?;
        // The root: the acting user, or the acting key's own root.
        let root_user_id: Option<i64> = match (actor.user_id, actor.key_id) {
            (Some(user), _) => Some(user),
            (None, Some(key)) => sqlx::query("SELECT root_user_id FROM api_keys WHERE id = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get("root_user_id"))
                .transpose()?
                .flatten(),
            (None, None) => None,
        };
        // The secret is sealed with the row's id as associated data, so the row comes first.
        let id: i64 = sqlx::query(
            "INSERT INTO api_keys (kind, domain_id, reseller_id, name, token, secret_sealed, \
             permissions, created_by_user_id, created_by_key_id, root_user_id, created_at_ms, \
             public_key, public_key_algorithm, certificate_match, plain_key_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(kind)
        .bind(domain_id)
        .bind(reseller_id)
        .bind(&new.name)
        .bind(&token)
        .bind(Vec::<u8>::new())
        .bind(new.permissions.to_db())
        .bind(actor.user_id)
        .bind(actor.key_id)
        .bind(root_user_id)
        .bind(now)
        .bind(new.public_key.as_ref().map(|public| &public.text))
        .bind(new.public_key.as_ref().map(|public| public.key.algorithm().name()))
        .bind(new.certificate.as_ref().map(CertificateBinding::to_db))
        .bind(&plain_digest)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        write_key_limits(tx.acquire().await?, id, &new.limits, now).await?;
        write_key_policy(tx.acquire().await?, id, &new.policy).await?;
        let row = match &secret {
            Some(secret) if !new.plain => {
                sqlx::query("UPDATE api_keys SET secret_sealed = $1 WHERE id = $2 RETURNING *")
                    .bind(self.master.seal(secret.0.as_bytes(), &seal_context(id)))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?
            }
            _ => {
                sqlx::query("SELECT * FROM api_keys WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        let key = key_from_row(&row, now)?;
        audit::record(
            tx.acquire().await?,
            now,
            Change {
                action: "key.create",
                target_type: "api_key",
                target_id: id.to_string(),
                detail: json!({
                    "name": new.name,
                    "kind": kind,
                    "permissions": new.permissions,
                    "rate_limit": new.limits.rate_limit,
                    "credits": new.limits.credits,
                    "algorithm": key.algorithm,
                    "certificate": new.certificate.as_ref().map(CertificateBinding::to_db),
                    "policy": new.policy.audit_detail(),
                }),
                domain_id,
                actor,
            },
        )
        .await?;
        tx.commit().await?;
        Ok((key, secret))
    }

    /// The keys of a domain or reseller, by id (revoked ones included).
    pub async fn api_keys(&self, owner: KeyOwner) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM api_keys WHERE domain_id = $1 OR reseller_id = $2 ORDER BY id",
        )
        .bind(owner.domain())
        .bind(owner.reseller())
        .fetch_all(&self.pool)
        .await?;
        let now = self.now_ms();
        Ok(rows.iter().map(|row| key_from_row(row, now)).collect::<Result<_, _>>()?)
    }

    /// One key of a domain or reseller.
    pub async fn api_key(&self, owner: KeyOwner, id: i64) -> Result<ApiKey, StoreError> {
        let row = sqlx::query(OWNED_KEY)
            .bind(id)
            .bind(owner.domain())
            .bind(owner.reseller())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("API key"))?;
        Ok(key_from_row(&row, self.now_ms())?)
    }

    /// A key's current secret (for `keys:reveal`). Audited, since reading a secret matters.
    pub async fn reveal_secret(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
    ) -> Result<Secret, StoreError> {
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(OWNED_KEY)
            .bind(id)
            .bind(owner.domain())
            .bind(owner.reseller())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("API key"))?;
        if has_no_secret(&row)? {
            return Err(NO_SECRET);
        }
        let secret = self.unseal(id, &row.try_get::<Vec<u8>, _>("secret_sealed")?)?;
        let change = Change {
            action: "key.reveal",
            target_type: "api_key",
            target_id: id.to_string(),
            detail: json!({}),
            domain_id: owner.domain(),
            actor,
        };
        audit::record(tx.acquire().await?, self.now_ms(), change).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Runs `update` on an active key of `owner` inside a transaction with its audit record.
    pub(crate) async fn change_key(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
        action: &'static str,
        detail: serde_json::Value,
        update: impl AsyncFnOnce(&mut AnyConnection, i64) -> Result<(), StoreError>,
    ) -> Result<ApiKey, StoreError> {
        let _invalidate = self.invalidates(Invalidation::Key(id));
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let state: String = sqlx::query(OWNED_KEY)
            .bind(id)
            .bind(owner.domain())
            .bind(owner.reseller())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("API key"))?
            .try_get("state")?;
        if state != "active" {
            return Err(StoreError::InvalidState("the API key is revoked"));
        }
        update(tx.acquire().await?, now).await?;
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let key = key_from_row(&row, now)?;
        let change = Change {
            action,
            target_type: "api_key",
            target_id: id.to_string(),
            detail,
            domain_id: owner.domain(),
            actor,
        };
        audit::record(tx.acquire().await?, now, change).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Renames a key. Audited.
    pub async fn rename_api_key(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
        name: &str,
    ) -> Result<ApiKey, StoreError> {
        self.change_key(actor, owner, id, "key.rename", json!({"name": name}), async |conn, _| {
            sqlx::query("UPDATE api_keys SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Sets a key's permissions (the server checks they are within its actor's). Audited
    /// (`key.permissions`, with the permissions before and after); the caches of every node
    /// hear of it, and the access tokens minted from the key act with the new ones at once.
    pub async fn set_key_permissions(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
        permissions: Permissions,
    ) -> Result<ApiKey, StoreError> {
        let before: String = sqlx::query(OWNED_KEY)
            .bind(id)
            .bind(owner.domain())
            .bind(owner.reseller())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("API key"))?
            .try_get("permissions")?;
        let detail = json!({
            "permissions": permissions,
            "previous": Permissions::from_db(&before),
        });
        self.change_key(actor, owner, id, "key.permissions", detail, async |conn, _| {
            sqlx::query("UPDATE api_keys SET permissions = $1 WHERE id = $2")
                .bind(permissions.to_db())
                .bind(id)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Gives a key a new token; the old one, and every access token minted from the key,
    /// stop working at once. Audited.
    pub async fn regenerate_token(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
    ) -> Result<ApiKey, StoreError> {
        let token = Self::mint(CredentialKind::ApiKeyToken);
        self.change_key(actor, owner, id, "key.regenerate_token", json!({}), async |conn, now| {
            sqlx::query("UPDATE api_keys SET token = $1 WHERE id = $2")
                .bind(&token)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            revoke_tokens_of(conn, id, now).await
        })
        .await
    }

    /// Gives a key a new secret; the previous one keeps verifying for `overlap_ms`, and so do
    /// the access tokens minted from the key before now: they expire when the overlap ends (at
    /// once for no overlap). Audited. Returns the key and its new secret, shown this once.
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
        overlap_ms: i64,
    ) -> Result<(ApiKey, Secret), StoreError> {
        let secret = Secret(Self::mint(CredentialKind::ApiKeySecret));
        let sealed = self.master.seal(secret.0.as_bytes(), &seal_context(id));
        let detail = json!({"overlap_ms": overlap_ms});
        let plain = Secret(Self::mint(CredentialKind::PlainApiKey));
        let mut rolled_plain = false;
        let key = self
            .change_key(actor, owner, id, "key.rotate_secret", detail, async |conn, now| {
                let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await?;
                if is_plain(&row)? {
                    // A plain key rolls its value; the one before is accepted during the overlap
                    // (and mints no access tokens to expire).
                    sqlx::query(
                        "UPDATE api_keys SET previous_plain_key_digest = plain_key_digest, \
                         plain_key_digest = $1, previous_secret_until_ms = $2 WHERE id = $3",
                    )
                    .bind(TokenDigest::of(&plain.0).to_hex())
                    .bind(now.saturating_add(overlap_ms))
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    rolled_plain = true;
                    return Ok(());
                }
                if has_no_secret(&row)? {
                    return Err(NO_SECRET);
                }
                sqlx::query(
                    "UPDATE api_keys SET previous_secret_sealed = secret_sealed, secret_sealed = $1, \
                     previous_secret_until_ms = $2 WHERE id = $3",
                )
                .bind(&sealed)
                .bind(now.saturating_add(overlap_ms))
                .bind(id)
                .execute(&mut *conn)
                .await?;
                if overlap_ms == 0 {
                    return revoke_tokens_of(conn, id, now).await;
                }
                sqlx::query(
                    "UPDATE access_tokens SET expires_at_ms = $1 WHERE api_key_id = $2 \
                     AND revoked_at_ms IS NULL AND expires_at_ms > $1",
                )
                .bind(now.saturating_add(overlap_ms))
                .bind(id)
                .execute(conn)
                .await?;
                Ok(())
            })
            .await?;
        Ok((key, if rolled_plain { plain } else { secret }))
    }

    /// Revokes a key for good, and the access tokens minted from it. Audited.
    pub async fn revoke_api_key(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
    ) -> Result<ApiKey, StoreError> {
        self.change_key(actor, owner, id, "key.revoke", json!({}), async |conn, now| {
            sqlx::query("UPDATE api_keys SET state = 'revoked', revoked_at_ms = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            revoke_tokens_of(conn, id, now).await
        })
        .await
    }

    /// What verifying with the key whose token is `token` needs, when it may act (see
    /// `active_keys!`): its secrets unsealed or its public key parsed, its permissions narrowed
    /// by its root user's.
    pub async fn key_credentials(&self, token: &str) -> Result<Option<KeyCredentials>, StoreError> {
        let row = sqlx::query(active_keys!("k.token = $1"))
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let key = effective_key(&row, self.now_ms())?;
        if let Some(binding) = &key.certificate {
            let verification = KeyVerification::Certificate(binding.clone());
            return Ok(Some(KeyCredentials { key, verification }));
        }
        if is_plain(&row)? {
            return Ok(Some(KeyCredentials { key, verification: KeyVerification::Plain }));
        }
        if let Some(text) = &key.public_key {
            let public_key = Algorithm::from_name(&key.algorithm)
                .and_then(|algorithm| PublicKey::parse(text, Some(algorithm)).ok())
                .ok_or(StoreError::StoredPublicKey(key.id))?;
            let verification = KeyVerification::PublicKey(Box::new(public_key));
            return Ok(Some(KeyCredentials { key, verification }));
        }
        let current = self.unseal(key.id, &row.try_get::<Vec<u8>, _>("secret_sealed")?)?;
        let previous = match (
            row.try_get::<Option<Vec<u8>>, _>("previous_secret_sealed")?,
            key.previous_secret_until_ms,
        ) {
            (Some(sealed), Some(until)) if until > self.now_ms() => {
                Some(self.unseal(key.id, &sealed)?)
            }
            _ => None,
        };
        Ok(Some(KeyCredentials {
            key,
            verification: KeyVerification::Secret { current, previous },
        }))
    }

    /// The key `certificate` is: the one pinned to it, else (its chain verified) one bound to
    /// one of its names, when it may act (see `active_keys!`).
    pub async fn key_by_certificate(
        &self,
        certificate: &ClientCertificate,
    ) -> Result<Option<KeyCredentials>, StoreError> {
        for binding in CertificateBinding::candidates(certificate) {
            let row = sqlx::query(active_keys!("k.certificate_match = $1"))
                .bind(binding.to_db())
                .fetch_optional(&self.pool)
                .await?;
            if let Some(row) = row {
                let key = effective_key(&row, self.now_ms())?;
                return Ok(Some(KeyCredentials {
                    key,
                    verification: KeyVerification::Certificate(binding),
                }));
            }
        }
        Ok(None)
    }

    /// The plain API key whose value's digest is `digest`: its current value, or the one
    /// before while a roll's overlap lasts; when it may act (see `active_keys!`).
    pub async fn key_by_plain_digest(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<KeyCredentials>, StoreError> {
        let now = self.now_ms();
        let row = sqlx::query(active_keys!(
            "(k.plain_key_digest = $1 \
             OR (k.previous_plain_key_digest = $1 AND k.previous_secret_until_ms > $2))"
        ))
        .bind(digest.to_hex())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key = effective_key(&row, now)?;
        Ok(Some(KeyCredentials { key, verification: KeyVerification::Plain }))
    }
}
