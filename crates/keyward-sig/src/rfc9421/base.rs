//! The signature base (RFC 9421 section 2.5): the exact bytes an RFC 9421 signature signs,
//! over a request or a response (whose components may name the request's with `;req`).
//!
//! Component parameters (section 2.1): `;sf` re-serializes a structured field strictly (as a
//! Dictionary if it parses as one, else as a List, which covers Items), `;key="k"` takes one
//! Dictionary member, `;bs` wraps each field line as a byte sequence, `;req` reads the
//! request a response answers, and `@query-param;name="n"` (section 2.2.8) gives each value of
//! one query parameter, one line per occurrence. `;tr` (trailers) is not supported.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sfv::{FieldType, ListEntry, Parser};

use super::params::{Component, SignatureParams};
use crate::request::{HeaderValues, RequestView, ResponseView};

/// Why a covered component has no value for this message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ComponentError {
    /// This implementation does not compute it (`;tr`, an unknown parameter or derived
    /// component, a response-only component of a request...). Carries the serialized
    /// identifier.
    Unsupported(String),
    /// The message lacks it (a header field that is absent, `@authority` without `Host`, a
    /// query parameter that is not there, a `;key` member the dictionary lacks).
    Absent(String),
}

/// The message a signature covers: a request, or a response with the request it answers
/// (needed for `;req` components).
#[derive(Clone, Copy, Debug)]
pub enum Message<'m, 'a> {
    /// A request.
    Request(&'m RequestView<'a>),
    /// A response, and the request it answers when known.
    Response {
        /// The response.
        response: &'m ResponseView<'a>,
        /// The request it answers.
        request: Option<&'m RequestView<'a>>,
    },
}

impl<'m, 'a> Message<'m, 'a> {
    /// Where a component reads from: the message itself, or with `;req` the request a response
    /// answers.
    fn source(self, req: bool) -> Option<Source<'m, 'a>> {
        match (self, req) {
            (Message::Request(request), false) => Some(Source::Request(request)),
            (Message::Request(_), true) => None,
            (Message::Response { response, .. }, false) => Some(Source::Response(response)),
            (Message::Response { request, .. }, true) => request.map(Source::Request),
        }
    }
}

#[derive(Clone, Copy)]
enum Source<'m, 'a> {
    Request(&'m RequestView<'a>),
    Response(&'m ResponseView<'a>),
}

impl<'a> Source<'_, 'a> {
    fn header_values<'n>(&self, name: &'n str) -> HeaderValues<'a, 'n> {
        match self {
            Source::Request(request) => request.header_values(name),
            Source::Response(response) => response.header_values(name),
        }
    }
}

/// The component parameters this implementation computes.
const KNOWN_PARAMETERS: [&str; 5] = ["sf", "key", "bs", "req", "name"];

/// The signature base. `Display` prints it exactly (lossily, if a header value is not UTF-8).
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureBase(Vec<u8>);

impl SignatureBase {
    /// The exact bytes that are signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Builds the base for `params` over `message`:
    ///
    /// ```text
    /// signature-base = *( signature-base-line LF ) signature-params-line
    /// signature-base-line = component-identifier ":" SP ( derived-component-value / *field-content )
    /// signature-params-line = DQUOTE "@signature-params" DQUOTE ":" SP inner-list
    /// ```
    pub(crate) fn build(
        message: Message<'_, '_>,
        params: &SignatureParams<'_>,
    ) -> Result<Self, ComponentError> {
        let mut out = Vec::with_capacity(512);
        // One buffer for every component identifier's serialization.
        let mut identifier = String::with_capacity(64);
        for component in params.components() {
            identifier.clear();
            component.serialize_into(&mut identifier);
            let identifier = identifier.as_str();
            let unsupported = || ComponentError::Unsupported(identifier.to_owned());
            let name = component.name().ok_or_else(unsupported)?;
            if component.param_names().any(|p| !KNOWN_PARAMETERS.contains(&p)) {
                return Err(unsupported());
            }
            let source = message.source(component.flag("req")).ok_or_else(unsupported)?;
            if name == "@query-param" {
                // One line per occurrence of the parameter.
                for value in query_param(source, component, identifier)? {
                    line(&mut out, identifier, value.as_bytes());
                }
                continue;
            }
            if component.string_param("name").is_some() {
                return Err(unsupported());
            }
            out.extend_from_slice(identifier.as_bytes());
            out.extend_from_slice(b": ");
            if name.starts_with('@') {
                if component.param_names().any(|p| p != "req") {
                    return Err(unsupported());
                }
                derived_value(&mut out, source, name, identifier)?;
            } else {
                field_value(&mut out, source, component, identifier)?;
            }
            out.push(b'\n');
        }
        out.extend_from_slice(b"\"@signature-params\": ");
        identifier.clear();
        params.serialize_into(&mut identifier);
        out.extend_from_slice(identifier.as_bytes());
        Ok(SignatureBase(out))
    }
}

fn line(out: &mut Vec<u8>, identifier: &str, value: &[u8]) {
    out.extend_from_slice(identifier.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The value of a derived component (RFC 9421 section 2.2).
fn derived_value(
    out: &mut Vec<u8>,
    source: Source<'_, '_>,
    name: &str,
    identifier: &str,
) -> Result<(), ComponentError> {
    let absent = || ComponentError::Absent(identifier.to_owned());
    let request = match source {
        // 2.2.9: the status code, three digits.
        Source::Response(response) if name == "@status" => {
            out.extend_from_slice(format!("{:03}", response.status()).as_bytes());
            return Ok(());
        }
        Source::Response(_) => return Err(ComponentError::Unsupported(identifier.to_owned())),
        Source::Request(request) => request,
    };
    match name {
        // 2.2.1: the method, as sent (methods are case-sensitive).
        "@method" => out.extend_from_slice(request.method().as_bytes()),
        // 2.2.3: the authority, lower-cased.
        "@authority" => {
            let authority = request.authority().ok_or_else(absent)?;
            out.extend(authority.trim().bytes().map(|c| c.to_ascii_lowercase()));
        }
        // 2.2.4: the URI scheme, lower-cased.
        "@scheme" => out.extend(request.uri_scheme().bytes().map(|c| c.to_ascii_lowercase())),
        // 2.2.2: the full target URI.
        "@target-uri" => {
            let authority = request.authority().ok_or_else(absent)?;
            out.extend(request.uri_scheme().bytes().map(|c| c.to_ascii_lowercase()));
            out.extend_from_slice(b"://");
            out.extend(authority.trim().bytes().map(|c| c.to_ascii_lowercase()));
            out.extend_from_slice(request.origin_form().as_bytes());
        }
        // 2.2.5: the request target exactly as on the request line.
        "@request-target" => out.extend_from_slice(request.target().as_bytes()),
        // 2.2.6: the absolute path, `/` when empty.
        "@path" => out.extend_from_slice(request.path().as_bytes()),
        // 2.2.7: the query with its leading `?`; `?` alone when there is none.
        "@query" => {
            out.push(b'?');
            out.extend_from_slice(request.query().unwrap_or("").as_bytes());
        }
        _ => return Err(ComponentError::Unsupported(identifier.to_owned())),
    }
    Ok(())
}

/// What `application/x-www-form-urlencoded` serialization leaves alone (WHATWG URL): ASCII
/// alphanumerics and `*-._`. A space becomes `%20`, as RFC 9421 section 2.2.8 requires.
const QUERY_VALUE: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');

/// Decodes one `application/x-www-form-urlencoded` name or value: `+` is a space, then
/// percent-decoding, invalid UTF-8 replaced.
fn form_decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Every value of the query parameter `;name` names (section 2.2.8): names compared after
/// decoding, values decoded and re-encoded.
fn query_param(
    source: Source<'_, '_>,
    component: &Component<'_>,
    identifier: &str,
) -> Result<Vec<String>, ComponentError> {
    let unsupported = || ComponentError::Unsupported(identifier.to_owned());
    let (Source::Request(request), Some(wanted)) = (source, component.string_param("name")) else {
        return Err(unsupported());
    };
    if component.param_names().any(|p| p != "name" && p != "req") {
        return Err(unsupported());
    }
    let wanted = form_decode(wanted);
    let values: Vec<String> = request
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name) == wanted)
                .then(|| utf8_percent_encode(&form_decode(value), QUERY_VALUE).to_string())
        })
        .collect();
    if values.is_empty() {
        return Err(ComponentError::Absent(identifier.to_owned()));
    }
    Ok(values)
}

/// The value of a header field component (section 2.1), with its parameters applied.
fn field_value(
    out: &mut Vec<u8>,
    source: Source<'_, '_>,
    component: &Component<'_>,
    identifier: &str,
) -> Result<(), ComponentError> {
    let absent = || ComponentError::Absent(identifier.to_owned());
    let unsupported = || ComponentError::Unsupported(identifier.to_owned());
    let name = component.name().ok_or_else(unsupported)?;
    let (bs, sf, key) = (component.flag("bs"), component.flag("sf"), component.string_param("key"));
    if !bs && !sf && key.is_none() {
        // The common case, written straight into the base: every field line's value, trimmed,
        // joined by ", ".
        let mut values = source.header_values(name);
        let first = values.next().ok_or_else(absent)?;
        out.extend_from_slice(first.trim_ascii());
        for value in values {
            out.extend_from_slice(b", ");
            out.extend_from_slice(value.trim_ascii());
        }
        return Ok(());
    }
    let lines: Vec<&[u8]> = source.header_values(name).map(<[u8]>::trim_ascii).collect();
    if lines.is_empty() {
        return Err(absent());
    }
    if bs {
        // 2.1.3: each field line a byte sequence; not combined with sf or key.
        if sf || key.is_some() {
            return Err(unsupported());
        }
        for (i, value) in lines.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.push(b':');
            out.extend_from_slice(STANDARD.encode(value).as_bytes());
            out.push(b':');
        }
        return Ok(());
    }
    let combined = lines.join(&b", "[..]);
    if let Some(key) = key {
        // 2.1.2: one member of a Dictionary field, serialized strictly.
        let dictionary: sfv::Dictionary =
            Parser::new(&combined).parse_dictionary().map_err(|_| absent())?;
        let (_, member) = dictionary.iter().find(|(k, _)| k.as_str() == key).ok_or_else(absent)?;
        let serialized = vec![member.clone()].serialize().ok_or_else(absent)?;
        out.extend_from_slice(serialized.as_bytes());
    } else {
        // 2.1.1: the field re-serialized strictly: as a Dictionary when it parses as one, else
        // as a List (an Item serializes as a List of one).
        let serialized = match Parser::new(&combined).parse_dictionary::<sfv::Dictionary>() {
            Ok(dictionary) => dictionary.serialize(),
            Err(_) => Parser::new(&combined)
                .parse_list::<Vec<ListEntry>>()
                .map_err(|_| absent())?
                .serialize(),
        };
        out.extend_from_slice(serialized.unwrap_or_default().as_bytes());
    }
    Ok(())
}

impl fmt::Display for SignatureBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for SignatureBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureBase({:?})", String::from_utf8_lossy(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The base lines (without `@signature-params`) of `components` over `message`.
    fn lines(message: Message<'_, '_>, components: &str) -> Result<String, ComponentError> {
        let input = format!("sig=({components});created=1");
        let (_, params) = SignatureParams::parse_first(input.as_bytes()).unwrap();
        let base = SignatureBase::build(message, &params)?.to_string();
        Ok(base.rsplit_once("\n\"@signature-params\"").map_or("", |(lines, _)| lines).to_owned())
    }

    // RFC 9421 sections 2.1.1 to 2.1.3.
    const DICT: &[u8] = b"  a=1,    b=2;x=1;y=2,   c=(a   b   c), d";

    #[test]
    fn structured_field_parameters_give_the_rfcs_values() {
        let headers = [
            ("Example-Dict", DICT),
            ("Example-Header", &b"value, with, lots"[..]),
            ("Example-Header", &b"of, commas"[..]),
            ("Example-Item", &b"  token;p=1 "[..]),
        ];
        let request = RequestView::new("GET", "/", &headers, b"");
        let message = Message::Request(&request);
        assert_eq!(
            lines(message, r#""example-dict" "example-dict";sf"#).unwrap(),
            "\"example-dict\": a=1,    b=2;x=1;y=2,   c=(a   b   c), d\n\
             \"example-dict\";sf: a=1, b=2;x=1;y=2, c=(a b c), d"
        );
        assert_eq!(
            lines(message, r#""example-dict";key="a" "example-dict";key="d" "example-dict";key="b" "example-dict";key="c""#).unwrap(),
            "\"example-dict\";key=\"a\": 1\n\"example-dict\";key=\"d\": ?1\n\
             \"example-dict\";key=\"b\": 2;x=1;y=2\n\"example-dict\";key=\"c\": (a b c)"
        );
        assert_eq!(
            lines(message, r#""example-header" "example-header";bs"#).unwrap(),
            "\"example-header\": value, with, lots, of, commas\n\
             \"example-header\";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:"
        );
        assert_eq!(
            lines(message, r#""example-item";sf"#).unwrap(),
            "\"example-item\";sf: token;p=1"
        );
        // A member the dictionary lacks; bs with sf; an unknown parameter; trailers.
        assert!(matches!(
            lines(message, r#""example-dict";key="z""#),
            Err(ComponentError::Absent(_))
        ));
        for unsupported in
            [r#""example-header";bs;sf"#, r#""example-dict";x"#, r#""example-dict";tr"#]
        {
            assert!(
                matches!(lines(message, unsupported), Err(ComponentError::Unsupported(_))),
                "{unsupported}"
            );
        }
    }

    #[test]
    fn query_params_are_decoded_and_reencoded_one_line_each() {
        // RFC 9421 section 2.2.8.
        let target = "/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something&bar=again";
        let request = RequestView::new("GET", target, &[], b"");
        let message = Message::Request(&request);
        assert_eq!(
            lines(message, r#""@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20""#).unwrap(),
            "\"@query-param\";name=\"var\": this%20is%20a%20big%0Amultiline%20value\n\
             \"@query-param\";name=\"bar\": with%20plus%20whitespace\n\
             \"@query-param\";name=\"bar\": again\n\
             \"@query-param\";name=\"fa%C3%A7ade%22%3A%20\": something"
        );
        assert!(matches!(
            lines(message, r#""@query-param";name="nope""#),
            Err(ComponentError::Absent(_))
        ));
        assert!(matches!(lines(message, r#""@query-param""#), Err(ComponentError::Unsupported(_))));
        assert!(matches!(
            lines(message, r#""@method";name="x""#),
            Err(ComponentError::Unsupported(_))
        ));
    }

    #[test]
    fn a_response_covers_its_status_and_the_requests_components_with_req() {
        let request_headers =
            [("Signature", &b"sig1=:aGVsbG8=:"[..]), ("Host", &b"example.com"[..])];
        let request = RequestView::new("POST", "/foo?a=1", &request_headers, b"");
        let response_headers = [("Content-Type", &b"application/json"[..])];
        let response = ResponseView::new(503, &response_headers, b"");
        let message = Message::Response { response: &response, request: Some(&request) };
        assert_eq!(
            lines(message, r#""@status" "content-type" "@method";req "@authority";req "signature";req;key="sig1""#).unwrap(),
            "\"@status\": 503\n\"content-type\": application/json\n\"@method\";req: POST\n\
             \"@authority\";req: example.com\n\"signature\";req;key=\"sig1\": :aGVsbG8=:"
        );
        // Request components need ;req in a response; @status does not exist on a request;
        // ;req needs the request.
        assert!(lines(message, r#""@method""#).is_err());
        assert!(lines(Message::Request(&request), r#""@status""#).is_err());
        assert!(lines(Message::Request(&request), r#""@method";req"#).is_err());
        let alone = Message::Response { response: &response, request: None };
        assert!(lines(alone, r#""@method";req"#).is_err());
    }
}
