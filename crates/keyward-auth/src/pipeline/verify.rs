//! Phase 5: verification, once; again only against a fresh read of a key that may have changed
//! elsewhere (a secret rotated by `keyward admin` or another node).

use keyward_sig::{CredentialRef, Presented, Verified, VerifyError};

use super::{AuthSettings, Known, Refusal};
use crate::cache::{Found, KeyHandle, TokenHandle};

/// Who signed, or the refusal.
pub(super) async fn verify(
    settings: &AuthSettings,
    presented: &Presented<'_>,
    found: &mut Found,
    known: Known,
    bytes: &[u8],
    now_ms: i64,
) -> Result<Verified<KeyHandle, TokenHandle>, Refusal> {
    let reloadable = match (presented.credential(), &found.key) {
        (CredentialRef::ApiKey(token), Some(key)) if key.0.may_reload(now_ms) => Some(token),
        _ => None,
    };
    match (presented.verify(bytes, now_ms, found), reloadable) {
        (Err(VerifyError::SignatureMismatch { .. }), Some(token)) => {
            let others = std::mem::take(&mut found.others);
            *found = settings.cache.reload_key(token, now_ms).await.map_err(Refusal::store)?;
            found.others = others;
            presented.verify(bytes, now_ms, found)
        }
        (result, _) => result,
    }
    .map_err(|error| known.failed(error))
}
