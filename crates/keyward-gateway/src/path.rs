//! The path a route is matched on. Routes decide who may reach what by path prefix, so the
//! path keyward matches must be the path the upstream will serve: a request whose path an
//! upstream could resolve differently is refused, not guessed at.
//!
//! - Percent-encoded unreserved characters (`%6F` for `o`) are decoded (RFC 3986 section
//!   6.2.2.2): `/%6Frders/1` is `/orders/1` to every upstream, and is sent upstream so.
//! - Dot segments (`.`, `..`, raw or encoded), encoded slashes and backslashes (`%2F`, `%5C`)
//!   and raw backslashes are refused: upstreams disagree on them, and `/public/../admin` must
//!   never be matched as `/public/`.
//! - Empty segments (`//`) are refused: nginx merges them, a URL parser reads `//admin/x` as
//!   the host `admin`, others keep them.
//! - Path parameters (`;`, raw or `%3B`) are refused: Tomcat, Jetty and Spring cut a segment at
//!   `;` (`/public/..;/admin` is `/admin` to them), others keep it.
//! - A `%` that does not begin an escape (`%zz`, a `%` at the end), an encoded `%` (`%25`) and
//!   an encoded control character (`%00` to `%1F`, `%7F`) are refused: an upstream that decodes
//!   twice, decodes a stray `%` its own way or stops at a NUL would serve another path than
//!   the one matched (`/public/%252e%252e/admin`).

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (`*`, or an empty path).
    NotAbsolute,
    /// A `.` or `..` segment.
    DotSegment,
    /// `%2F` or `%5C`, or a raw backslash.
    EncodedSeparator,
    /// An empty segment: `//`.
    EmptySegment,
    /// A path parameter: `;` or `%3B`.
    PathParameter,
    /// A `%` that does not begin an escape, an encoded `%` (`%25`), or an encoded control
    /// character.
    PercentEncoding,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path does not start with /",
            PathError::DotSegment => "the path has a . or .. segment",
            PathError::EncodedSeparator => "the path has an encoded slash or a backslash",
            PathError::EmptySegment => "the path has an empty segment (//)",
            PathError::PathParameter => "the path has a ; (path parameters are not accepted)",
            PathError::PercentEncoding => {
                "the path has a malformed escape, an encoded percent sign (%25) or an encoded \
                 control character"
            }
        })
    }
}

impl PathError {
    /// A stable name for the log and the error's detail.
    pub fn reason(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "not-absolute",
            PathError::DotSegment => "dot-segment",
            PathError::EncodedSeparator => "encoded-separator",
            PathError::EmptySegment => "empty-segment",
            PathError::PathParameter => "path-parameter",
            PathError::PercentEncoding => "percent-encoding",
        }
    }
}

/// The path to match routes on and send upstream: `path` with encoded unreserved characters
/// decoded and other escapes upper-cased, or why it is refused.
///
/// ```
/// use keyward_gateway::path::{canonical_path, PathError};
/// assert_eq!(canonical_path("/%6Frders/1").unwrap(), "/orders/1");
/// assert_eq!(canonical_path("/orders/%2e%2E/admin"), Err(PathError::DotSegment));
/// assert_eq!(canonical_path("/public/..;/admin"), Err(PathError::PathParameter));
/// assert_eq!(canonical_path("//admin/x"), Err(PathError::EmptySegment));
/// ```
pub fn canonical_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut escaped = false;
    for byte in bytes {
        match byte {
            b'\\' => return Err(PathError::EncodedSeparator),
            b';' => return Err(PathError::PathParameter),
            b'%' => escaped = true,
            _ => {}
        }
    }
    let decoded = if escaped { Cow::Owned(decode_unreserved(path)?) } else { Cow::Borrowed(path) };
    check_segments(decoded.as_bytes())?;
    Ok(decoded)
}

/// Refuses `.` and `..` segments, and empty segments but the last (`/orders/` is a path,
/// `//admin` and `/a//b` are not). `path` starts with `/`.
fn check_segments(path: &[u8]) -> Result<(), PathError> {
    let mut start = 1;
    for end in (1..path.len()).filter(|&i| path[i] == b'/').chain([path.len()]) {
        match &path[start..end] {
            b"." | b".." => return Err(PathError::DotSegment),
            b"" if end < path.len() => return Err(PathError::EmptySegment),
            _ => {}
        }
        start = end + 1;
    }
    Ok(())
}

/// Decodes `%XX` where it stands for an unreserved character; keeps other escapes as sent
/// (upper-cased, so two spellings match alike); refuses encoded separators, semicolons,
/// percent signs and control characters, and malformed escapes. Every `%` of the result begins
/// an escape it keeps, so decoding the result again changes nothing.
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
            Some(b';') => return Err(PathError::PathParameter),
            Some(b'%') => return Err(PathError::PercentEncoding),
            Some(c) if c.is_ascii_control() => return Err(PathError::PercentEncoding),
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
            assert_eq!(canonical_path(path), Err(PathError::DotSegment), "{path}");
        }
        for path in ["/a%2Fb", "/a%2fb", "/a%5cb", "/a\\b"] {
            assert_eq!(canonical_path(path), Err(PathError::EncodedSeparator), "{path}");
        }
        for path in ["//admin/x", "/a//b", "/a/b//", "//"] {
            assert_eq!(canonical_path(path), Err(PathError::EmptySegment), "{path}");
        }
        for path in ["/admin;x/y", "/public/..;/admin", "/public/%2e%2e;/admin", "/a%3bb", "/a;"] {
            assert_eq!(canonical_path(path), Err(PathError::PathParameter), "{path}");
        }
        for path in ["*", "", "orders"] {
            assert_eq!(canonical_path(path), Err(PathError::NotAbsolute), "{path}");
        }
    }

    #[test]
    fn ordinary_paths_pass_and_unreserved_escapes_are_decoded() {
        assert_eq!(canonical_path("/").unwrap(), "/");
        assert_eq!(canonical_path("/orders/17").unwrap(), "/orders/17");
        assert_eq!(canonical_path("/orders/").unwrap(), "/orders/");
        assert_eq!(canonical_path("/a/.well/..x/b.").unwrap(), "/a/.well/..x/b.");
        assert_eq!(canonical_path("/%6f%72ders/%7E").unwrap(), "/orders/~");
        assert_eq!(canonical_path("/caf%c3%a9/%3a").unwrap(), "/caf%C3%A9/%3A");
    }

    #[test]
    fn stray_and_encoded_percent_signs_and_controls_are_refused() {
        for path in ["/%zz", "/a%4", "/a%", "/public/%252e%252e/admin", "/%%%3333%.%", "/%25"] {
            assert_eq!(canonical_path(path), Err(PathError::PercentEncoding), "{path}");
        }
        for path in ["/admin%00/x", "/a%0a", "/a%7F", "/a%1f"] {
            assert_eq!(canonical_path(path), Err(PathError::PercentEncoding), "{path}");
        }
    }
}
