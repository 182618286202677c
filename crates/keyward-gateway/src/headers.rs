//! What the gateway does to a request's headers and query on the way up: every header keyward
//! owns is removed (the credentials it consumed, identity headers no client may forge,
//! forwarding headers but a trusted proxy's, method overrides but the route's, rewritten
//! targets), the caller's identity is added, and keyward's own forwarding headers.
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
//! | `x-keyward-scheme` | `bearer`, `query-hmac`, `header-hmac`, `http-signature`, `api-key` or `mtls` |
//!
//! The request id stays in `x-request-id`.
//!
//! Headers are matched by name as upstreams read them, not as HTTP spells them: WSGI, PHP,
//! Rack and every CGI-style server map `x_keyward_principal` and `X-Keyward-Principal` to the
//! same `HTTP_X_KEYWARD_PRINCIPAL`, so a header keyward owns is removed whatever its case and
//! whichever of `_` and `-` separates its words ([`Owned`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use keyward_auth::{Identity, Principal};
use keyward_sig::Scheme;
use keyward_sig::api_key::ApiKeyHeader;
use keyward_sig::query_hmac::raw_params;
use keyward_store::Permissions;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use smallvec::SmallVec;

use crate::canonical::OverrideName;
use crate::spelling::{NAME_BUFFER, as_read, reads_as, starts_like};

/// The headers a scheme's credentials travel in, removed on the way up (any other
/// `x-logtrust-` header too).
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

/// Hop-by-hop headers (RFC 9110 section 7.6.1), never forwarded; and `HTTP2-Settings`, which
/// belongs to an h2c upgrade offer (RFC 7540 section 3.2.1) that keyward drops.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "http2-settings"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

/// The kinds of request header keyward owns: no client may set them for the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owned {
    /// An identity header: any name that starts with the identity prefix.
    Identity,
    /// Who forwarded the request for whom: `Forwarded`, `X-Forwarded-*`, `X-Real-IP`,
    /// `X-Client-IP`, `True-Client-IP`. Kept (exactly spelled) only from a trusted proxy.
    Forwarding,
    /// A method override: `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`.
    MethodOverride,
    /// A rewritten target, which some frameworks serve instead of the request's own
    /// (Symfony and Zend read `X-Original-URL` and `X-Rewrite-URL`), or a forward-auth proxy
    /// names the original request with (`X-Original-URI`, `X-Original-Method`,
    /// `X-Forwarded-URI`, `X-Forwarded-Method`, `X-Envoy-Original-Path`).
    RewrittenTarget,
    /// A scheme's credentials ([`CREDENTIAL_HEADERS`], and every `x-logtrust-` header).
    Credential,
}

/// Which kind of owned header `name` (a [`HeaderName`]'s text, lower case) is to an upstream,
/// if any; `identity_prefix` is the identity headers' prefix. Compared as [`as_read`]: `_` for
/// `-`.
pub fn owned(name: &str, identity_prefix: &str) -> Option<Owned> {
    // Most headers are none of keyward's: told apart by their first letter.
    let first = *name.as_bytes().first()?;
    let identity = identity_prefix.as_bytes().first() == Some(&first);
    // `client-cert` is the one name of its length starting with `c`.
    let client_cert = first == b'c' && name.len() == 11;
    if !identity && !client_cert && !matches!(first, b'x' | b'f' | b't' | b'a' | b's') {
        return None;
    }
    let mut buffer = [0u8; NAME_BUFFER];
    let Some(name) = as_read(name, &mut buffer) else {
        // Longer than any name keyward owns but an identity header's.
        return starts_like(name, identity_prefix).then_some(Owned::Identity);
    };
    if identity && name.starts_with(identity_prefix.as_bytes()) {
        return Some(Owned::Identity);
    }
    let kind = match first {
        b'x' if name.starts_with(b"x-logtrust-") => Owned::Credential,
        b'x' if name.starts_with(b"x-forwarded-") => match name {
            b"x-forwarded-uri" | b"x-forwarded-method" => Owned::RewrittenTarget,
            _ => Owned::Forwarding,
        },
        b'x' => match name {
            b"x-real-ip" | b"x-client-ip" | b"x-ssl-client-cert" => Owned::Forwarding,
            b"x-original-url"
            | b"x-rewrite-url"
            | b"x-original-uri"
            | b"x-original-method"
            | b"x-envoy-original-path" => Owned::RewrittenTarget,
            b"x-http-method-override" | b"x-http-method" | b"x-method-override" => {
                Owned::MethodOverride
            }
            b"x-csrf-token" => Owned::Credential,
            _ => return None,
        },
        b'a' if name == b"authorization" => Owned::Credential,
        b's' if name == b"signature" || name == b"signature-input" => Owned::Credential,
        b'f' if name == b"forwarded" => Owned::Forwarding,
        b'c' if name == b"client-cert" => Owned::Forwarding,
        b't' if name == b"true-client-ip" => Owned::Forwarding,
        _ => return None,
    };
    Some(kind)
}

/// What the gateway keeps of a client's headers on the way up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The credentials: consumed (removed) or untouched (a public route).
    pub credentials: Credentials,
    /// The forwarding headers: from a trusted proxy (kept when spelled exactly) or not.
    pub forwarding: Forwarding,
    /// The method override the route's upstream honours, kept; every other is removed.
    pub method_override: Option<OverrideName>,
    /// The header plain API keys travel in (configured): a credential like `Authorization`.
    pub api_key_header: ApiKeyHeader,
}

/// Whether the peer that sent a request is a trusted proxy, whose forwarding headers count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarding {
    /// A `--trusted-proxy`: its `X-Forwarded-For` and `Forwarded` are appended to, its
    /// `X-Forwarded-Proto` and `-Host` kept.
    Trusted,
    /// Anyone else: every forwarding header is keyward's alone.
    Untrusted,
}

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
    /// The `permissions` header's value for each set of permissions seen: a set's names never
    /// change (declared permissions are only ever added).
    permission_names: Arc<Memo<Permissions, Option<HeaderValue>>>,
    /// Each caller's other identity header values.
    callers: Arc<Memo<Caller, CallerValues>>,
    /// Each forward-auth answer's identity headers, by caller, permissions and scheme.
    answers: Arc<Memo<Option<Answered>, AnswerBlock>>,
}

/// Who a forward-auth answer is for: the caller, its permissions and the scheme it used.
type Answered = (Caller, Permissions, Scheme);

/// A forward-auth answer's identity headers, with the application name they were made from.
#[derive(Clone, Debug)]
struct AnswerBlock {
    name: Option<Arc<str>>,
    headers: HeaderMap,
}

/// Header values made once and shared, not on every request: a caller's identity headers are
/// the same on each of its requests. Bounded: past [`Memo::CAPACITY`] entries the memory starts
/// again.
#[derive(Debug)]
struct Memo<K, V>(RwLock<HashMap<K, V>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo(RwLock::new(HashMap::new()))
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Memo<K, V> {
    const CAPACITY: usize = 4096;

    /// The value under `key` if `current` says it is still right, else the one `make` makes.
    fn get(&self, key: K, current: impl Fn(&V) -> bool, make: impl FnOnce() -> V) -> V {
        let known = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(value) = known.get(&key).filter(|value| current(value)) {
            return value.clone();
        }
        drop(known);
        let value = make();
        let mut known = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() >= Self::CAPACITY {
            known.clear();
        }
        known.insert(key, value.clone());
        value
    }
}

/// Who a caller is, as its identity headers say it: kind (a key or not), id, domain, reseller.
/// The application's name, which can change, is checked on use.
type Caller = (bool, i64, Option<i64>, Option<i64>);

/// A caller's identity header values, with the application name they were made from.
#[derive(Clone, Debug)]
struct CallerValues {
    name: Option<Arc<str>>,
    principal: Option<HeaderValue>,
    key_id: Option<HeaderValue>,
    application: Option<HeaderValue>,
    domain: Option<HeaderValue>,
    reseller: Option<HeaderValue>,
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
        if prefix.contains('_') {
            return Err(format!(
                "the identity header prefix {prefix:?} has an `_`: upstreams read it as `-`, use `-`"
            ));
        }
        Ok(IdentityHeaders {
            principal: name("principal")?,
            key_id: name("key-id")?,
            application: name("application")?,
            domain: name("domain")?,
            reseller: name("reseller")?,
            permissions: name("permissions")?,
            scheme: name("scheme")?,
            permission_names: Arc::default(),
            callers: Arc::default(),
            answers: Arc::default(),
            prefix,
        })
    }

    /// The prefix, lower-case.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Readies a request's headers for the upstream, in one pass over them: removes the
    /// hop-by-hop headers (and those `Connection` names) and `Expect` (answered here; `Host`
    /// is left for the caller to replace with the upstream's), and every header keyward owns ([`owned`], in any spelling) but
    /// what `kept` keeps: identity headers, method overrides but the route's, rewritten
    /// targets, forwarding headers (but a trusted proxy's, spelled exactly), the credentials
    /// when keyward consumed them; and keyward's console cookies from `Cookie`.
    pub fn strip_request(&self, headers: &mut HeaderMap, kept: Kept) {
        let owned = |name: &str| match owned(name, &self.prefix) {
            None if reads_as(name, kept.api_key_header.name()) => Some(Owned::Credential),
            owned => owned,
        };
        remove_where(headers, |name| match owned(name) {
            // `Host` stays for the caller to replace with the upstream's, in place.
            None => name == "expect",
            Some(Owned::Identity | Owned::RewrittenTarget) => true,
            Some(Owned::MethodOverride) => {
                kept.method_override.is_none_or(|allowed| allowed.as_str() != name)
            }
            Some(Owned::Forwarding) => {
                kept.forwarding == Forwarding::Untrusted || name.contains('_')
            }
            Some(Owned::Credential) => {
                kept.credentials == Credentials::Consumed || name.contains('_')
            }
        });
        remove_console_cookies(headers);
    }

    /// Adds the caller's identity: the headers that apply to it.
    pub fn add(&self, headers: &mut HeaderMap, principal: &Principal) {
        for (name, value) in self.values(Some(principal)) {
            if let Some(value) = value {
                headers.insert(name.clone(), value);
            }
        }
    }

    /// Every identity header of a forward-auth answer: those that do not apply to the caller
    /// (or all, with no caller) are present and empty, so a proxy that copies them overwrites
    /// whatever a client sent under those names. Made once per caller, set of permissions and
    /// scheme, then copied: an answer hashes no header name.
    pub fn answer(&self, principal: Option<&Principal>) -> HeaderMap {
        let key =
            principal.map(|principal| (caller(principal), principal.permissions, principal.scheme));
        let name = principal.and_then(application_name);
        let block = self.answers.get(
            key,
            |block| block.name.as_deref() == name,
            || {
                let values = self.values(principal);
                let mut headers = HeaderMap::with_capacity(values.len() + 4);
                for (header, value) in values {
                    headers.insert(header.clone(), value.unwrap_or(HeaderValue::from_static("")));
                }
                AnswerBlock { name: name.map(Arc::from), headers }
            },
        );
        block.headers
    }

    /// Each identity header and its value for `principal`, `None` where it does not apply.
    pub(crate) fn values(
        &self,
        principal: Option<&Principal>,
    ) -> [(&HeaderName, Option<HeaderValue>); 7] {
        let Some(principal) = principal else {
            return [
                (&self.principal, None),
                (&self.key_id, None),
                (&self.application, None),
                (&self.domain, None),
                (&self.reseller, None),
                (&self.permissions, None),
                (&self.scheme, None),
            ];
        };
        let (caller, name) = (caller(principal), application_name(principal));
        let values = self.callers.get(
            caller,
            |values| values.name.as_deref() == name,
            || caller_values(caller, name),
        );
        let permissions = self.permission_names.get(
            principal.permissions,
            |_| true,
            || {
                let names: Vec<&str> = principal.permissions.iter().collect();
                HeaderValue::try_from(names.join(",")).ok()
            },
        );
        [
            (&self.principal, values.principal),
            (&self.key_id, values.key_id),
            (&self.application, values.application),
            (&self.domain, values.domain),
            (&self.reseller, values.reseller),
            (&self.permissions, permissions),
            (&self.scheme, Some(HeaderValue::from_static(principal.scheme.as_str()))),
        ]
    }
}

/// Who `principal` is, as its identity headers say.
fn caller(principal: &Principal) -> Caller {
    let (is_key, id) = match &principal.identity {
        Identity::Key { id, .. } => (true, *id),
        Identity::User { id, .. } => (false, *id),
    };
    (is_key, id, principal.domain_id, principal.reseller_id)
}

/// The name of the application a key stands for; `None` for a user.
fn application_name(principal: &Principal) -> Option<&str> {
    match &principal.identity {
        Identity::Key { name, .. } => Some(name),
        Identity::User { .. } => None,
    }
}

/// The identity header values of `caller`, a key named `name` or a user.
fn caller_values((is_key, id, domain, reseller): Caller, name: Option<&str>) -> CallerValues {
    let application = name.and_then(|name| {
        let plain = name.bytes().all(|c| (b' '..=b'~').contains(&c) && c != b'%');
        match plain {
            true => HeaderValue::from_str(name).ok(),
            false => {
                HeaderValue::try_from(utf8_percent_encode(name, NON_ASCII_TEXT).to_string()).ok()
            }
        }
    });
    let mut who = String::with_capacity(24);
    who.push_str(if is_key { "key:" } else { "user:" });
    who.push_str(itoa::Buffer::new().format(id));
    CallerValues {
        name: name.map(Arc::from),
        principal: HeaderValue::try_from(who).ok(),
        key_id: is_key.then(|| HeaderValue::from(id)),
        application,
        domain: domain.map(HeaderValue::from),
        reseller: reseller.map(HeaderValue::from),
    }
}

/// Whether keyward consumed the credentials a request carries (and removes them on the way up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Verified by keyward: removed.
    Consumed,
    /// Not looked at (a public route): passed on.
    Untouched,
}

/// Removes the hop-by-hop headers (RFC 9110 section 7.6.1) and those `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    remove_where(headers, |_| false);
}

/// Removes the hop-by-hop headers, those `Connection` names and those `also` picks, in one pass
/// over the names (nothing is allocated when nothing is removed).
fn remove_where(headers: &mut HeaderMap, also: impl Fn(&str) -> bool) {
    let mut doomed: SmallVec<[HeaderName; 8]> = SmallVec::new();
    for name in headers.keys() {
        if is_hop_by_hop(name.as_str()) || also(name.as_str()) {
            doomed.push(name.clone());
        }
    }
    if doomed.contains(&header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|name| HeaderName::try_from(name.trim()).ok())
            .collect();
        doomed.extend(named);
    }
    for name in doomed {
        headers.remove(name);
    }
}

/// What a request asks of its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// Nothing.
    None,
    /// A WebSocket handshake (`Upgrade: websocket`): passed where a route allows it, refused
    /// elsewhere.
    WebSocket,
    /// Another protocol (`h2c`, as Java's `HttpClient` offers on every request): an offer a
    /// server may ignore (RFC 9110 section 7.8), so it is dropped and the request served.
    Offer,
}

/// Whether the request asks to upgrade its connection (`Connection: upgrade` and `Upgrade`),
/// and to what.
pub fn upgrade(headers: &HeaderMap) -> Upgrade {
    let Some(protocols) = headers.get(header::UPGRADE) else { return Upgrade::None };
    let asked = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = protocols
        .to_str()
        .unwrap_or_default()
        .split(',')
        .any(|protocol| protocol.trim().eq_ignore_ascii_case("websocket"));
    match (asked, websocket) {
        (false, _) => Upgrade::None,
        (true, true) => Upgrade::WebSocket,
        (true, false) => Upgrade::Offer,
    }
}

/// Removes keyward's console cookies from `Cookie`, keeping the others.
pub fn remove_console_cookies(headers: &mut HeaderMap) {
    use keyward_auth::session::{CSRF_COOKIE, SESSION_COOKIE};
    let named = |value: &HeaderValue, cookie: &str| {
        value.as_bytes().windows(cookie.len()).any(|w| w == cookie.as_bytes())
    };
    let ours = headers
        .get_all(header::COOKIE)
        .iter()
        .any(|value| named(value, SESSION_COOKIE) || named(value, CSRF_COOKIE));
    if !ours {
        return;
    }
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

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Adds `X-Forwarded-For`, `-Proto`, `-Host` and `Forwarded` (RFC 7239). `proto` is `http` or
/// `https`; `host` is the request's canonical host. What a trusted proxy sent before keyward
/// (the headers are stripped of everyone else's) is appended to (`X-Forwarded-For`,
/// `Forwarded`) or kept (`-Proto`, `-Host`).
pub fn add_forwarding(
    headers: &mut HeaderMap,
    client: Option<IpAddr>,
    proto: &'static str,
    host: Option<HeaderValue>,
    forwarding: Forwarding,
) {
    let trusted = forwarding == Forwarding::Trusted;
    // Both values are written into one buffer and split off it: one allocation, no copy.
    let mut text = BytesMut::with_capacity(96);
    if let Some(client) = client {
        let earlier = trusted.then(|| headers.get(&X_FORWARDED_FOR)).flatten();
        if let Some(earlier) = earlier.filter(|v| v.to_str().is_ok()) {
            text.extend_from_slice(earlier.as_bytes());
            text.extend_from_slice(b", ");
        }
        push_ip(&mut text, client);
        if let Ok(value) = HeaderValue::from_maybe_shared(text.split().freeze()) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    if !trusted || !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if let Some(client) = client {
        text.extend_from_slice(b"for=");
        match client {
            IpAddr::V4(_) => push_ip(&mut text, client),
            IpAddr::V6(_) => {
                text.extend_from_slice(b"\"[");
                push_ip(&mut text, client);
                text.extend_from_slice(b"]\"");
            }
        }
        text.extend_from_slice(b";");
    }
    text.extend_from_slice(b"proto=");
    text.extend_from_slice(proto.as_bytes());
    let quotable =
        |h: &&HeaderValue| h.as_bytes().iter().all(|c| c.is_ascii_graphic() && *c != b'"');
    if let Some(host) = host.as_ref().filter(quotable) {
        text.extend_from_slice(b";host=\"");
        text.extend_from_slice(host.as_bytes());
        text.extend_from_slice(b"\"");
    }
    if let Ok(value) = HeaderValue::from_maybe_shared(text.freeze()) {
        headers.append(header::FORWARDED, value);
    }
    if let Some(host) = host.filter(|_| !trusted || !headers.contains_key(&X_FORWARDED_HOST)) {
        headers.insert(X_FORWARDED_HOST, host);
    }
}

/// Writes an address (IPv4 digit by digit into a stack buffer, copied in once: the
/// formatter's padding machinery costs more than the rest of the header).
fn push_ip(out: &mut BytesMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let (mut text, mut len) = ([0u8; 15], 0);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                let digits = [octet / 100, octet / 10 % 10, octet % 10];
                let skip = if octet >= 100 {
                    0
                } else if octet >= 10 {
                    1
                } else {
                    2
                };
                let dot = usize::from(i > 0);
                text[len] = b'.';
                for (slot, digit) in text[len + dot..].iter_mut().zip(&digits[skip..]) {
                    *slot = b'0' + digit;
                }
                len += dot + 3 - skip;
            }
            out.extend_from_slice(&text[..len]);
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
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
            ("x-api-key", "kwapi_x"),
            ("x_api_key", "kwapi_y"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("cookie", "kw_session=abc; theme=dark; kw_csrf=def"),
            ("accept", "application/json"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        IdentityHeaders::default().strip_request(&mut headers, kept(Credentials::Consumed));
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["accept", "cookie"]);
        assert_eq!(headers["cookie"], "theme=dark");
        // A configured API-key header is a credential too, and the default one then is not.
        let mut headers = HeaderMap::new();
        headers.append("apikey", HeaderValue::from_static("kwapi_x"));
        headers.append("x-api-key", HeaderValue::from_static("app-defined"));
        let api_key_header = ApiKeyHeader::new("ApiKey").unwrap();
        let consumed = Kept { api_key_header, ..kept(Credentials::Consumed) };
        IdentityHeaders::default().strip_request(&mut headers, consumed);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-api-key"]);
    }

    fn kept(credentials: Credentials) -> Kept {
        Kept {
            credentials,
            forwarding: Forwarding::Untrusted,
            method_override: None,
            api_key_header: ApiKeyHeader::default(),
        }
    }

    #[test]
    fn owned_headers_are_known_in_every_spelling() {
        let prefix = "x-keyward-";
        for (name, kind) in [
            ("x_keyward_principal", Owned::Identity),
            ("x-keyward_permissions", Owned::Identity),
            ("x_forwarded_for", Owned::Forwarding),
            ("x-forwarded-host", Owned::Forwarding),
            ("forwarded", Owned::Forwarding),
            ("x_real_ip", Owned::Forwarding),
            ("true-client-ip", Owned::Forwarding),
            ("x_http_method_override", Owned::MethodOverride),
            ("x-http-method", Owned::MethodOverride),
            ("x-original-url", Owned::RewrittenTarget),
            ("x_rewrite_url", Owned::RewrittenTarget),
            ("x_logtrust_sign", Owned::Credential),
            ("authorization", Owned::Credential),
            ("signature_input", Owned::Credential),
        ] {
            assert_eq!(owned(name, prefix), Some(kind), "{name}");
        }
        for name in
            ["accept", "x-keyward", "x-forwarded", "forwarded-for", "signatures", "x-request-id"]
        {
            assert_eq!(owned(name, prefix), None, "{name}");
        }
        // Each list keyward keeps is classified as it says.
        let rewritten_targets = [
            "x-original-url",
            "x-rewrite-url",
            "x-original-uri",
            "x-original-method",
            "x-forwarded-uri",
            "x-forwarded-method",
            "x-envoy-original-path",
        ];
        for name in rewritten_targets {
            assert_eq!(owned(name, prefix), Some(Owned::RewrittenTarget), "{name}");
        }
        for name in CREDENTIAL_HEADERS {
            assert_eq!(owned(name, prefix), Some(Owned::Credential), "{name}");
        }
        for name in OverrideName::HEADERS {
            assert_eq!(owned(name, prefix), Some(Owned::MethodOverride), "{name}");
            assert_eq!(owned(&name.replace('-', "_"), prefix), Some(Owned::MethodOverride));
        }
        let long = format!("x_keyward_{}", "a".repeat(100));
        assert_eq!(owned(&long, prefix), Some(Owned::Identity));
        assert!(IdentityHeaders::new("x_app_").is_err());
    }

    #[test]
    fn a_trusted_proxys_forwarding_headers_are_kept_and_no_one_elses() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.9"),
            ("x_forwarded_for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-http-method-override", "DELETE"),
            ("x-method-override", "PUT"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        let mut trusted = headers.clone();
        let route = Kept {
            forwarding: Forwarding::Trusted,
            method_override: Some(OverrideName::Header("x-http-method-override")),
            ..kept(Credentials::Untouched)
        };
        IdentityHeaders::default().strip_request(&mut trusted, route);
        let mut left: Vec<&str> = trusted.keys().map(HeaderName::as_str).collect();
        left.sort();
        assert_eq!(left, ["x-forwarded-for", "x-forwarded-proto", "x-http-method-override"]);
        IdentityHeaders::default().strip_request(&mut headers, kept(Credentials::Untouched));
        assert!(headers.is_empty(), "{headers:?}");
    }

    #[test]
    fn a_forward_auth_answer_follows_a_renamed_key_and_changed_permissions() {
        let ids = IdentityHeaders::default();
        let mut principal = Principal {
            scheme: Scheme::Bearer,
            identity: Identity::Key {
                id: 7,
                name: "Billing".into(),
                kind: keyward_sig::KeyKind::Domain,
            },
            domain_id: Some(3),
            reseller_id: None,
            permissions: Permissions::parse(&["activities:read"]).unwrap(),
            access_token: None,
        };
        let answer = ids.answer(Some(&principal));
        assert_eq!(answer["x-keyward-application"], "Billing");
        assert_eq!(answer["x-keyward-permissions"], "activities:read");
        assert_eq!(answer["x-keyward-reseller"], "", "present and empty");
        assert_eq!(answer.len(), 7);
        principal.identity =
            Identity::Key { id: 7, name: "Invoices".into(), kind: keyward_sig::KeyKind::Domain };
        principal.permissions = Permissions::parse(&["activities:read", "keys:manage"]).unwrap();
        principal.scheme = Scheme::QueryHmac;
        let answer = ids.answer(Some(&principal));
        assert_eq!(answer["x-keyward-application"], "Invoices");
        assert_eq!(answer["x-keyward-permissions"], "activities:read,keys:manage");
        assert_eq!(answer["x-keyward-scheme"], "query-hmac");
        let nobody = ids.answer(None);
        assert!(nobody.values().all(|value| value.is_empty()) && nobody.len() == 7);
    }

    #[test]
    fn addresses_are_written_as_they_print() {
        for octets in [[0, 0, 0, 0], [255, 255, 255, 255], [1, 20, 100, 9], [10, 99, 100, 101]] {
            let ip = IpAddr::from(octets);
            let mut out = BytesMut::new();
            push_ip(&mut out, ip);
            assert_eq!(&out[..], ip.to_string().as_bytes());
        }
    }

    #[test]
    fn forwarding_headers_name_the_client_the_scheme_and_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let client = Some(IpAddr::from([10, 0, 200, 7]));
        add_forwarding(
            &mut headers,
            client,
            "https",
            Some(HeaderValue::from_static("api.example:8443")),
            Forwarding::Trusted,
        );
        assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 10.0.200.7");
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-forwarded-host"], "api.example:8443");
        assert_eq!(headers["forwarded"], "for=10.0.200.7;proto=https;host=\"api.example:8443\"");
        let mut headers = HeaderMap::new();
        let v6 = Some("2001:db8::1".parse().unwrap());
        add_forwarding(&mut headers, v6, "http", None, Forwarding::Untrusted);
        assert_eq!(headers["x-forwarded-for"], "2001:db8::1");
        assert_eq!(headers["forwarded"], "for=\"[2001:db8::1]\";proto=http");
    }

    #[test]
    fn forged_identity_headers_are_removed_whatever_their_case() {
        let ids = IdentityHeaders::default();
        let mut headers = HeaderMap::new();
        headers.insert("X-Keyward-Principal", HeaderValue::from_static("user:1"));
        headers.insert("x-keyward-anything", HeaderValue::from_static("1"));
        headers.insert("x_keyward_permissions", HeaderValue::from_static("*"));
        headers.insert("x-other", HeaderValue::from_static("1"));
        ids.strip_request(&mut headers, kept(Credentials::Untouched));
        assert_eq!(headers.len(), 1);
        assert!(IdentityHeaders::new("bad prefix ").is_err());
    }
}
