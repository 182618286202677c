//! What the pipeline counts for `/metrics` (`prometheus-client`): verification time, the
//! credential cache's hits and loads, replay and rate-limit refusals, store failures, and the
//! gateway's upstream round-trips. keyward-server registers them with the request counts.
//!
//! Every label value comes from a fixed list, but for `route`, which is a configured gateway
//! route's prefix (bounded by the configuration). No secret, token, key id or user name is a
//! label.

use keyward_sig::Scheme;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SchemeLabel {
    scheme: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabel {
    policy: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    route: String,
    error: &'static str,
}

/// The pipeline's meters; clones share them. What every request touches is looked up once,
/// here, not per request.
#[derive(Clone, Debug)]
pub struct Meters {
    verification: Family<SchemeLabel, Histogram>,
    /// The histograms of `verification`, by [`Scheme::ALL`]'s order, then `none`.
    verification_by_scheme: [Histogram; SCHEME_SLOTS],
    cache: Family<ResultLabel, Counter>,
    hits: Counter,
    misses: Counter,
    load: Histogram,
    invalidations: Family<KindLabel, Counter>,
    store_failures: Counter,
    replay_refusals: Family<ReasonLabel, Counter>,
    rate_limited: Family<PolicyLabel, Counter>,
    upstream: Family<RouteLabel, Histogram>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
}

/// A slot per scheme, in [`Scheme::ALL`]'s order, and one for none.
pub const SCHEME_SLOTS: usize = Scheme::ALL.len() + 1;

/// The slot of `scheme` (none: the last) among [`SCHEME_SLOTS`].
pub fn scheme_slot(scheme: Option<Scheme>) -> usize {
    scheme
        .and_then(|scheme| Scheme::ALL.iter().position(|s| *s == scheme))
        .unwrap_or(Scheme::ALL.len())
}

/// Buckets from 5 µs to about 5 s, doubling.
fn fine() -> Histogram {
    Histogram::new(exponential_buckets(0.000_005, 2.0, 21))
}

impl Default for Meters {
    fn default() -> Self {
        let verification = Family::<SchemeLabel, Histogram>::new_with_constructor(fine);
        let verification_by_scheme = std::array::from_fn(|slot| {
            let scheme = Scheme::ALL.get(slot).map_or("none", |scheme| scheme.as_str());
            verification.get_or_create(&SchemeLabel { scheme }).clone()
        });
        let cache = Family::<ResultLabel, Counter>::default();
        let hits = cache.get_or_create(&ResultLabel { result: "hit" }).clone();
        let misses = cache.get_or_create(&ResultLabel { result: "miss" }).clone();
        Meters {
            verification,
            verification_by_scheme,
            cache,
            hits,
            misses,
            load: fine(),
            invalidations: Family::default(),
            store_failures: Counter::default(),
            replay_refusals: Family::default(),
            rate_limited: Family::default(),
            upstream: Family::new_with_constructor(fine),
            upstream_errors: Family::default(),
        }
    }
}

impl Meters {
    /// Registers every meter under `registry` (prefix `keyward`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "verification_duration_seconds",
            "Time the authentication pipeline took per request that carried credentials, by scheme (none when none was recognised)",
            self.verification.clone(),
        );
        registry.register(
            "credential_cache_lookups",
            "Credential lookups: hit (answered from memory, known or known unknown) or miss (read from the store)",
            self.cache.clone(),
        );
        registry.register(
            "credential_load_duration_seconds",
            "Time to read one credential from the store (a database round-trip)",
            self.load.clone(),
        );
        registry.register(
            "credential_cache_invalidations",
            "Changes the credential cache heard of, from this node or (over PostgreSQL LISTEN/NOTIFY) another, by kind (key, user, domain, token); everything: the cache was flushed after the change feed reconnected",
            self.invalidations.clone(),
        );
        registry.register(
            "store_failures",
            "Requests refused because the store (the database) failed or could not be reached",
            self.store_failures.clone(),
        );
        registry.register(
            "replay_refusals",
            "Signed requests refused by the replay guard, by reason (replayed, signature_reused, shared_unavailable, memory_full)",
            self.replay_refusals.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit (key, user, route), a spent quota (credits), or Redis unavailable under fail-closed (shared_unavailable)",
            self.rate_limited.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Gateway routes: time from sending the request upstream to the upstream's answer head, by route prefix",
            self.upstream.clone(),
        );
        registry.register(
            "upstream_errors",
            "Gateway routes: upstream failures by route prefix and error (connect, timeout, broken)",
            self.upstream_errors.clone(),
        );
    }

    pub(crate) fn verified(&self, scheme: Option<Scheme>, seconds: f64) {
        self.verification_by_scheme[scheme_slot(scheme)].observe(seconds);
    }

    pub(crate) fn cache_hit(&self) {
        self.hits.inc();
    }

    pub(crate) fn cache_miss(&self, seconds: f64) {
        self.misses.inc();
        self.load.observe(seconds);
    }

    pub(crate) fn invalidated(&self, kind: &'static str) {
        self.invalidations.get_or_create(&KindLabel { kind }).inc();
    }

    pub(crate) fn store_failed(&self) {
        self.store_failures.inc();
    }

    pub(crate) fn replay_refused(&self, reason: &'static str) {
        self.replay_refusals.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub(crate) fn rate_limited(&self, policy: &'static str) {
        self.rate_limited.get_or_create(&PolicyLabel { policy }).inc();
    }

    /// The histogram of gateway route `route`'s upstream answers (looked up once per route,
    /// not per request).
    pub fn upstream_histogram(&self, route: &str) -> Histogram {
        self.upstream.get_or_create(&RouteLabel { route: route.to_owned() }).clone()
    }

    /// An upstream of gateway route `route` failed: `connect`, `timeout` or `broken`.
    pub fn upstream_failed(&self, route: &str, error: &'static str) {
        let labels = UpstreamErrorLabels { route: route.to_owned(), error };
        self.upstream_errors.get_or_create(&labels).inc();
    }
}
