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

use std::net::Ipv6Addr;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Uri};

use crate::path::{PathError, canonical_path};
use crate::spelling::{NAME_BUFFER, as_read};

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

    /// `value` made canonical, without `default_port`. A name is labels of letters, digits,
    /// `-` and `_`, with one trailing dot at most (removed); where URL parsers (WHATWG, as
    /// browsers, Node and the `url` crate read hosts) would read it as something else, it is
    /// refused: a name ending in a number must be a dotted IPv4 address as written (`0x7f.1`
    /// and `010.0.0.1` are 127.0.0.1 and 8.0.0.1 to them), and an IDNA label (`xn--`) must be
    /// valid punycode.
    pub fn parse(value: &HeaderValue, default_port: u16) -> Result<Self, HostError> {
        let bytes = value.as_bytes();
        if bytes.first() == Some(&b'[') {
            return Self::parse_ipv6(value, default_port);
        }
        // One pass over the name: its characters, its labels, whether it needs a copy, and
        // whether its last label is a number (URL parsers then read the name as an IPv4
        // address: it must be written as one, four decimal octets).
        let (mut upper, mut idna, mut label_start, mut i) = (false, false, 0, 0);
        let (mut labels, mut octets, mut octet) = (0u32, 0u32, Some(0u32));
        while let Some(&byte) = bytes.get(i).filter(|&&b| b != b':') {
            match byte {
                b'.' if i == label_start => return Err(HostError::Malformed),
                b'.' => {
                    labels += 1;
                    octets += u32::from(octet.is_some_and(|n| n <= 255));
                    (label_start, octet) = (i + 1, Some(0));
                }
                b'0'..=b'9' => {
                    // A leading zero is octal to URL parsers: not an octet.
                    let leading_zero = i > label_start && octet == Some(0);
                    octet = octet
                        .filter(|_| !leading_zero)
                        .map(|n| n.saturating_mul(10).saturating_add(u32::from(byte - b'0')));
                }
                b'a'..=b'z' | b'-' | b'_' => octet = None,
                b'A'..=b'Z' => (upper, octet) = (true, None),
                _ => return Err(HostError::Malformed),
            }
            if i == label_start
                && bytes.get(i..i + 4).is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
            {
                idna = true;
            }
            i += 1;
        }
        let trailing_dot = i > 0 && bytes[i - 1] == b'.';
        let name_len = if trailing_dot { i - 1 } else { i };
        if name_len == 0 {
            return Err(HostError::Malformed);
        }
        if !trailing_dot {
            labels += 1;
            octets += u32::from(octet.is_some_and(|n| n <= 255));
        }
        // The text is ASCII: every byte was checked above, or is the port's.
        let text = value.to_str().map_err(|_| HostError::Malformed)?;
        let name = &text[..name_len];
        let last =
            &name[name.as_bytes().iter().rposition(|&b| b == b'.').map_or(0, |dot| dot + 1)..];
        let hex = last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
            && last[2..].bytes().all(|b| b.is_ascii_hexdigit());
        let numeric = hex || last.bytes().all(|b| b.is_ascii_digit());
        if numeric && (labels != 4 || octets != 4) {
            return Err(HostError::Malformed);
        }
        if idna
            && idna::domain_to_ascii(name).map_or(true, |ascii| !ascii.eq_ignore_ascii_case(name))
        {
            return Err(HostError::Malformed);
        }
        let port = port(&text[i..], default_port)?;
        let as_sent = !upper && !trailing_dot && port.is_none_or(|(_, rewritten)| !rewritten);
        Self::build(value, name, port.and_then(|(port, _)| port), as_sent)
    }

    /// A bracketed IPv6 address, written as `Ipv6Addr` prints it (`[0:0::1]` is `[::1]`).
    fn parse_ipv6(value: &HeaderValue, default_port: u16) -> Result<Self, HostError> {
        let text = value.to_str().map_err(|_| HostError::Malformed)?;
        let (address, _) = text[1..].split_once(']').ok_or(HostError::Malformed)?;
        let parsed: Ipv6Addr = address.parse().map_err(|_| HostError::Malformed)?;
        let name = format!("[{parsed}]");
        let port = port(&text[address.len() + 2..], default_port)?;
        let as_sent = name.len() == address.len() + 2
            && name[1..].starts_with(address)
            && port.is_none_or(|(_, rewritten)| !rewritten);
        Self::build(value, &name, port.and_then(|(port, _)| port), as_sent)
    }

    /// The host from its parts; `value` itself, shared, when it is canonical as sent.
    fn build(
        value: &HeaderValue,
        name: &str,
        port: Option<u16>,
        as_sent: bool,
    ) -> Result<Self, HostError> {
        let value = match as_sent {
            true => value.clone(),
            false => {
                let mut out = name.to_ascii_lowercase();
                if let Some(port) = port {
                    out.push(':');
                    out.push_str(itoa::Buffer::new().format(port));
                }
                HeaderValue::try_from(out).map_err(|_| HostError::Malformed)?
            }
        };
        Ok(CanonicalHost { value, name_len: name.len() })
    }
}

/// A host's port part (`""` or `:digits`): `None` without one; else the port, `None` when it
/// is the default, and whether the canonical form writes it otherwise (dropped, or with a
/// leading zero).
fn port(text: &str, default_port: u16) -> Result<Option<(Option<u16>, bool)>, HostError> {
    if text.is_empty() {
        return Ok(None);
    }
    let digits = text.strip_prefix(':').ok_or(HostError::Malformed)?.as_bytes();
    if !(1..=5).contains(&digits.len()) {
        return Err(HostError::Malformed);
    }
    let mut port: u32 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return Err(HostError::Malformed);
        }
        port = port * 10 + u32::from(digit - b'0');
    }
    match u16::try_from(port) {
        Ok(0) | Err(_) => Err(HostError::Malformed),
        Ok(port) if port == default_port => Ok(Some((None, true))),
        Ok(port) => Ok(Some((Some(port), digits[0] == b'0'))),
    }
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
        // The lengths of `OverrideName::HEADERS`: most names are told apart by it.
        if !matches!(name.as_str().len(), 13 | 17 | 22) {
            continue;
        }
        let mut buffer = [0u8; NAME_BUFFER];
        let read = as_read(name.as_str(), &mut buffer);
        if let Some(known) =
            OverrideName::HEADERS.iter().find(|known| read == Some(known.as_bytes()))
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
    if let Some(query) = query.filter(|query| query.contains("_method") || query.contains('%')) {
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
