//! Signature parameters: one member of `Signature-Input`, parsed with a real RFC 8941 parser.
//!
//! The `sfv` crate's visitor API parses straight into this borrowed form: component names and
//! parameter values point into the header value unless they hold escapes, so verifying
//! allocates nothing here. RFC 9421 section 2.3: the `@signature-params` line is the
//! serialization of this inner list, so it is serialized back with `sfv`, never by hand.

use std::borrow::Cow;
use std::convert::Infallible;

use sfv::visitor::{
    DictionaryVisitor, EntryVisitor, Ignored, InnerListVisitor, ItemVisitor, ParameterVisitor,
};
use sfv::{BareItemFromInput, KeyRef, ListSerializer, Parser};
use smallvec::SmallVec;

use crate::error::{Field, SignError, VerifyError};

/// The `alg` value keyward accepts (RFC 9421 section 3.3.3).
pub const HMAC_SHA256: &str = "hmac-sha256";

/// A parameter value as parsed (strings borrowed unless they hold escapes) or as built.
type Value<'a> = BareItemFromInput<'a>;

/// Parameters in order, each key once (RFC 8941 section 4.2.3.2: a repeated key keeps its
/// first position and takes its last value).
type Params<'a, const N: usize> = SmallVec<[(Cow<'a, KeyRef>, Value<'a>); N]>;

fn set_param<'a, const N: usize>(
    params: &mut Params<'a, N>,
    key: Cow<'a, KeyRef>,
    value: Value<'a>,
) {
    match params.iter_mut().find(|(existing, _)| *existing == key) {
        Some(slot) => slot.1 = value,
        None => params.push((key, value)),
    }
}

/// One covered component: its name (an sf-string) and its own parameters (`;sf`, `;req`...).
#[derive(Clone, Debug, PartialEq)]
pub struct Component<'a> {
    name: Value<'a>,
    params: Params<'a, 1>,
}

impl Component<'_> {
    /// The component's name, when it is a string (the only valid form).
    pub fn name(&self) -> Option<&str> {
        self.name.as_string().map(|s| s.as_str())
    }

    /// Whether the component has parameters of its own.
    pub fn has_params(&self) -> bool {
        !self.params.is_empty()
    }

    /// Appends the component identifier (RFC 9421 section 2.5: the sf-string with its
    /// parameters) to `out`.
    pub(crate) fn serialize_into(&self, out: &mut String) {
        let _ = sfv::ItemSerializer::with_buffer(out)
            .bare_item(&self.name)
            .parameters(self.params.iter().map(|(k, v)| (k, v)));
    }
}

/// The covered components and parameters of one signature.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SignatureParams<'a> {
    components: SmallVec<[Component<'a>; 8]>,
    params: Params<'a, 6>,
}

impl<'a> SignatureParams<'a> {
    /// Parses a `Signature-Input` field value and returns its first member's label and
    /// parameters, checking the types RFC 9421 section 2.3 gives each parameter and that no
    /// component repeats. (A request may carry several signatures; keyward verifies the first.)
    pub fn parse_first(value: &'a [u8]) -> Result<(&'a str, Self), VerifyError> {
        let malformed = |reason| VerifyError::malformed(Field::SignatureInput, reason);
        let first = Parser::new(value)
            .with_version(sfv::Version::Rfc8941)
            .parse_dictionary_with_visitor(FirstMember { first: None })
            .map_err(|_| malformed("not an RFC 8941 dictionary"))?;
        let (label, params) = first.ok_or(VerifyError::missing(Field::SignatureInput))?;
        let params = params.ok_or(malformed("expected an inner list"))?;
        params.check()?;
        Ok((label.as_str(), params))
    }

    fn check(&self) -> Result<(), VerifyError> {
        let malformed = |reason| VerifyError::malformed(Field::SignatureInput, reason);
        for (i, component) in self.components.iter().enumerate() {
            let name = component.name().ok_or(malformed("a covered component is not a string"))?;
            if self.components[..i].contains(component) {
                return Err(malformed("a covered component repeats"));
            }
            if name.bytes().any(|c| c.is_ascii_uppercase()) {
                return Err(malformed("component names are lower-case"));
            }
        }
        for (name, field) in [("created", Field::Created), ("expires", Field::Expires)] {
            if self.param(name).is_some_and(|v| v.as_integer().is_none()) {
                return Err(VerifyError::malformed(field, "expected an integer"));
            }
        }
        for (name, field) in [
            ("nonce", Field::Nonce),
            ("keyid", Field::KeyId),
            ("alg", Field::Algorithm),
            ("tag", Field::SignatureInput),
        ] {
            if self.param(name).is_some_and(|v| v.as_string().is_none()) {
                return Err(VerifyError::malformed(field, "expected a string"));
            }
        }
        Ok(())
    }

    /// Starts signature parameters covering `components`, created at `created` (epoch
    /// seconds), with `alg="hmac-sha256"` and `keyid`.
    pub fn new(components: &[&str], created: i64, keyid: &str) -> Result<Self, SignError> {
        let components = components
            .iter()
            .map(|name| {
                let name = owned_string(&name.to_ascii_lowercase(), Field::SignatureInput)?;
                Ok(Component { name, params: SmallVec::new() })
            })
            .collect::<Result<_, SignError>>()?;
        let mut params = SignatureParams { components, params: SmallVec::new() };
        params.set("created", Value::Integer(integer(created, Field::Created)?));
        params.set("alg", owned_string(HMAC_SHA256, Field::Algorithm)?);
        params.set("keyid", owned_string(keyid, Field::KeyId)?);
        Ok(params)
    }

    /// Adds `expires` (epoch seconds).
    pub fn with_expires(mut self, expires: i64) -> Result<Self, SignError> {
        self.set("expires", Value::Integer(integer(expires, Field::Expires)?));
        Ok(self)
    }

    /// Adds a `nonce`, which the verifier remembers to refuse replays.
    pub fn with_nonce(mut self, nonce: &str) -> Result<Self, SignError> {
        self.set("nonce", owned_string(nonce, Field::Nonce)?);
        Ok(self)
    }

    fn set(&mut self, name: &'static str, value: Value<'a>) {
        set_param(&mut self.params, Cow::Borrowed(KeyRef::constant(name)), value);
    }

    fn param(&self, name: &str) -> Option<&Value<'a>> {
        self.params.iter().find(|(key, _)| key.as_str() == name).map(|(_, value)| value)
    }

    /// The covered components, in order.
    pub fn components(&self) -> &[Component<'a>] {
        &self.components
    }

    /// Whether `name` is covered (with no component parameters).
    pub fn covers(&self, name: &str) -> bool {
        self.components.iter().any(|c| c.name() == Some(name) && !c.has_params())
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

    /// Appends the serialized inner list to `out`.
    pub(crate) fn serialize_into(&self, out: &mut String) {
        // A one-member List serializes to exactly that member.
        let mut list = ListSerializer::with_buffer(out);
        let mut inner = list.inner_list();
        for component in &self.components {
            let _ = inner
                .bare_item(&component.name)
                .parameters(component.params.iter().map(|(k, v)| (k, v)));
        }
        let _ = inner.finish().parameters(self.params.iter().map(|(k, v)| (k, v)));
        let _ = list.finish();
    }
}

fn integer(value: i64, field: Field) -> Result<sfv::Integer, SignError> {
    sfv::Integer::try_from(value).map_err(|_| SignError::InvalidParameter { field })
}

fn owned_string(value: &str, field: Field) -> Result<Value<'static>, SignError> {
    sfv::String::from_string(value.to_owned())
        .map(|s| Value::String(Cow::Owned(s)))
        .map_err(|_| SignError::InvalidParameter { field })
}

/// Visits a `Signature-Input` dictionary and keeps its first member (the last value given for
/// that label, as RFC 8941 section 4.2.2 requires of repeated keys).
struct FirstMember<'de> {
    first: Option<(&'de KeyRef, Option<SignatureParams<'de>>)>,
}

impl<'de> DictionaryVisitor<'de> for FirstMember<'de> {
    type Out = Option<(&'de KeyRef, Option<SignatureParams<'de>>)>;
    type Error = Infallible;

    fn entry(&mut self, key: &'de KeyRef) -> Result<impl EntryVisitor<'de>, Infallible> {
        let wanted = self.first.as_ref().is_none_or(|(first, _)| *first == key);
        Ok(wanted.then(|| MemberSlot(&mut self.first.insert((key, None)).1)))
    }

    fn finish(self) -> Result<Self::Out, Infallible> {
        Ok(self.first)
    }
}

/// Where the first member's parameters go; stays `None` when the member is not an inner list.
struct MemberSlot<'s, 'de>(&'s mut Option<SignatureParams<'de>>);

impl<'de> EntryVisitor<'de> for MemberSlot<'_, 'de> {
    type Error = Infallible;

    fn item(self) -> Result<impl ItemVisitor<'de>, Infallible> {
        Ok(Ignored)
    }

    fn inner_list(self) -> Result<impl InnerListVisitor<'de>, Infallible> {
        Ok(Collect(self.0.insert(SignatureParams::default())))
    }
}

struct Collect<'s, 'de>(&'s mut SignatureParams<'de>);

impl<'de> InnerListVisitor<'de> for Collect<'_, 'de> {
    type Error = Infallible;

    fn item(&mut self) -> Result<impl ItemVisitor<'de>, Infallible> {
        let components = &mut self.0.components;
        Ok(move |name: Value<'de>| {
            let components = components; // moved in: the closure runs once
            components.push(Component { name, params: SmallVec::new() });
            let last = components.last_mut().expect("a component was just pushed");
            Ok::<_, Infallible>(CollectParams(&mut last.params))
        })
    }

    fn finish(self) -> Result<impl ParameterVisitor<'de>, Infallible> {
        Ok(CollectParams(&mut self.0.params))
    }
}

struct CollectParams<'s, 'de, const N: usize>(&'s mut Params<'de, N>);

impl<'de, const N: usize> ParameterVisitor<'de> for CollectParams<'_, 'de, N> {
    type Out = ();
    type Error = Infallible;

    fn parameter(&mut self, key: &'de KeyRef, value: Value<'de>) -> Result<(), Infallible> {
        set_param(self.0, Cow::Borrowed(key), value);
        Ok(())
    }

    fn finish(self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// The byte sequence a `Signature` field value gives for `label`.
pub(crate) fn signature_for_label(value: &[u8], label: &str) -> Result<Vec<u8>, VerifyError> {
    let found = Parser::new(value)
        .with_version(sfv::Version::Rfc8941)
        .parse_dictionary_with_visitor(LabelValue { label, found: None })
        .map_err(|_| VerifyError::malformed(Field::Signature, "not an RFC 8941 dictionary"))?;
    match found {
        None => Err(VerifyError::malformed(Field::Signature, "no signature for the label")),
        Some(None) => Err(VerifyError::malformed(Field::Signature, "expected a byte sequence")),
        Some(Some(bytes)) => Ok(bytes),
    }
}

/// Visits a dictionary and keeps the byte sequence under one label.
struct LabelValue<'l> {
    label: &'l str,
    found: Option<Option<Vec<u8>>>,
}

impl<'de> DictionaryVisitor<'de> for LabelValue<'_> {
    type Out = Option<Option<Vec<u8>>>;
    type Error = Infallible;

    fn entry(&mut self, key: &'de KeyRef) -> Result<impl EntryVisitor<'de>, Infallible> {
        Ok((key.as_str() == self.label).then(|| ByteSequenceSlot(self.found.insert(None))))
    }

    fn finish(self) -> Result<Self::Out, Infallible> {
        Ok(self.found)
    }
}

/// Where a member's byte sequence goes; stays `None` for any other kind of member.
pub(crate) struct ByteSequenceSlot<'s>(pub(crate) &'s mut Option<Vec<u8>>);

impl<'de> EntryVisitor<'de> for ByteSequenceSlot<'_> {
    type Error = Infallible;

    fn item(self) -> Result<impl ItemVisitor<'de>, Infallible> {
        let slot = self.0;
        Ok(move |value: Value<'de>| {
            if let Value::ByteSequence(bytes) = value {
                *slot = Some(bytes);
            }
            Ok::<_, Infallible>(Ignored)
        })
    }

    fn inner_list(self) -> Result<impl InnerListVisitor<'de>, Infallible> {
        Ok(Ignored)
    }
}
