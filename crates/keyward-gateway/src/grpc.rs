//! Envoy's `ext_authz` over gRPC: `envoy.service.auth.v3.Authorization/Check`, on keyward's
//! own port (HTTP/2 without TLS), with the same decision as [`Gateway::check`].
//!
//! The original request comes from the check's attributes (method, path with query, host,
//! scheme, headers, and the body when Envoy's `with_request_body` sends it; from a trusted
//! Envoy, the client certificate in `source.certificate`, which `include_peer_certificate`
//! sends, else in `X-Forwarded-Client-Cert`). The answer:
//!
//! - allowed: OK, with the identity headers set on the request Envoy forwards (those that do
//!   not apply, and the credentials keyward consumed, removed from it; query-hmac's `t`, `ms`
//!   and `s` removed from its query unless the route keeps them);
//! - refused: `UNAUTHENTICATED` or `PERMISSION_DENIED` (or `INVALID_ARGUMENT`,
//!   `UNAVAILABLE`), with the HTTP status and keyward's JSON body for Envoy to send back.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse,
    HeaderAppendAction, HeaderValue as EnvoyHeader, HeaderValueOption, HttpResponse, HttpStatus,
    OkHttpResponse,
};
use envoy_types::pb::google::rpc;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use keyward_auth::error::{ApiError, ErrorCode};
use keyward_sig::Scheme;

use crate::forward_auth::{Decided, ForwardAuthProxy, OriginalBody, original};
use crate::route::QueryCredentials;
use crate::{BodyForwarding, Gateway, client_cert};

/// The gRPC path Envoy calls.
pub const CHECK_METHOD: &str = "/envoy.service.auth.v3.Authorization/Check";

/// Envoy's marker on a check that carries the body.
const ENVOY_PARTIAL_BODY: &str = "x-envoy-auth-partial-body";

/// The `ext_authz` service of a gateway.
#[derive(Debug)]
pub struct ExtAuthz(Gateway);

impl Gateway {
    /// The gRPC `ext_authz` service, to serve at [`CHECK_METHOD`].
    pub fn ext_authz(&self) -> AuthorizationServer<ExtAuthz> {
        AuthorizationServer::new(ExtAuthz(self.clone()))
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let gateway = &self.0;
        let settings = &gateway.0.settings.forward_auth;
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let decided = match settings.proxy {
            Some(ForwardAuthProxy::Envoy) => {
                let check = request.into_inner();
                let source = check.attributes.as_ref().and_then(|a| a.source.as_ref());
                let certificate = source.map(|source| source.certificate.clone());
                match original_of(settings.bodies, check) {
                    Ok(mut original) => {
                        match gateway.envoy_certificate(peer, &mut original, certificate) {
                            Ok(()) => gateway.decide(original, ForwardAuthProxy::Envoy).await,
                            Err(error) => Err(error),
                        }
                    }
                    Err(error) => Err(error),
                }
            }
            _ => Err(ApiError::new(ErrorCode::NotFound).with_message(
                "gRPC ext_authz is Envoy's: start keyward with --forward-auth envoy",
            )),
        };
        Ok(tonic::Response::new(match decided {
            Ok(decision) => allowed(gateway, decision),
            Err(error) => denied(error),
        }))
    }
}

impl Gateway {
    /// The client certificate of a check from `peer`: a trusted Envoy's `source.certificate`
    /// (URL-encoded PEM), else its `X-Forwarded-Client-Cert` ([`Gateway::forwarded_certificate`]).
    fn envoy_certificate(
        &self,
        peer: Option<std::net::IpAddr>,
        original: &mut http::Request<Body>,
        source: Option<String>,
    ) -> Result<(), ApiError> {
        self.forwarded_certificate(peer, original)?;
        let trusted = peer.is_some_and(|peer| self.0.settings.auth.trusted_proxies.trusts(peer));
        let Some(source) = source.filter(|pem| trusted && !pem.is_empty()) else { return Ok(()) };
        let certificate = client_cert::escaped_pem(&source).map_err(|explanation| {
            ApiError::new(ErrorCode::InvalidForwardAuth).with_detail(serde_json::json!({
                "explanation": format!("source.certificate: {explanation}"),
            }))
        })?;
        original.extensions_mut().insert(std::sync::Arc::new(certificate));
        Ok(())
    }
}

/// The original request a check describes.
pub(crate) fn original_of(
    bodies: BodyForwarding,
    check: CheckRequest,
) -> Result<http::Request<Body>, ApiError> {
    let invalid = |what: &str| {
        ApiError::new(ErrorCode::InvalidForwardAuth).with_detail(
            serde_json::json!({ "explanation": format!("the check request has no {what}") }),
        )
    };
    let http = check
        .attributes
        .and_then(|attributes| attributes.request)
        .and_then(|request| request.http)
        .ok_or_else(|| invalid("attributes.request.http"))?;
    let mut headers = HeaderMap::new();
    let raw = http.header_map.iter().flat_map(|map| &map.headers).map(|h| {
        let value = if h.raw_value.is_empty() { h.value.as_bytes() } else { &h.raw_value[..] };
        (h.key.as_str(), value)
    });
    for (name, value) in http.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).chain(raw) {
        // Pseudo-headers (`:path`, `:authority`) are in the attributes already.
        if name.starts_with(':') {
            continue;
        }
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let partial =
        headers.get(ENVOY_PARTIAL_BODY).map(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let body = if !http.raw_body.is_empty() { http.raw_body } else { http.body.into_bytes() };
    // The body fields and the size are Envoy's; the marker is a header, which a client can
    // send itself when Envoy does not buffer bodies: it only ever withholds.
    let body = match partial {
        Some(true) => OriginalBody::Withheld(ForwardAuthProxy::Envoy.body_hint()),
        _ if !body.is_empty() => OriginalBody::Forwarded(Body::from(body)),
        // Envoy says the size: 0 is no body; -1 is unknown.
        _ if http.size == 0 => OriginalBody::Empty,
        _ if bodies == BodyForwarding::Forwarded => OriginalBody::Empty,
        _ => OriginalBody::Withheld(ForwardAuthProxy::Envoy.body_hint()),
    };
    let host = HeaderValue::try_from(http.host).ok().filter(|h| !h.is_empty());
    let scheme = Some(http.scheme.as_str()).filter(|s| !s.is_empty());
    original(&http.method, &http.path, host, scheme, headers, body)
}

fn allowed(gateway: &Gateway, decision: Decided) -> CheckResponse {
    let identity = &gateway.0.settings.identity;
    let mut set = Vec::new();
    let mut remove = Vec::new();
    for (name, value) in identity.values(decision.principal.as_ref()) {
        match value.as_ref().and_then(|v| v.to_str().ok()) {
            Some(value) => set.push(HeaderValueOption {
                header: Some(EnvoyHeader {
                    key: name.to_string(),
                    value: value.to_owned(),
                    ..Default::default()
                }),
                append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
                ..Default::default()
            }),
            None => remove.push(name.to_string()),
        }
    }
    let mut query_parameters_to_remove = Vec::new();
    if let Some(principal) = &decision.principal {
        remove.extend(crate::headers::CREDENTIAL_HEADERS.iter().map(|name| (*name).to_owned()));
        if principal.scheme == Scheme::QueryHmac && decision.query == QueryCredentials::Strip {
            query_parameters_to_remove = vec!["t".to_owned(), "ms".to_owned(), "s".to_owned()];
        }
    }
    CheckResponse {
        status: Some(rpc::Status { code: tonic::Code::Ok.into(), ..Default::default() }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers: set,
            headers_to_remove: remove,
            query_parameters_to_remove,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn denied(error: ApiError) -> CheckResponse {
    let status = error.code.status();
    let code = match status {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        status if status.is_client_error() => tonic::Code::InvalidArgument,
        _ => tonic::Code::Internal,
    };
    let message = error.message.clone().unwrap_or_else(|| error.code.message().to_owned());
    let body = error.body().to_string();
    let content_type = HeaderValueOption {
        header: Some(EnvoyHeader {
            key: "content-type".into(),
            value: "application/json".into(),
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
        ..Default::default()
    };
    let mut headers = vec![content_type];
    if let Some(seconds) = error.retry_after {
        headers.push(HeaderValueOption {
            header: Some(EnvoyHeader {
                key: "retry-after".into(),
                value: seconds.to_string(),
                ..Default::default()
            }),
            append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
            ..Default::default()
        });
    }
    CheckResponse {
        status: Some(rpc::Status { code: code.into(), message, ..Default::default() }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: i32::from(status.as_u16()) }),
            headers,
            body,
        })),
        ..Default::default()
    }
}
