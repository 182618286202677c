//! The signature base (RFC 9421 section 2.5): the exact bytes an RFC 9421 signature signs.

use std::fmt;

use super::params::SignatureParams;
use crate::request::RequestView;

/// Why a covered component has no value for this request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ComponentError {
    /// This implementation does not compute it (component parameters, `@query-param`,
    /// response-only components). Carries the serialized identifier.
    Unsupported(String),
    /// The request lacks it (a header field that is absent, `@authority` without `Host`).
    Absent(String),
}

/// The signature base. `Display` prints it exactly (lossily, if a header value is not UTF-8).
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureBase(Vec<u8>);

impl SignatureBase {
    /// The exact bytes that are signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Builds the base for `params` over `request`:
    ///
    /// ```text
    /// signature-base = *( signature-base-line LF ) signature-params-line
    /// signature-base-line = component-identifier ":" SP ( derived-component-value / *field-content )
    /// signature-params-line = DQUOTE "@signature-params" DQUOTE ":" SP inner-list
    /// ```
    pub(crate) fn build(
        request: &RequestView<'_>,
        params: &SignatureParams<'_>,
    ) -> Result<Self, ComponentError> {
        let mut out = Vec::with_capacity(512);
        // One buffer for every component identifier's serialization.
        let mut identifier = String::with_capacity(64);
        for component in params.components() {
            identifier.clear();
            component.serialize_into(&mut identifier);
            let identifier = identifier.as_str();
            let Some(name) = component.name() else {
                return Err(ComponentError::Unsupported(identifier.to_owned()));
            };
            if component.has_params() {
                // `sf`, `key`, `bs`, `req`, `tr` and `name` are not supported yet.
                return Err(ComponentError::Unsupported(identifier.to_owned()));
            }
            out.extend_from_slice(identifier.as_bytes());
            out.extend_from_slice(b": ");
            write_component_value(&mut out, request, name, identifier)?;
            out.push(b'\n');
        }
        out.extend_from_slice(b"\"@signature-params\": ");
        identifier.clear();
        params.serialize_into(&mut identifier);
        out.extend_from_slice(identifier.as_bytes());
        Ok(SignatureBase(out))
    }
}

/// The value of one component (RFC 9421 sections 2.1 and 2.2).
fn write_component_value(
    out: &mut Vec<u8>,
    request: &RequestView<'_>,
    name: &str,
    identifier: &str,
) -> Result<(), ComponentError> {
    let absent = || ComponentError::Absent(identifier.to_owned());
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
        _ if name.starts_with('@') => {
            return Err(ComponentError::Unsupported(identifier.to_owned()));
        }
        // 2.1: a header field: every field line's value, trimmed, joined by ", ".
        header => {
            let mut values = request.header_values(header);
            let first = values.next().ok_or_else(absent)?;
            out.extend_from_slice(first.trim_ascii());
            for value in values {
                out.extend_from_slice(b", ");
                out.extend_from_slice(value.trim_ascii());
            }
        }
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
