//! What changes what verification accepts: [`VerifyOptions`] and the choices it holds.

use crate::api_key::ApiKeyHeader;
use crate::error::{Field, VerifyError};
use crate::time::ClockWindow;
use crate::token::CredentialKind;

/// Whether query-hmac accepts signatures that left blank-valued parameters (`x=`) out.
///
/// One published DevResults sample drops them. Accepting that lets anyone append blank
/// parameters to a signed URL, so it is off unless configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BlankValues {
    /// Blank-valued parameters are signed like any other (`x||`). The default.
    #[default]
    Signed,
    /// A signature over the string without blank-valued parameters is accepted too.
    Skipped,
}

crate::named_setting!(BlankValues, "blank values", {"signed" => BlankValues::Signed, "skipped" => BlankValues::Skipped});

/// Which RFC 9421 components a signature must cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComponentPolicy {
    /// keyward's rule: `@method`, `@path`, `@query` when there is a query, `content-digest`
    /// when there is a body. The default.
    #[default]
    Keyward,
    /// Whatever the signer chose (RFC 9421 itself requires nothing): only for interoperability
    /// tests such as the RFC's own examples.
    SignerChosen,
}

/// Which of a request's RFC 9421 signatures must verify, when it carries several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignatureRule {
    /// The first member of `Signature-Input`; the others are not read. The default.
    #[default]
    First,
    /// Every member (at most [`crate::rfc9421::MAX_SIGNATURES`]), each with the key its
    /// `keyid` names and under the same rules as the first; the request acts as the first's key.
    All,
}

crate::named_setting!(SignatureRule, "signatures", {"first" => SignatureRule::First, "all" => SignatureRule::All});

/// Whether key ids and access tokens must be keyward-format credentials (prefix + checksum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenFormat {
    /// Any string is looked up as is. The default, so foreign and test keys work.
    #[default]
    Opaque,
    /// Credentials must carry keyward's prefix and checksum; a mistyped one is refused before
    /// any lookup.
    Keyward,
}

/// Everything that changes what verification accepts. Parsed once, at start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The accepted clock skew either way (default ±300 s).
    pub window: ClockWindow,
    /// query-hmac's blank-value variant (default off).
    pub blank_values: BlankValues,
    /// RFC 9421 required components (default keyward's).
    pub component_policy: ComponentPolicy,
    /// Credential format checks (default opaque).
    pub token_format: TokenFormat,
    /// Which RFC 9421 signatures must verify when a request carries several (default the
    /// first).
    pub signatures: SignatureRule,
    /// The header a plain API key may travel in besides `Authorization` (default
    /// `x-api-key`).
    pub api_key_header: ApiKeyHeader,
}

impl VerifyOptions {
    /// Checks `id` against the configured credential format.
    pub(crate) fn check_format(
        &self,
        kind: CredentialKind,
        id: &str,
        field: Field,
    ) -> Result<(), VerifyError> {
        match self.token_format {
            TokenFormat::Opaque => Ok(()),
            TokenFormat::Keyward => {
                kind.check(id).map_err(|e| VerifyError::malformed(field, e.reason()))
            }
        }
    }
}
