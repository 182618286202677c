//! Header names as upstreams read them: WSGI, PHP, Rack and every CGI-style server map `_`
//! and `-` alike, and compare names in any case. Every check of a header keyward owns compares
//! names this way, so no spelling of one slips past it.

/// The longest header name [`as_read`] rewrites.
pub const NAME_BUFFER: usize = 64;

/// A header name (a `HeaderName`'s text, lower case) as upstreams read it: WSGI, PHP, Rack
/// and every CGI-style server map `_` and `-` alike (`x_keyward_principal` and
/// `X-Keyward-Principal` are both `HTTP_X_KEYWARD_PRINCIPAL`). Borrowed unless the name has an
/// `_`; `None` for a name with an `_` longer than the buffer.
pub fn as_read<'a>(name: &'a str, buffer: &'a mut [u8; NAME_BUFFER]) -> Option<&'a [u8]> {
    let bytes = name.as_bytes();
    if !bytes.contains(&b'_') {
        return Some(bytes);
    }
    let buffer = buffer.get_mut(..bytes.len())?;
    for (out, byte) in buffer.iter_mut().zip(bytes) {
        *out = if *byte == b'_' { b'-' } else { byte.to_ascii_lowercase() };
    }
    Some(buffer)
}

/// Whether `name` is `canonical` (lower case, with `-`) as upstreams read it.
pub fn reads_as(name: &str, canonical: &str) -> bool {
    let mut buffer = [0u8; NAME_BUFFER];
    as_read(name, &mut buffer) == Some(canonical.as_bytes())
}

/// Whether `name` starts with `prefix` as upstreams read them, for names of any length.
pub fn starts_like(name: &str, prefix: &str) -> bool {
    let fold = |b: u8| if b == b'_' { b'-' } else { b.to_ascii_lowercase() };
    name.len() >= prefix.len() && name.bytes().zip(prefix.bytes()).all(|(a, b)| fold(a) == fold(b))
}
