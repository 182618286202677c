//! Forward-auth's HTTP contract, over a real server on 127.0.0.1: each request is sent as
//! nginx `auth_request`, Caddy `forward_auth` (Traefik `ForwardAuth` sends the same headers)
//! and Envoy's HTTP `ext_authz` would send it, and keyward's answer is checked as each proxy
//! reads it. (`proxies.rs` runs the real nginx and Caddy.) The Envoy checks carry only the
//! headers docs/gateway.md's Envoy configuration lets through, and the guide's Traefik and
//! Envoy configurations are held to the contract tested here.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, Prepared, SIGNED_SCHEMES, Scheme, TestServer, sign};
use keyward_server::gateway::{
    BodyForwarding, ForwardAuthProxy, ForwardAuthSettings, RouteConfig, Routes, Unrouted,
};
use serde_json::{Value, json};

/// The API keyward guards, as clients address it.
const API: &str = "http://api.example.test";

const IDENTITY: [&str; 7] = [
    "x-keyward-principal",
    "x-keyward-key-id",
    "x-keyward-application",
    "x-keyward-domain",
    "x-keyward-reseller",
    "x-keyward-permissions",
    "x-keyward-scheme",
];

/// How a proxy asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proxy {
    /// `X-Original-Method` and `-URI`, no body, and (as docs/gateway.md's map does) an
    /// `X-Original-Content-Length: 0` for a request without a body.
    Nginx,
    /// `X-Forwarded-Method` and `-Uri`, no body, the query also on the check URL.
    Caddy,
    /// The original method, the path below `/auth/check`, the body, Envoy's partial-body flag.
    Envoy,
    /// As Caddy, with the body (`forwardBody`).
    Traefik,
}

impl Proxy {
    fn setting(self) -> ForwardAuthProxy {
        match self {
            Proxy::Nginx => ForwardAuthProxy::Nginx,
            Proxy::Caddy => ForwardAuthProxy::Caddy,
            Proxy::Envoy => ForwardAuthProxy::Envoy,
            Proxy::Traefik => ForwardAuthProxy::Traefik,
        }
    }

    /// Whether it forwards bodies, as the guide configures it.
    fn bodies(self) -> BodyForwarding {
        match self {
            Proxy::Nginx | Proxy::Caddy => BodyForwarding::NotForwarded,
            Proxy::Envoy | Proxy::Traefik => BodyForwarding::Forwarded,
        }
    }
}

/// keyward answering `proxy`'s checks, configured as the guide says, unrouted paths refused.
async fn server(proxy: Proxy) -> TestServer {
    server_with(proxy, Unrouted::Refused).await
}

/// A policy with `/orders` (GET orders:read, POST orders:write), a public `/status/` and
/// `/admin` on host `priv.example` (admin:access); the upstream is never contacted by
/// forward-auth.
async fn server_with(proxy: Proxy, unrouted: Unrouted) -> TestServer {
    let mut orders = RouteConfig {
        prefix: "/orders".into(),
        upstream: "http://127.0.0.1:9".into(),
        ..Default::default()
    };
    orders.method_permissions.insert("GET".into(), vec!["orders:read".into()]);
    orders.method_permissions.insert("POST".into(), vec!["orders:write".into()]);
    let status = RouteConfig {
        prefix: "/status/".into(),
        upstream: "http://127.0.0.1:9".into(),
        public: true,
        ..Default::default()
    };
    let admin = RouteConfig {
        prefix: "/admin".into(),
        host: Some("priv.example".into()),
        upstream: "http://127.0.0.1:9".into(),
        permissions: vec!["admin:access".into()],
        ..Default::default()
    };
    let settings = keyward_server::Settings {
        routes: Routes::check(vec![orders, status, admin]).unwrap(),
        forward_auth: ForwardAuthSettings {
            proxy: Some(proxy.setting()),
            bodies: proxy.bodies(),
            unrouted,
        },
        ..common::settings()
    };
    TestServer::builder("forward_auth").settings(settings).start().await.unwrap()
}

/// The original request, signed by `scheme` (None: bearer with `key.0`).
fn original(
    scheme: Option<Scheme>,
    key: (&str, &str),
    method: &str,
    target: &str,
    body: Option<&str>,
) -> Prepared {
    let url = format!("{API}{target}");
    match scheme {
        Some(scheme) => sign(scheme, key.0, key.1, method, &url, body.map(str::to_owned)),
        None => Prepared {
            method: method.into(),
            url,
            headers: vec![("authorization".into(), format!("Bearer {}", key.0))],
            body: body.map(str::to_owned),
        },
    }
}

/// The check request `proxy` makes for `original`.
fn check(server: &TestServer, proxy: Proxy, original: Prepared) -> Prepared {
    let target = original.url.strip_prefix(API).unwrap().to_owned();
    let query = target.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    let mut headers: Vec<(String, String)> =
        original.headers.into_iter().filter(|(n, _)| n != "host").collect();
    headers.push(("host".into(), "api.example.test".into()));
    let forwarded = |headers: &mut Vec<(String, String)>, method_header: &str, uri_header: &str| {
        headers.push((method_header.into(), original.method.clone()));
        headers.push((uri_header.into(), target.clone()));
        headers.push(("x-forwarded-host".into(), "api.example.test".into()));
        headers.push(("x-forwarded-proto".into(), "http".into()));
    };
    match proxy {
        Proxy::Nginx => {
            forwarded(&mut headers, "x-original-method", "x-original-uri");
            let length = original.body.as_ref().map_or("0".to_owned(), |_| "present".to_owned());
            headers.push(("x-original-content-length".into(), length));
            Prepared { method: "GET".into(), url: server.url("/auth/check"), headers, body: None }
        }
        Proxy::Caddy | Proxy::Traefik => {
            forwarded(&mut headers, "x-forwarded-method", "x-forwarded-uri");
            let body = if proxy == Proxy::Traefik { original.body } else { None };
            Prepared {
                method: "GET".into(),
                url: server.url(&format!("/auth/check{query}")),
                headers,
                body,
            }
        }
        Proxy::Envoy => {
            // Envoy sends Host and Content-Length, and the headers `allowed_headers` matches.
            let allowed = yaml_list(&common::guide_block("envoy-http"), "allowed_headers:");
            headers.retain(|(name, _)| {
                name == "host" || name == "content-length" || matches_any(&allowed, name)
            });
            headers.push(("x-envoy-auth-partial-body".into(), "false".into()));
            Prepared {
                method: original.method,
                url: server.url(&format!("/auth/check{target}")),
                headers,
                body: original.body,
            }
        }
    }
}

/// The items of the YAML list below the line holding `key` in a guide block: `- exact: NAME`
/// and `- prefix: NAME` (Envoy's matchers), or plain `- NAME`; the lines indented deeper than
/// `key`'s line are read, whatever lists sit between.
fn yaml_list(block: &str, key: &str) -> Vec<String> {
    let mut lines = block.lines().skip_while(|line| !line.trim_start().starts_with(key));
    let depth = |line: &str| line.len() - line.trim_start().len();
    let key_depth = depth(lines.next().unwrap_or_else(|| panic!("no {key} in the block")));
    lines
        .take_while(|line| line.trim().is_empty() || depth(line) > key_depth)
        .filter_map(|line| line.trim().strip_prefix("- "))
        .map(|item| item.trim().to_ascii_lowercase())
        .collect()
}

/// Whether Envoy's matchers (`exact: x`, `prefix: x`) match the header `name`.
fn matches_any(matchers: &[String], name: &str) -> bool {
    matchers.iter().any(|matcher| match matcher.split_once(": ") {
        Some(("exact", exact)) => name == exact,
        Some(("prefix", prefix)) => name.starts_with(prefix),
        _ => panic!("an Envoy matcher keyward's guide does not use: {matcher}"),
    })
}

#[test]
fn the_guides_traefik_and_envoy_configurations_fit_the_contract() {
    let traefik = common::guide_block("traefik");
    assert!(traefik.contains("address: http://127.0.0.1:8080/auth/check"), "{traefik}");
    assert!(traefik.contains("forwardBody: true"), "the body-signing schemes need the body");
    assert_eq!(yaml_list(&traefik, "authResponseHeaders:"), IDENTITY, "Traefik copies each");
    for (name, block) in [
        ("envoy-http", common::guide_block("envoy-http")),
        ("envoy-grpc", common::guide_block("envoy-grpc")),
    ] {
        assert!(block.contains("with_request_body:"), "{name}: the body-signing schemes need it");
        assert!(block.contains("allow_partial_message: false"), "{name}: a cut body is refused");
    }
    let http = common::guide_block("envoy-http");
    assert!(http.contains("path_prefix: /auth/check"), "{http}");
    let upstream = yaml_list(&http, "allowed_upstream_headers:");
    for name in IDENTITY {
        assert!(matches_any(&upstream, name), "Envoy must set {name} from keyward's answer");
    }
    let asked = yaml_list(&http, "allowed_headers:");
    for name in
        ["authorization", "signature", "signature-input", "content-digest", "x-logtrust-sign"]
    {
        assert!(matches_any(&asked, name), "Envoy must pass {name} to keyward");
    }
}

/// Sends a check; the status, the response headers and the JSON body. A refusal to nginx is a
/// 403 with its status in `x-keyward-status` (nginx takes only 401 and 403 from
/// `auth_request`): read as the guide's nginx configuration reads it.
async fn ask(server: &TestServer, request: Prepared) -> (u16, reqwest::header::HeaderMap, Value) {
    let (status, headers, body) = common::exchange(&server.client, request).await;
    match headers.get("x-keyward-status") {
        Some(real) => {
            assert_eq!(status, 403, "a refusal to nginx is a 403: {body}");
            (real.to_str().unwrap().parse().unwrap(), headers, body)
        }
        None => (status, headers, body),
    }
}

fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or_default()
}

fn header<'h>(headers: &'h reqwest::header::HeaderMap, name: &str) -> &'h str {
    headers.get(name).map_or("<absent>", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn every_proxy_and_scheme_gets_the_decision_and_the_identity() {
    for proxy in [Proxy::Nginx, Proxy::Caddy, Proxy::Envoy] {
        let server = server(proxy).await;
        let (key_id, token, secret) =
            server.create_key(&server.admin_token, "Shop", &["orders:read"]).await;
        let (user_id, user_token) = server.user("clerk", &["orders:read"]).await;
        for scheme in
            [None, Some(Scheme::QueryHmac), Some(Scheme::HeaderHmac), Some(Scheme::HttpSignature)]
        {
            let key = if scheme.is_some() {
                (token.as_str(), secret.as_str())
            } else {
                (user_token.as_str(), "")
            };
            let request =
                check(&server, proxy, original(scheme, key, "GET", "/orders/7?page=2", None));
            let (status, headers, body) = ask(&server, request).await;
            if proxy == Proxy::Caddy
                && matches!(scheme, Some(Scheme::HeaderHmac | Scheme::HttpSignature))
            {
                // header-hmac signs the body, and keyward's RFC 9421 rule has a signature cover
                // any body there is: Caddy neither forwards it nor can say there is none.
                assert_eq!((status, code(&body)), (401, 26), "{proxy:?}: {body}");
                continue;
            }
            assert_eq!(status, 200, "{proxy:?} {scheme:?}: {body}");
            for name in IDENTITY {
                assert!(
                    headers.contains_key(name),
                    "{proxy:?} {scheme:?}: {name} is always answered"
                );
            }
            assert_eq!(header(&headers, "x-keyward-permissions"), "orders:read");
            assert_eq!(header(&headers, "x-keyward-domain"), "1");
            assert_eq!(header(&headers, "x-keyward-reseller"), "");
            match scheme {
                Some(_) => {
                    assert_eq!(header(&headers, "x-keyward-principal"), format!("key:{key_id}"));
                    assert_eq!(header(&headers, "x-keyward-key-id"), key_id.to_string());
                    assert_eq!(header(&headers, "x-keyward-application"), "Shop");
                }
                None => {
                    assert_eq!(header(&headers, "x-keyward-principal"), format!("user:{user_id}"));
                    assert_eq!(header(&headers, "x-keyward-key-id"), "");
                }
            }
            let removed = header(&headers, "x-envoy-auth-headers-to-remove");
            assert!(
                removed.contains("authorization") && removed.contains("signature-input"),
                "{removed}"
            );
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn routes_decide_permissions_and_public_paths_and_the_rest_is_refused() {
    for proxy in [Proxy::Nginx, Proxy::Caddy, Proxy::Envoy] {
        let server = server(proxy).await;
        let (_, token, secret) =
            server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
        let key = (token.as_str(), secret.as_str());
        // orders:read may not POST.
        let post = original(Some(Scheme::QueryHmac), key, "POST", "/orders", None);
        let (status, _, body) = ask(&server, check(&server, proxy, post)).await;
        assert_eq!((status, code(&body)), (403, 20), "{proxy:?}: {body}");
        // A public route: allowed without credentials, every identity header empty.
        let open = Prepared {
            method: "GET".into(),
            url: format!("{API}/status/health"),
            headers: vec![],
            body: None,
        };
        let (status, headers, _) = ask(&server, check(&server, proxy, open)).await;
        assert_eq!(status, 200, "{proxy:?}");
        assert!(
            IDENTITY.iter().all(|name| header(&headers, name).is_empty()),
            "{proxy:?}: {headers:?}"
        );
        // A path no route names: refused, whatever the credential (issue 18, finding 4).
        let other = original(Some(Scheme::QueryHmac), key, "DELETE", "/elsewhere/1", None);
        let (status, _, body) = ask(&server, check(&server, proxy, other)).await;
        assert_eq!((status, code(&body)), (403, 46), "{proxy:?}: {body}");
        assert_eq!(body["error"]["detail"]["path"], "/elsewhere/1");
        server.stop().await;
    }
    // Unless unrouted paths are let through to any valid credential.
    let server = server_with(Proxy::Nginx, Unrouted::AnyCredential).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    let other =
        original(Some(Scheme::QueryHmac), (&token, &secret), "DELETE", "/elsewhere/1", None);
    assert_eq!(ask(&server, check(&server, Proxy::Nginx, other)).await.0, 200);
    let anonymous = Prepared {
        method: "GET".into(),
        url: format!("{API}/elsewhere/2"),
        headers: vec![],
        body: None,
    };
    let (status, _, body) = ask(&server, check(&server, Proxy::Nginx, anonymous)).await;
    assert_eq!((status, code(&body)), (401, 10));
    server.stop().await;
}

#[tokio::test]
async fn bodies_are_verified_when_forwarded_and_never_taken_unseen() {
    let body = json!({"item": 9}).to_string();
    let server = self::server(Proxy::Envoy).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    let key = (token.as_str(), secret.as_str());
    for scheme in [Scheme::HeaderHmac, Scheme::HttpSignature] {
        // Envoy forwards the body: verified, and a changed one refused.
        let signed = original(Some(scheme), key, "POST", "/orders", Some(&body));
        let (status, _, answer) = ask(&server, check(&server, Proxy::Envoy, signed)).await;
        assert_eq!(status, 200, "{scheme:?}: {answer}");
        let mut changed = check(
            &server,
            Proxy::Envoy,
            original(Some(scheme), key, "POST", "/orders", Some(&body)),
        );
        changed.body = Some(json!({"item": 10}).to_string());
        let (status, _, answer) = ask(&server, changed).await;
        assert_eq!(status, 401, "{scheme:?}: {answer}");
        assert!([12, 19].contains(&code(&answer)), "{answer}");
        // Cut at Envoy's max_request_bytes: refused, whatever the signature says.
        let mut partial = check(
            &server,
            Proxy::Envoy,
            original(Some(scheme), key, "POST", "/orders", Some(&body)),
        );
        partial.headers.retain(|(n, _)| n != "x-envoy-auth-partial-body");
        partial.headers.push(("x-envoy-auth-partial-body".into(), "true".into()));
        let (status, _, answer) = ask(&server, partial).await;
        assert_eq!((status, code(&answer)), (401, 26), "{scheme:?}: {answer}");
    }
    server.stop().await;

    let server = self::server(Proxy::Nginx).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    let key = (token.as_str(), secret.as_str());
    for scheme in [Scheme::HeaderHmac, Scheme::HttpSignature] {
        // nginx cannot forward it.
        let signed = original(Some(scheme), key, "POST", "/orders", Some(&body));
        let (status, _, answer) = ask(&server, check(&server, Proxy::Nginx, signed)).await;
        assert_eq!((status, code(&answer)), (401, 26), "{scheme:?}: {answer}");
        assert_eq!(answer["error"]["detail"]["scheme"], scheme_name(scheme));
        // A client's Envoy marker does not make nginx's check take an empty body (issue 18,
        // finding 3): refused as a header nginx does not send.
        let mut forged = check(
            &server,
            Proxy::Nginx,
            original(Some(scheme), key, "POST", "/orders", Some(&body)),
        );
        forged.headers.push(("x-envoy-auth-partial-body".into(), "false".into()));
        let (status, _, answer) = ask(&server, forged).await;
        assert_eq!((status, code(&answer)), (400, 48), "{scheme:?}: {answer}");
    }
    // nginx, a header-hmac request that had no body, signed over none, but a body sent along:
    // without nginx's word that there was none, refused.
    let mut unsaid = check(
        &server,
        Proxy::Nginx,
        original(Some(Scheme::HeaderHmac), key, "GET", "/orders/1", None),
    );
    unsaid.headers.retain(|(n, _)| n != "x-original-content-length");
    let (status, _, answer) = ask(&server, unsaid).await;
    assert_eq!((status, code(&answer)), (401, 26), "{answer}");
    server.stop().await;

    // Caddy never states there is no body; a client's statement is refused (finding 3).
    let server = self::server(Proxy::Caddy).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    let mut forged = check(
        &server,
        Proxy::Caddy,
        original(Some(Scheme::HeaderHmac), (&token, &secret), "POST", "/orders", None),
    );
    forged.headers.push(("x-original-content-length".into(), "0".into()));
    let (status, _, answer) = ask(&server, forged).await;
    assert_eq!((status, code(&answer)), (400, 48), "{answer}");
    server.stop().await;

    // Traefik with forwardBody, keyward told that bodies are forwarded.
    let server = self::server(Proxy::Traefik).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    let key = (token.as_str(), secret.as_str());
    let signed = original(Some(Scheme::HeaderHmac), key, "POST", "/orders", Some(&body));
    assert_eq!(ask(&server, check(&server, Proxy::Traefik, signed)).await.0, 200);
    let mut changed = check(
        &server,
        Proxy::Traefik,
        original(Some(Scheme::HeaderHmac), key, "POST", "/orders", Some(&body)),
    );
    changed.body = Some("{}".into());
    let (status, _, answer) = ask(&server, changed).await;
    assert_eq!((status, code(&answer)), (401, 12), "{answer}");
    server.stop().await;
}

fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::QueryHmac => "query-hmac",
        Scheme::HeaderHmac => "header-hmac",
        Scheme::HttpSignature => "http-signature",
    }
}

/// `proxy`'s check for `original` with `name: value` added, as a client's own header.
fn with_header(
    server: &TestServer,
    proxy: Proxy,
    original: Prepared,
    name: &str,
    value: &str,
) -> Prepared {
    let mut request = check(server, proxy, original);
    request.headers.push((name.into(), value.into()));
    request
}

#[tokio::test]
async fn a_client_cannot_choose_which_request_is_checked() {
    // Another proxy's headers, a rewritten target, an identity header in any spelling: the
    // proxy does not send them, so a client did (issue 18, findings 2 and 3).
    for proxy in [Proxy::Nginx, Proxy::Caddy, Proxy::Envoy] {
        let server = server(proxy).await;
        let get = || original(None, (&server.admin_token, ""), "GET", "/orders/1", None);
        let mut foreign = vec![
            ("x-original-url", "/status/x"),
            ("x-rewrite-url", "/status/x"),
            ("x_keyward_principal", "user:1"),
            ("X-Keyward-Permissions", "*"),
            ("x-keyward_reseller", "7"),
            ("x_forwarded_for", "10.0.0.1"),
        ];
        match proxy {
            Proxy::Nginx => foreign.push(("x-forwarded-uri", "/status/x")),
            _ => foreign.extend([("x-original-uri", "/status/x"), ("x-original-method", "GET")]),
        }
        if proxy != Proxy::Envoy {
            foreign.push(("x-envoy-auth-partial-body", "false"));
        }
        for (name, value) in foreign {
            let (status, _, body) =
                ask(&server, with_header(&server, proxy, get(), name, value)).await;
            assert_eq!((status, code(&body)), (400, 48), "{proxy:?} {name}: {body}");
            assert_eq!(body["error"]["detail"]["header"], name.to_ascii_lowercase());
        }
        server.stop().await;
    }
    let server = server(Proxy::Nginx).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    let key = (token.as_str(), secret.as_str());
    // A repeated header; none at all.
    let mut repeated = check(
        &server,
        Proxy::Nginx,
        original(Some(Scheme::QueryHmac), key, "GET", "/orders/1", None),
    );
    repeated.headers.push(("x-original-uri".into(), "/orders/1".into()));
    assert_eq!(code(&ask(&server, repeated).await.2), 37);
    let bare = Prepared {
        method: "GET".into(),
        url: server.url("/auth/check"),
        headers: vec![],
        body: None,
    };
    let (status, _, body) = ask(&server, bare).await;
    assert_eq!((status, code(&body)), (400, 37));
    assert!(body["error"]["detail"]["explanation"].as_str().unwrap().contains("x-original-uri"));
    // A fragment, which URI parsing would drop, so that the check would decide on less than
    // the proxy forwards (found by the forward_auth fuzz target).
    let mut fragment = check(
        &server,
        Proxy::Nginx,
        original(None, (&server.admin_token, ""), "GET", "/orders/1", None),
    );
    fragment.headers.retain(|(n, _)| n != "x-original-uri");
    fragment.headers.push(("x-original-uri".into(), "/orders/1?x=1#&status=active".into()));
    assert_eq!(code(&ask(&server, fragment).await.2), 37);
    // A query without a path, which URI parsing would read as "/?..." (found by fuzzing).
    let mut pathless = check(
        &server,
        Proxy::Nginx,
        original(None, (&server.admin_token, ""), "GET", "/orders/1", None),
    );
    pathless.headers.retain(|(n, _)| n != "x-original-uri");
    pathless.headers.push(("x-original-uri".into(), "?orders/1".into()));
    assert_eq!(code(&ask(&server, pathless).await.2), 37);
    // A path an upstream would resolve elsewhere, or decode twice (found by the gateway_path
    // fuzz target), or cut at `;`, or merge at `//` (issue 18, findings 4 and 8).
    for uri in [
        "/status/../orders/1",
        "/status/%2e%2e/orders/1",
        "/status%2Forders",
        "/status/%252e%252e/orders/1",
        "/status/%zz",
        "//admin/x",
        "/admin;x/y",
        "/status/..;/admin/x",
        "/status/%2e%2e;/admin/x",
        "/status/x%3B/admin",
        "/status/x%00/admin",
    ] {
        let mut request = check(
            &server,
            Proxy::Nginx,
            original(None, (&server.admin_token, ""), "GET", "/x", None),
        );
        request.headers.retain(|(n, _)| n != "x-original-uri");
        request.headers.push(("x-original-uri".into(), uri.into()));
        let (status, _, body) = ask(&server, request).await;
        assert_eq!((status, code(&body)), (400, 38), "{uri}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn hosts_methods_and_overrides_are_decided_as_the_upstream_will_serve_them() {
    let server = server(Proxy::Nginx).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    let key = (token.as_str(), secret.as_str());
    let at_host = |host: &str, target: &str| {
        let mut request = check(
            &server,
            Proxy::Nginx,
            original(Some(Scheme::QueryHmac), key, "GET", target, None),
        );
        request.headers.retain(|(n, _)| n != "x-forwarded-host");
        request.headers.push(("x-forwarded-host".into(), host.into()));
        request
    };
    // priv.example's /admin needs admin:access, however the host is spelled (finding 4).
    for host in ["priv.example", "PRIV.example", "priv.example.", "priv.example.:80"] {
        let (status, _, body) = ask(&server, at_host(host, "/admin/x")).await;
        assert_eq!((status, code(&body)), (403, 20), "{host}: {body}");
    }
    for host in ["priv..example", "user@priv.example", "priv.example:0", "0x7f.1"] {
        let (status, _, body) = ask(&server, at_host(host, "/admin/x")).await;
        assert_eq!((status, code(&body)), (400, 39), "{host}: {body}");
    }
    // Per-method permissions name the methods served (finding 5); HEAD needs GET's (6).
    for method in ["PUT", "DELETE", "PATCH"] {
        let request = original(Some(Scheme::QueryHmac), key, method, "/orders/1", None);
        let (status, _, body) = ask(&server, check(&server, Proxy::Nginx, request)).await;
        assert_eq!((status, code(&body)), (405, 42), "{method}: {body}");
        assert_eq!(body["error"]["detail"]["allowed"], json!(["GET", "POST"]));
    }
    let (_, writer, writer_secret) =
        server.create_key(&server.admin_token, "Writer", &["orders:write"]).await;
    let head =
        original(Some(Scheme::QueryHmac), (&writer, &writer_secret), "HEAD", "/orders/1", None);
    let (status, _, body) = ask(&server, check(&server, Proxy::Nginx, head)).await;
    assert_eq!((status, code(&body)), (403, 20), "{body}");
    let head = original(Some(Scheme::QueryHmac), key, "HEAD", "/orders/1", None);
    assert_eq!(ask(&server, check(&server, Proxy::Nginx, head)).await.0, 200);
    // Method overrides, which upstreams honour, are refused where no route names one (7).
    // Spelled with `_`, no proxy sends them: refused as forged (48).
    for (name, value, expected) in [
        ("x-http-method-override", "DELETE", 47),
        ("X-HTTP-Method", "delete", 47),
        ("x-method-override", "PUT", 47),
        ("X_HTTP_METHOD", "DELETE", 48),
    ] {
        let get = original(Some(Scheme::QueryHmac), key, "GET", "/orders/1", None);
        let (status, _, body) =
            ask(&server, with_header(&server, Proxy::Nginx, get, name, value)).await;
        assert_eq!((status, code(&body)), (400, expected), "{name}: {body}");
    }
    let post = original(None, (&server.admin_token, ""), "POST", "/orders?_method=DELETE", None);
    let (status, _, body) = ask(&server, check(&server, Proxy::Nginx, post)).await;
    assert_eq!((status, code(&body)), (400, 47), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn forward_auth_is_off_until_a_proxy_is_named() {
    let server = TestServer::start(Backend::Sqlite, "forward_auth_off").await.unwrap();
    let request = Prepared {
        method: "GET".into(),
        url: server.url("/auth/check"),
        headers: vec![
            ("x-original-uri".into(), "/orders/1".into()),
            ("x-original-method".into(), "GET".into()),
            ("authorization".into(), format!("Bearer {}", server.admin_token)),
        ],
        body: None,
    };
    let (status, _, body) = ask(&server, request).await;
    assert_eq!((status, code(&body)), (404, 40), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("--forward-auth"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_signature_checked_for_one_request_serves_no_other() {
    let server = server(Proxy::Nginx).await;
    let (_, token, secret) =
        server.create_key(&server.admin_token, "Reader", &["orders:read"]).await;
    for scheme in SIGNED_SCHEMES {
        let first = original(Some(scheme), (&token, &secret), "GET", "/orders/1", None);
        let mut other = first.again();
        other.url = other.url.replace("/orders/1", "/orders/2");
        assert_eq!(ask(&server, check(&server, Proxy::Nginx, first)).await.0, 200, "{scheme:?}");
        let (status, _, body) = ask(&server, check(&server, Proxy::Nginx, other)).await;
        // RFC 9421 signs the path: a mismatch; the vendor schemes are bound by the replay guard.
        let expected = if scheme == Scheme::HttpSignature { 12 } else { 24 };
        assert_eq!((status, code(&body)), (401, expected), "{scheme:?}: {body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_rate_limited_key_is_told_its_allowance_and_refused_past_it() {
    let server = server(Proxy::Caddy).await;
    let body = json!({ "data": { "name": "Metered", "permissions": ["orders:read"],
        "rate_limit": { "requests": 2, "window_seconds": 3600 } } });
    let (status, created) =
        server.bearer(&server.admin_token, "POST", "/api/admin/keys", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let (token, secret) =
        (created["data"]["token"].as_str().unwrap(), created["data"]["secret"].as_str().unwrap());
    for left in [1, 0] {
        let get = original(Some(Scheme::QueryHmac), (token, secret), "GET", "/orders/1", None);
        let (status, headers, _) = ask(&server, check(&server, Proxy::Caddy, get)).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "ratelimit-policy"), "\"key\";q=2;w=3600");
        assert!(header(&headers, "ratelimit").starts_with(&format!("\"key\";r={left};")));
    }
    let get = original(Some(Scheme::QueryHmac), (token, secret), "GET", "/orders/2", None);
    let (status, headers, body) = ask(&server, check(&server, Proxy::Caddy, get)).await;
    assert_eq!((status, code(&body)), (429, 27), "{body}");
    assert!(!header(&headers, "retry-after").is_empty());
    server.stop().await;
}
