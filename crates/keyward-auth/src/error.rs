//! Every failure the API answers with, in one shape and with a stable code:
//! `{"error":{"code":<int>,"message":"...","detail":{...}?}}`. `docs/errors.md` lists them.
//!
//! Each [`ApiError`] knows its status, code and public message here, in one place. Detail
//! that helps a client (the string the server signed, the server's clock) goes under
//! `detail`; database, crypto and configuration detail never does: it goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_sig::VerifyError;
use keyward_store::StoreError;
use serde_json::{Value, json};

/// A failure, as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// Extra public detail, when it helps the client.
    pub detail: Option<Value>,
    /// A message replacing the code's default, when it says more.
    pub message: Option<String>,
    /// Seconds after which trying again may succeed, sent as `Retry-After` (32 bits: a
    /// century is longer than any wait keyward names, and refusals stay small).
    pub retry_after: Option<u32>,
}

/// The stable error codes. Never renumbered: clients match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 10: the request carries no credentials.
    NoCredentials,
    /// 11: credentials are present but malformed (a missing or unparsable field).
    MalformedCredentials,
    /// 12: the signature does not match (Devo's code and message, exactly).
    InvalidSignature,
    /// 13: the key or access token is unknown, revoked or disabled.
    UnknownCredentials,
    /// 14: the request's timestamp is outside the clock window, or its signature expired.
    StaleRequest,
    /// 15: this signature (or nonce) was already used for the same request, and the method (or
    /// the configured replay mode) forbids a repeat.
    Replayed,
    /// 16: credentials of more than one scheme.
    AmbiguousCredentials,
    /// 17: a key of the other kind (reseller versus domain) for this route.
    WrongKeyKind,
    /// 18: the scheme is not accepted on this route.
    SchemeNotAllowed,
    /// 19: `Content-Digest` does not match the body.
    DigestMismatch,
    /// 20: the principal lacks a permission.
    PermissionDenied,
    /// 21: wrong user name or password.
    InvalidLogin,
    /// 22: the access token expired.
    TokenExpired,
    /// 23: a console request that changes something lacks the CSRF token, or has a wrong one.
    CsrfFailed,
    /// 24: this signature (or nonce) was already used for another request (another method or
    /// target): the vendor schemes sign neither, so a signature serves the request it was first
    /// seen with and no other.
    SignatureReused,
    /// 25: too many failed logins for this account or from this address; try again later.
    TooManyLoginAttempts,
    /// 26: forward-auth: the scheme signs the body, and the proxy did not forward it (or
    /// forwarded only part of it), so it cannot be verified.
    BodyNotForwarded,
    /// 27: a rate limit of the key, its user or the route is spent for now.
    RateLimited,
    /// 28: the key's usage quota (credits) is spent.
    CreditsExhausted,
    /// 29: the key's policy set an expiry, and it has passed.
    KeyExpired,
    /// 30: the body is not valid JSON, or not of the expected shape.
    InvalidBody,
    /// 31: a field has an invalid value.
    InvalidField,
    /// 32: the body is larger than the limit.
    BodyTooLarge,
    /// 33: the body's media type is not JSON.
    UnsupportedMediaType,
    /// 34: a query parameter is invalid.
    InvalidQuery,
    /// 35: a list the client controls is longer than keyward accepts.
    TooManyItems,
    /// 36: the request took longer to arrive (or to answer) than the configured timeout.
    RequestTimeout,
    /// 37: forward-auth: the proxy's request does not say which request to check, or says it
    /// in two ways that disagree.
    InvalidForwardAuth,
    /// 38: the request's path has dot segments, encoded slashes, empty segments, path
    /// parameters or malformed escapes, which gateway routes and forward-auth refuse (an
    /// upstream could resolve them to a path the route does not cover).
    InvalidPath,
    /// 39: the request's host is repeated, malformed, or disagrees with the target's
    /// authority: an upstream could serve it as another host.
    InvalidHost,
    /// 40: no such resource (in the caller's domain).
    NotFound,
    /// 41: a name is taken, or the resource's state forbids the change.
    Conflict,
    /// 42: the method is not allowed on this route.
    MethodNotAllowed,
    /// 43: a WebSocket (or other) upgrade on a gateway route that does not allow them.
    UpgradeNotAllowed,
    /// 44: the key's policy does not allow the client's address.
    AddressNotAllowed,
    /// 45: the key's policy does not allow this route, or this method on it.
    RouteNotAllowed,
    /// 46: forward-auth: no route names this request's path (and host), and unrouted paths
    /// are refused.
    Unrouted,
    /// 47: a method override (`X-HTTP-Method-Override`, `_method`...) the route does not
    /// honour, or one that names no method.
    MethodOverride,
    /// 48: forward-auth: the check carries a header the proxy would not send (an identity
    /// header, a rewritten target, a forwarding header spelled with `_`).
    ForgedHeader,
    /// 49: plain HTTP sent to the port that speaks HTTPS.
    HttpsRequired,
    /// 55: an access token bound to a client certificate (RFC 8705), presented over a
    /// connection without that certificate.
    CertificateRequired,
    /// 50: an unexpected server error (logged with the request id).
    Internal,
    /// 51: the database is unavailable, or too busy to answer now.
    Unavailable,
    /// 52: the server is at its limit of connections, requests or password checks.
    Overloaded,
    /// 53: the gateway's upstream refused the connection, broke it off or answered with
    /// something that is not HTTP.
    BadGateway,
    /// 54: the gateway's upstream took longer to connect or to answer than the route allows.
    GatewayTimeout,
}

impl ErrorCode {
    /// The number clients see.
    pub fn number(self) -> u16 {
        use ErrorCode::*;
        match self {
            NoCredentials => 10,
            MalformedCredentials => 11,
            InvalidSignature => 12,
            UnknownCredentials => 13,
            StaleRequest => 14,
            Replayed => 15,
            AmbiguousCredentials => 16,
            WrongKeyKind => 17,
            SchemeNotAllowed => 18,
            DigestMismatch => 19,
            PermissionDenied => 20,
            InvalidLogin => 21,
            TokenExpired => 22,
            CsrfFailed => 23,
            SignatureReused => 24,
            TooManyLoginAttempts => 25,
            BodyNotForwarded => 26,
            RateLimited => 27,
            CreditsExhausted => 28,
            KeyExpired => 29,
            InvalidBody => 30,
            InvalidField => 31,
            BodyTooLarge => 32,
            UnsupportedMediaType => 33,
            InvalidQuery => 34,
            TooManyItems => 35,
            RequestTimeout => 36,
            InvalidForwardAuth => 37,
            InvalidPath => 38,
            InvalidHost => 39,
            NotFound => 40,
            Conflict => 41,
            MethodNotAllowed => 42,
            UpgradeNotAllowed => 43,
            AddressNotAllowed => 44,
            RouteNotAllowed => 45,
            Unrouted => 46,
            MethodOverride => 47,
            ForgedHeader => 48,
            HttpsRequired => 49,
            CertificateRequired => 55,
            Internal => 50,
            Unavailable => 51,
            Overloaded => 52,
            BadGateway => 53,
            GatewayTimeout => 54,
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            NoCredentials | MalformedCredentials | InvalidSignature | UnknownCredentials
            | StaleRequest | Replayed | SignatureReused | AmbiguousCredentials | DigestMismatch
            | InvalidLogin | TokenExpired | BodyNotForwarded | KeyExpired | CertificateRequired => {
                StatusCode::UNAUTHORIZED
            }
            WrongKeyKind | SchemeNotAllowed | PermissionDenied | CsrfFailed | AddressNotAllowed
            | RouteNotAllowed | Unrouted => StatusCode::FORBIDDEN,
            InvalidBody | InvalidQuery | TooManyItems | InvalidForwardAuth | InvalidPath
            | InvalidHost | UpgradeNotAllowed | MethodOverride | ForgedHeader | HttpsRequired => {
                StatusCode::BAD_REQUEST
            }
            TooManyLoginAttempts | RateLimited | CreditsExhausted => StatusCode::TOO_MANY_REQUESTS,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            InvalidField => StatusCode::UNPROCESSABLE_ENTITY,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotFound => StatusCode::NOT_FOUND,
            Conflict => StatusCode::CONFLICT,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable | Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            BadGateway => StatusCode::BAD_GATEWAY,
            GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The default public message.
    pub fn message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            NoCredentials => "Authentication required",
            MalformedCredentials => "Malformed credentials",
            // Devo's exact message: Devo clients match on it.
            InvalidSignature => "Invalid signature validation",
            UnknownCredentials => "Unknown, revoked or disabled credentials",
            StaleRequest => "Request timestamp outside the accepted window",
            Replayed => "Request already used; sign each request anew",
            SignatureReused => "Signature already used for another request; sign each request anew",
            TooManyLoginAttempts => "Too many failed logins; try again later",
            BodyNotForwarded => {
                "This scheme signs the body, and the proxy did not forward it: configure the \
                 proxy to forward request bodies to keyward's forward-auth"
            }
            RateLimited => "Rate limit reached; try again after Retry-After seconds",
            CreditsExhausted => "This key's usage quota is spent",
            KeyExpired => "This key has expired",
            AddressNotAllowed => "This key may not be used from this address",
            RouteNotAllowed => "This key may not call this route",
            AmbiguousCredentials => "Credentials of more than one scheme",
            WrongKeyKind => "Wrong kind of key for this route",
            SchemeNotAllowed => "Authentication scheme not accepted on this route",
            DigestMismatch => "Content-Digest does not match the body",
            PermissionDenied => "Permission denied",
            InvalidLogin => "Invalid user name or password",
            TokenExpired => "Access token expired",
            CsrfFailed => "Missing or wrong CSRF token: reload the console and try again",
            InvalidBody => "Invalid request body",
            InvalidField => "Invalid field value",
            BodyTooLarge => "Request body too large",
            UnsupportedMediaType => "Request body must be JSON (Content-Type: application/json)",
            InvalidQuery => "Invalid query parameter",
            TooManyItems => "Too many items in a list",
            RequestTimeout => "Request took too long",
            InvalidForwardAuth => "The forward-auth request does not say which request to check",
            InvalidPath => "This path could be read differently by the upstream: not accepted",
            InvalidHost => "This host could be read differently by the upstream: not accepted",
            Unrouted => "No route covers this request",
            MethodOverride => "This method override is not accepted here",
            ForgedHeader => "The request carries a header only keyward or the proxy may set",
            HttpsRequired => "This port speaks HTTPS: connect with https://",
            CertificateRequired => {
                "This access token is bound to a client certificate: present it on the connection"
            }
            NotFound => "Not found",
            Conflict => "Conflict",
            MethodNotAllowed => "Method not allowed",
            UpgradeNotAllowed => "WebSocket upgrades are not allowed on this route",
            Internal => "Internal server error",
            Unavailable => "Service unavailable",
            Overloaded => "Server busy; try again shortly",
            BadGateway => "The upstream could not be reached or broke off",
            GatewayTimeout => "The upstream took too long to answer",
        }
    }
}

impl ApiError {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        ApiError { code, detail: None, message: None, retry_after: None }
    }

    /// The same error with `Retry-After: seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(u32::try_from(seconds).unwrap_or(u32::MAX));
        self
    }

    /// The same error with a more precise message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The same error with public detail.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// A field that fails validation.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidField)
            .with_message(message)
            .with_detail(json!({ "field": field }))
    }

    /// A permission the principal lacks.
    pub fn permission_denied(permission: &str) -> Self {
        ApiError::new(ErrorCode::PermissionDenied)
            .with_message(format!("Permission denied: requires {permission}"))
            .with_detail(json!({ "required": permission }))
    }
}

impl ApiError {
    /// The JSON body: `{"error": {"code", "message", "detail"?}}`.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code.number(),
            "message": self.message.as_deref().unwrap_or(self.code.message()),
        });
        if let Some(detail) = &self.detail {
            error["detail"] = detail.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), Json(self.body())).into_response();
        // For metrics: the code, without reading the body again.
        response.extensions_mut().insert(self.code);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// The answer when a request's body took too long to arrive.
pub fn body_timeout() -> ApiError {
    ApiError::new(ErrorCode::RequestTimeout).with_message("Request body took too long to arrive")
}

/// Whether `error` (from reading a body) is, or was caused by, a body read timeout.
pub fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::new(ErrorCode::NotFound)
                .with_message(format!("{} not found", capitalize(what))),
            StoreError::Conflict(what) => ApiError::new(ErrorCode::Conflict)
                .with_message(format!("{} already exists", capitalize(what))),
            StoreError::InvalidState(why) => ApiError::new(ErrorCode::Conflict).with_message(why),
            StoreError::WeakPassword(why) => ApiError::invalid_field("password", why),
            StoreError::Busy => {
                tracing::warn!("every password-hashing slot is taken");
                ApiError::new(ErrorCode::Overloaded).with_retry_after(1)
            }
            ref unavailable if unavailable.is_unavailable() => {
                tracing::error!(error = ?unavailable, "database unavailable");
                ApiError::new(ErrorCode::Unavailable).with_retry_after(1)
            }
            other => {
                tracing::error!(error = ?other, "store error");
                ApiError::new(ErrorCode::Internal)
            }
        }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// How a verification failure is answered. The detail is public by design: it holds what the
/// server signed (no secret) or the server's clock, so a client author can fix the request.
impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> Self {
        let code = error.code();
        let detail = |mut extra: Value| {
            extra["reason"] = json!(code);
            extra["explanation"] = json!(error.to_string());
            extra
        };
        match &error {
            VerifyError::NoCredentials => {
                ApiError::new(ErrorCode::NoCredentials).with_detail(detail(json!({
                    "schemes": ["bearer", "query-hmac", "header-hmac", "http-signature"]
                })))
            }
            VerifyError::AmbiguousCredentials { schemes } => {
                let schemes: Vec<&str> = schemes.iter().map(|s| s.as_str()).collect();
                ApiError::new(ErrorCode::AmbiguousCredentials)
                    .with_detail(detail(json!({ "schemes": schemes })))
            }
            VerifyError::RepeatedParameter { .. }
            | VerifyError::MissingField { .. }
            | VerifyError::MalformedField { .. }
            | VerifyError::ComponentMissing { .. }
            | VerifyError::UnsupportedComponent { .. }
            | VerifyError::UnsupportedAlgorithm { .. }
            | VerifyError::AlgorithmMismatch { .. } => {
                ApiError::new(ErrorCode::MalformedCredentials).with_detail(detail(json!({})))
            }
            VerifyError::UnknownKey { .. } => {
                ApiError::new(ErrorCode::UnknownCredentials).with_detail(detail(json!({})))
            }
            VerifyError::KeyKindMismatch { .. } => {
                ApiError::new(ErrorCode::WrongKeyKind).with_detail(detail(json!({})))
            }
            VerifyError::TimestampOutsideWindow { timestamp_ms, now_ms, skew_ms, window_ms } => {
                ApiError::new(ErrorCode::StaleRequest).with_detail(detail(json!({
                    "server_time_ms": now_ms,
                    "request_time_ms": timestamp_ms,
                    "skew_ms": skew_ms,
                    "window_ms": window_ms,
                })))
            }
            VerifyError::SignatureExpired { now, expires, .. } => ApiError::new(
                ErrorCode::StaleRequest,
            )
            .with_detail(detail(json!({ "server_time_ms": now * 1000, "expires": expires }))),
            VerifyError::SignatureMismatch { signed } => ApiError::new(ErrorCode::InvalidSignature)
                .with_detail(detail(json!({
                    "signed": String::from_utf8_lossy(signed),
                }))),
            VerifyError::DigestMismatch { algorithm } => ApiError::new(ErrorCode::DigestMismatch)
                .with_detail(detail(json!({ "algorithm": algorithm }))),
            VerifyError::TooManyItems { field, limit } => ApiError::new(ErrorCode::TooManyItems)
                .with_message(format!("More than {limit} items in {field}"))
                .with_detail(detail(json!({ "field": field.name(), "limit": limit }))),
            VerifyError::TokenExpired { expired_at_ms, now_ms } => {
                ApiError::new(ErrorCode::TokenExpired).with_detail(detail(json!({
                    "expired_at_ms": expired_at_ms,
                    "server_time_ms": now_ms,
                })))
            }
            _ => ApiError::new(ErrorCode::MalformedCredentials).with_detail(detail(json!({}))),
        }
    }
}
