//! Resellers, domains and users, and the first-start bootstrap.

use std::sync::LazyLock;

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

use keyward_sig::token::TokenDigest;

use crate::audit::{self, Change};
use crate::error::StoreError;
use crate::invalidation::Invalidation;
use crate::model::{Actor, Domain, Permissions, Reseller, State, User};
use crate::password::{check_password, hash_password, verify_password};
use crate::{Backend, Store, random_30};

pub(crate) fn domain_from_row(row: &AnyRow) -> Result<Domain, sqlx::Error> {
    Ok(Domain {
        id: row.try_get("id")?,
        reseller_id: row.try_get("reseller_id")?,
        name: row.try_get("name")?,
        state: State::from_db(row.try_get("state")?),
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn reseller_from_row(row: &AnyRow) -> Result<Reseller, sqlx::Error> {
    Ok(Reseller {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        username: row.try_get("username")?,
        permissions: Permissions::from_db(row.try_get("permissions")?),
        state: State::from_db(row.try_get("state")?),
        created_at_ms: row.try_get("created_at_ms")?,
        rate_limit: crate::RateLimit::from_row(row, "")?,
    })
}

/// What the first start created.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    /// The `admin` user.
    pub admin: User,
    /// The password, when it was generated (to be printed once); `None` when it was given.
    pub generated_password: Option<String>,
}

impl Store {
    /// On a store without users, creates reseller `default` (unless an operator already did),
    /// domain `default` and user `admin` with every permission, with `password` (which must
    /// follow the password rule, [`crate::check_password`]) or a generated one. Does nothing
    /// once a user exists. Audited as the system.
    pub async fn bootstrap(&self, password: Option<&str>) -> Result<Option<Bootstrap>, StoreError> {
        if let Some(password) = password {
            check_password(password).map_err(StoreError::WeakPassword)?;
        }
        let mut tx = self.write_transaction().await?;
        if self.backend == Backend::Postgres {
            // Nodes started together bootstrap one at a time: the first creates the
            // administrator, the others find it (SQLite's BEGIN IMMEDIATE does this already).
            sqlx::query("SELECT pg_advisory_xact_lock(7215800415)").execute(&mut *tx).await?;
        }
        // "Empty" means no user yet: an operator may have created resellers first.
        let users: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if users > 0 {
            return Ok(None);
        }
        let now = self.now_ms();
        let generated = password.is_none().then(generate_password);
        let password = password.or(generated.as_deref()).expect("given or generated");
        let hash = self.hash(password).await?;
        let existing = sqlx::query("SELECT id FROM resellers WHERE name = 'default'")
            .fetch_optional(&mut *tx)
            .await?;
        let reseller_id: i64 = match existing {
            Some(row) => row.try_get("id")?,
            None => sqlx::query(
                "INSERT INTO resellers (name, created_at_ms) VALUES ('default', $1) RETURNING id",
            )
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?,
        };
        let domain_id: i64 = sqlx::query(
            "INSERT INTO domains (reseller_id, name, created_at_ms) VALUES ($1, 'default', $2) RETURNING id",
        )
        .bind(reseller_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let row = sqlx::query(
            "INSERT INTO users (domain_id, username, password_hash, permissions, created_at_ms) \
             VALUES ($1, 'admin', $2, $3, $4) RETURNING *",
        )
        .bind(domain_id)
        .bind(hash)
        .bind(Permissions::all().to_db())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let admin = user_from_row(&row)?;
        let system = Actor { domain_id: Some(domain_id), ..Actor::operator("bootstrap", "system") };
        audit::record(
            tx.acquire().await?,
            now,
            Change {
                action: "system.bootstrap",
                target_type: "user",
                target_id: admin.id.to_string(),
                detail: json!({"reseller": "default", "domain": "default", "user": "admin"}),
                domain_id: Some(domain_id),
                actor: &system,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Bootstrap { admin, generated_password: generated }))
    }

    /// A domain by id.
    pub async fn domain(&self, id: i64) -> Result<Domain, StoreError> {
        let row = sqlx::query("SELECT * FROM domains WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("domain"))?;
        Ok(domain_from_row(&row)?)
    }

    /// Creates a reseller (an operator's act). Audited.
    pub async fn create_reseller(&self, actor: &Actor, name: &str) -> Result<Reseller, StoreError> {
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let row =
            sqlx::query("INSERT INTO resellers (name, created_at_ms) VALUES ($1, $2) RETURNING *")
                .bind(name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| conflict(e, "reseller"))?;
        let reseller = reseller_from_row(&row)?;
        let change = Change {
            action: "reseller.create",
            target_type: "reseller",
            target_id: reseller.id.to_string(),
            detail: json!({"name": name}),
            domain_id: None,
            actor,
        };
        audit::record(tx.acquire().await?, now, change).await?;
        tx.commit().await?;
        Ok(reseller)
    }

    /// Every reseller, by id.
    pub async fn resellers(&self) -> Result<Vec<Reseller>, StoreError> {
        let rows = sqlx::query("SELECT * FROM resellers ORDER BY id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(reseller_from_row).collect::<Result<_, _>>()?)
    }

    /// Creates domain `short_name@reseller` for a reseller. Audited.
    pub async fn create_domain(
        &self,
        actor: &Actor,
        reseller: &Reseller,
        short_name: &str,
    ) -> Result<Domain, StoreError> {
        let now = self.now_ms();
        let name = format!("{short_name}@{}", reseller.name);
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query("INSERT INTO domains (reseller_id, name, created_at_ms) VALUES ($1, $2, $3) RETURNING *")
            .bind(reseller.id)
            .bind(&name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| conflict(e, "domain"))?;
        let domain = domain_from_row(&row)?;
        let change = Change {
            action: "domain.create",
            target_type: "domain",
            target_id: domain.id.to_string(),
            detail: json!({"name": name}),
            domain_id: Some(domain.id),
            actor,
        };
        audit::record(tx.acquire().await?, now, change).await?;
        tx.commit().await?;
        Ok(domain)
    }

    /// The domains of a reseller, by id.
    pub async fn domains_of(&self, reseller_id: i64) -> Result<Vec<Domain>, StoreError> {
        let rows = sqlx::query("SELECT * FROM domains WHERE reseller_id = $1 ORDER BY id")
            .bind(reseller_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(domain_from_row).collect::<Result<_, _>>()?)
    }

    /// A reseller's domain, by its full name (`name@reseller`).
    pub async fn domain_of(&self, reseller_id: i64, name: &str) -> Result<Domain, StoreError> {
        let row = sqlx::query("SELECT * FROM domains WHERE reseller_id = $1 AND name = $2")
            .bind(reseller_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("domain"))?;
        Ok(domain_from_row(&row)?)
    }

    /// Disables or re-enables a reseller's domain: a disabled domain's keys and tokens are
    /// refused everywhere; nothing is deleted. Audited.
    pub async fn set_domain_state(
        &self,
        actor: &Actor,
        reseller_id: i64,
        domain_id: i64,
        state: State,
    ) -> Result<Domain, StoreError> {
        let _invalidate = self.invalidates(Invalidation::Domain(domain_id));
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "UPDATE domains SET state = $1 WHERE id = $2 AND reseller_id = $3 RETURNING *",
        )
        .bind(state.as_db())
        .bind(domain_id)
        .bind(reseller_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("domain"))?;
        let domain = domain_from_row(&row)?;
        let change = Change {
            action: if state == State::Active { "domain.enable" } else { "domain.disable" },
            target_type: "domain",
            target_id: domain_id.to_string(),
            detail: json!({"name": domain.name, "state": state}),
            domain_id: Some(domain_id),
            actor,
        };
        audit::record(tx.acquire().await?, now, change).await?;
        tx.commit().await?;
        Ok(domain)
    }

    /// A reseller by id.
    pub async fn reseller(&self, id: i64) -> Result<Reseller, StoreError> {
        let row = sqlx::query("SELECT * FROM resellers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("reseller"))?;
        Ok(reseller_from_row(&row)?)
    }

    /// A reseller by name.
    pub async fn reseller_by_name(&self, name: &str) -> Result<Reseller, StoreError> {
        let row = sqlx::query("SELECT * FROM resellers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("reseller"))?;
        Ok(reseller_from_row(&row)?)
    }

    /// A user by id, within a domain.
    pub async fn user(&self, domain_id: i64, id: i64) -> Result<User, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1 AND domain_id = $2")
            .bind(id)
            .bind(domain_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        Ok(user_from_row(&row)?)
    }

    /// The user named `username`, in any domain and state (to file a failed login under).
    pub async fn user_named(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    /// The users of a domain, by id.
    pub async fn users(&self, domain_id: i64) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users WHERE domain_id = $1 ORDER BY id")
            .bind(domain_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// The active user `username` of an active domain whose password is `password`. Runs the
    /// argon2id check on a blocking thread, within the hashing bound; an unknown user costs the
    /// same as a wrong password.
    pub async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT u.*, d.state AS domain_state FROM users u JOIN domains d ON d.id = u.domain_id \
             WHERE u.username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let (user, hash, domain_active) = match &row {
            Some(row) => {
                let domain_state: String = row.try_get("domain_state")?;
                (
                    Some(user_from_row(row)?),
                    row.try_get::<String, _>("password_hash")?,
                    domain_state == "active",
                )
            }
            // Verify against a hash anyway, so timing does not tell which names exist.
            None => (None, DUMMY_HASH.clone(), false),
        };
        let password = password.to_owned();
        let matches = self.hashing(move || verify_password(&password, &hash)).await?;
        Ok(user.filter(|u| matches && domain_active && u.state == State::Active))
    }

    /// Creates a user in a domain; the password must follow the password rule. Audited.
    pub async fn create_user(
        &self,
        actor: &Actor,
        domain_id: i64,
        username: &str,
        password: &str,
        permissions: &Permissions,
    ) -> Result<User, StoreError> {
        check_password(password).map_err(StoreError::WeakPassword)?;
        let hash = self.hash(password).await?;
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "INSERT INTO users (domain_id, username, password_hash, permissions, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING *",
        )
        .bind(domain_id)
        .bind(username)
        .bind(hash)
        .bind(permissions.to_db())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict(e, "user"))?;
        let user = user_from_row(&row)?;
        audit::record(
            tx.acquire().await?,
            now,
            Change {
                action: "user.create",
                target_type: "user",
                target_id: user.id.to_string(),
                detail: json!({"username": username, "permissions": permissions}),
                domain_id: Some(domain_id),
                actor,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Changes a user's permissions, state or password (each when given). A new password must
    /// follow the password rule, and revokes every access token and console session of the
    /// user but [`UserUpdate::keep_token`]. Audited.
    pub async fn update_user(
        &self,
        actor: &Actor,
        domain_id: i64,
        id: i64,
        update: UserUpdate,
    ) -> Result<User, StoreError> {
        let hash = match &update.password {
            Some(password) => {
                check_password(password).map_err(StoreError::WeakPassword)?;
                Some(self.hash(password).await?)
            }
            None => None,
        };
        let _invalidate = self.invalidates(Invalidation::User(id));
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "UPDATE users SET permissions = COALESCE($1, permissions), state = COALESCE($2, state), \
             password_hash = COALESCE($3, password_hash) WHERE id = $4 AND domain_id = $5 RETURNING *",
        )
        .bind(update.permissions.map(Permissions::to_db))
        .bind(update.state.map(State::as_db))
        .bind(hash.as_ref())
        .bind(id)
        .bind(domain_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        let user = user_from_row(&row)?;
        if hash.is_some() {
            sqlx::query(
                "UPDATE access_tokens SET revoked_at_ms = $1 WHERE user_id = $2 \
                 AND revoked_at_ms IS NULL AND ($3 IS NULL OR digest <> $3)",
            )
            .bind(now)
            .bind(id)
            .bind(update.keep_token.map(|digest| digest.to_hex()))
            .execute(&mut *tx)
            .await?;
        }
        audit::record(
            tx.acquire().await?,
            now,
            Change {
                action: "user.update",
                target_type: "user",
                target_id: id.to_string(),
                detail: json!({
                    "permissions": update.permissions,
                    "state": update.state,
                    "password_changed": hash.is_some(),
                }),
                domain_id: Some(domain_id),
                actor,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }
}

/// The changes [`Store::update_user`] can make.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    /// New permissions.
    pub permissions: Option<Permissions>,
    /// New state.
    pub state: Option<State>,
    /// New password.
    pub password: Option<String>,
    /// When the password changes, the one access token (or console session) of the user that
    /// stays valid: the one the user changed it with, when users change their own.
    pub keep_token: Option<TokenDigest>,
}

/// A unique violation as a conflict on `what`; other errors as they are.
pub(crate) fn conflict(error: sqlx::Error, what: &'static str) -> StoreError {
    match StoreError::from(error) {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}

impl Store {
    /// The argon2id hash of `password`, within the hashing bound.
    async fn hash(&self, password: &str) -> Result<String, StoreError> {
        let password = password.to_owned();
        self.hashing(move || hash_password(&password)).await?
    }
}

/// A password for the bootstrap admin (or a reset one): 24 base62 characters (about 143 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    random_30()[..24].iter().map(|&b| char::from(ALPHABET[usize::from(b) % 62])).collect()
}

/// An argon2id hash of a random password nobody knows, for timing-safe misses.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&generate_password()).unwrap_or_default());
