//! Phase 3: the key or token, from memory or one single-flight load from the store, and the
//! keys of the other RFC 9421 signatures when every signature is verified.

use keyward_sig::Presented;

use super::{AuthSettings, Refusal};
use crate::cache::Found;

/// What `presented` names.
pub(super) async fn find(
    settings: &AuthSettings,
    presented: &Presented<'_>,
    now_ms: i64,
) -> Result<Found, Refusal> {
    let cache = &settings.cache;
    let mut found = cache.find(presented.credential(), now_ms).await.map_err(Refusal::store)?;
    for other in presented.other_credentials() {
        let more = cache.find(other, now_ms).await.map_err(Refusal::store)?;
        found.others.extend(more.key);
    }
    Ok(found)
}
