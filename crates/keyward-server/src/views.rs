//! What the API answers, as types: each view is `Serialize` for the answer and `ToSchema` for
//! the reference, so the two cannot drift. Handlers answer `Json<Data<View>>` (`{"data": ...}`)
//! or `Json<Listed<View>>` (`{"data": [...], "paging": ...}`); errors are `ApiError`'s shape.

use keyward_sig::api_key::API_KEY;
use keyward_sig::certificate::{CertificateBinding, MTLS};
use keyward_sig::mac::HMAC_SHA256;
use keyward_store::{
    ApiKey, Credits, Domain, KeyPolicy, Permissions, RateLimit, RouteScope, Secret, User,
};
use serde::Serialize;
use utoipa::ToSchema;

/// An answer: `{"data": ...}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    /// What was asked for.
    pub data: T,
}

impl<T> Data<T> {
    /// `data` as the answer.
    pub fn of(data: T) -> axum::Json<Data<T>> {
        axum::Json(Data { data })
    }
}

/// A page of a list: `{"data": [...], "paging": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Listed<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Where this page is in the list.
    pub paging: PagingView,
}

/// Where a page is in its list.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct PagingView {
    /// The page, from 1.
    pub page: i64,
    /// Items per page.
    #[serde(rename = "pageSize")]
    pub page_size: i64,
    /// Items in the whole list.
    pub total: i64,
}

/// A rate limit: so many requests per window.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct RateLimitView {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window, in seconds.
    pub window_seconds: u64,
}

impl RateLimitView {
    /// `limit` as the API shows it (none: `null`).
    pub fn of(limit: Option<RateLimit>) -> Option<RateLimitView> {
        limit.map(|limit| RateLimitView {
            requests: limit.requests,
            window_seconds: limit.window_ms / 1000,
        })
    }
}

/// Credits: requests left, and how they refill.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct CreditsView {
    /// Requests left.
    pub remaining: i64,
    /// So many credits back every interval (none: never).
    pub refill: Option<RefillView>,
}

/// How credits refill.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
pub struct RefillView {
    /// Credits back each interval.
    pub amount: i64,
    /// The interval, in seconds.
    pub interval_seconds: i64,
}

impl CreditsView {
    /// `credits` as the API shows them (none: `null`).
    pub fn of(credits: Option<Credits>) -> Option<CreditsView> {
        credits.map(|credits| CreditsView {
            remaining: credits.remaining,
            refill: credits.refill.map(|refill| RefillView {
                amount: refill.amount,
                interval_seconds: refill.interval_ms / 1000,
            }),
        })
    }
}

/// An API key. Its secret is shown only when it is made (creation, rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// The public token (the key's id in requests).
    pub token: String,
    /// `domain` or `reseller`.
    pub kind: &'static str,
    /// What the key is: `hmac` (a token and a secret, for the signed schemes and logins),
    /// `public-key`, `mtls` (a client certificate) or `api-key` (one plain value, sent as is).
    #[serde(rename = "type")]
    pub key_type: &'static str,
    /// `hmac-sha256`, the public-key algorithm, `mtls` for a key bound to a client
    /// certificate, or `api-key` for a plain key.
    pub algorithm: String,
    /// The public key, PEM, for a public-key key.
    pub public_key: Option<String>,
    /// The SHA-256 (hex) of the client certificate the key is pinned to (`mtls`).
    pub certificate_sha256: Option<String>,
    /// The subject alternative name a client certificate from the trusted CA must carry to be
    /// this key (`mtls`).
    pub certificate_subject: Option<String>,
    /// The permissions it holds.
    #[schema(value_type = Vec<String>)]
    pub permissions: Permissions,
    /// The user who made it.
    pub created_by_user_id: Option<i64>,
    /// The key that made it.
    pub created_by_key_id: Option<i64>,
    /// The user at the root of its chain of creators.
    pub root_user_id: Option<i64>,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Last use, epoch ms (written in batches).
    pub last_used_at_ms: Option<i64>,
    /// Until when the previous secret still verifies, epoch ms.
    pub previous_secret_until_ms: Option<i64>,
    /// `active` or `revoked`.
    #[schema(value_type = String)]
    pub state: keyward_store::KeyState,
    /// Its own rate limit.
    pub rate_limit: Option<RateLimitView>,
    /// Its credits.
    pub credits: Option<CreditsView>,
    /// When it stops working, epoch ms.
    pub expires_at_ms: Option<i64>,
    /// The networks it may be used from (CIDR).
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_networks: Option<Vec<ipnet::IpNet>>,
    /// The gateway routes it may call, and with which methods.
    #[schema(value_type = Option<Vec<Object>>)]
    pub allowed_routes: Option<Vec<RouteScope>>,
    /// The secret: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A plain API key (`kwapi_…`): only in the answer that made it (creation, roll), and
    /// never again, not even to `keys:reveal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl KeyView {
    /// `key`, without its secret.
    pub fn of(key: &ApiKey) -> KeyView {
        let KeyPolicy { expires_at_ms, allowed_networks, allowed_routes } = key.policy.clone();
        KeyView {
            id: key.id,
            name: key.name.clone(),
            token: key.token.clone(),
            kind: key.kind.as_str(),
            key_type: match key.algorithm.as_str() {
                HMAC_SHA256 => "hmac",
                MTLS => "mtls",
                API_KEY => "api-key",
                _ => "public-key",
            },
            algorithm: key.algorithm.clone(),
            public_key: key.public_key.clone(),
            certificate_sha256: match &key.certificate {
                Some(CertificateBinding::Pinned(sha256)) => Some(hex::encode(sha256)),
                _ => None,
            },
            certificate_subject: match &key.certificate {
                Some(CertificateBinding::Subject(name)) => Some(name.clone()),
                _ => None,
            },
            permissions: key.permissions,
            created_by_user_id: key.created_by_user_id,
            created_by_key_id: key.created_by_key_id,
            root_user_id: key.root_user_id,
            created_at_ms: key.created_at_ms,
            last_used_at_ms: key.last_used_at_ms,
            previous_secret_until_ms: key.previous_secret_until_ms,
            state: key.state,
            rate_limit: RateLimitView::of(key.rate_limit),
            credits: CreditsView::of(key.credits),
            expires_at_ms,
            allowed_networks,
            allowed_routes,
            secret: None,
            key: None,
        }
    }

    /// `key` with the secret just made for it (for a plain key, the key itself).
    pub fn with_secret(key: &ApiKey, secret: Option<&Secret>) -> KeyView {
        let made = secret.map(|secret| secret.0.clone());
        let view = KeyView::of(key);
        if view.key_type == "api-key" {
            KeyView { key: made, ..view }
        } else {
            KeyView { secret: made, ..view }
        }
    }
}

/// A user of a domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: i64,
    /// Name.
    pub username: String,
    /// The permissions the user holds.
    #[schema(value_type = Vec<String>)]
    pub permissions: Permissions,
    /// `active` or `disabled`.
    #[schema(value_type = String)]
    pub state: keyward_store::State,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// The user's own rate limit.
    pub rate_limit: Option<RateLimitView>,
}

impl UserView {
    /// `user` as the API shows it.
    pub fn of(user: &User) -> UserView {
        UserView {
            id: user.id,
            username: user.username.clone(),
            permissions: user.permissions,
            state: user.state,
            created_at_ms: user.created_at_ms,
            rate_limit: RateLimitView::of(user.rate_limit),
        }
    }
}

/// A reseller's domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    /// Id.
    pub id: i64,
    /// `name@reseller`.
    pub name: String,
    /// `active` or `disabled`.
    #[schema(value_type = String)]
    pub state: keyward_store::State,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
}

impl DomainView {
    /// `domain` as the API shows it.
    pub fn of(domain: &Domain) -> DomainView {
        DomainView {
            id: domain.id,
            name: domain.name.clone(),
            state: domain.state,
            created_at_ms: domain.created_at_ms,
        }
    }
}

/// A secret, revealed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedView {
    /// The key's id.
    pub id: i64,
    /// Its current secret.
    pub secret: String,
}

/// Who is calling (`GET /api/me`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView<'a> {
    /// The user or key.
    pub principal: PrincipalView<'a>,
    /// Its domain (none for a reseller's key).
    pub domain_id: Option<i64>,
    /// Its reseller (for a reseller's key).
    pub reseller_id: Option<i64>,
    /// The permissions it holds.
    #[schema(value_type = Vec<String>)]
    pub permissions: &'a Permissions,
    /// The scheme the request was authenticated with.
    pub scheme: &'static str,
}

/// A user or an API key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type")]
pub enum PrincipalView<'a> {
    /// A person.
    #[serde(rename = "user")]
    User {
        /// Id.
        id: i64,
        /// User name.
        name: &'a str,
    },
    /// An application's key.
    #[serde(rename = "api_key")]
    Key {
        /// Id.
        id: i64,
        /// Key name.
        name: &'a str,
        /// `domain` or `reseller`.
        kind: &'static str,
    },
}

/// An access token (`POST /api/login`), OAuth style: not under `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenView {
    /// The token, for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds it lives.
    pub expires_in: i64,
    /// When it expires, epoch ms.
    pub expires_at_ms: i64,
    /// The client certificate it is bound to (RFC 8705), when it was minted over a connection
    /// that presented one: it is refused on a connection without that certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// What a token is bound to (RFC 7800's `cnf`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Confirmation {
    /// The certificate's SHA-256, base64url (RFC 8705).
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

/// A token revoked (`POST /api/logout`).
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOutView {
    /// Always true.
    pub revoked: bool,
}

/// A password changed (`POST /api/me/password`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChangedView {
    /// Always true.
    pub changed: bool,
}

/// Who is signed in to the console, and what they may grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleSessionView<'a> {
    /// User name.
    pub username: &'a str,
    /// The permissions the user holds.
    #[schema(value_type = Vec<String>)]
    pub permissions: &'a Permissions,
    /// What the user may put on a new key: their own permissions (every one for `*`).
    pub grantable: Vec<&'a str>,
}

/// The process and its database answer (`GET /readyz`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyView {
    /// Always `ready`.
    pub status: &'static str,
    /// `SQLite` or `PostgreSQL`.
    pub database: &'static str,
}

/// Requests counted, accepted and refused, with the refusals by error code and everything by
/// route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TallyView {
    /// Requests let through.
    pub accepted: u64,
    /// Requests refused, whatever the code.
    pub refused: u64,
    /// The refused requests by error code (`{"12": 3}`).
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub by_code: std::collections::BTreeMap<u16, u64>,
    /// Requests by route: `api`, `admin`, `provisioning`, `forward-auth`, or a gateway route's
    /// name.
    pub by_route: std::collections::BTreeMap<String, RouteTallyView>,
}

/// A route's requests, accepted and refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RouteTallyView {
    /// Requests let through.
    pub accepted: u64,
    /// Requests refused.
    pub refused: u64,
}

/// One bucket of usage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageBucketView {
    /// The bucket's start, epoch ms.
    pub start_ms: i64,
    /// What was counted in it.
    #[serde(flatten)]
    pub tally: TallyView,
}

/// A key's usage over a window, among a domain's busiest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct KeyUsageView {
    /// The key.
    pub key_id: i64,
    /// Its name.
    pub name: String,
    /// What was counted.
    #[serde(flatten)]
    pub tally: TallyView,
}

/// A domain's usage over a window: its totals, bucket by bucket, and its busiest keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DomainUsageView {
    /// The window's start (the first bucket's), epoch ms.
    pub since_ms: i64,
    /// The window's end (exclusive), epoch ms.
    pub until_ms: i64,
    /// `minute`, `hour` or `day`.
    pub bucket: &'static str,
    /// The whole window's totals.
    #[serde(flatten)]
    pub tally: TallyView,
    /// Every bucket of the window, oldest first (empty buckets too).
    pub series: Vec<UsageBucketView>,
    /// The keys with the most requests in the window, busiest first.
    pub keys: Vec<KeyUsageView>,
}
