//! The credential schemes keyward understands: five in the request, and the client
//! certificate of its TLS connection.

use std::fmt;

/// A credential scheme, named as in the configuration and in error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// `Authorization: Bearer <access token>`.
    Bearer,
    /// DevResults-style query-string HMAC: `t`, `ms`, `s`.
    QueryHmac,
    /// Devo-style header HMAC: `x-logtrust-*`.
    HeaderHmac,
    /// RFC 9421 HTTP Message Signatures with `hmac-sha256`.
    HttpSignature,
    /// A plain API key (`kwapi_…`), sent as is: `Authorization: Bearer kwapi_…` or in the
    /// API-key header (`X-API-Key` unless configured otherwise).
    ApiKey,
    /// The client certificate of the request's TLS connection (to keyward, or to a trusted
    /// proxy that passed it on), when the request carries no other credentials.
    Mtls,
}

impl Scheme {
    /// Every scheme, in detection order (a client certificate counts only without others).
    pub const ALL: [Scheme; 6] = [
        Scheme::Bearer,
        Scheme::QueryHmac,
        Scheme::HeaderHmac,
        Scheme::HttpSignature,
        Scheme::ApiKey,
        Scheme::Mtls,
    ];

    /// The scheme's configuration name: `bearer`, `query-hmac`, `header-hmac`,
    /// `http-signature`, `api-key`, `mtls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "bearer",
            Scheme::QueryHmac => "query-hmac",
            Scheme::HeaderHmac => "header-hmac",
            Scheme::HttpSignature => "http-signature",
            Scheme::ApiKey => "api-key",
            Scheme::Mtls => "mtls",
        }
    }

    /// The scheme with this configuration name.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|scheme| scheme.as_str() == name)
    }
}

impl std::str::FromStr for Scheme {
    type Err = String;

    fn from_str(name: &str) -> Result<Scheme, String> {
        Scheme::from_name(name.trim()).ok_or_else(|| {
            format!(
                "unknown scheme {name:?} (bearer, query-hmac, header-hmac, http-signature, \
                 api-key, mtls)"
            )
        })
    }
}

crate::deserialize_from_str!(Scheme);

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an API key acts for a domain (a tenant) or for a reseller (who manages domains).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Domain credentials: the tenant's own API.
    Domain,
    /// Reseller credentials: provisioning of the reseller's domains.
    Reseller,
}

impl KeyKind {
    /// `domain` or `reseller`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Domain => "domain",
            KeyKind::Reseller => "reseller",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
