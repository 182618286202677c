//! Prometheus metrics, in the OpenMetrics text format (`prometheus-client`): what every request
//! was and how long it took, by route group, scheme and outcome.
//!
//! | metric | labels |
//! |---|---|
//! | `keyward_requests_total` | `group`, `scheme`, `outcome` (`ok`, `refused`, `error`), `code` (the error code, `0` when none) |
//! | `keyward_request_duration_seconds` | `group` |
//!
//! Label values come from fixed lists: the route groups, the schemes and `none`, and
//! keyward's documented error codes. No secret, token, key id, user name or path is ever a
//! label, so the number of series stays bounded.
//!
//! They are served on their own address (`--metrics-listen`), where who can reach that
//! address can read them, and, with a permission (`--metrics-permission`), on the API's own
//! address to credentials holding it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use keyward_auth::error::ErrorCode;
use keyward_auth::{SCHEME_SLOTS, scheme_slot};
use keyward_sig::Scheme;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    group: &'static str,
    scheme: &'static str,
    outcome: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: &'static str,
}

/// The route groups, in [`Group`]'s order.
const GROUPS: [&str; 8] =
    ["admin", "api", "provisioning", "console", "forward_auth", "health", "metrics", "gateway"];

/// A route group: an index into [`GROUPS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Group(usize);

impl Group {
    fn named(name: &str) -> Group {
        Group(GROUPS.iter().position(|group| *group == name).expect("a known group"))
    }

    fn as_str(self) -> &'static str {
        GROUPS[self.0]
    }
}

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<GroupLabels, Histogram>,
    /// The series most answers land in (a group's answers without an error, by scheme, `none`
    /// last; each group's durations), found in their families once rather than per request.
    answered: [[OnceLock<Counter>; SCHEME_SLOTS]; GROUPS.len()],
    timed: [OnceLock<Histogram>; GROUPS.len()],
}

impl Metrics {
    /// The request counts, with the pipeline's `meters` and, when Redis is used, its meters.
    pub fn new(meters: &keyward_auth::Meters, redis: Option<&keyward_auth::RedisMeters>) -> Self {
        let mut registry = Registry::with_prefix("keyward");
        meters.register(&mut registry);
        if let Some(redis) = redis {
            redis.register(&mut registry);
        }
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route group, scheme, outcome and error code",
            requests.clone(),
        );
        // 50 µs to about 6.5 s.
        let durations = Family::<GroupLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
        });
        registry.register(
            "request_duration_seconds",
            "Time from a request's head to its answer's head, by route group",
            durations.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            answered: Default::default(),
            timed: Default::default(),
        }
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Counts one answer of `group`, begun at `started`.
    pub(crate) fn observe(&self, group: Group, response: &Response, started: Instant) {
        let scheme = response.extensions().get::<Scheme>().copied();
        let scheme_name = scheme.map_or("none", Scheme::as_str);
        let code = response.extensions().get::<ErrorCode>().copied();
        let status = response.status();
        let outcome = if status.is_server_error() {
            "error"
        } else if status.is_client_error() {
            "refused"
        } else {
            "ok"
        };
        let code = code.map_or(0, ErrorCode::number);
        let labels = RequestLabels { group: group.as_str(), scheme: scheme_name, outcome, code };
        if outcome == "ok" && code == 0 {
            self.answered[group.0][scheme_slot(scheme)]
                .get_or_init(|| self.requests.get_or_create(&labels).clone())
                .inc();
        } else {
            self.requests.get_or_create(&labels).inc();
        }
        self.timed[group.0]
            .get_or_init(|| {
                self.durations.get_or_create(&GroupLabels { group: group.as_str() }).clone()
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The route group of `path`, from a fixed list.
pub(crate) fn group(path: &str) -> Group {
    Group::named(group_name(path))
}

fn group_name(path: &str) -> &'static str {
    let under = |prefix: &str| {
        path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/api/admin") {
        "admin"
    } else if under("/api") {
        "api"
    } else if under("/probio") {
        "provisioning"
    } else if under("/console") {
        "console"
    } else if under("/auth/check") || path.starts_with("/envoy.service.auth.v3.") {
        "forward_auth"
    } else if path == "/healthz" || path == "/readyz" {
        "health"
    } else if path == "/metrics" {
        "metrics"
    } else {
        "gateway"
    }
}

/// `GET /metrics` on the API's own address, for credentials holding `permission` (the caller
/// adds the auth layer): others get 403 (code 20).
pub fn guarded_route(metrics: Arc<Metrics>, permission: &str) -> axum::Router<crate::AppState> {
    let permission: Arc<str> = permission.into();
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |principal: keyward_auth::Principal| {
            let (metrics, permission) = (metrics.clone(), permission.clone());
            async move {
                if !principal.permissions.has(&permission) {
                    return keyward_auth::error::ApiError::permission_denied(&permission)
                        .into_response();
                }
                ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode())
                    .into_response()
            }
        }),
    )
}

/// The router of `--metrics-listen`: `GET /metrics` and nothing else.
pub fn router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = metrics.encode();
            async move { ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response() }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_come_from_a_fixed_list() {
        assert_eq!(group_name("/api/admin/keys/1"), "admin");
        assert_eq!(group_name("/api/adminx"), "api");
        assert_eq!(group_name("/api"), "api");
        assert_eq!(group_name("/probio/domains"), "provisioning");
        assert_eq!(group_name("/auth/check/orders"), "forward_auth");
        assert_eq!(group_name("/orders/1"), "gateway");
    }
}
