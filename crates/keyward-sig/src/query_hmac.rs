//! query-hmac: DevResults-style signatures in the query string (`t`, `ms`, `s`).
//!
//! ```text
//! string-to-sign = key1 "|" value1 "|" key2 "|" value2 "|" ... keyN "|" valueN "|"
//! s              = hex(HMAC-SHA256(secret, string-to-sign))
//! ```
//! over every parameter but `s`, each key and value `application/x-www-form-urlencoded`
//! decoded (split on `&`, then on the first `=`, `+` is a space, then percent-decoding),
//! keys sorted bytewise. Published client samples also sign in URL order or sorted
//! case-insensitively: each binds the same parameters, so a signature matching any of the
//! three orders is accepted. The signature covers neither method, path nor body; see
//! `docs/schemes.md` for how keyward contains that.
//!
//! # Example
//! ```
//! use keyward_sig::{KeyKind, KeyMaterial, query_hmac::{self, ParameterOrder}};
//! let key = KeyMaterial::new(KeyKind::Domain, b"secret");
//! let url = query_hmac::sign("/api/activities?b=2&a=1", "tok", 1_700_000_000_000, &key,
//!                            ParameterOrder::Bytewise).unwrap();
//! assert!(url.starts_with("/api/activities?b=2&a=1&t=tok&ms=1700000000000&s="));
//! let canonical = query_hmac::canonical_query("b=2&a=1&t=tok&ms=1", ParameterOrder::Bytewise,
//!                                             Default::default()).unwrap();
//! assert_eq!(canonical.to_string(), "a|1|b|2|ms|1|t|tok|");
//! ```

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};
use smallvec::SmallVec;

use crate::error::{Field, SignError, VerifyError, shorten};
use crate::key::KeyMaterial;
use crate::mac::{Tag, tag_from_hex, to_hex};
use crate::options::{BlankValues, VerifyOptions};
use crate::request::RequestView;
use crate::token::CredentialKind;
use crate::verified::ReplayId;

/// The order in which parameters are concatenated into the string-to-sign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParameterOrder {
    /// Sorted by decoded key bytes: keyward's canonical order, and what it signs with.
    #[default]
    Bytewise,
    /// As they appear in the URL.
    Url,
    /// Sorted by ASCII-lower-cased decoded key; keys equal but for case keep URL order.
    CaseInsensitive,
}

/// One `key=value` pair as it appears in the raw query, undecoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawParam<'a> {
    key: &'a [u8],
    value: &'a [u8],
    /// Whether the key (value) has no `%` or `+`, so decoding leaves it as it is: the common
    /// case, which then costs a slice copy or comparison instead of a decoding loop.
    key_plain: bool,
    value_plain: bool,
}

impl<'a> RawParam<'a> {
    /// The key, still encoded.
    pub fn raw_key(&self) -> &'a [u8] {
        self.key
    }

    /// The value, still encoded (empty when the pair had no `=`).
    pub fn raw_value(&self) -> &'a [u8] {
        self.value
    }

    /// The decoded key bytes.
    pub fn decoded_key(self) -> impl Iterator<Item = u8> + Clone + 'a {
        form_decode(self.key)
    }

    /// The decoded value bytes.
    pub fn decoded_value(self) -> impl Iterator<Item = u8> + Clone + 'a {
        form_decode(self.value)
    }

    /// Compares decoded keys bytewise.
    fn cmp_key(&self, other: &RawParam<'_>) -> std::cmp::Ordering {
        if self.key_plain && other.key_plain {
            self.key.cmp(other.key)
        } else {
            self.decoded_key().cmp(other.decoded_key())
        }
    }

    /// Compares decoded keys with ASCII letters folded to lower case.
    fn cmp_key_folded(&self, other: &RawParam<'_>) -> std::cmp::Ordering {
        let fold = |c: u8| c.to_ascii_lowercase();
        self.decoded_key().map(fold).cmp(other.decoded_key().map(fold))
    }

    fn key_is(&self, name: &[u8]) -> bool {
        if self.key_plain { self.key == name } else { self.decoded_key().eq(name.iter().copied()) }
    }

    /// Appends `key|value|` to a string-to-sign.
    fn write_to(&self, out: &mut SmallVec<[u8; 512]>) {
        match self.key_plain {
            true => out.extend_from_slice(self.key),
            false => out.extend(self.decoded_key()),
        }
        out.push(b'|');
        match self.value_plain {
            true => out.extend_from_slice(self.value),
            false => out.extend(self.decoded_value()),
        }
        out.push(b'|');
    }
}

/// `application/x-www-form-urlencoded` decoding of one key or value: `+` is a space, then
/// percent-decoding; an invalid `%` sequence stays as it is (WHATWG URL, section 5.1).
fn form_decode(raw: &[u8]) -> impl Iterator<Item = u8> + Clone + '_ {
    raw.split(|&b| b == b'+')
        .enumerate()
        .flat_map(|(i, piece)| (i > 0).then_some(b' ').into_iter().chain(percent_decode(piece)))
}

/// Splits a raw query into its pairs, in URL order, skipping empty segments (`a=1&&b=2`).
pub fn raw_params(query: &str) -> impl Iterator<Item = RawParam<'_>> {
    RawParams { rest: query.as_bytes() }
}

/// The pairs of a raw query, found in one pass over its bytes: the `&` that ends a pair, its
/// first `=`, and whether key and value need decoding.
struct RawParams<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RawParams<'a> {
    type Item = RawParam<'a>;

    fn next(&mut self) -> Option<RawParam<'a>> {
        while !self.rest.is_empty() {
            let bytes = self.rest;
            let (mut end, mut eq) = (bytes.len(), None);
            let (mut key_plain, mut value_plain) = (true, true);
            for (i, &byte) in bytes.iter().enumerate() {
                match byte {
                    b'&' => {
                        end = i;
                        break;
                    }
                    b'=' if eq.is_none() => eq = Some(i),
                    b'%' | b'+' if eq.is_none() => key_plain = false,
                    b'%' | b'+' => value_plain = false,
                    _ => {}
                }
            }
            self.rest = bytes.get(end + 1..).unwrap_or_default();
            if end == 0 {
                continue;
            }
            let (key, value) = match eq {
                Some(eq) => (&bytes[..eq], &bytes[eq + 1..end]),
                None => (&bytes[..end], &b""[..]),
            };
            return Some(RawParam { key, value, key_plain, value_plain });
        }
        None
    }
}

/// The most query parameters a signed URL may carry. A URL of 8 KiB (what most proxies accept)
/// cannot hold many more meaningful ones; the cap bounds the sort.
pub const MAX_PARAMETERS: usize = 256;

/// Parameters kept inline: a typical signed URL has fewer, so no heap allocation.
type Params<'a> = SmallVec<[RawParam<'a>; 12]>;

/// An ordering of the parameters, as indices into [`Params`].
/// An ordering of the parameters, as indices into [`Params`]: bytes, since there are at most
/// [`MAX_PARAMETERS`] (256), which keeps a parsed query small to move.
type Ordering = SmallVec<[u8; 12]>;

/// The indices of `count` parameters, in URL order.
fn url_order(count: usize) -> Ordering {
    (0..count).map(|i| u8::try_from(i).expect("at most MAX_PARAMETERS parameters")).collect()
}

/// A string-to-sign. `Display` prints it exactly (lossily, if a decoded value is not UTF-8).
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalQuery(SmallVec<[u8; 512]>);

impl CanonicalQuery {
    /// The exact bytes that are signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Writes `key|value|` for each parameter in `ordering` into `self`, replacing what was
    /// there (one buffer serves every ordering tried).
    fn rebuild(&mut self, params: &[RawParam<'_>], ordering: &[u8], blank: BlankValues) {
        self.0.clear();
        for param in ordering.iter().map(|&i| &params[usize::from(i)]) {
            if blank == BlankValues::Skipped && param.value.is_empty() {
                continue;
            }
            param.write_to(&mut self.0);
        }
    }
}

impl fmt::Display for CanonicalQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for CanonicalQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CanonicalQuery({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// The signed parameters of a query, `s` set aside, checked for repeats.
#[derive(Debug)]
pub struct SignedQuery<'a> {
    /// Every parameter but `s`, in URL order.
    params: Params<'a>,
    /// `params` bytewise sorted by decoded key.
    sorted: Ordering,
    /// The raw `s` value, if present.
    signature: Option<&'a [u8]>,
}

impl<'a> SignedQuery<'a> {
    /// Parses `query`, refusing any repeated key (including `t`, `ms` and `s`): with two, what
    /// was signed would be ambiguous; and refusing more than [`MAX_PARAMETERS`] parameters
    /// before they are sorted.
    pub fn parse(query: &'a str) -> Result<Self, VerifyError> {
        let mut params = Params::new();
        let mut signature = None;
        for param in raw_params(query) {
            if param.key_is(b"s") {
                if signature.replace(param.value).is_some() {
                    return Err(VerifyError::RepeatedParameter { name: "s".into() });
                }
            } else if params.len() == MAX_PARAMETERS {
                return Err(VerifyError::TooManyItems {
                    field: Field::Query,
                    limit: MAX_PARAMETERS,
                });
            } else {
                params.push(param);
            }
        }
        let at = |i: u8| &params[usize::from(i)];
        let mut sorted = url_order(params.len());
        sorted.sort_unstable_by(|&a, &b| at(a).cmp_key(at(b)));
        if let Some(pair) = sorted.windows(2).find(|w| at(w[0]).cmp_key(at(w[1])).is_eq()) {
            let name: Vec<u8> = at(pair[0]).decoded_key().collect();
            return Err(VerifyError::RepeatedParameter { name: shorten(&name) });
        }
        Ok(SignedQuery { params, sorted, signature })
    }

    /// The parameters in `order`.
    fn ordered(&self, order: ParameterOrder) -> Ordering {
        match order {
            ParameterOrder::Bytewise => self.sorted.clone(),
            ParameterOrder::Url => url_order(self.params.len()),
            ParameterOrder::CaseInsensitive => {
                let at = |i: u8| &self.params[usize::from(i)];
                let mut by_folded_key = url_order(self.params.len());
                // A stable sort: keys equal but for case keep their URL order.
                by_folded_key.sort_by(|&a, &b| at(a).cmp_key_folded(at(b)));
                by_folded_key
            }
        }
    }

    /// The string-to-sign in `order`.
    pub fn canonical(&self, order: ParameterOrder, blank: BlankValues) -> CanonicalQuery {
        let mut canonical = CanonicalQuery(SmallVec::new());
        canonical.rebuild(&self.params, &self.ordered(order), blank);
        canonical
    }

    /// Offers the string-to-sign of each accepted ordering to `accept`, canonical first, and
    /// stops at the first it accepts. An ordering equal to one already offered is skipped:
    /// the three orders often agree, and each costs an HMAC. Orderings after the first are
    /// only computed when the first is refused.
    fn any_ordering(
        &self,
        blank_variants: &[BlankValues],
        mut accept: impl FnMut(&CanonicalQuery) -> bool,
    ) -> bool {
        let mut canonical = CanonicalQuery(SmallVec::new());
        let mut offered: SmallVec<[Ordering; 3]> = SmallVec::new();
        for order in
            [ParameterOrder::Bytewise, ParameterOrder::Url, ParameterOrder::CaseInsensitive]
        {
            let ordering = self.ordered(order);
            if offered.contains(&ordering) {
                continue;
            }
            for &blank in blank_variants {
                canonical.rebuild(&self.params, &ordering, blank);
                if accept(&canonical) {
                    return true;
                }
            }
            offered.push(ordering);
        }
        false
    }

    /// The decoded value of the signed parameter `name`, if present.
    fn value(&self, name: &[u8]) -> Option<Cow<'a, [u8]>> {
        let param = self.params.iter().find(|p| p.key_is(name))?;
        Some(if param.value_plain {
            Cow::Borrowed(param.value)
        } else {
            Cow::Owned(param.decoded_value().collect())
        })
    }
}

fn decode_value(raw: &[u8]) -> Cow<'_, [u8]> {
    if raw.iter().any(|&b| b == b'+' || b == b'%') {
        Cow::Owned(form_decode(raw).collect())
    } else {
        Cow::Borrowed(raw)
    }
}

/// Whether the request carries query-hmac credentials: a `t` parameter (as sent, unescaped).
pub(crate) fn is_present(request: &RequestView<'_>) -> bool {
    request
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "t" || pair.starts_with("t=")))
}

/// The string-to-sign of a raw query in `order` (for tools and tests; `s` is left out).
pub fn canonical_query(
    query: &str,
    order: ParameterOrder,
    blank: BlankValues,
) -> Result<CanonicalQuery, VerifyError> {
    Ok(SignedQuery::parse(query)?.canonical(order, blank))
}

/// query-hmac credentials as presented: the query parsed, no key known yet.
#[derive(Debug)]
pub(crate) struct Presented<'r> {
    signed: SignedQuery<'r>,
    token: Cow<'r, str>,
    timestamp_ms: i64,
    tag: Tag,
}

/// Parses the query's `t`, `ms` and `s` and every other parameter.
pub(crate) fn parse<'r>(
    request: &RequestView<'r>,
    options: &VerifyOptions,
) -> Result<Presented<'r>, VerifyError> {
    let query = request.query().ok_or(VerifyError::missing(Field::QueryToken))?;
    let signed = SignedQuery::parse(query)?;
    let token = signed.value(b"t").ok_or(VerifyError::missing(Field::QueryToken))?;
    let timestamp = signed.value(b"ms").ok_or(VerifyError::missing(Field::QueryTimestamp))?;
    let presented = signed.signature.ok_or(VerifyError::missing(Field::QuerySignature))?;
    let tag: Tag = tag_from_hex(&decode_value(presented))
        .ok_or(VerifyError::malformed(Field::QuerySignature, "expected 64 hex digits"))?;
    let timestamp_ms = crate::time::parse_epoch_millis(&timestamp, Field::QueryTimestamp)?;
    let not_utf8 = || VerifyError::malformed(Field::QueryToken, "not UTF-8");
    let token = match token {
        Cow::Borrowed(bytes) => Cow::Borrowed(std::str::from_utf8(bytes).map_err(|_| not_utf8())?),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8(bytes).map_err(|_| not_utf8())?),
    };
    options.check_format(CredentialKind::ApiKeyToken, &token, Field::QueryToken)?;
    Ok(Presented { signed, token, timestamp_ms, tag })
}

impl Presented<'_> {
    /// The key token.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// What can be checked once the key is known: the clock.
    pub(crate) fn check_key(
        &self,
        now_ms: i64,
        options: &VerifyOptions,
    ) -> Result<(), VerifyError> {
        options.window.check(self.timestamp_ms, now_ms)
    }

    /// The HMAC over the string-to-sign, in any accepted order.
    pub(crate) fn verify(
        &self,
        key: &KeyMaterial,
        options: &VerifyOptions,
    ) -> Result<ReplayId, VerifyError> {
        let mut blank_variants: SmallVec<[BlankValues; 2]> = SmallVec::new();
        blank_variants.push(BlankValues::Signed);
        if options.blank_values == BlankValues::Skipped {
            blank_variants.push(BlankValues::Skipped);
        }
        let matched = self.signed.any_ordering(&blank_variants, |canonical| {
            key.any_secret_matches(&[canonical.as_bytes()], &self.tag)
        });
        if !matched {
            let canonical = self.signed.canonical(ParameterOrder::Bytewise, BlankValues::Signed);
            return Err(VerifyError::SignatureMismatch { signed: canonical.as_bytes().to_vec() });
        }
        Ok(ReplayId::from_signature(self.tag, self.timestamp_ms, options.window))
    }
}

/// What is escaped when `t` and `ms` are appended: everything but unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Appends `t`, `ms` and `s` to `target` (origin-form or absolute), signing every parameter
/// in `order`. Returns the signed target.
pub fn sign(
    target: &str,
    token: &str,
    now_ms: i64,
    key: &KeyMaterial,
    order: ParameterOrder,
) -> Result<String, SignError> {
    let mut out = String::with_capacity(target.len() + token.len() + 100);
    out.push_str(target);
    out.push(if target.contains('?') { '&' } else { '?' });
    out.push_str("t=");
    out.extend(utf8_percent_encode(token, COMPONENT));
    out.push_str("&ms=");
    out.push_str(&now_ms.to_string());
    let signature = signature_for(&out, key, order)?;
    out.push_str("&s=");
    out.push_str(&signature);
    Ok(out)
}

/// The hex `s` for a target that already carries `t` and `ms` (and no `s`).
pub fn signature_for(
    target: &str,
    key: &KeyMaterial,
    order: ParameterOrder,
) -> Result<String, SignError> {
    let query = target.split_once('?').map_or("", |(_, query)| query);
    let signed = SignedQuery::parse(query)
        .map_err(|_| SignError::Unsignable { reason: "a query parameter is repeated" })?;
    if signed.signature.is_some() {
        return Err(SignError::AlreadySigned { name: "s" });
    }
    let canonical = signed.canonical(order, BlankValues::Signed);
    Ok(to_hex(&key.signing_key()?.sign(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(query: &str, order: ParameterOrder) -> String {
        canonical_query(query, order, BlankValues::Signed).unwrap().to_string()
    }

    #[test]
    fn decodes_plus_percent_and_keeps_invalid_escapes() {
        assert_eq!(canonical("a=x+y%2By%7C%zz%4", ParameterOrder::Url), "a|x y+y|%zz%4|");
        assert_eq!(canonical("flag&b=", ParameterOrder::Url), "flag||b||");
    }

    #[test]
    fn splits_pairs_in_one_pass() {
        let pairs: Vec<_> = raw_params("a=1&&b=2&=x&c==d&flag&k%20=v+w&")
            .map(|p| (p.raw_key(), p.raw_value(), p.key_plain, p.value_plain))
            .collect();
        assert_eq!(
            pairs,
            [
                (&b"a"[..], &b"1"[..], true, true),
                (b"b", b"2", true, true),
                (b"", b"x", true, true),
                (b"c", b"=d", true, true),
                (b"flag", b"", true, true),
                (b"k%20", b"v+w", false, false),
            ]
        );
        assert_eq!(raw_params("&&").count(), 0);
    }

    #[test]
    fn three_orders() {
        let q = "Zeta=1&alpha=2&ms=3&t=4";
        assert_eq!(canonical(q, ParameterOrder::Bytewise), "Zeta|1|alpha|2|ms|3|t|4|");
        assert_eq!(canonical(q, ParameterOrder::CaseInsensitive), "alpha|2|ms|3|t|4|Zeta|1|");
        assert_eq!(canonical("t=4&b=1&a=2", ParameterOrder::Url), "t|4|b|1|a|2|");
    }

    #[test]
    fn rejects_repeated_keys_after_decoding() {
        for query in ["t=1&t=2", "a=1&%61=2", "s=1&s=2", "x&x="] {
            assert_eq!(
                SignedQuery::parse(query).unwrap_err().code(),
                "repeated-parameter",
                "{query}"
            );
        }
    }

    #[test]
    fn blank_values_can_be_skipped() {
        let q = "a=1&x=&t=2";
        assert_eq!(
            canonical_query(q, ParameterOrder::Bytewise, BlankValues::Skipped).unwrap().to_string(),
            "a|1|t|2|"
        );
    }
}
