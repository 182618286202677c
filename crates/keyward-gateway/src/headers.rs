//! What the gateway does to a request's headers and query on the way up: the credentials it
//! consumed are removed, any header that looks like its own identity headers is removed (no
//! client can forge them), the caller's identity is added, and the usual forwarding headers.
//!
//! Identity headers, with the default prefix `x-keyward-`:
//!
//! | header | value |
//! |---|---|
//! | `x-keyward-principal` | `user:<id>` or `key:<id>` |
//! | `x-keyward-key-id` | the key's id (keys only) |
//! | `x-keyward-application` | the key's application name, percent-encoded past ASCII (keys only) |
//! | `x-keyward-domain` | the domain's id (domain principals) |
//! | `x-keyward-reseller` | the reseller's id (reseller keys) |
//! | `x-keyward-permissions` | the permissions, comma-separated (`*` for every one) |
//! | `x-keyward-scheme` | `bearer`, `query-hmac`, `header-hmac` or `http-signature` |
//!
//! The request id stays in `x-request-id`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use keyward_auth::{Identity, Principal};
use keyward_sig::query_hmac::raw_params;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// The headers a scheme's credentials travel in, removed on the way up.
pub const CREDENTIAL_HEADERS: [&str; 9] = [
    "authorization",
    "x-logtrust-sign",
    "x-logtrust-timestamp",
    "x-logtrust-apikey",
    "x-logtrust-domain-apikey",
    "x-logtrust-reseller-apikey",
    "signature",
    "signature-input",
    "x-csrf-token",
];

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// What is escaped in header values built from names people chose.
const NON_ASCII_TEXT: &AsciiSet = &CONTROLS.add(b'%');

/// The names of the identity headers, after a prefix.
#[derive(Clone, Debug)]
pub struct IdentityHeaders {
    prefix: String,
    principal: HeaderName,
    key_id: HeaderName,
    application: HeaderName,
    domain: HeaderName,
    reseller: HeaderName,
    permissions: HeaderName,
    scheme: HeaderName,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders::new("x-keyward-").expect("the default prefix is a header name")
    }
}

impl IdentityHeaders {
    /// The headers named `<prefix>principal` and so on; `Err` when the prefix cannot start a
    /// header name.
    pub fn new(prefix: &str) -> Result<Self, String> {
        let prefix = prefix.to_ascii_lowercase();
        let name = |suffix: &str| {
            HeaderName::try_from(format!("{prefix}{suffix}"))
                .map_err(|_| format!("{prefix:?} cannot start a header name"))
        };
        if prefix.len() < 2 {
            return Err(format!("the identity header prefix {prefix:?} is too short"));
        }
        Ok(IdentityHeaders {
            principal: name("principal")?,
            key_id: name("key-id")?,
            application: name("application")?,
            domain: name("domain")?,
            reseller: name("reseller")?,
            permissions: name("permissions")?,
            scheme: name("scheme")?,
            prefix,
        })
    }

    /// Removes every header that starts with the prefix: only keyward sets them.
    pub fn remove_forged(&self, headers: &mut HeaderMap) {
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with(&self.prefix))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
    }

    /// Adds the caller's identity: the headers that apply to it.
    pub fn add(&self, headers: &mut HeaderMap, principal: &Principal) {
        for (name, value) in self.values(Some(principal)) {
            if let Some(value) = value {
                headers.insert(name.clone(), value);
            }
        }
    }

    /// Sets every identity header for a forward-auth answer: those that do not apply to the
    /// caller (or all, with no caller) are present and empty, so a proxy that copies them
    /// overwrites whatever a client sent under those names.
    pub fn answer(&self, headers: &mut HeaderMap, principal: Option<&Principal>) {
        for (name, value) in self.values(principal) {
            headers.insert(name.clone(), value.unwrap_or(HeaderValue::from_static("")));
        }
    }

    /// Each identity header and its value for `principal`, `None` where it does not apply.
    pub(crate) fn values(
        &self,
        principal: Option<&Principal>,
    ) -> [(&HeaderName, Option<HeaderValue>); 7] {
        let number = |n: Option<i64>| n.map(HeaderValue::from);
        let key = principal.and_then(|p| match &p.identity {
            Identity::Key { id, name, .. } => Some((*id, name.as_str())),
            Identity::User { .. } => None,
        });
        let application = key
            .map(|(_, name)| utf8_percent_encode(name, NON_ASCII_TEXT).to_string())
            .and_then(|name| HeaderValue::try_from(name).ok());
        let who = principal.and_then(|p| {
            let (kind, id) = match &p.identity {
                Identity::User { id, .. } => ("user", id),
                Identity::Key { id, .. } => ("key", id),
            };
            HeaderValue::try_from(format!("{kind}:{id}")).ok()
        });
        let permissions = principal.and_then(|p| {
            let names: Vec<&str> = p.permissions.iter().collect();
            HeaderValue::try_from(names.join(",")).ok()
        });
        [
            (&self.principal, who),
            (&self.key_id, number(key.map(|(id, _)| id))),
            (&self.application, application),
            (&self.domain, number(principal.and_then(|p| p.domain_id))),
            (&self.reseller, number(principal.and_then(|p| p.reseller_id))),
            (&self.permissions, permissions),
            (&self.scheme, principal.map(|p| HeaderValue::from_static(p.scheme.as_str()))),
        ]
    }
}

/// Removes the hop-by-hop headers (RFC 9110 section 7.6.1) and those `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in named_by_connection {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes the headers any scheme's credentials travel in.
pub fn remove_credentials(headers: &mut HeaderMap) {
    for name in CREDENTIAL_HEADERS {
        headers.remove(name);
    }
}

/// Whether the request asks to upgrade its connection (`Connection: upgrade` and `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes keyward's console cookies from `Cookie`, keeping the others.
pub fn remove_console_cookies(headers: &mut HeaderMap) {
    use keyward_auth::session::{CSRF_COOKIE, SESSION_COOKIE};
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && name != SESSION_COOKIE && name != CSRF_COOKIE
        })
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(value) = HeaderValue::try_from(kept.join("; ")) {
        if !kept.is_empty() {
            headers.insert(header::COOKIE, value);
        }
    }
}

/// The query without query-hmac's `t`, `ms` and `s` (their names decoded as the verifier
/// decodes them, so `m%73` goes too), or `None` when nothing is left.
pub fn query_without_credentials(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let credential = raw_params(pair).next().is_some_and(|param| {
                let key = param.decoded_key();
                [&b"t"[..], b"ms", b"s"].iter().any(|name| key.clone().eq(name.iter().copied()))
            });
            !pair.is_empty() && !credential
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// Adds `X-Forwarded-For` (appended to what a proxy before keyward sent), `-Proto`, `-Host` and
/// `Forwarded` (RFC 7239).
pub fn add_forwarding(
    headers: &mut HeaderMap,
    client: Option<IpAddr>,
    proto: &str,
    host: Option<&str>,
) {
    if let Some(client) = client {
        let earlier =
            headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let chain = match earlier {
            Some(earlier) => format!("{earlier}, {client}"),
            None => client.to_string(),
        };
        if let Ok(value) = HeaderValue::try_from(chain) {
            headers.insert("x-forwarded-for", value);
        }
    }
    if let Ok(value) = HeaderValue::try_from(proto) {
        headers.insert("x-forwarded-proto", value);
    }
    if let Some(host) = host.and_then(|host| HeaderValue::try_from(host).ok()) {
        headers.insert("x-forwarded-host", host);
    }
    let mut forwarded = Vec::new();
    if let Some(client) = client {
        forwarded.push(match client {
            IpAddr::V4(v4) => format!("for={v4}"),
            IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
        });
    }
    forwarded.push(format!("proto={proto}"));
    if let Some(host) = host.filter(|h| h.bytes().all(|c| c.is_ascii_graphic() && c != b'"')) {
        forwarded.push(format!("host=\"{host}\""));
    }
    if let Ok(value) = HeaderValue::try_from(forwarded.join(";")) {
        headers.append(header::FORWARDED, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_credentials_are_removed_and_the_rest_kept_in_order() {
        assert_eq!(
            query_without_credentials("page=2&t=k&ms=1&s=ab&x=1").as_deref(),
            Some("page=2&x=1")
        );
        assert_eq!(query_without_credentials("t=k&ms=1&s=ab"), None);
        assert_eq!(query_without_credentials("tt=1&sms=2").as_deref(), Some("tt=1&sms=2"));
        assert_eq!(query_without_credentials("%74=k&m%73=1&%73=ab&a=1").as_deref(), Some("a=1"));
    }

    #[test]
    fn credentials_hop_by_hop_and_console_cookies_are_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer x"),
            ("x-logtrust-sign", "ab"),
            ("signature-input", "sig1=()"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("cookie", "kw_session=abc; theme=dark; kw_csrf=def"),
            ("accept", "application/json"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        remove_hop_by_hop(&mut headers);
        remove_credentials(&mut headers);
        remove_console_cookies(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["accept", "cookie"]);
        assert_eq!(headers["cookie"], "theme=dark");
    }

    #[test]
    fn forged_identity_headers_are_removed_whatever_their_case() {
        let ids = IdentityHeaders::default();
        let mut headers = HeaderMap::new();
        headers.insert("X-Keyward-Principal", HeaderValue::from_static("user:1"));
        headers.insert("x-keyward-anything", HeaderValue::from_static("1"));
        headers.insert("x-other", HeaderValue::from_static("1"));
        ids.remove_forged(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(IdentityHeaders::new("bad prefix ").is_err());
    }
}
