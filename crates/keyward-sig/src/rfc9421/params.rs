//! Signature parameters: one member of `Signature-Input`, parsed with a real RFC 8941 parser.
//!
//! The `sfv` crate's visitor API parses straight into this borrowed form: component names and
//! parameter values point into the header value unless they hold escapes, so verifying
//! allocates nothing here. RFC 9421 section 2.3: the `@signature-params` line is the
//! serialization of this inner list, so it is serialized back with `sfv`, never by hand.
//!
//! The lists a client controls are capped while they are read ([`MAX_COMPONENTS`],
//! [`MAX_SIGNATURE_PARAMETERS`], [`MAX_COMPONENT_PARAMETERS`]): parsing stops at the first
//! item past a cap, before anything is de-duplicated or searched, so the checks below that
//! compare items with each other never see more than a few dozen.

use std::borrow::Cow;
use std::cell::Cell;
use std::convert::Infallible;

use sfv::visitor::{
    DictionaryVisitor, EntryVisitor, Ignored, InnerListVisitor, ItemVisitor, ParameterVisitor,
};
use sfv::{BareItemFromInput, KeyRef, ListSerializer, Parser};
use smallvec::SmallVec;

use crate::error::{Field, SignError, VerifyError};
use crate::mac::HMAC_SHA256;

/// The most components one signature may cover. RFC 9421 sets no limit; real signatures cover
/// a handful, and the RFC's own examples at most eight.
pub const MAX_COMPONENTS: usize = 64;
/// The most signatures one request may carry, when every one is verified
/// ([`crate::SignatureRule::All`]).
pub const MAX_SIGNATURES: usize = 8;
/// The most parameters one signature may carry (RFC 9421 defines six).
pub const MAX_SIGNATURE_PARAMETERS: usize = 16;
/// The most parameters one covered component may carry (RFC 9421 defines six).
pub const MAX_COMPONENT_PARAMETERS: usize = 8;

/// Which cap a `Signature-Input` member passed, noted by the visitors as they parse (sfv turns
/// a visitor's error into text, so the cap travels beside it).
type Exceeded = Cell<Option<usize>>;

/// A visitor's error: a cap was passed, and parsing stops here.
#[derive(Debug)]
struct TooManyItems;

impl std::fmt::Display for TooManyItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many items")
    }
}

impl std::error::Error for TooManyItems {}

/// Notes that `limit` was passed and stops the parse.
fn exceeded(flag: &Exceeded, limit: usize) -> TooManyItems {
    flag.set(Some(limit));
    TooManyItems
}

/// A parameter value as parsed (strings and tokens borrowed unless they hold escapes) or as
/// built. Unlike sfv's `BareItemFromInput`, every borrowed part is a `Cow`, so a value can be
/// made to own its text ([`SignatureParams::into_owned`]).
type Value<'a> =
    sfv::GenericBareItem<Cow<'a, sfv::StringRef>, Vec<u8>, Cow<'a, sfv::TokenRef>, Cow<'a, str>>;

/// A parsed value, as [`Value`].
fn from_input(value: BareItemFromInput<'_>) -> Value<'_> {
    match value {
        BareItemFromInput::Integer(v) => Value::Integer(v),
        BareItemFromInput::Decimal(v) => Value::Decimal(v),
        BareItemFromInput::String(v) => Value::String(v),
        BareItemFromInput::ByteSequence(v) => Value::ByteSequence(v),
        BareItemFromInput::Boolean(v) => Value::Boolean(v),
        BareItemFromInput::Token(v) => Value::Token(Cow::Borrowed(v)),
        BareItemFromInput::Date(v) => Value::Date(v),
        BareItemFromInput::DisplayString(v) => Value::DisplayString(v),
    }
}

/// The same value, owning its text.
fn owned<'b>(value: Value<'_>) -> Value<'b> {
    match value {
        Value::Integer(v) => Value::Integer(v),
        Value::Decimal(v) => Value::Decimal(v),
        Value::String(v) => Value::String(Cow::Owned(v.into_owned())),
        Value::ByteSequence(v) => Value::ByteSequence(v),
        Value::Boolean(v) => Value::Boolean(v),
        Value::Token(v) => Value::Token(Cow::Owned(v.into_owned())),
        Value::Date(v) => Value::Date(v),
        Value::DisplayString(v) => Value::DisplayString(Cow::Owned(v.into_owned())),
    }
}

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

    /// The names of the component's own parameters (`sf`, `key`, `bs`, `req`, `name`, `tr`).
    pub(crate) fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(key, _)| key.as_str())
    }

    /// Whether the boolean parameter `name` is set (`;sf` is `;sf=?1`).
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.params
            .iter()
            .any(|(key, value)| key.as_str() == name && value.as_boolean() == Some(true))
    }

    /// The string parameter `name` (`;key="a"`, `;name="Pet"`).
    pub(crate) fn string_param(&self, name: &str) -> Option<&str> {
        let (_, value) = self.params.iter().find(|(key, _)| key.as_str() == name)?;
        value.as_string().map(|s| s.as_str())
    }

    /// How many parameters of its own the component has.
    pub fn param_count(&self) -> usize {
        self.params.len()
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
        Self::parse_member(value, None)
    }

    /// Parses the member of a `Signature-Input` field value labelled `label` (the first member
    /// when `None`), with the checks of [`SignatureParams::parse_first`].
    pub fn parse_member(
        value: &'a [u8],
        label: Option<&str>,
    ) -> Result<(&'a str, Self), VerifyError> {
        let malformed = |reason| VerifyError::malformed(Field::SignatureInput, reason);
        let exceeded = Exceeded::new(None);
        let first = Parser::new(value)
            .with_version(sfv::Version::Rfc8941)
            .parse_dictionary_with_visitor(FirstMember { label, first: None, exceeded: &exceeded })
            .map_err(|_| match exceeded.get() {
                Some(limit) => VerifyError::TooManyItems { field: Field::SignatureInput, limit },
                None => malformed("not an RFC 8941 dictionary"),
            })?;
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

    /// The same parameters owning every value, so they may outlive the text they were parsed
    /// from (a field joined from several lines).
    pub fn into_owned<'b>(self) -> SignatureParams<'b> {
        fn owned_params<'b, const N: usize>(params: Params<'_, N>) -> Params<'b, N> {
            params.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), owned(v))).collect()
        }
        SignatureParams {
            components: self
                .components
                .into_iter()
                .map(|c| Component { name: owned(c.name), params: owned_params(c.params) })
                .collect(),
            params: owned_params(self.params),
        }
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

    /// Sets `alg` (`ed25519`...), for a private key's signature; `None` leaves it out, as
    /// some of RFC 9421's own examples do.
    pub fn with_algorithm(mut self, alg: Option<&str>) -> Result<Self, SignError> {
        match alg {
            Some(alg) => self.set("alg", owned_string(alg, Field::Algorithm)?),
            None => self.params.retain(|(key, _)| key.as_str() != "alg"),
        }
        Ok(self)
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

    /// How many signature parameters there are (`created`, `keyid`...).
    pub fn param_count(&self) -> usize {
        self.params.len()
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

/// Visits a `Signature-Input` dictionary and keeps its first member, or the one labelled
/// `label` (the last value given for that label, as RFC 8941 section 4.2.2 requires of
/// repeated keys).
struct FirstMember<'s, 'de> {
    label: Option<&'s str>,
    first: Option<(&'de KeyRef, Option<SignatureParams<'de>>)>,
    exceeded: &'s Exceeded,
}

impl<'de> DictionaryVisitor<'de> for FirstMember<'_, 'de> {
    type Out = Option<(&'de KeyRef, Option<SignatureParams<'de>>)>;
    type Error = Infallible;

    fn entry(&mut self, key: &'de KeyRef) -> Result<impl EntryVisitor<'de>, Infallible> {
        let wanted = match self.label {
            Some(label) => key.as_str() == label,
            None => self.first.as_ref().is_none_or(|(first, _)| *first == key),
        };
        let exceeded = self.exceeded;
        Ok(wanted.then(|| MemberSlot(&mut self.first.insert((key, None)).1, exceeded)))
    }

    fn finish(self) -> Result<Self::Out, Infallible> {
        Ok(self.first)
    }
}

/// Where the first member's parameters go; stays `None` when the member is not an inner list.
struct MemberSlot<'s, 'de>(&'s mut Option<SignatureParams<'de>>, &'s Exceeded);

impl<'de> EntryVisitor<'de> for MemberSlot<'_, 'de> {
    type Error = Infallible;

    fn item(self) -> Result<impl ItemVisitor<'de>, Infallible> {
        Ok(Ignored)
    }

    fn inner_list(self) -> Result<impl InnerListVisitor<'de>, Infallible> {
        Ok(Collect(self.0.insert(SignatureParams::default()), self.1))
    }
}

struct Collect<'s, 'de>(&'s mut SignatureParams<'de>, &'s Exceeded);

impl<'de> InnerListVisitor<'de> for Collect<'_, 'de> {
    type Error = TooManyItems;

    fn item(&mut self) -> Result<impl ItemVisitor<'de>, TooManyItems> {
        let Collect(params, flag) = self;
        if params.components.len() == MAX_COMPONENTS {
            return Err(exceeded(flag, MAX_COMPONENTS));
        }
        let (components, flag) = (&mut params.components, *flag);
        Ok(move |name: BareItemFromInput<'de>| {
            let components = components; // moved in: the closure runs once
            components.push(Component { name: from_input(name), params: SmallVec::new() });
            let last = components.last_mut().expect("a component was just pushed");
            Ok::<_, Infallible>(CollectParams::<1, MAX_COMPONENT_PARAMETERS>(
                &mut last.params,
                flag,
            ))
        })
    }

    fn finish(self) -> Result<impl ParameterVisitor<'de>, TooManyItems> {
        Ok(CollectParams::<6, MAX_SIGNATURE_PARAMETERS>(&mut self.0.params, self.1))
    }
}

/// Collects parameters into `Params<N>`, at most `LIMIT` distinct keys (counted as they
/// arrive, repeats included, so the linear search for a repeat stays short).
struct CollectParams<'s, 'de, const N: usize, const LIMIT: usize>(
    &'s mut Params<'de, N>,
    &'s Exceeded,
);

impl<'de, const N: usize, const LIMIT: usize> ParameterVisitor<'de>
    for CollectParams<'_, 'de, N, LIMIT>
{
    type Out = ();
    type Error = TooManyItems;

    fn parameter(
        &mut self,
        key: &'de KeyRef,
        value: BareItemFromInput<'de>,
    ) -> Result<(), TooManyItems> {
        if self.0.len() == LIMIT {
            return Err(exceeded(self.1, LIMIT));
        }
        set_param(self.0, Cow::Borrowed(key), from_input(value));
        Ok(())
    }

    fn finish(self) -> Result<(), TooManyItems> {
        Ok(())
    }
}

/// The labels of a `Signature-Input` field value, in order, at most [`MAX_SIGNATURES`].
pub(crate) fn signature_labels(value: &[u8]) -> Result<Vec<String>, VerifyError> {
    let dictionary: sfv::Dictionary = Parser::new(value)
        .with_version(sfv::Version::Rfc8941)
        .parse_dictionary()
        .map_err(|_| VerifyError::malformed(Field::SignatureInput, "not an RFC 8941 dictionary"))?;
    if dictionary.len() > MAX_SIGNATURES {
        return Err(VerifyError::TooManyItems {
            field: Field::SignatureInput,
            limit: MAX_SIGNATURES,
        });
    }
    Ok(dictionary.keys().map(|label| label.as_str().to_owned()).collect())
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
        Ok(move |value: BareItemFromInput<'de>| {
            if let BareItemFromInput::ByteSequence(bytes) = value {
                *slot = Some(bytes);
            }
            Ok::<_, Infallible>(Ignored)
        })
    }

    fn inner_list(self) -> Result<impl InnerListVisitor<'de>, Infallible> {
        Ok(Ignored)
    }
}
