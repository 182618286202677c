//! The path a route is matched on. Routes decide who may reach what by path prefix, so the
//! path keyward matches must be the path the upstream will serve: a request whose path an
//! upstream could resolve differently is refused, not guessed at.
//!
//! - Percent-encoded unreserved characters (`%6F` for `o`) are decoded for matching (RFC 3986
//!   section 6.2.2.2): `/%6Frders/1` is `/orders/1` to every upstream.
//! - Dot segments (`.`, `..`, raw or encoded), encoded slashes and backslashes (`%2F`, `%5C`)
//!   and raw backslashes are refused: upstreams disagree on them, and `/public/../admin` must
//!   never be matched as `/public/`.
//! - A `%` that does not begin an escape (`%zz`, a `%` at the end), and an encoded `%`
//!   (`%25`), are refused: an upstream that decodes twice, or decodes a stray `%` its own way,
//!   would serve another path than the one matched (`/public/%252e%252e/admin`).
//!
//! The request is forwarded with its path as sent; only matching uses the normalised form.

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// A `.` or `..` segment.
    DotSegment,
    /// `%2F` or `%5C`, or a raw backslash.
    EncodedSeparator,
    /// A `%` that does not begin an escape, or an encoded `%` (`%25`).
    PercentEncoding,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::DotSegment => "the path has a . or .. segment",
            PathError::EncodedSeparator => "the path has an encoded slash or a backslash",
            PathError::PercentEncoding => {
                "the path has a malformed escape or an encoded percent sign (%25)"
            }
        })
    }
}

/// The path to match routes on: `path` with encoded unreserved characters decoded, or why it
/// is refused.
///
/// ```
/// use keyward_gateway::path::{matching_path, PathError};
/// assert_eq!(matching_path("/%6Frders/1").unwrap(), "/orders/1");
/// assert_eq!(matching_path("/orders/%2e%2E/admin"), Err(PathError::DotSegment));
/// ```
pub fn matching_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    if path.contains('\\') {
        return Err(PathError::EncodedSeparator);
    }
    let decoded =
        if path.contains('%') { Cow::Owned(decode_unreserved(path)?) } else { Cow::Borrowed(path) };
    if decoded.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(PathError::DotSegment);
    }
    Ok(decoded)
}

/// Decodes `%XX` where it stands for an unreserved character; keeps other escapes as sent
/// (upper-cased, so two spellings match alike); refuses encoded separators, encoded percent
/// signs and malformed escapes. Every `%` of the result begins an escape it keeps, so decoding
/// the result again changes nothing.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b'/' | b'\\') => return Err(PathError::EncodedSeparator),
            Some(b'%') => return Err(PathError::PercentEncoding),
            None if bytes[i] == b'%' => return Err(PathError::PercentEncoding),
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                out.push(char::from(c));
                i += 3;
            }
            Some(_) => {
                out.push('%');
                out.push_str(&path[i + 1..i + 3].to_ascii_uppercase());
                i += 3;
            }
            None => {
                let next = path[i..].chars().next().unwrap_or_default();
                out.push(next);
                i += next.len_utf8().max(1);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_upstream_could_resolve_elsewhere_is_refused() {
        for path in ["/a/../b", "/a/./b", "/a/..", "/..", "/a/%2e%2e/b", "/a/.%2E/b", "/a/%2E"] {
            assert_eq!(matching_path(path), Err(PathError::DotSegment), "{path}");
        }
        for path in ["/a%2Fb", "/a%2fb", "/a%5cb", "/a\\b"] {
            assert_eq!(matching_path(path), Err(PathError::EncodedSeparator), "{path}");
        }
    }

    #[test]
    fn ordinary_paths_pass_and_unreserved_escapes_are_decoded() {
        assert_eq!(matching_path("/orders/17").unwrap(), "/orders/17");
        assert_eq!(matching_path("/a/.well/..x/b.").unwrap(), "/a/.well/..x/b.");
        assert_eq!(matching_path("/%6f%72ders/%7E").unwrap(), "/orders/~");
        assert_eq!(matching_path("/caf%c3%a9/%3b").unwrap(), "/caf%C3%A9/%3B");
    }

    #[test]
    fn stray_and_encoded_percent_signs_are_refused() {
        for path in ["/%zz", "/a%4", "/a%", "/public/%252e%252e/admin", "/%%%3333%.%", "/%25"] {
            assert_eq!(matching_path(path), Err(PathError::PercentEncoding), "{path}");
        }
    }
}
