//! Extractors whose rejections answer in keyward's error shape: JSON bodies, DevResults-style
//! `{"data": ...}` envelopes, query strings and paging.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// The client's address, as key policies see it ([`crate::auth::TrustedProxies::client_address`]): the
/// connection's peer ([`crate::serve`] records it), or the client a trusted proxy forwards
/// for. `None` when the app is called without a connection (tests that call the router
/// directly) or a trusted proxy's forwarding headers cannot be read.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(state.trusted_proxies.client_address(parts)))
    }
}

/// A JSON body; a bad one is answered with code 30 (syntax), 31 (shape), 32 (size) or 33
/// (media type). Handlers take [`Payload`], which reads one.
#[derive(Debug)]
struct ApiJson<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => wrong_shape(&text),
        JsonRejection::JsonSyntaxError(_) => ApiError::new(ErrorCode::InvalidBody)
            .with_message("Request body is not valid JSON")
            .with_detail(json!({ "explanation": text })),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(ErrorCode::UnsupportedMediaType),
        JsonRejection::BytesRejection(rejection) => body_rejection(rejection),
        _ => ApiError::new(ErrorCode::InvalidBody).with_detail(json!({ "explanation": text })),
    }
}

/// A body as raw bytes (for handlers whose body is optional); a body that cannot be read is
/// answered in keyward's shape.
#[derive(Debug)]
pub struct RawBody(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        bytes::Bytes::from_request(request, state).await.map(RawBody).map_err(body_rejection)
    }
}

/// Why a body could not be read: past the limit (413), too slow (408), or broken off (400).
pub(crate) fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::new(ErrorCode::BodyTooLarge)
        }
        BytesRejection::FailedToBufferBody(FailedToBufferBody::UnknownBodyError(error))
            if keyward_auth::error::is_timeout(&error) =>
        {
            keyward_auth::error::body_timeout()
        }
        _ => ApiError::new(ErrorCode::InvalidBody).with_message("Request body could not be read"),
    }
}

/// A JSON payload, sent either in the DevResults envelope `{"data": {...}}` or bare (as Devo's
/// provisioning clients send it): the same handlers serve both styles.
#[derive(Debug)]
pub struct Payload<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Payload<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let ApiJson(value) = ApiJson::<Value>::from_request(request, state).await?;
        unwrap_payload(value).map(Payload)
    }
}

/// The payload inside an optional envelope, typed.
fn unwrap_payload<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    let inner = match value {
        Value::Object(mut object)
            if object.len() == 1 && object.get("data").is_some_and(Value::is_object) =>
        {
            object.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    };
    serde_json::from_value(inner).map_err(|error| wrong_shape(&error.to_string()))
}

/// A body that parsed as JSON but is not what the route takes (422, code 31). Every body type
/// refuses fields it does not know, so that a misspelt or misplaced field is never silently
/// dropped: such a refusal names the field (`detail.field`) and says so.
fn wrong_shape(explanation: &str) -> ApiError {
    let unknown = explanation
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field);
    match unknown {
        Some(field) => ApiError::new(ErrorCode::InvalidField)
            .with_message(format!("Unknown field: {field}"))
            .with_detail(json!({ "field": field, "explanation": explanation })),
        None => ApiError::new(ErrorCode::InvalidField)
            .with_message("Request body has the wrong shape")
            .with_detail(json!({ "explanation": explanation })),
    }
}

/// An optional payload: `None` for an empty body, else as [`Payload`].
pub fn optional_payload<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::new(ErrorCode::InvalidBody)
            .with_message("Request body is not valid JSON")
            .with_detail(json!({ "explanation": error.to_string() }))
    })?;
    unwrap_payload(value).map(Some)
}

/// A query string; a bad one is answered with code 34.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state).await.map(|Query(q)| ApiQuery(q)).map_err(
            |rejection: QueryRejection| {
                ApiError::new(ErrorCode::InvalidQuery)
                    .with_detail(json!({ "explanation": rejection.body_text() }))
            },
        )
    }
}

/// A path parameter; a bad one (`/api/activities/abc`) is answered with code 40, since no
/// such resource can exist.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| ApiError::new(ErrorCode::NotFound))
    }
}

/// `page` (from 1) and `pageSize` (1 to 500, default 50).
#[derive(Clone, Copy, Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The page, from 1.
    #[serde(default = "first_page")]
    pub page: i64,
    /// Items per page.
    #[serde(default = "default_page_size")]
    pub page_size: i64,
}

fn first_page() -> i64 {
    1
}

fn default_page_size() -> i64 {
    50
}

impl Paging {
    /// Paging from optional values, with the defaults.
    pub fn new(page: Option<i64>, page_size: Option<i64>) -> Self {
        Paging { page: page.unwrap_or(1), page_size: page_size.unwrap_or_else(default_page_size) }
    }

    /// Checked `(offset, limit)`.
    pub fn window(self) -> Result<(i64, i64), ApiError> {
        if self.page < 1 {
            return Err(ApiError::new(ErrorCode::InvalidQuery).with_message("page starts at 1"));
        }
        if !(1..=500).contains(&self.page_size) {
            return Err(
                ApiError::new(ErrorCode::InvalidQuery).with_message("pageSize must be 1 to 500")
            );
        }
        Ok(((self.page - 1).saturating_mul(self.page_size), self.page_size))
    }

    /// The paging block of a list response.
    pub fn describe(self, total: i64) -> crate::views::PagingView {
        crate::views::PagingView { page: self.page, page_size: self.page_size, total }
    }
}

/// Checks a required text field: trimmed, non-empty, at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid_field(field, format!("{field} is required")));
    }
    optional_text(field, Some(value), max).map(|v| v.unwrap_or_default())
}

/// Checks an optional text field: at most `max` characters, no control characters.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    if value.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ApiError::invalid_field(field, format!("{field} contains control characters")));
    }
    Ok(Some(value.to_owned()))
}
