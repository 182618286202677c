//! Phases 1 and 2: the credentials, parsed once from the headers and the target (when there
//! are none there: the console's session cookie, else the connection's client certificate),
//! and their scheme, against the route group's list.

use axum::http::request::Parts;
use std::sync::Arc;

use keyward_sig::certificate::ClientCertificate;
use keyward_sig::{Presented, RequestView, VerifyError};

use super::{AuthSettings, BodyWithheld, Known, Refusal};
use crate::error::{ApiError, ErrorCode};

/// The credentials `view` presents, in a scheme these settings accept.
pub(super) fn read<'v>(
    settings: &AuthSettings,
    view: &'v RequestView<'v>,
    parts: &'v Parts,
) -> Result<Presented<'v>, Refusal> {
    let presented = match settings.verifier.parse(view) {
        Ok(presented) => presented,
        Err(VerifyError::NoCredentials) => outside_the_request(settings, view, parts)?,
        Err(error) => return Err(Refusal::verify(error, None, None)),
    };
    let scheme = presented.scheme();
    if !settings.schemes.contains(&scheme) {
        let accepted: Vec<&str> = settings.schemes.iter().map(|s| s.as_str()).collect();
        let error = ApiError::new(ErrorCode::SchemeNotAllowed)
            .with_message(format!(
                "The {scheme} scheme is not accepted here; use {}",
                accepted.join(" or ")
            ))
            .with_detail(serde_json::json!({ "scheme": scheme.as_str(), "accepted": accepted }));
        return Err(Known::scheme(scheme).refuse(error, "scheme-not-allowed"));
    }
    // A body the pipeline cannot see cannot be verified: refused, whatever the key.
    if let Some(BodyWithheld(hint)) = parts.extensions.get().filter(|_| presented.reads_body()) {
        let error = ApiError::new(ErrorCode::BodyNotForwarded)
            .with_message(format!("The {scheme} scheme signs the body, and {hint}"))
            .with_detail(serde_json::json!({ "scheme": scheme.as_str() }));
        return Err(Known::scheme(scheme).refuse(error, "body-not-forwarded"));
    }
    Ok(presented)
}

/// Credentials a request without any of its own stands for: the console's session cookie (on
/// the console's routes), else the client certificate its TLS connection presented.
fn outside_the_request<'v>(
    settings: &AuthSettings,
    view: &'v RequestView<'v>,
    parts: &'v Parts,
) -> Result<Presented<'v>, Refusal> {
    if settings.console_sessions {
        let csrf_failed = |_| Refusal::new(ApiError::new(ErrorCode::CsrfFailed), "csrf-failed");
        if let Some(token) = console_session(parts).map_err(csrf_failed)? {
            return Ok(settings.verifier.console_session(view, token));
        }
    }
    match parts.extensions.get::<Arc<ClientCertificate>>() {
        Some(certificate) => Ok(settings.verifier.client_certificate(view, certificate)),
        None => Err(Refusal::verify(VerifyError::NoCredentials, None, None)),
    }
}

/// The console session's access token, when the request carries the session cookie. For
/// methods that change something, the `X-CSRF-Token` header must repeat the CSRF cookie
/// (compared in constant time), or the CSRF check fails (`Err`); see [`crate::session`].
fn console_session(parts: &Parts) -> Result<Option<&str>, ()> {
    use crate::session::{CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, cookie};
    let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    if !parts.method.is_safe() {
        let expected = cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default();
        let presented = parts.headers.get(CSRF_HEADER).map_or(&b""[..], |v| v.as_bytes());
        if expected.is_empty()
            || !keyward_sig::mac::constant_time_eq(expected.as_bytes(), presented)
        {
            return Err(());
        }
    }
    Ok(Some(session))
}
