//! A framework-neutral, borrowed view of an HTTP request: what every scheme reads.
//!
//! # Example
//! ```
//! use keyward_sig::RequestView;
//! let headers = [("Host", &b"example.com"[..])];
//! let request = RequestView::new("GET", "/api/activities?page=2", &headers, b"");
//! assert_eq!(request.path(), "/api/activities");
//! assert_eq!(request.query(), Some("page=2"));
//! ```

use std::borrow::Cow;

use crate::api_key::ApiKeyHeader;

/// Where a [`RequestView`] reads header fields from.
#[derive(Clone, Copy, Debug)]
enum Headers<'a> {
    Pairs(&'a [(&'a str, &'a [u8])]),
    #[cfg(feature = "http")]
    Map(&'a http::HeaderMap),
}

/// A request as received: method, target exactly as on the request line (origin-form
/// `/path?query` or absolute-form `https://host/path?query`), header fields and body bytes.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    method: &'a str,
    target: &'a str,
    headers: Headers<'a>,
    body: &'a [u8],
    uri_scheme: &'a str,
}

impl<'a> RequestView<'a> {
    /// A request with headers given as name/value pairs (names in any case).
    pub fn new(
        method: &'a str,
        target: &'a str,
        headers: &'a [(&'a str, &'a [u8])],
        body: &'a [u8],
    ) -> Self {
        RequestView { method, target, headers: Headers::Pairs(headers), body, uri_scheme: "https" }
    }

    /// A request whose headers live in an `http::HeaderMap`.
    #[cfg(feature = "http")]
    pub fn with_header_map(
        method: &'a str,
        target: &'a str,
        headers: &'a http::HeaderMap,
        body: &'a [u8],
    ) -> Self {
        RequestView { method, target, headers: Headers::Map(headers), body, uri_scheme: "https" }
    }

    /// The URI scheme the request arrived over (`https` unless told otherwise), for the RFC 9421
    /// `@scheme` and `@target-uri` components of origin-form targets.
    pub fn with_uri_scheme(mut self, scheme: &'a str) -> Self {
        self.uri_scheme = scheme;
        self
    }

    /// The same request with `body` as its body (a caller may parse credentials before it has
    /// read the body).
    pub fn with_body<'b>(self, body: &'b [u8]) -> RequestView<'b>
    where
        'a: 'b,
    {
        RequestView { body, ..self }
    }

    /// The method, as sent.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request target, as sent.
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The body bytes, as received.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The URI scheme: from an absolute-form target, else the one set on the view.
    pub fn uri_scheme(&self) -> &'a str {
        split_target(self.target).0.unwrap_or(self.uri_scheme)
    }

    /// The authority: from an absolute-form target, else the `Host` header.
    pub fn authority(&self) -> Option<&'a str> {
        match split_target(self.target).1 {
            Some(authority) => Some(authority),
            None => self.header("host").and_then(|v| std::str::from_utf8(v).ok()),
        }
    }

    /// The path, `/` when the target has none.
    pub fn path(&self) -> &'a str {
        match split_target(self.target).2 {
            "" => "/",
            path => path,
        }
    }

    /// The raw query, without `?`, when the target has one.
    pub fn query(&self) -> Option<&'a str> {
        split_target(self.target).3
    }

    /// The origin-form target: path and query as sent, with `/` for an empty path.
    pub fn origin_form(&self) -> Cow<'a, str> {
        let (_, _, path, _) = split_target(self.target);
        let start = path.as_ptr() as usize - self.target.as_ptr() as usize;
        let rest = &self.target[start..];
        if path.is_empty() { Cow::Owned(format!("/{rest}")) } else { Cow::Borrowed(rest) }
    }

    /// Every value of header `name` (ASCII case-insensitive), in order.
    pub fn header_values<'n>(&self, name: &'n str) -> HeaderValues<'a, 'n> {
        self.headers.values(name)
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}

impl<'a> Headers<'a> {
    fn values<'n>(self, name: &'n str) -> HeaderValues<'a, 'n> {
        match self {
            Headers::Pairs(pairs) => HeaderValues::Pairs { pairs: pairs.iter(), name },
            #[cfg(feature = "http")]
            Headers::Map(map) => HeaderValues::Map(map.get_all(name).iter()),
        }
    }
}

/// A response as sent or received: status, header fields and body bytes. RFC 9421 signs
/// responses too (`@status`, header fields, and with `;req` components of the request).
#[derive(Clone, Copy, Debug)]
pub struct ResponseView<'a> {
    status: u16,
    headers: Headers<'a>,
    body: &'a [u8],
}

impl<'a> ResponseView<'a> {
    /// A response with headers given as name/value pairs (names in any case).
    pub fn new(status: u16, headers: &'a [(&'a str, &'a [u8])], body: &'a [u8]) -> Self {
        ResponseView { status, headers: Headers::Pairs(headers), body }
    }

    /// A response whose headers live in an `http::HeaderMap`.
    #[cfg(feature = "http")]
    pub fn with_header_map(status: u16, headers: &'a http::HeaderMap, body: &'a [u8]) -> Self {
        ResponseView { status, headers: Headers::Map(headers), body }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body bytes.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Every value of header `name` (ASCII case-insensitive), in order.
    pub fn header_values<'n>(&self, name: &'n str) -> HeaderValues<'a, 'n> {
        self.headers.values(name)
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}

/// A header field that carries credentials (or, for `content-digest`, what they cover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CredentialField {
    Authorization,
    LogtrustSign,
    LogtrustTimestamp,
    LogtrustDomainApikey,
    LogtrustResellerApikey,
    LogtrustApikey,
    SignatureInput,
    Signature,
    ContentDigest,
    /// The API-key header, whose name is configured ([`crate::api_key::ApiKeyHeader`]; its
    /// default name below).
    ApiKey,
}

impl CredentialField {
    const COUNT: usize = 10;

    /// The field's name, lower-case.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CredentialField::Authorization => "authorization",
            CredentialField::LogtrustSign => "x-logtrust-sign",
            CredentialField::LogtrustTimestamp => "x-logtrust-timestamp",
            CredentialField::LogtrustDomainApikey => "x-logtrust-domain-apikey",
            CredentialField::LogtrustResellerApikey => "x-logtrust-reseller-apikey",
            CredentialField::LogtrustApikey => "x-logtrust-apikey",
            CredentialField::SignatureInput => "signature-input",
            CredentialField::Signature => "signature",
            CredentialField::ContentDigest => "content-digest",
            CredentialField::ApiKey => "x-api-key",
        }
    }

    /// The field named `name` (any case), if it is one; by length first, so most headers are
    /// passed over after one comparison.
    fn from_name(name: &str, api_key: ApiKeyHeader) -> Option<Self> {
        Self::fixed(name).or_else(|| {
            let api_key = api_key.name();
            (name.len() == api_key.len() && name.eq_ignore_ascii_case(api_key))
                .then_some(CredentialField::ApiKey)
        })
    }

    /// The field of fixed name `name` (any case), if it is one.
    pub(crate) fn fixed(name: &str) -> Option<Self> {
        use CredentialField::*;
        let candidates: &[CredentialField] = match name.len() {
            9 => &[Signature],
            13 => &[Authorization],
            14 => &[ContentDigest],
            15 => &[LogtrustSign, SignatureInput],
            17 => &[LogtrustApikey],
            20 => &[LogtrustTimestamp],
            24 => &[LogtrustDomainApikey],
            26 => &[LogtrustResellerApikey],
            _ => return None,
        };
        candidates.iter().copied().find(|field| field.name().eq_ignore_ascii_case(name))
    }
}

/// The credential-bearing header fields of a request, found in one pass over its headers:
/// each field's first value and how many times it appears.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CredentialFields<'a> {
    first: [Option<&'a [u8]>; CredentialField::COUNT],
    count: [u8; CredentialField::COUNT],
}

impl<'a> CredentialFields<'a> {
    /// Scans `request`'s headers once; a plain API key may be in `api_key`.
    pub(crate) fn scan(request: &RequestView<'a>, api_key: ApiKeyHeader) -> Self {
        let mut fields = CredentialFields {
            first: [None; CredentialField::COUNT],
            count: [0; CredentialField::COUNT],
        };
        let mut note = |name: &str, value: &'a [u8]| {
            if let Some(field) = CredentialField::from_name(name, api_key) {
                let slot = field as usize;
                fields.first[slot].get_or_insert(value);
                fields.count[slot] = fields.count[slot].saturating_add(1);
            }
        };
        match request.headers {
            Headers::Pairs(pairs) => pairs.iter().for_each(|(name, value)| note(name, value)),
            #[cfg(feature = "http")]
            Headers::Map(map) => {
                map.iter().for_each(|(name, value)| note(name.as_str(), value.as_bytes()))
            }
        }
        fields
    }

    /// Whether the field is present.
    pub(crate) fn has(&self, field: CredentialField) -> bool {
        self.count[field as usize] > 0
    }

    /// The field's value when it appears at most once; `Err(())` when repeated.
    pub(crate) fn single(&self, field: CredentialField) -> Result<Option<&'a [u8]>, ()> {
        if self.count[field as usize] > 1 { Err(()) } else { Ok(self.first[field as usize]) }
    }

    /// Whether the field appears more than once.
    pub(crate) fn repeated(&self, field: CredentialField) -> bool {
        self.count[field as usize] > 1
    }

    /// The field's first value.
    pub(crate) fn first(&self, field: CredentialField) -> Option<&'a [u8]> {
        self.first[field as usize]
    }
}

/// Splits a request target into (scheme, authority, path, query) without allocating.
fn split_target(target: &str) -> (Option<&str>, Option<&str>, &str, Option<&str>) {
    // Origin-form, by far the most common, cannot hold a scheme: skip the search for one.
    let absolute = if target.starts_with('/') { None } else { target.split_once("://") };
    let (scheme, authority, rest) = match absolute {
        Some((scheme, after)) if !scheme.contains(['/', '?']) => {
            let end = after.find(['/', '?']).unwrap_or(after.len());
            (Some(scheme), Some(&after[..end]), &after[end..])
        }
        _ => (None, None, target),
    };
    match rest.split_once('?') {
        Some((path, query)) => (scheme, authority, path, Some(query)),
        None => (scheme, authority, rest, None),
    }
}

/// The values of one header field, from whichever source the view borrows.
#[derive(Debug)]
pub enum HeaderValues<'a, 'n> {
    #[doc(hidden)]
    Pairs { pairs: std::slice::Iter<'a, (&'a str, &'a [u8])>, name: &'n str },
    #[cfg(feature = "http")]
    #[doc(hidden)]
    Map(http::header::ValueIter<'a, http::HeaderValue>),
}

impl<'a> Iterator for HeaderValues<'a, '_> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            HeaderValues::Pairs { pairs, name } => pairs
                .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
                .map(|(_, value)| *value),
            #[cfg(feature = "http")]
            HeaderValues::Map(values) => values.next().map(http::HeaderValue::as_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_origin_and_absolute_form_targets() {
        let headers = [("HOST", &b"api.example.com"[..])];
        let origin = RequestView::new("GET", "/a/b?x=1&y", &headers, b"");
        assert_eq!((origin.path(), origin.query()), ("/a/b", Some("x=1&y")));
        assert_eq!(origin.authority(), Some("api.example.com"));
        assert_eq!(origin.uri_scheme(), "https");
        assert_eq!(origin.origin_form(), "/a/b?x=1&y");

        let absolute = RequestView::new("GET", "http://other.example:8080/p?q", &headers, b"");
        assert_eq!(absolute.authority(), Some("other.example:8080"));
        assert_eq!(absolute.uri_scheme(), "http");
        assert_eq!((absolute.path(), absolute.query()), ("/p", Some("q")));
        assert_eq!(absolute.origin_form(), "/p?q");

        let bare = RequestView::new("GET", "http://h.example?q=1", &headers, b"");
        assert_eq!((bare.path(), bare.query()), ("/", Some("q=1")));
        assert_eq!(bare.origin_form(), "/?q=1");
    }

    #[test]
    fn header_lookup_ignores_case_and_keeps_order() {
        let headers = [("X-A", &b"1"[..]), ("x-b", b"2"), ("x-a", b"3")];
        let request = RequestView::new("GET", "/", &headers, b"");
        assert_eq!(request.header_values("x-a").collect::<Vec<_>>(), [b"1", b"3"]);
    }

    #[test]
    fn credential_fields_are_found_in_one_pass_in_any_case() {
        let headers = [
            ("Host", &b"h"[..]),
            ("X-Logtrust-Sign", b"a"),
            ("signature", b"b"),
            ("SIGNATURE", b"c"),
            ("x-logtrust-signs", b"d"),
        ];
        let request = RequestView::new("GET", "/", &headers, b"");
        let fields = CredentialFields::scan(&request, ApiKeyHeader::default());
        assert_eq!(fields.single(CredentialField::LogtrustSign), Ok(Some(&b"a"[..])));
        assert_eq!(fields.single(CredentialField::Signature), Err(()));
        assert_eq!(fields.first(CredentialField::Signature), Some(&b"b"[..]));
        assert!(!fields.has(CredentialField::Authorization));
        for field in [
            CredentialField::Authorization,
            CredentialField::LogtrustApikey,
            CredentialField::ContentDigest,
        ] {
            let name = field.name().to_uppercase();
            assert_eq!(CredentialField::from_name(&name, ApiKeyHeader::default()), Some(field));
        }
    }
}
