//! The canonical form of a request at the front door, computed once and read by every decision
//! the gateway and forward-auth make (route, permissions, key policy, response signing,
//! `strip_prefix`, the path sent upstream), so that the request keyward authorizes is the
//! request the upstream serves:
//!
//! - **path**: see [`crate::path`]: unreserved escapes decoded; dot segments, `//`, `;`,
//!   encoded separators and malformed escapes refused;
//! - **host**: the `Host` header (or the URI's authority, HTTP/2's `:authority`), lower case,
//!   without a trailing dot or the scheme's default port; refused when repeated, malformed,
//!   carrying user information, or disagreeing with the URI's authority;
//! - **method**: `HEAD` is authorized as `GET` (routes and policies ask what `GET` needs);
//!   method-override headers (`X-HTTP-Method-Override`, `X-HTTP-Method`,
//!   `X-Method-Override`) and the `_method` query parameter, which Express, Laravel, Symfony,
//!   Rails and ASP.NET honour, are honoured only where a route names them
//!   ([`crate::route::RouteConfig::method_override`]): there the method they name is the one
//!   authorized; elsewhere the gateway removes the headers and refuses `_method`, and
//!   forward-auth, which cannot remove them, refuses both.
//!
//! # Example
//! ```
//! use keyward_gateway::canonical::{CanonicalRequest, HostError};
//! let request = http::Request::get("/%6Frders/1").header("host", "Shop.Example.:80").body(()).unwrap();
//! let canonical = CanonicalRequest::read(request.uri(), request.headers(), "http").unwrap();
//! assert_eq!(canonical.host_name(), Some("shop.example"));
//! assert_eq!(canonical.path(request.uri()), "/orders/1");
//! let twice = http::Request::get("/").header("host", "a.example").header("host", "b.example").body(()).unwrap();
//! assert_eq!(CanonicalRequest::read(twice.uri(), twice.headers(), "http").unwrap_err().host(), Some(HostError::Repeated));
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};

use crate::path::{PathError, canonical_path};

/// A request's path and host as keyward decides on them.
#[derive(Clone, Debug)]
pub struct CanonicalRequest {
    host: Option<CanonicalHost>,
    /// The canonical path, when it differs from the URI's.
    path: Option<String>,
}

/// Why a request cannot be read canonically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoorError {
    /// Its path.
    Path(PathError),
    /// Its host.
    Host(HostError),
}

impl DoorError {
    /// The host's error, if the host was refused.
    pub fn host(self) -> Option<HostError> {
        match self {
            DoorError::Host(error) => Some(error),
            DoorError::Path(_) => None,
        }
    }
}

/// Why a host is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// `Host` is sent twice.
    Repeated,
    /// It is not a host name, an IPv4 address or a bracketed IPv6 address, with an optional
    /// port (user information, `%`, an empty label, a bad port...).
    Malformed,
    /// The URI's authority (an absolute-form target, or HTTP/2's `:authority`) names another
    /// host than `Host`.
    Disagrees,
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostError::Repeated => "the Host header is repeated",
            HostError::Malformed => "the host is not a host name or address with an optional port",
            HostError::Disagrees => "the request target's authority and the Host header disagree",
        })
    }
}

impl CanonicalRequest {
    /// Reads `uri` and `headers`; `scheme` (`http` or `https`) says which default port to
    /// drop.
    pub fn read(uri: &Uri, headers: &HeaderMap, scheme: &str) -> Result<Self, DoorError> {
        let path = match canonical_path(uri.path()).map_err(DoorError::Path)? {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(path) => Some(path),
        };
        let host = request_host(uri, headers, default_port(scheme)).map_err(DoorError::Host)?;
        Ok(CanonicalRequest { host, path })
    }

    /// The host name, without a port: what a route's `host` is compared with.
    pub fn host_name(&self) -> Option<&str> {
        self.host.as_ref().map(CanonicalHost::name)
    }

    /// The host with its port when it is not the default: for `X-Forwarded-Host`.
    pub fn host(&self) -> Option<&HeaderValue> {
        self.host.as_ref().map(|host| &host.value)
    }

    /// The canonical path of the request whose URI is `uri` (the one it was read from).
    pub fn path<'a>(&'a self, uri: &'a Uri) -> &'a str {
        self.path.as_deref().unwrap_or_else(|| uri.path())
    }
}

/// The default port of `scheme`.
fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 }
}

/// A canonical host: `name` or `name:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalHost {
    value: HeaderValue,
    name_len: usize,
}

impl CanonicalHost {
    /// The name (or address) alone.
    pub fn name(&self) -> &str {
        // A canonical host is ASCII by construction.
        self.value.to_str().map_or("", |text| &text[..self.name_len])
    }

    /// `value` made canonical, without `default_port`.
    pub fn parse(value: &HeaderValue, default_port: u16) -> Result<Self, HostError> {
        let text = value.to_str().map_err(|_| HostError::Malformed)?;
        let mut ipv6 = None;
        let (name, port_text) = match text.strip_prefix('[') {
            Some(rest) => {
                let (address, _) = rest.split_once(']').ok_or(HostError::Malformed)?;
                let parsed: Ipv6Addr = address.parse().map_err(|_| HostError::Malformed)?;
                ipv6 = Some(parsed);
                text.split_at(address.len() + 2)
            }
            None => text.split_at(text.find(':').unwrap_or(text.len())),
        };
        let port = match port_text {
            "" => None,
            port => {
                let digits = port.strip_prefix(':').ok_or(HostError::Malformed)?;
                if !(1..=5).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HostError::Malformed);
                }
                match digits.parse::<u16>() {
                    Ok(0) | Err(_) => return Err(HostError::Malformed),
                    Ok(port) => Some((port, digits.starts_with('0'))),
                }
            }
        };
        let ipv6 = ipv6.map(|address| format!("[{address}]"));
        let trimmed = match &ipv6 {
            Some(address) => address.as_str(),
            None => checked_name(name)?,
        };
        let port = port.filter(|(port, _)| *port != default_port);
        // Most hosts are canonical as sent: the header value is shared, not copied.
        let as_sent = trimmed.len() == name.len()
            && trimmed.eq_ignore_ascii_case(name)
            && !name.bytes().any(|b| b.is_ascii_uppercase())
            && match port {
                Some((_, leading_zero)) => !leading_zero,
                None => port_text.is_empty(),
            };
        let value = match as_sent {
            true => value.clone(),
            false => {
                let mut out = trimmed.to_ascii_lowercase();
                if let Some((port, _)) = port {
                    out.push(':');
                    out.push_str(itoa::Buffer::new().format(port));
                }
                HeaderValue::try_from(out).map_err(|_| HostError::Malformed)?
            }
        };
        Ok(CanonicalHost { value, name_len: trimmed.len() })
    }
}

/// A host name as keyward reads it, without its one trailing dot: labels of letters, digits,
/// `-` and `_`; where URL parsers (WHATWG, as browsers, Node and the `url` crate read hosts)
/// would read it as something else, refused: a name ending in a number must be a dotted IPv4
/// address as written (`0x7f.1` and `010.0.0.1` are 127.0.0.1 and 8.0.0.1 to them), and an
/// IDNA label (`xn--`) must be valid punycode.
fn checked_name(name: &str) -> Result<&str, HostError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !trimmed.split('.').all(label_ok) {
        return Err(HostError::Malformed);
    }
    let last = trimmed.rsplit('.').next().unwrap_or_default();
    let hex = last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
        && last[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if (last.bytes().all(|b| b.is_ascii_digit()) || hex) && trimmed.parse::<Ipv4Addr>().is_err() {
        return Err(HostError::Malformed);
    }
    let idna = trimmed
        .split('.')
        .any(|label| label.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")));
    if idna
        && idna::domain_to_ascii(trimmed).map_or(true, |ascii| !ascii.eq_ignore_ascii_case(trimmed))
    {
        return Err(HostError::Malformed);
    }
    Ok(trimmed)
}

/// The request's canonical host: `Host`, which must agree with the URI's authority when both
/// are present; `None` when neither is (HTTP/1.0).
fn request_host(
    uri: &Uri,
    headers: &HeaderMap,
    default_port: u16,
) -> Result<Option<CanonicalHost>, HostError> {
    let mut values = headers.get_all(header::HOST).iter();
    let from_header = match (values.next(), values.next()) {
        (Some(_), Some(_)) => return Err(HostError::Repeated),
        (Some(value), None) => Some(CanonicalHost::parse(value, default_port)?),
        (None, _) => None,
    };
    let from_uri = match uri.authority() {
        Some(authority) if authority.as_str().contains('@') => return Err(HostError::Malformed),
        Some(authority) => {
            let value =
                HeaderValue::from_str(authority.as_str()).map_err(|_| HostError::Malformed)?;
            Some(CanonicalHost::parse(&value, default_port)?)
        }
        None => None,
    };
    match (from_header, from_uri) {
        (Some(header), Some(uri)) if header != uri => Err(HostError::Disagrees),
        (Some(host), _) | (None, Some(host)) => Ok(Some(host)),
        (None, None) => Ok(None),
    }
}

/// How a client asks an upstream to take one method for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverrideName {
    /// A header: `X-HTTP-Method-Override`, `X-HTTP-Method` or `X-Method-Override` (any case,
    /// `_` for `-`).
    Header(&'static str),
    /// The `_method` query parameter.
    Query,
}

impl OverrideName {
    /// The headers upstreams read a method override from.
    pub const HEADERS: [&'static str; 3] =
        ["x-http-method-override", "x-http-method", "x-method-override"];

    /// The name as a route's `method_override` gives it (`_method` for the query parameter).
    pub fn parse(name: &str) -> Option<Self> {
        if name == "_method" {
            return Some(OverrideName::Query);
        }
        let name = name.to_ascii_lowercase();
        Self::HEADERS.iter().find(|known| **known == name).map(|known| OverrideName::Header(known))
    }

    /// As written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideName::Header(name) => name,
            OverrideName::Query => "_method",
        }
    }
}

/// A method override a request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodOverride {
    /// Where.
    pub name: OverrideName,
    /// The method it names, when it names one.
    pub method: Option<Method>,
}

/// The method overrides `headers` and `query` carry, at most one of each kind that matters.
/// Header names are compared as upstreams read them: any case, `_` for `-`.
pub fn method_overrides(headers: &HeaderMap, query: Option<&str>) -> Vec<MethodOverride> {
    let mut found = Vec::new();
    for (name, value) in headers {
        if let Some(known) =
            OverrideName::HEADERS.iter().find(|known| same_header_name(name.as_str(), known))
        {
            // Upstreams upper-case the value (Express, Laravel, Symfony).
            let method = value
                .to_str()
                .ok()
                .and_then(|v| Method::from_bytes(v.trim().to_ascii_uppercase().as_bytes()).ok());
            found.push(MethodOverride { name: OverrideName::Header(known), method });
        }
    }
    // `_method`, or any spelling of it with escapes.
    if let Some(query) = query.filter(|query| query.contains(['_', '%'])) {
        for param in keyward_sig::query_hmac::raw_params(query) {
            if param.decoded_key().eq(b"_method".iter().copied()) {
                let value: Vec<u8> = param.decoded_value().collect();
                found.push(MethodOverride {
                    name: OverrideName::Query,
                    method: Method::from_bytes(value.to_ascii_uppercase().as_slice()).ok(),
                });
            }
        }
    }
    found
}

/// Whether two header names are one to an upstream that maps them to CGI variables
/// (`HTTP_X_KEYWARD_PRINCIPAL`): equal ignoring case, with `_` and `-` alike.
pub fn same_header_name(name: &str, canonical: &str) -> bool {
    name.len() == canonical.len() && starts_like(name, canonical)
}

/// Whether `name` starts with `prefix` as [`same_header_name`] compares them.
pub fn starts_like(name: &str, prefix: &str) -> bool {
    let fold = |b: u8| if b == b'_' { b'-' } else { b.to_ascii_lowercase() };
    name.len() >= prefix.len() && name.bytes().zip(prefix.bytes()).all(|(a, b)| fold(a) == fold(b))
}

/// Whether `name` is spelled as no proxy sets a header: with an `_`, which nginx drops by
/// default and WSGI, PHP and Rack read as `-`.
pub fn has_underscore(name: &HeaderName) -> bool {
    name.as_str().contains('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> Result<String, HostError> {
        CanonicalHost::parse(&HeaderValue::from_str(value).unwrap(), 80)
            .map(|host| host.value.to_str().unwrap().to_owned())
    }

    #[test]
    fn hosts_are_lower_case_without_a_trailing_dot_or_the_default_port() {
        assert_eq!(host("priv.example").unwrap(), "priv.example");
        assert_eq!(host("Priv.Example.").unwrap(), "priv.example");
        assert_eq!(host("priv.example.:80").unwrap(), "priv.example");
        assert_eq!(host("priv.example:8080").unwrap(), "priv.example:8080");
        assert_eq!(host("127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
        assert_eq!(host("[::1]:80").unwrap(), "[::1]");
        assert_eq!(host("[::1]:81").unwrap(), "[::1]:81");
        assert_eq!(host("[0:0::1]").unwrap(), "[::1]");
        assert_eq!(host("[::ABCD]").unwrap(), "[::abcd]");
        assert_eq!(host("xn--bcher-kva.example").unwrap(), "xn--bcher-kva.example");
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a.example..",
            "user@a",
            "a:b",
            "a:",
            "a:0",
            "a:65536",
            "a:080808",
            "a%2eb",
            "[::1",
            "[zz]",
            "a b",
            "a:80:80",
            "0x7f.1",
            "010.0.0.1",
            "1.2.3",
            "example.123",
            "xn--a.example",
            "[::1]x",
        ] {
            assert_eq!(host(bad), Err(HostError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn host_and_authority_must_agree() {
        let read = |uri: &str, hosts: &[&str]| {
            let mut builder = http::Request::get(uri);
            for host in hosts {
                builder = builder.header("host", *host);
            }
            let request = builder.body(()).unwrap();
            CanonicalRequest::read(request.uri(), request.headers(), "http")
                .map(|c| c.host_name().map(str::to_owned))
                .map_err(DoorError::host)
        };
        assert_eq!(read("/x", &["a.example"]), Ok(Some("a.example".into())));
        assert_eq!(read("/x", &[]), Ok(None));
        assert_eq!(read("http://A.example/x", &["a.example:80"]), Ok(Some("a.example".into())));
        assert_eq!(read("http://a.example/x", &[]), Ok(Some("a.example".into())));
        assert_eq!(read("http://a.example/x", &["b.example"]), Err(Some(HostError::Disagrees)));
        assert_eq!(read("/x", &["a.example", "b.example"]), Err(Some(HostError::Repeated)));
        assert_eq!(read("http://u@a.example/x", &[]), Err(Some(HostError::Malformed)));
    }

    #[test]
    fn overrides_are_found_in_any_spelling() {
        let mut headers = HeaderMap::new();
        headers.insert("x_http_method_override", HeaderValue::from_static("DELETE"));
        headers.insert("x-method-override", HeaderValue::from_static("put"));
        let found = method_overrides(&headers, Some("a=1&%5Fmethod=delete"));
        assert_eq!(found.len(), 3, "{found:?}");
        let header = |name| found.iter().find(|o| o.name == OverrideName::Header(name)).unwrap();
        assert_eq!(header("x-http-method-override").method, Some(Method::DELETE));
        assert_eq!(header("x-method-override").method, Some(Method::PUT));
        assert_eq!(
            found[2],
            MethodOverride { name: OverrideName::Query, method: Some(Method::DELETE) }
        );
        assert!(method_overrides(&HeaderMap::new(), Some("method=x&_methods=y")).is_empty());
    }
}
