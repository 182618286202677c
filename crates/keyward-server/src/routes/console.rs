//! The admin console at `/console/`: its assets (embedded, nothing fetched from elsewhere), and
//! its sessions.
//!
//! A person signs in with a user name and password; the session is a token in an HttpOnly,
//! SameSite=Strict cookie (Secure when clients reach the server over https) scoped to
//! `/console/`: a browser sends it to no other path of the host, on any port, so it never
//! reaches an API that keyward (or a proxy asking keyward) stands in front of. The console
//! calls the administration API below its own path (`/console/api/admin/...`), the only routes
//! that take the cookie; its token is stored under a digest of its own, so it is no bearer
//! token either. For POST, PUT, PATCH and DELETE the auth layer also requires the
//! `X-CSRF-Token` header to repeat the `kw_csrf` cookie (the double-submit pattern): a page
//! from another site can neither read the cookie nor set the header. API keys cannot sign in:
//! the console is for people.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use keyward_auth::session::{CSRF_COOKIE, SESSION_COOKIE};
use serde::Deserialize;

use super::session::{Door, end_session, log_in};
use crate::AppState;
use crate::auth::{Identity, Principal, RequestId};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ClientAddress, Payload};
use crate::views::{ConsoleSessionView, Data};

/// The console's path: its cookies are scoped to it, so a browser never sends them to an API
/// on the same host (on any port), and the console calls the API below it.
pub const CONSOLE_PATH: &str = "/console/";

/// How long a console session lasts.
const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// The console's Content-Security-Policy: everything from this origin, nothing inline.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The security headers every console answer carries.
pub fn security_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff")),
        (HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY")),
        (HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer")),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response =
        ([(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")], body).into_response();
    response.headers_mut().extend(security_headers());
    response
}

/// `GET /console/`.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", include_str!("../../assets/console/index.html"))
}

/// The console's script: ES modules, no bundler and no build step. `index.html` loads `app.js`,
/// which imports the others by relative paths; each is served at `/console/{name}`.
pub const MODULES: &[(&str, &str)] = &[
    ("app.js", include_str!("../../assets/console/app.js")),
    ("api.js", include_str!("../../assets/console/api.js")),
    ("audit.js", include_str!("../../assets/console/audit.js")),
    ("dom.js", include_str!("../../assets/console/dom.js")),
    ("key.js", include_str!("../../assets/console/key.js")),
    ("keys.js", include_str!("../../assets/console/keys.js")),
    ("limits.js", include_str!("../../assets/console/limits.js")),
    ("messages.js", include_str!("../../assets/console/messages.js")),
    ("page.js", include_str!("../../assets/console/page.js")),
    ("state.js", include_str!("../../assets/console/state.js")),
    ("usage.js", include_str!("../../assets/console/usage.js")),
    ("users.js", include_str!("../../assets/console/users.js")),
    ("widgets.js", include_str!("../../assets/console/widgets.js")),
];

/// `GET /console/{name}` for each of [`MODULES`]: `source`, the module's text.
pub async fn script(source: &'static str) -> Response {
    asset("text/javascript; charset=utf-8", source)
}

/// `GET /console/app.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../assets/console/app.css"))
}

fn set_cookie(headers: &mut HeaderMap, cookie: Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        headers.append(SET_COOKIE, value);
    }
}

fn session_cookies(state: &AppState, token: &str, csrf: &str) -> HeaderMap {
    let secure = state.settings.uri_scheme == "https";
    let mut headers = HeaderMap::new();
    let build = |name: &'static str, value: String, http_only: bool| {
        Cookie::build((name, value))
            .path(CONSOLE_PATH)
            .http_only(http_only)
            .secure(secure)
            .same_site(SameSite::Strict)
            .max_age(cookie::time::Duration::milliseconds(SESSION_TTL_MS))
            .build()
    };
    set_cookie(&mut headers, build(SESSION_COOKIE, token.to_owned(), true));
    set_cookie(&mut headers, build(CSRF_COOKIE, csrf.to_owned(), false));
    headers
}

/// The console's sign-in form.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    password: String,
}

/// The session's answer: who is signed in, what they hold, and the permissions they may grant
/// (every permission this deployment knows, and `*`, for someone holding `*`).
fn session_view<'a>(
    username: &'a str,
    permissions: &'a keyward_store::Permissions,
) -> axum::Json<Data<ConsoleSessionView<'a>>> {
    let grantable: Vec<&str> = if permissions.has(keyward_store::EVERY_PERMISSION) {
        std::iter::once(keyward_store::EVERY_PERMISSION)
            .chain(keyward_store::known_permissions())
            .collect()
    } else {
        permissions.iter().collect()
    };
    Data::of(ConsoleSessionView { username, permissions, grantable })
}

/// `POST /console/session`: signs a person in.
#[utoipa::path(
    post,
    path = "/console/session",
    tag = "console",
    summary = "Sign a person in to the console: sets the HttpOnly session cookie and the CSRF cookie. Throttled like a login; audited.",
    security(()),
    request_body = SignIn,
    responses((status = 200, description = "Signed in", body = Data<ConsoleSessionView>), (status = 401, description = "Wrong name or password (21)", body = crate::openapi::ErrorBody), (status = 429, description = "Too many failed sign-ins (25), with Retry-After", body = crate::openapi::ErrorBody)),
)]
pub async fn sign_in(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientAddress(address): ClientAddress,
    Payload(form): Payload<SignIn>,
) -> Result<Response, ApiError> {
    let login =
        log_in(&state, Door::Console, &request_id, address, &form.username, &form.password).await?;
    let user = login.user.ok_or(ApiError::new(ErrorCode::InvalidLogin))?;
    let (token, _) =
        state.store.issue_console_session(user.id, user.domain_id, SESSION_TTL_MS).await?;
    let csrf = keyward_sig::mac::to_hex(&random_bytes());
    let headers = session_cookies(&state, &token.0, &csrf);
    Ok((headers, session_view(&user.username, &user.permissions)).into_response())
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

/// `GET /console/session`: who is signed in.
#[utoipa::path(
    get,
    path = "/console/session",
    tag = "console",
    summary = "Who is signed in to the console.",
    responses((status = 200, description = "Signed in", body = Data<ConsoleSessionView>), crate::openapi::AuthFailures),
)]
pub async fn current(principal: Principal) -> Result<Response, ApiError> {
    match &principal.identity {
        Identity::User { username, .. } if principal.access_token.is_some() => {
            Ok(session_view(username, &principal.permissions).into_response())
        }
        _ => {
            Err(ApiError::new(ErrorCode::NoCredentials)
                .with_message("Not signed in to the console"))
        }
    }
}

/// `DELETE /console/session`: signs out (revokes the session's token, clears the cookies).
#[utoipa::path(
    delete,
    path = "/console/session",
    tag = "console",
    summary = "Sign out of the console (needs the X-CSRF-Token header). Audited.",
    responses((status = 204, description = "Signed out"), crate::openapi::AuthFailures),
)]
pub async fn sign_out(
    State(state): State<AppState>,
    principal: Principal,
    RequestId(request_id): RequestId,
    ClientAddress(address): ClientAddress,
) -> Result<Response, ApiError> {
    end_session(&state, &principal, &request_id, address, "console.sign_out").await?;
    let mut headers = HeaderMap::new();
    // Cookies of earlier versions were scoped to `/`: those go too.
    for (name, path) in
        [SESSION_COOKIE, CSRF_COOKIE].into_iter().flat_map(|n| [(n, CONSOLE_PATH), (n, "/")])
    {
        let mut expired = Cookie::build((name, "")).path(path).same_site(SameSite::Strict).build();
        expired.make_removal();
        set_cookie(&mut headers, expired);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

#[cfg(test)]
mod tests {
    use super::MODULES;

    /// The modules `source` imports: the names in its `from "./name.js"`.
    fn imports(source: &str) -> impl Iterator<Item = &str> {
        source
            .split("from \"./")
            .skip(1)
            .filter_map(|rest| rest.split_once('"'))
            .map(|(name, _)| name)
    }

    #[test]
    fn the_page_loads_the_first_module_and_every_module_imported_is_served() {
        let page = include_str!("../../assets/console/index.html");
        assert!(
            page.contains(&format!("<script type=\"module\" src=\"/console/{}\">", MODULES[0].0))
        );
        for (name, source) in MODULES {
            for import in imports(source) {
                assert!(
                    MODULES.iter().any(|(served, _)| *served == import),
                    "{name} imports {import}"
                );
            }
        }
        for (name, _) in &MODULES[1..] {
            let imported = MODULES.iter().any(|(_, source)| imports(source).any(|i| i == *name));
            assert!(imported, "no module imports {name}");
        }
    }
}
