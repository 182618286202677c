//! The key's policy, after verification: expiry, client address, route and method, for the key
//! the request speaks for and every other key that signed it; and an access token's binding to
//! a client certificate (RFC 8705), which the request's connection must have presented.

use std::sync::Arc;

use axum::http::request::Parts;
use keyward_sig::certificate::ClientCertificate;
use keyward_sig::{Principal as Verified, Verified as Proof};
use keyward_store::{KeyPolicy, TokenSubject};

use super::{AuthSettings, AuthorizedMethod, Known, Refusal};
use crate::cache::{Found, KeyHandle, TokenHandle};
use crate::error::{ApiError, ErrorCode};

/// `Ok` with when the key expires, if soon enough to warn of it; or the policy's refusal.
pub(super) fn check(
    settings: &AuthSettings,
    verified: &Proof<KeyHandle, TokenHandle>,
    found: &Found,
    known: Known,
    parts: &Parts,
    now_ms: i64,
) -> Result<Option<i64>, Refusal> {
    if let Verified::AccessToken { grant, .. } = verified.principal() {
        check_binding(grant, known, parts)?;
    }
    let policy = key_policy(verified.principal()).filter(|policy| !policy.is_empty());
    let others = found.others.iter().map(|key| &key.0.key.policy);
    let authorized = parts.extensions.get::<AuthorizedMethod>().map_or(&parts.method, |m| &m.0);
    for policy in policy.into_iter().chain(others).filter(|policy| !policy.is_empty()) {
        let address = settings.trusted_proxies.client_address(parts);
        let refused =
            crate::policy::refusal(policy, &settings.route, authorized.as_str(), address, now_ms);
        if let Some((error, reason)) = refused {
            return Err(known.refuse(error, reason));
        }
    }
    Ok(policy
        .and_then(|policy| policy.expires_at_ms)
        .filter(|at| at.saturating_sub(now_ms) <= settings.expiry_warning_ms))
}

/// A token bound to a client certificate is refused on a connection that did not present it
/// (the fingerprints compared in constant time).
fn check_binding(grant: &TokenHandle, known: Known, parts: &Parts) -> Result<(), Refusal> {
    let Some(bound_to) = &grant.0.token.bound_to else { return Ok(()) };
    let presented = parts.extensions.get::<Arc<ClientCertificate>>();
    let matches = presented.is_some_and(|certificate| {
        keyward_sig::mac::constant_time_eq(bound_to, certificate.sha256())
    });
    if matches {
        return Ok(());
    }
    let error = ApiError::new(ErrorCode::CertificateRequired);
    Err(known.refuse(error, "certificate-bound-token"))
}

/// The policy of the key a request speaks for: the key's, or that of the key an access token
/// was minted from.
fn key_policy(verified: &Verified<KeyHandle, TokenHandle>) -> Option<&KeyPolicy> {
    match verified {
        Verified::ApiKey { key, .. } => Some(&key.0.key.policy),
        Verified::AccessToken { grant, .. } => match &grant.0.token.subject {
            TokenSubject::Key(key) => Some(&key.policy),
            TokenSubject::User(_) => None,
        },
    }
}
