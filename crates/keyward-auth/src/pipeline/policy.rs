//! The key's policy, after verification: expiry, client address, route and method, for the key
//! the request speaks for and every other key that signed it.

use axum::http::request::Parts;
use keyward_sig::{Principal as Verified, Verified as Proof};
use keyward_store::{KeyPolicy, TokenSubject};

use super::{AuthSettings, AuthorizedMethod, Known, Refusal};
use crate::cache::{Found, KeyHandle, TokenHandle};

/// `Ok` with when the key expires, if soon enough to warn of it; or the policy's refusal.
pub(super) fn check(
    settings: &AuthSettings,
    verified: &Proof<KeyHandle, TokenHandle>,
    found: &Found,
    known: Known,
    parts: &Parts,
    now_ms: i64,
) -> Result<Option<i64>, Refusal> {
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
