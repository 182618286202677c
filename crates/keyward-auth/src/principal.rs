//! Who is calling ([`Principal`]), and the extractors handlers read it and the request id
//! with.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use keyward_sig::token::TokenDigest;
use keyward_sig::{KeyKind, Scheme};
use keyward_store::{Actor, Permissions};

use crate::error::{ApiError, ErrorCode};

/// Who is calling: a user or an API key, with its domain and rights.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The scheme the request used.
    pub scheme: Scheme,
    /// A user or a key.
    pub identity: Identity,
    /// The domain (none for reseller keys).
    pub domain_id: Option<i64>,
    /// The reseller, for reseller keys.
    pub reseller_id: Option<i64>,
    /// What it may do.
    pub permissions: Permissions,
    /// The access token's digest, for the bearer scheme (what logout revokes).
    pub access_token: Option<TokenDigest>,
}

/// A principal's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A person.
    User {
        /// Id.
        id: i64,
        /// User name.
        username: String,
    },
    /// An application.
    Key {
        /// Id.
        id: i64,
        /// Application name.
        name: String,
        /// Domain or reseller key.
        kind: KeyKind,
    },
}

impl Principal {
    /// Ok when the principal holds `permission` in a domain (reseller keys hold none: they
    /// are refused with code 17, which says why).
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        self.domain()?;
        if self.permissions.has(permission) {
            Ok(())
        } else {
            Err(ApiError::permission_denied(permission))
        }
    }

    /// The principal's domain; reseller keys have none and are refused on domain routes.
    pub fn domain(&self) -> Result<i64, ApiError> {
        self.domain_id.ok_or_else(|| {
            ApiError::new(ErrorCode::WrongKeyKind)
                .with_message("This route needs domain credentials, not reseller credentials")
        })
    }

    /// The principal as the author of a change, for the audit trail.
    pub fn actor(&self, request_id: &str) -> Actor {
        let (user_id, key_id, name, application) = match &self.identity {
            Identity::User { id, username } => (Some(*id), None, username.clone(), None),
            Identity::Key { id, name, .. } => (None, Some(*id), name.clone(), Some(name.clone())),
        };
        Actor {
            request_id: request_id.to_owned(),
            domain_id: self.domain_id,
            reseller_id: self.reseller_id,
            user_id,
            key_id,
            name,
            application,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Fails closed: a route reached without the auth layer answers 401.
        parts.extensions.get::<Principal>().cloned().ok_or(ApiError::new(ErrorCode::NoCredentials))
    }
}

/// The request id (`x-request-id`, which keyward sets on every request it serves), for the
/// audit trail and error reports.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let id =
            parts.headers.get("x-request-id").and_then(|id| id.to_str().ok()).unwrap_or("unknown");
        Ok(RequestId(id.to_owned()))
    }
}
