//! keyward-sig turns an HTTP request into the exact bytes each of keyward's schemes signs,
//! signs them, and verifies them.
//!
//! It does **no I/O and reads no clock**: the caller passes the request as a borrowed
//! [`RequestView`], the current time as epoch milliseconds, and answers key lookups through
//! [`CredentialLookup`]. It has no async, no database and no HTTP server in it.
//!
//! ```text
//!            client                                       server
//!   request ──sign──▶ signed request ── network ──▶ RequestView ──Verifier::verify──▶ Verified
//!              │                                                     │                 │
//!         KeyMaterial                                      CredentialLookup (yours)   or VerifyError
//! ```
//!
//! | scheme | module | credentials |
//! |---|---|---|
//! | `bearer` | [`bearer`] | `Authorization: Bearer kwat_…` |
//! | `query-hmac` | [`query_hmac`] | query `t`, `ms`, `s` (DevResults) |
//! | `header-hmac` | [`header_hmac`] | `x-logtrust-*` headers (Devo) |
//! | `http-signature` | [`rfc9421`] | `Signature-Input`, `Signature`, `Content-Digest` |
//! | `api-key` | [`api_key`] | `Authorization: Bearer kwapi_…` or `X-API-Key: kwapi_…` |
//!
//! Every HMAC is HMAC-SHA256 keyed with the secret's bytes; every comparison of
//! secret-derived bytes is constant-time; no error and no `Debug` output holds a secret.
//! `docs/schemes.md` states each scheme byte for byte.
//!
//! # Getting started
//! ```
//! use keyward_sig::{header_hmac, AccessGrant, CredentialLookup, KeyKind, KeyMaterial,
//!                   RequestView, Verifier, token::TokenDigest};
//!
//! struct Keys;
//! impl CredentialLookup for Keys {
//!     type Key = KeyMaterial;
//!     type Grant = AccessGrant;
//!     fn api_key(&self, token: &str) -> Option<KeyMaterial> {
//!         (token == "kwkey_demo").then(|| KeyMaterial::new(KeyKind::Domain, b"kwsec_demo"))
//!     }
//!     fn access_token(&self, _: &TokenDigest) -> Option<AccessGrant> { None }
//! }
//!
//! let now_ms = 1_732_431_234_567;
//! let key = KeyMaterial::new(KeyKind::Domain, b"kwsec_demo");
//! let body = br#"{"data":{"name":"Irrigation"}}"#;
//! let signed = header_hmac::sign("kwkey_demo", body, now_ms, &key).unwrap();
//! let headers: Vec<(&str, &[u8])> =
//!     signed.pairs().iter().map(|(n, v)| (*n, v.as_bytes())).collect();
//! let request = RequestView::new("POST", "/api/activities", &headers, body);
//! let verified = Verifier::default().verify(&request, now_ms, &Keys).unwrap();
//! assert_eq!(verified.key_kind(), Some(KeyKind::Domain));
//! ```
//!
//! # Features
//! - `http` (default): [`RequestView::with_header_map`] and the [`http_adapter`] for
//!   `http::Request`.
//! - `private-keys`: the `private_key` module, to generate private keys and sign RFC 9421
//!   requests with them (clients need it; verifying does not).

pub mod api_key;
pub mod bearer;
pub mod certificate;
pub mod header_hmac;
#[cfg(feature = "http")]
pub mod http_adapter;
pub mod mac;
#[cfg(feature = "private-keys")]
pub mod private_key;
pub mod public_key;
pub mod query_hmac;
pub mod rfc9421;
pub mod token;

mod error;
mod key;
mod options;
mod presented;
mod request;
mod scheme;
mod time;
mod verified;
mod verify;

#[doc(hidden)]
pub mod __fuzzing;
mod setting;

#[doc(hidden)]
pub use serde as __serde;

pub use error::{Field, SignError, VerifyError};
pub use key::{AccessGrant, CredentialLookup, KeyMaterial};
pub use options::{BlankValues, ComponentPolicy, SignatureRule, TokenFormat, VerifyOptions};
pub use presented::{CredentialRef, Presented};
pub use request::{HeaderValues, RequestView, ResponseView};
pub use scheme::{KeyKind, Scheme};
pub use time::ClockWindow;
pub use verified::{Principal, ReplayId, Verified};
pub use verify::Verifier;
