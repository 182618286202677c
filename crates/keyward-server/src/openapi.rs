//! The API reference: an OpenAPI 3.1 document made from the routes the application serves
//! (each handler's annotation, its group's schemes; see `routes`) and what they share here (the
//! error shape, the schemes, the tags), served at `/api/openapi.json`, and a page that
//! renders it with no asset from the internet (`/api/docs`).

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// keyward's error shape: `{"error": {"code", "message", "detail"?}}` (see `docs/errors.md`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorFields,
}

/// The fields of an error.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorFields {
    /// The stable code.
    code: u16,
    /// A short sentence; exactly "Invalid signature validation" for code 12.
    message: String,
    /// What helps fix the request: for code 12, `signed`, the exact string the server signed;
    /// for code 14, the server's time and the skew.
    detail: Option<serde_json::Value>,
}

/// The answers every authenticated route may give when authentication or a permission fails.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum AuthFailures {
    /// A list in the credentials is past its cap: code 35.
    #[response(status = 400)]
    TooManyItems(ErrorBody),
    /// Authentication failed: codes 10 to 24 (12 for a signature that does not match, 15 for a
    /// repeated request, 24 for a signature used before for another request).
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// A permission is missing, or the wrong kind of key or scheme was used: codes 17, 18, 20.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

/// What every document shares; [`reference`] adds the routes served.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = include_str!("../../../docs/errors.md"),
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    security(("bearer" = []), ("query-hmac" = []), ("header-hmac" = []), ("http-signature" = []), ("api-key" = []), ("mtls" = [])),
    modifiers(&Schemes),
    tags(
        (name = "session", description = "Access tokens and who-am-I"),
        (name = "activities", description = "The sample protected resource, DevResults style"),
        (name = "keys", description = "API keys of the caller's domain"),
        (name = "users", description = "Users of the caller's domain"),
        (name = "admin", description = "The audit log"),
        (name = "provisioning", description = "Resellers and domains, Devo style: signed schemes only"),
        (name = "health", description = "Liveness and readiness"),
        (name = "console", description = "Sessions of the admin console at /console/ (cookie and CSRF token)"),
    )
)]
pub struct ApiDoc;

/// The authentication schemes: five in the request, and the TLS client certificate.
struct Schemes;

impl Modify for Schemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An access token from POST /api/login."))
                    .build(),
            ),
        );
        let api_key = |key: ApiKey| SecurityScheme::ApiKey(key);
        components.add_security_scheme(
            "query-hmac",
            api_key(ApiKey::Query(ApiKeyValue::with_description(
                "t",
                "DevResults-style: t (token), ms (epoch ms) and s = hex HMAC-SHA256(secret, key|value|... sorted by key) in the query. See docs/schemes.md.",
            ))),
        );
        components.add_security_scheme(
            "header-hmac",
            api_key(ApiKey::Header(ApiKeyValue::with_description(
                "x-logtrust-domain-apikey",
                "Devo-style: x-logtrust-domain-apikey (or -reseller-apikey, or -apikey), x-logtrust-timestamp (epoch ms) and x-logtrust-sign = hex HMAC-SHA256(secret, apikey + body + timestamp).",
            ))),
        );
        components.add_security_scheme(
            "http-signature",
            api_key(ApiKey::Header(ApiKeyValue::with_description(
                "Signature-Input",
                "RFC 9421 HTTP Message Signatures with hmac-sha256: keyid = the key's token; covers @method, @path, @query (with a query) and content-digest (with a body); created required.",
            ))),
        );
        components.add_security_scheme(
            "api-key",
            api_key(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A plain API key (kwapi_..., a key of type api-key), sent as is in X-API-Key (or the header --api-key-header names) or as Authorization: Bearer. Nothing is signed: over TLS only. See docs/schemes.md.",
            ))),
        );
        components.add_security_scheme(
            "mtls",
            SecurityScheme::MutualTls {
                description: Some(
                    "The client certificate of the TLS connection (keyward started with --tls-client-ca, or a trusted proxy passing it on), bound to a key by its SHA-256 or a subject alternative name; for requests with no other credentials. See docs/tls.md."
                        .into(),
                ),
                deprecated: None,
                extensions: None,
            },
        );
    }
}

/// Operation ids after method and path (`get_api_admin_keys_id`): unique, unlike handler
/// names, which repeat across modules.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let slug: String = path
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("_");
            let operations = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    operation.operation_id = Some(format!("{method}_{slug}"));
                }
            }
        }
    }
}

/// The reference of the routes served (`served`: their paths, schemas and security).
pub fn reference(served: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(served);
    OperationIds.modify(&mut document);
    document
}

/// `GET /api/openapi.json`: `document`, written once.
pub fn document(
    document: &utoipa::openapi::OpenApi,
) -> axum::routing::MethodRouter<crate::AppState> {
    let json = document.to_json().unwrap_or_else(|_| String::from("{}"));
    let body = axum::body::Bytes::from(json);
    axum::routing::get(move || {
        let body = body.clone();
        async move {
            const JSON: HeaderValue = HeaderValue::from_static("application/json");
            ([(header::CONTENT_TYPE, JSON)], body).into_response()
        }
    })
}

/// `GET /api/docs`: the reference, rendered in the browser from `/api/openapi.json` by a page
/// that loads nothing from elsewhere.
pub async fn browser() -> Html<&'static str> {
    Html(include_str!("../assets/api-docs.html"))
}
