//! The admin console's session, as the pipeline reads it: the session cookie stands for a
//! bearer token when a request carries no other credentials, and for methods that change
//! something the `X-CSRF-Token` header must repeat the CSRF cookie (the double-submit pattern).
//! Setting the cookies is the console's business (keyward-server).

use axum::http::HeaderMap;
use cookie::Cookie;

/// The session cookie: an access token, never readable by scripts.
pub const SESSION_COOKIE: &str = "kw_session";
/// The CSRF cookie, which the page repeats in `X-CSRF-Token`.
pub const CSRF_COOKIE: &str = "kw_csrf";
/// The header that must repeat the CSRF cookie on unsafe methods.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request's `Cookie` headers (parsed by the `cookie`
/// crate; malformed pairs are passed over).
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name_raw() == Some(name))
        .and_then(|cookie| cookie.value_raw())
}
