//! Access tokens: issued by login, stored only as SHA-256 digests, revocable.

use keyward_sig::certificate::CertificateBinding;
use keyward_sig::token::{CredentialKind, TokenDigest};
use sqlx::Row;

use crate::accounts::user_from_row;
use crate::error::StoreError;
use crate::invalidation::Invalidation;
use crate::keys::{active_keys, effective_key};
use crate::model::{AccessToken, Secret, TokenSubject};
use crate::{Store, random_30};

/// Who an access token is issued to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenOwner {
    /// A user (by id).
    User(i64),
    /// An API key (by id).
    Key(i64),
}

impl Store {
    /// Issues an access token valid for `ttl_ms` to `owner` of `domain_id`. Returns the token,
    /// which is stored only as its digest and so shown this once.
    pub async fn issue_access_token(
        &self,
        owner: TokenOwner,
        domain_id: i64,
        ttl_ms: i64,
    ) -> Result<(Secret, i64), StoreError> {
        self.issue_token(owner, domain_id, ttl_ms, TokenDigest::of, None).await
    }

    /// [`Store::issue_access_token`], the token bound to the client certificate whose SHA-256
    /// is `certificate_sha256` (RFC 8705): it is refused on a connection without it.
    pub async fn issue_bound_access_token(
        &self,
        owner: TokenOwner,
        domain_id: i64,
        ttl_ms: i64,
        certificate_sha256: &[u8; 32],
    ) -> Result<(Secret, i64), StoreError> {
        let bound = Some(certificate_sha256);
        self.issue_token(owner, domain_id, ttl_ms, TokenDigest::of, bound).await
    }

    /// Issues a console session for `user_id` of `domain_id`, valid for `ttl_ms`: a token
    /// stored under its session digest ([`TokenDigest::of_console_session`]), so it is
    /// accepted only from the console's cookie, never as a bearer token.
    pub async fn issue_console_session(
        &self,
        user_id: i64,
        domain_id: i64,
        ttl_ms: i64,
    ) -> Result<(Secret, i64), StoreError> {
        let owner = TokenOwner::User(user_id);
        self.issue_token(owner, domain_id, ttl_ms, TokenDigest::of_console_session, None).await
    }

    async fn issue_token(
        &self,
        owner: TokenOwner,
        domain_id: i64,
        ttl_ms: i64,
        digest: fn(&str) -> TokenDigest,
        certificate_sha256: Option<&[u8; 32]>,
    ) -> Result<(Secret, i64), StoreError> {
        let token = CredentialKind::AccessToken.mint(&random_30());
        let now = self.now_ms();
        let expires = now.saturating_add(ttl_ms);
        let (user_id, key_id) = match owner {
            TokenOwner::User(id) => (Some(id), None),
            TokenOwner::Key(id) => (None, Some(id)),
        };
        sqlx::query(
            "INSERT INTO access_tokens (digest, user_id, api_key_id, domain_id, created_at_ms, \
             expires_at_ms, certificate_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(digest(&token).to_hex())
        .bind(user_id)
        .bind(key_id)
        .bind(domain_id)
        .bind(now)
        .bind(expires)
        .bind(certificate_sha256.map(|sha256| CertificateBinding::Pinned(*sha256).to_db()))
        .execute(&self.pool)
        .await?;
        Ok((Secret(token), expires))
    }

    /// The live token with this digest: not revoked, its domain active, its user active or its
    /// key able to act (and then narrowed by its root user). Expiry is the verifier's to check.
    pub async fn access_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<AccessToken>, StoreError> {
        let row = sqlx::query(
            "SELECT t.domain_id, t.expires_at_ms, t.user_id, t.api_key_id, t.certificate_sha256 \
             FROM access_tokens t \
             JOIN domains d ON d.id = t.domain_id \
             WHERE t.digest = $1 AND t.revoked_at_ms IS NULL AND d.state = 'active'",
        )
        .bind(digest.to_hex())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let domain_id: i64 = row.try_get("domain_id")?;
        let expires_at_ms: i64 = row.try_get("expires_at_ms")?;
        let bound_to = match row.try_get::<Option<String>, _>("certificate_sha256")? {
            None => None,
            Some(text) => match CertificateBinding::from_db(&text) {
                Some(CertificateBinding::Pinned(sha256)) => Some(sha256),
                _ => {
                    let error = format!("certificate_sha256 {text:?} is not a pinned certificate");
                    return Err(sqlx::Error::Decode(error.into()).into());
                }
            },
        };
        let subject = match (
            row.try_get::<Option<i64>, _>("user_id")?,
            row.try_get::<Option<i64>, _>("api_key_id")?,
        ) {
            (Some(user_id), _) => {
                let user = sqlx::query("SELECT * FROM users WHERE id = $1 AND state = 'active'")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                match user {
                    Some(row) => TokenSubject::User(user_from_row(&row)?),
                    None => return Ok(None),
                }
            }
            (None, Some(key_id)) => {
                let key = sqlx::query(active_keys!("k.id = $1 AND k.domain_id = $2"))
                    .bind(key_id)
                    .bind(domain_id)
                    .fetch_optional(&self.pool)
                    .await?;
                match key {
                    Some(row) => TokenSubject::Key(Box::new(effective_key(&row, self.now_ms())?)),
                    None => return Ok(None),
                }
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(AccessToken { subject, domain_id, expires_at_ms, bound_to }))
    }

    /// Revokes the token with this digest. Returns whether it was live.
    pub async fn revoke_access_token(&self, digest: &TokenDigest) -> Result<bool, StoreError> {
        let _invalidate = self.invalidates(Invalidation::AccessToken(*digest));
        let done = sqlx::query(
            "UPDATE access_tokens SET revoked_at_ms = $1 WHERE digest = $2 AND revoked_at_ms IS NULL",
        )
        .bind(self.now_ms())
        .bind(digest.to_hex())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
