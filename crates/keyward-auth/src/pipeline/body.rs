//! Phase 4: the body, read only for a scheme that signs it, and only for a known key and a
//! fresh clock (a stranger's or a stale signature never makes keyward read a body).

use axum::body::Body;
use axum::http::header;
use axum::http::request::Parts;
use http_body::Body as _;
use keyward_sig::Presented;

use super::{AuthSettings, Known, Refusal};
use crate::cache::Found;
use crate::error::{self, ApiError, ErrorCode};

/// The body the request goes on with (`None` when it was read) and the bytes verification
/// sees (empty unless the scheme signs the body).
pub(super) async fn read(
    settings: &AuthSettings,
    presented: &Presented<'_>,
    found: &Found,
    known: Known,
    parts: &Parts,
    body: Body,
    now_ms: i64,
) -> Result<(Option<Body>, bytes::Bytes), Refusal> {
    match &found.key {
        Some(key) if presented.reads_body() && !has_no_body(parts, &body) => {
            presented.check_key(key.0.material(), now_ms).map_err(|error| known.failed(error))?;
            let bytes = Box::pin(read_body(&parts.headers, body, settings.body_limit))
                .await
                .map_err(|error| known.tag(error))?;
            Ok((None, bytes))
        }
        _ => Ok((Some(body), bytes::Bytes::new())),
    }
}

/// Whether the request certainly has no body: its body says so, or its head does. In HTTP/1.x
/// a request has a body only with `Content-Length` above 0 or `Transfer-Encoding` (RFC 9112
/// section 6.3). Asked of the head too because a body wrapped for its read timeout no longer
/// says it is empty.
fn has_no_body(parts: &Parts, body: &Body) -> bool {
    let length = parts.headers.get(header::CONTENT_LENGTH).map(|v| v.as_bytes());
    body.is_end_stream()
        || length == Some(b"0")
        || (parts.version <= axum::http::Version::HTTP_11
            && length.is_none()
            && !parts.headers.contains_key(header::TRANSFER_ENCODING))
}

/// Reads the whole body, refusing one larger than `limit` before reading it when its length is
/// declared, and as soon as it passes the limit otherwise.
async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        let error = ApiError::new(ErrorCode::BodyTooLarge)
            .with_detail(serde_json::json!({ "limit_bytes": limit }));
        Refusal::new(error, "body-too-large")
    };
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if error::is_timeout(&error) {
            return Refusal::new(error::body_timeout(), "body-timeout");
        }
        match declared {
            // A declared length within the limit that still failed: the client broke off.
            Some(_) => Refusal::new(
                ApiError::new(ErrorCode::InvalidBody)
                    .with_message("Request body could not be read"),
                "body-unreadable",
            ),
            None => too_large(),
        }
    })
}
