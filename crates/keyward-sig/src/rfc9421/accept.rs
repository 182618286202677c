//! `Accept-Signature` (RFC 9421 section 5.1): what a client asks a signer to sign, parsed with
//! a real RFC 8941 parser. keyward reads the first member: its label, the components asked for
//! (serialized, parameters included), and the `keyid`, `alg`, `nonce` and `tag` asked for.
//!
//! ```
//! use keyward_sig::rfc9421::AcceptSignature;
//! let asked = AcceptSignature::parse(br#"resp=("@status" "content-digest");keyid="k";nonce="n1""#).unwrap();
//! assert_eq!(asked.label, "resp");
//! assert_eq!(asked.components, ["\"@status\"", "\"content-digest\""]);
//! assert_eq!((asked.keyid.as_deref(), asked.nonce.as_deref()), (Some("k"), Some("n1")));
//! ```

use sfv::{BareItem, FieldType, ListEntry, Parser};

use super::params::{MAX_COMPONENTS, SignatureParams};

/// The first member of an `Accept-Signature` field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcceptSignature {
    /// The label asked for.
    pub label: String,
    /// The components asked for, each serialized (`"@status"`, `"example-dict";key="a"`).
    pub components: Vec<String>,
    /// The `keyid` asked for.
    pub keyid: Option<String>,
    /// The `alg` asked for.
    pub alg: Option<String>,
    /// A `nonce` to echo.
    pub nonce: Option<String>,
    /// A `tag` to echo.
    pub tag: Option<String>,
}

impl AcceptSignature {
    /// Parses an `Accept-Signature` field value (its lines joined by `, `); `None` when it is
    /// not an RFC 8941 dictionary whose first member is an inner list of strings, asks for
    /// more than [`MAX_COMPONENTS`] components, or for components no signature could cover
    /// (repeated, or not lower-case: the list must be a valid `Signature-Input`).
    pub fn parse(value: &[u8]) -> Option<Self> {
        let dictionary: sfv::Dictionary = Parser::new(value).parse_dictionary().ok()?;
        let (label, entry) = dictionary.into_iter().next()?;
        let ListEntry::InnerList(list) = entry else { return None };
        if list.items.len() > MAX_COMPONENTS
            || list.items.iter().any(|item| !matches!(item.bare_item, BareItem::String(_)))
        {
            return None;
        }
        let string = |name: &str| {
            list.params.iter().find(|(key, _)| key.as_str() == name).and_then(|(_, value)| {
                match value {
                    BareItem::String(text) => Some(text.as_str().to_owned()),
                    _ => None,
                }
            })
        };
        let components = list
            .items
            .iter()
            .map(|item| vec![ListEntry::Item(item.clone())].serialize())
            .collect::<Option<Vec<String>>>()?;
        let member = format!("a=({});created=0", components.join(" "));
        SignatureParams::parse_first(member.as_bytes()).ok()?;
        Some(AcceptSignature {
            label: label.as_str().to_owned(),
            components,
            keyid: string("keyid"),
            alg: string("alg"),
            nonce: string("nonce"),
            tag: string("tag"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_no_signature_could_cover_is_not_honoured() {
        // Found by the component_params fuzz target: a repeated component.
        assert_eq!(AcceptSignature::parse(br#"a=("@status" "@status")"#), None);
        assert_eq!(AcceptSignature::parse(br#"a=("Content-Type")"#), None);
        assert_eq!(AcceptSignature::parse(br#"a=(token)"#), None);
        assert_eq!(AcceptSignature::parse(b"a=1"), None);
        assert!(AcceptSignature::parse(br#"a=("@status" "content-type";sf)"#).is_some());
    }
}
