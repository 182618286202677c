//! keyward-auth authenticates HTTP requests for any axum or tower service, in every scheme
//! keyward verifies, and decides who may administer whom. keyward's API, its gateway routes
//! and its forward-auth endpoints all run this one pipeline.
//!
//! ```text
//! request ─▶ AuthLayer ─▶ pipeline: parse credentials once ─▶ scheme allowed here?
//!          ─▶ credential cache (memory, else one load) ─▶ body, if the scheme signs it
//!          ─▶ keyward-sig verify ─▶ key policy (expiry, address, route)
//!          ─▶ replay guard (bound to method + target) ─▶ Principal
//!          ─▶ rate limits (key, user, route) ─▶ credits
//!          ─▶ the inner service (handler, proxy, forward-auth answer)
//! ```
//!
//! The layer fails closed: a request it cannot authenticate gets the error response, in
//! keyward's one error shape ([`error`]), and never reaches the inner service. It belongs
//! inside a request-id layer (so refusals carry an id) and a trace layer that logs only method
//! and path (so no credential in a query string or header reaches the logs). [`pipeline`] says
//! what each step does; [`authz`] is the one authorization rule for administration.
//!
//! It keeps its caches, replay memory and rate-limit counts in the process's memory, or shares
//! the last two between nodes through [`Redis`], and reads credentials from a
//! [`keyward_store::Store`]; it serves nothing by itself.

pub mod authz;
mod cache;
pub mod error;
mod layer;
pub mod log_context;
mod metrics;
mod pipeline;
mod policy;
mod principal;
mod rate_limit;
mod redis;
mod replay;
pub mod session;
mod shared_replay;
mod usage;

pub use cache::{CacheSettings, CachedKey, CredentialCache, Found, KeyHandle, TokenHandle};
pub use layer::{AuthLayer, AuthService};
pub use metrics::{Meters, SCHEME_SLOTS, scheme_slot};
pub use pipeline::{
    Admitted, AnswerTags, AuthSettings, AuthorizedMethod, BodyWithheld, Refusal, authenticate,
};
pub use policy::TrustedProxies;
pub use principal::{Identity, Principal, RequestId};
pub use rate_limit::{Allowance, Limit, Limited, PolicyName, RateLimiter, RouteLimit};
pub use redis::{Redis, RedisFailure, RedisMeters};
pub use replay::{ReplayGuard, ReplayMode, Reuse};
pub use usage::{Counted, UsageRecorder, UsageRetention};
