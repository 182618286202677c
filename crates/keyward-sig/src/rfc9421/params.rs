//! Signature parameters: one member of `Signature-Input`, parsed with a real RFC 8941 parser.
//!
//! RFC 9421 section 2.3: the `@signature-params` line is the serialization of this inner
//! list, so it is kept as the parser produced it and serialized back, never rebuilt by hand.

use sfv::{BareItem, InnerList, Item, ListSerializer, Parameters};

use crate::error::{Field, SignError, VerifyError};

/// The `alg` value keyward accepts (RFC 9421 section 3.3.3).
pub const HMAC_SHA256: &str = "hmac-sha256";

/// The covered components and parameters of one signature.
#[derive(Clone, Debug, PartialEq)]
pub struct SignatureParams {
    inner: InnerList,
}

impl SignatureParams {
    /// Reads the signature parameters from a parsed `Signature-Input` member, checking the
    /// types RFC 9421 section 2.3 gives each parameter and that no component repeats.
    pub fn from_inner_list(inner: InnerList) -> Result<Self, VerifyError> {
        for (i, item) in inner.items.iter().enumerate() {
            let name = item.bare_item.as_string().ok_or(VerifyError::malformed(
                Field::SignatureInput,
                "a covered component is not a string",
            ))?;
            if inner.items[..i].iter().any(|earlier| earlier == item) {
                return Err(VerifyError::malformed(
                    Field::SignatureInput,
                    "a covered component repeats",
                ));
            }
            if name.as_str().bytes().any(|c| c.is_ascii_uppercase()) {
                return Err(VerifyError::malformed(
                    Field::SignatureInput,
                    "component names are lower-case",
                ));
            }
        }
        let params = SignatureParams { inner };
        for (name, field) in [("created", Field::Created), ("expires", Field::Expires)] {
            if params.param(name).is_some_and(|v| v.as_integer().is_none()) {
                return Err(VerifyError::malformed(field, "expected an integer"));
            }
        }
        for (name, field) in [
            ("nonce", Field::Nonce),
            ("keyid", Field::KeyId),
            ("alg", Field::Algorithm),
            ("tag", Field::SignatureInput),
        ] {
            if params.param(name).is_some_and(|v| v.as_string().is_none()) {
                return Err(VerifyError::malformed(field, "expected a string"));
            }
        }
        Ok(params)
    }

    /// Starts signature parameters covering `components`, created at `created` (epoch
    /// seconds), with `keyid` and `alg="hmac-sha256"`.
    pub fn new(components: &[&str], created: i64, keyid: &str) -> Result<Self, SignError> {
        let items = components
            .iter()
            .map(|name| {
                let name = sfv::String::from_string(name.to_ascii_lowercase())
                    .map_err(|_| SignError::InvalidParameter { field: Field::SignatureInput })?;
                Ok(Item::new(name))
            })
            .collect::<Result<Vec<_>, SignError>>()?;
        let mut params = SignatureParams { inner: InnerList::new(items) };
        params.set("created", BareItem::Integer(integer(created, Field::Created)?));
        params.set("alg", string(HMAC_SHA256, Field::Algorithm)?);
        params.set("keyid", string(keyid, Field::KeyId)?);
        Ok(params)
    }

    /// Adds `expires` (epoch seconds).
    pub fn with_expires(mut self, expires: i64) -> Result<Self, SignError> {
        self.set("expires", BareItem::Integer(integer(expires, Field::Expires)?));
        Ok(self)
    }

    /// Adds a `nonce`, which the verifier remembers to refuse replays.
    pub fn with_nonce(mut self, nonce: &str) -> Result<Self, SignError> {
        self.set("nonce", string(nonce, Field::Nonce)?);
        Ok(self)
    }

    fn set(&mut self, name: &'static str, value: BareItem) {
        let key = sfv::Key::from_string(name.to_owned()).expect("parameter names are valid keys");
        self.inner.params.insert(key, value);
    }

    fn param(&self, name: &str) -> Option<&BareItem> {
        self.inner.params.get(name)
    }

    /// The covered components, each with its own parameters.
    pub fn components(&self) -> impl Iterator<Item = (&str, &Parameters)> {
        self.inner
            .items
            .iter()
            .filter_map(|item| Some((item.bare_item.as_string()?.as_str(), &item.params)))
    }

    /// Whether `name` is covered (with no component parameters).
    pub fn covers(&self, name: &str) -> bool {
        self.components().any(|(component, params)| component == name && params.is_empty())
    }

    /// The component identifiers as the signature base writes them (RFC 9421 section 2.5:
    /// the sf-string with its parameters).
    pub(crate) fn component_items(&self) -> impl Iterator<Item = &Item> {
        self.inner.items.iter()
    }

    /// `created`, epoch seconds.
    pub fn created(&self) -> Option<i64> {
        self.param("created")?.as_integer().map(i64::from)
    }

    /// `expires`, epoch seconds.
    pub fn expires(&self) -> Option<i64> {
        self.param("expires")?.as_integer().map(i64::from)
    }

    /// `nonce`.
    pub fn nonce(&self) -> Option<&str> {
        Some(self.param("nonce")?.as_string()?.as_str())
    }

    /// `keyid`.
    pub fn keyid(&self) -> Option<&str> {
        Some(self.param("keyid")?.as_string()?.as_str())
    }

    /// `alg`.
    pub fn alg(&self) -> Option<&str> {
        Some(self.param("alg")?.as_string()?.as_str())
    }

    /// The serialized inner list: the `@signature-params` value and the `Signature-Input`
    /// member value.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        self.serialize_into(&mut out);
        out
    }

    /// Appends the serialized inner list to `out`, without intermediate allocations.
    pub(crate) fn serialize_into(&self, out: &mut String) {
        // A one-member List serializes to exactly that member.
        let mut list = ListSerializer::with_buffer(out);
        let mut inner = list.inner_list();
        inner.items(&self.inner.items);
        let _ = inner.finish().parameters(&self.inner.params);
        let _ = list.finish();
    }
}

fn integer(value: i64, field: Field) -> Result<sfv::Integer, SignError> {
    sfv::Integer::try_from(value).map_err(|_| SignError::InvalidParameter { field })
}

fn string(value: &str, field: Field) -> Result<BareItem, SignError> {
    sfv::String::from_string(value.to_owned())
        .map(BareItem::String)
        .map_err(|_| SignError::InvalidParameter { field })
}
