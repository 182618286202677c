//! Phase 6: the replay guard. This signature serves this request only: a query-hmac signature
//! covers the query itself (every parameter but `s`), so its request is its method and path;
//! the other schemes are bound to the whole target.

use axum::http::request::Parts;
use keyward_sig::{Scheme, Verified};

use super::{AuthSettings, Known, Refusal};
use crate::cache::{KeyHandle, TokenHandle};
use crate::error::{ApiError, ErrorCode};
use crate::replay::Reuse;

/// `Ok` on the signature's first use (or a repeat the mode allows).
pub(super) async fn check(
    settings: &AuthSettings,
    verified: &Verified<KeyHandle, TokenHandle>,
    known: Known,
    parts: &Parts,
    now_ms: i64,
) -> Result<(), Refusal> {
    let Some(replay) = verified.replay_id() else { return Ok(()) };
    let bound = match known.scheme {
        Some(Scheme::QueryHmac) => parts.uri.path(),
        _ => parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
    };
    let checked = settings.replay.check_everywhere(replay, &parts.method, bound, now_ms).await;
    checked.map_err(|reuse| {
        let (error, reason) = refusal(reuse);
        settings.cache.meters().replay_refused(reason);
        known.refuse(error, reason)
    })
}

/// The answer to a signature the replay guard refused, and its reason.
fn refusal(reuse: Reuse) -> (ApiError, &'static str) {
    match reuse {
        Reuse::SameRequest => (ApiError::new(ErrorCode::Replayed), "replayed"),
        Reuse::OtherRequest => (ApiError::new(ErrorCode::SignatureReused), "signature-reused"),
        Reuse::SharedUnavailable => (
            ApiError::new(ErrorCode::Unavailable)
                .with_message(
                    "The shared replay memory (Redis) cannot be reached: signed POST, PUT, PATCH \
                     and DELETE requests are refused until it is back",
                )
                .with_retry_after(1),
            "replay-store-unavailable",
        ),
        Reuse::MemoryFull => {
            tracing::warn!("replay memory full: new signatures are refused until it frees");
            (ApiError::new(ErrorCode::Overloaded).with_retry_after(1), "replay-memory-full")
        }
    }
}
