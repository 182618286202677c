//! http-signature: RFC 9421 HTTP Message Signatures with `hmac-sha256`, or with a public key
//! (`ed25519`, `ecdsa-p256-sha256`, `ecdsa-p384-sha384`, `rsa-pss-sha512`, `rsa-v1_5-sha256`;
//! see [`crate::public_key`]).
//!
//! ```text
//! Signature-Input: sig1=("@method" "@path" "@query" "content-digest");created=…;keyid="…";alg="hmac-sha256"
//! Signature:       sig1=:base64(HMAC-SHA256(secret, signature base)):
//! ```
//! `keyid` is the API key's token; `alg`, when present, must be the key's algorithm (the key
//! decides when it is absent); `created` is required and must lie inside the clock
//! window; `expires` is honoured; `nonce`, when present, is what replay protection
//! remembers. Under keyward's [`ComponentPolicy::Keyward`] the signature must cover `@method`,
//! `@path`, `@query` when there is a query, and `content-digest` (checked against the body)
//! when there is a body. Structured fields are parsed with the `sfv` crate.
//!
//! When a request carries several signatures, the first member of `Signature-Input` is the
//! one verified, unless the options say [`SignatureRule::All`]:
//! then every member is checked as the first is, each with the key its `keyid` names.
//!
//! # Example
//! ```
//! use keyward_sig::{KeyKind, KeyMaterial, RequestView};
//! use keyward_sig::rfc9421::{self, SignatureParams};
//! let key = KeyMaterial::new(KeyKind::Domain, b"secret");
//! let request = RequestView::new("GET", "/api/activities?page=2", &[], b"");
//! let params = SignatureParams::new(&["@method", "@path", "@query"], 1_700_000_000, "kid").unwrap();
//! let headers = rfc9421::sign(&request, "sig1", &params, &key).unwrap();
//! assert_eq!(
//!     headers.signature_input,
//!     r#"sig1=("@method" "@path" "@query");created=1700000000;alg="hmac-sha256";keyid="kid""#
//! );
//! ```

mod accept;
mod base;
mod digest;
mod params;
mod response;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;

pub use accept::AcceptSignature;
pub use base::{Message, SignatureBase};
pub use digest::{DigestAlgorithm, check_content_digest, content_digest};
pub use params::{
    MAX_COMPONENT_PARAMETERS, MAX_COMPONENTS, MAX_SIGNATURE_PARAMETERS, MAX_SIGNATURES,
    SignatureParams,
};
pub use response::{VerifiedResponse, sign_response, verify_response};

use sha2::{Digest, Sha256};

use crate::error::{Field, SignError, VerifyError, shorten};
use crate::key::KeyMaterial;
use crate::mac::{HMAC_SHA256, TAG_LEN};
use crate::options::{ComponentPolicy, SignatureRule, VerifyOptions};
use crate::public_key::Algorithm;
use crate::request::{CredentialField, CredentialFields, RequestView};
use crate::token::CredentialKind;
use crate::verified::ReplayId;
use base::ComponentError;

/// The `Signature-Input` field.
pub const SIGNATURE_INPUT: &str = "signature-input";
/// The `Signature` field.
pub const SIGNATURE: &str = "signature";
/// The `Content-Digest` field.
pub const CONTENT_DIGEST: &str = "content-digest";

/// Whether the request carries RFC 9421 credentials.
pub(crate) fn is_present(fields: &CredentialFields<'_>) -> bool {
    fields.has(CredentialField::SignatureInput) || fields.has(CredentialField::Signature)
}

/// A field's value: its one field line, or all of them joined by commas (RFC 9110 section
/// 5.3: the lines of a list-based field combine as one).
fn field_value<'a>(
    request: &RequestView<'a>,
    fields: &CredentialFields<'a>,
    name: CredentialField,
    field: Field,
) -> Result<Cow<'a, [u8]>, VerifyError> {
    let first = fields.first(name).ok_or(VerifyError::missing(field))?;
    Ok(if fields.repeated(name) {
        Cow::Owned(request.header_values(name.name()).collect::<Vec<_>>().join(&b", "[..]))
    } else {
        Cow::Borrowed(first)
    })
}

/// Parses the `Signature-Input` and `Signature` field values: the first signature's label,
/// its parameters, and its bytes.
pub fn parse_signature<'a>(
    signature_input: &'a [u8],
    signature: &[u8],
) -> Result<(&'a str, SignatureParams<'a>, Vec<u8>), VerifyError> {
    let (label, params) = SignatureParams::parse_first(signature_input)?;
    let bytes = params::signature_for_label(signature, label)?;
    Ok((label, params, bytes))
}

/// keyward's required components that do not depend on the body (DESIGN section 1):
/// `@method`, `@path` and `@query` when the request has a query (or `@target-uri` or
/// `@request-target` in their place).
fn check_target_policy(
    request: &RequestView<'_>,
    params: &SignatureParams<'_>,
) -> Result<(), VerifyError> {
    let covers_target = params.covers("@target-uri") || params.covers("@request-target");
    let required = [
        ("@method", true),
        ("@path", !covers_target),
        ("@query", request.query().is_some() && !covers_target),
    ];
    for (component, needed) in required {
        if needed && !params.covers(component) {
            return Err(VerifyError::ComponentMissing { component });
        }
    }
    Ok(())
}

/// RFC 9421 credentials as presented: the first signature parsed, no key known yet.
#[derive(Debug)]
pub(crate) struct Presented<'r> {
    params: SignatureParams<'r>,
    signature: Vec<u8>,
    created: i64,
    /// The `Content-Digest` value, when the signature covers it.
    digest: Option<Cow<'r, [u8]>>,
    /// The other signatures, under [`SignatureRule::All`] (empty otherwise).
    others: Vec<Presented<'r>>,
}

/// Parses `Signature-Input`, `Signature` and (when covered) `Content-Digest`, and checks the
/// signature's algorithm, `keyid`, `created` and the components keyward requires.
pub(crate) fn parse<'r>(
    request: &RequestView<'r>,
    fields: &CredentialFields<'r>,
    options: &VerifyOptions,
) -> Result<Presented<'r>, VerifyError> {
    let input =
        field_value(request, fields, CredentialField::SignatureInput, Field::SignatureInput)?;
    let signature = field_value(request, fields, CredentialField::Signature, Field::Signature)?;
    let (params, presented) = match &input {
        Cow::Borrowed(input) => {
            let (_label, params, presented) = parse_signature(input, &signature)?;
            (params, presented)
        }
        // Field lines joined into a buffer of our own: the parameters must own their text.
        Cow::Owned(input) => {
            let (_label, params, presented) = parse_signature(input, &signature)?;
            (params.into_owned(), presented)
        }
    };
    let mut first = member(request, fields, options, params, presented)?;
    if options.signatures == SignatureRule::All {
        // The first label is the dictionary's first key (a repeated key keeps its place).
        for other in params::signature_labels(&input)?.into_iter().skip(1) {
            let (_, params) = SignatureParams::parse_member(&input, Some(&other))?;
            let presented = params::signature_for_label(&signature, &other)?;
            first.others.push(member(request, fields, options, params.into_owned(), presented)?);
        }
    }
    Ok(first)
}

/// One signature's checks: its algorithm, `keyid`, `created`, the components keyward
/// requires, and (when covered) the `Content-Digest` value.
fn member<'r>(
    request: &RequestView<'r>,
    fields: &CredentialFields<'r>,
    options: &VerifyOptions,
    params: SignatureParams<'r>,
    presented: Vec<u8>,
) -> Result<Presented<'r>, VerifyError> {
    match params.alg() {
        Some(HMAC_SHA256) => check_hmac_length(&presented)?,
        Some(alg) if Algorithm::from_name(alg).is_none() => {
            return Err(VerifyError::UnsupportedAlgorithm { algorithm: shorten(alg.as_bytes()) });
        }
        _ => {}
    }
    let keyid = params.keyid().ok_or(VerifyError::missing(Field::KeyId))?;
    let created = params.created().ok_or(VerifyError::missing(Field::Created))?;
    if options.component_policy == ComponentPolicy::Keyward {
        check_target_policy(request, &params)?;
    }
    options.check_format(CredentialKind::ApiKeyToken, keyid, Field::KeyId)?;
    let digest = match params.covers(CONTENT_DIGEST) {
        true => Some(field_value(
            request,
            fields,
            CredentialField::ContentDigest,
            Field::ContentDigest,
        )?),
        false => None,
    };
    Ok(Presented { params, signature: presented, created, digest, others: Vec::new() })
}

/// An HMAC-SHA256 signature is 32 bytes.
fn check_hmac_length(signature: &[u8]) -> Result<(), VerifyError> {
    match signature.len() {
        TAG_LEN => Ok(()),
        _ => Err(VerifyError::malformed(Field::Signature, "expected 32 bytes of HMAC-SHA256")),
    }
}

impl Presented<'_> {
    /// The `keyid`: the API key's token.
    pub(crate) fn keyid(&self) -> &str {
        self.params.keyid().unwrap_or_default()
    }

    /// The other signatures' `keyid`s, under [`SignatureRule::All`].
    pub(crate) fn other_keyids(&self) -> impl Iterator<Item = &str> {
        self.others.iter().map(Presented::keyid)
    }

    /// The other signatures, under [`SignatureRule::All`].
    pub(crate) fn others(&self) -> &[Self] {
        &self.others
    }

    /// Whether verification reads the body: to check `Content-Digest`, or to see that there
    /// is none when keyward's policy requires the digest of any body.
    pub(crate) fn reads_body(&self, options: &VerifyOptions) -> bool {
        self.digest.is_some()
            || options.component_policy == ComponentPolicy::Keyward
            || self.others.iter().any(|other| other.digest.is_some())
    }

    /// What can be checked once the key is known: the algorithm, `expires`, then the clock.
    pub(crate) fn check_key(
        &self,
        key: &KeyMaterial,
        now_ms: i64,
        options: &VerifyOptions,
    ) -> Result<(), VerifyError> {
        if let Some(alg) = self.params.alg().filter(|alg| *alg != key.algorithm()) {
            return Err(VerifyError::AlgorithmMismatch {
                key: key.algorithm(),
                presented: shorten(alg.as_bytes()),
            });
        }
        let now = now_ms.div_euclid(1000);
        if let Some(expires) = self.params.expires().filter(|&expires| now > expires) {
            return Err(VerifyError::SignatureExpired { created: self.created, expires, now });
        }
        options.window.check(self.created.saturating_mul(1000), now_ms)
    }

    /// The body's digest, then the HMAC over the signature base.
    pub(crate) fn verify(
        &self,
        request: &RequestView<'_>,
        key: &KeyMaterial,
        options: &VerifyOptions,
    ) -> Result<ReplayId, VerifyError> {
        let body = request.body();
        if options.component_policy == ComponentPolicy::Keyward
            && !body.is_empty()
            && self.digest.is_none()
        {
            return Err(VerifyError::ComponentMissing { component: CONTENT_DIGEST });
        }
        if let Some(digest) = &self.digest {
            check_content_digest(digest, body)?;
        }
        let base = check_signature(Message::Request(request), &self.params, key, &self.signature)?;
        let created_ms = self.created.saturating_mul(1000);
        Ok(match self.params.nonce() {
            Some(nonce) => ReplayId::from_nonce(self.keyid(), nonce, created_ms, options.window),
            None => {
                ReplayId::from_signature(self.replay_tag(key, &base), created_ms, options.window)
            }
        })
    }

    /// 32 bytes that identify what was signed, never bytes an attacker can vary: an HMAC tag
    /// (one per base and secret), or for a public key the digest of the signature base itself.
    /// A public-key signature is not unique to its base: an ECDSA signature `(r, s)` verifies
    /// as `(r, n - s)` too, and RSA-PSS signs anew with every salt, so a replay memory keyed
    /// on the signature's bytes would take a replay with `n - s` for a new request.
    fn replay_tag(&self, key: &KeyMaterial, base: &SignatureBase) -> [u8; 32] {
        match (key.public_key(), <[u8; 32]>::try_from(self.signature.as_slice())) {
            (None, Ok(tag)) => tag,
            _ => Sha256::digest(base.as_bytes()).into(),
        }
    }
}

/// Builds the signature base of `params` over `message` and checks `signature` against it with
/// `key` (its public key, or each of its secrets in constant time): the base it verified.
pub(crate) fn check_signature(
    message: Message<'_, '_>,
    params: &SignatureParams<'_>,
    key: &KeyMaterial,
    signature: &[u8],
) -> Result<SignatureBase, VerifyError> {
    let base = SignatureBase::build(message, params).map_err(|error| match error {
        ComponentError::Unsupported(component) => {
            VerifyError::UnsupportedComponent { component: shorten(component.as_bytes()) }
        }
        ComponentError::Absent(_) => {
            VerifyError::malformed(Field::SignatureInput, "covers a component the message lacks")
        }
    })?;
    let matches = match key.public_key() {
        Some(public_key) => public_key.verify(base.as_bytes(), signature),
        None => {
            check_hmac_length(signature)?;
            key.any_secret_matches(&[base.as_bytes()], signature)
        }
    };
    match matches {
        true => Ok(base),
        false => Err(VerifyError::SignatureMismatch { signed: base.into_bytes() }),
    }
}

/// The two header values that carry a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// The `Signature-Input` value: `label=(...);params`.
    pub signature_input: String,
    /// The `Signature` value: `label=:base64:`.
    pub signature: String,
}

/// The signature base of `request` for `params`.
pub fn signature_base(
    request: &RequestView<'_>,
    params: &SignatureParams<'_>,
) -> Result<SignatureBase, SignError> {
    message_signature_base(Message::Request(request), params)
}

/// The signature base of a request or response for `params`.
pub fn message_signature_base(
    message: Message<'_, '_>,
    params: &SignatureParams<'_>,
) -> Result<SignatureBase, SignError> {
    SignatureBase::build(message, params).map_err(|error| match error {
        ComponentError::Unsupported(_) => {
            SignError::Unsignable { reason: "a covered component is not supported" }
        }
        ComponentError::Absent(_) => {
            SignError::Unsignable { reason: "a covered component is absent from the message" }
        }
    })
}

/// A key that makes RFC 9421 signatures: a secret ([`KeyMaterial`], `hmac-sha256`) or a
/// private key (`keyward_sig::private_key::PrivateKey`, with the `private-keys` feature).
pub trait MessageSigner {
    /// The `alg` this key signs with.
    fn algorithm(&self) -> &'static str;
    /// The signature of `base`.
    fn sign(&self, base: &[u8]) -> Result<Vec<u8>, SignError>;
}

impl MessageSigner for KeyMaterial {
    fn algorithm(&self) -> &'static str {
        KeyMaterial::algorithm(self)
    }

    fn sign(&self, base: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.signing_key()?.sign(base).to_vec())
    }
}

/// Signs `request` under `label` with `params`. A covered `content-digest` must already be a
/// header of the request (see [`content_digest`]). An `alg` in `params` must be the key's
/// (see [`SignatureParams::with_algorithm`]); without one, the key's algorithm signs.
pub fn sign(
    request: &RequestView<'_>,
    label: &str,
    params: &SignatureParams<'_>,
    key: &(impl MessageSigner + ?Sized),
) -> Result<SignatureHeaders, SignError> {
    sign_message(Message::Request(request), label, params, key)
}

/// Signs a request or a response (see [`sign`]).
pub fn sign_message(
    message: Message<'_, '_>,
    label: &str,
    params: &SignatureParams<'_>,
    key: &(impl MessageSigner + ?Sized),
) -> Result<SignatureHeaders, SignError> {
    if sfv::KeyRef::from_str(label).is_err() {
        return Err(SignError::InvalidParameter { field: Field::Signature });
    }
    if params.alg().is_some_and(|alg| alg != key.algorithm()) {
        return Err(SignError::Unsignable {
            reason: "the signature parameters name another algorithm than the key's",
        });
    }
    let base = message_signature_base(message, params)?;
    let signature = key.sign(base.as_bytes())?;
    Ok(SignatureHeaders {
        signature_input: format!("{label}={}", params.serialize()),
        signature: format!("{label}=:{}:", STANDARD.encode(signature)),
    })
}
