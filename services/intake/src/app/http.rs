//! The router, the sign-in handlers, devices, the bearer check and the OpenAPI document.
//!
//! Bodies are parsed into types at the edge (`PhoneNumber::parse_lenient`, `Platform::parse`);
//! a body that does not parse is a 400 in the API's error format, never axum's plain text.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::handler::Handler as _;
use axum::http::request::Parts as RequestParts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hotline_domain::PhoneNumber;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::App;
use super::accounts::{Platform, Refreshed};
use super::codes::{self, SendError};
use super::error::AppError;
use super::tickets;
use super::tokens::Bearer;

/// Every JSON body but the multipart submission.
pub const JSON_LIMIT: usize = 64 * 1024;
/// The contract, written by hand; a test keeps it and the router in step.
pub const OPENAPI: &str = include_str!("openapi.json");
/// Longest push token taken (FCM tokens are ~160 characters, APNs 64 hex digits).
const MAX_DEVICE_TOKEN: usize = 4096;

/// What [`router`] serves, as (method, path): kept beside it so that a test can hold the two
/// and `openapi.json` to one another.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/openapi.json"),
    ("post", "/v1/auth/code"),
    ("post", "/v1/auth/token"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("post", "/v1/devices"),
    ("get", "/v1/tickets"),
    ("post", "/v1/tickets"),
    ("get", "/v1/tickets/{no}"),
    ("post", "/v1/tickets/{no}/survey"),
];

/// The API's routes (the runtime adds `/healthz`, `/readyz`, `/metrics`).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/auth/code", post(send_code))
        .route("/v1/auth/token", post(token))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/devices", post(register_device))
        .route(
            "/v1/tickets",
            get(tickets::list)
                .post(tickets::submit.layer(DefaultBodyLimit::max(crate::web::form::UPLOAD_LIMIT))),
        )
        .route("/v1/tickets/{no}", get(tickets::timeline))
        .route("/v1/tickets/{no}/survey", post(tickets::survey))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(json!({"error": "method_not_allowed", "message": "method not allowed"})),
            )
        })
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(axum::middleware::from_fn(no_store))
        .with_state(app)
}

/// Answers carry tokens and personal data: no cache keeps them.
async fn no_store(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A JSON body, or the API's 400.
fn body<T: DeserializeOwned>(body: Result<Json<T>, JsonRejection>) -> Result<T, AppError> {
    match body {
        Ok(Json(value)) => Ok(value),
        Err(rejection) => Err(AppError::Malformed(rejection.body_text())),
    }
}

/// The peer's address when the server recorded it (the runtime serves with `ConnectInfo`).
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut RequestParts, _: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// A signed-in citizen: a valid access token whose session stands.
pub struct Citizen {
    pub bearer: Bearer,
    pub phone: PhoneNumber,
}

impl Citizen {
    /// The account the citizen's tickets carry (`account_id`), as WeChat's carry `wechat:…`.
    pub fn account_id(&self) -> String {
        format!("app:{}", self.bearer.citizen)
    }
}

impl FromRequestParts<App> for Citizen {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut RequestParts, app: &App) -> Result<Citizen, AppError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(hotline_auth::bearer_token)
            .ok_or(AppError::Unauthenticated)?;
        let bearer = app
            .0
            .signer
            .verify(token)
            .ok_or(AppError::Unauthenticated)?;
        let phone = app
            .0
            .accounts
            .active(bearer)
            .await
            .map_err(AppError::Internal)?
            .ok_or(AppError::Unauthenticated)?;
        Ok(Citizen { bearer, phone })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    phone: String,
}

/// `POST /v1/auth/code`: a code to the phone, within the number's and the client's limits.
async fn send_code(
    State(app): State<App>,
    Peer(peer): Peer,
    headers: HeaderMap,
    request: Result<Json<CodeRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let request = body(request)?;
    let phone = PhoneNumber::parse_lenient(&request.phone).map_err(|_| AppError::Phone)?;
    let parts = app.parts();
    let Some(sender) = &parts.sender else {
        return Err(AppError::Unavailable);
    };
    let client = crate::web::guard::client_ip(peer, &headers);
    parts.codes.allow(&phone, client).await?;
    let code = codes::fresh_code();
    // Sent before it is stored: a code that did not go out (the provider's one-a-minute limit,
    // a STOP) must not replace the one the citizen already holds.
    match sender.send(&phone, &code).await {
        Ok(()) => {}
        Err(SendError::Refused) => return Err(AppError::SmsRefused),
        Err(SendError::RateLimited) => {
            return Err(AppError::TooManyCodes {
                retry_after_secs: 60,
            });
        }
        Err(SendError::Unavailable(cause)) => {
            tracing::warn!(error = %cause, "app: no code sent");
            return Err(AppError::Unavailable);
        }
    }
    parts.codes.store(&phone, &code).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "expires_in": parts.config.codes.ttl.as_secs() })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    phone: String,
    code: String,
}

/// `POST /v1/auth/token`: the code for tokens; the account is made on first sign-in.
async fn token(
    State(app): State<App>,
    request: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let request = body(request)?;
    let phone = PhoneNumber::parse_lenient(&request.phone).map_err(|_| AppError::Phone)?;
    let parts = app.parts();
    parts.codes.check(&phone, request.code.trim()).await?;
    let issued = parts
        .accounts
        .sign_in(&phone)
        .await
        .map_err(AppError::Internal)?;
    tokens_response(&app, issued.bearer, &issued.refresh_token, StatusCode::OK)
}

fn tokens_response(
    app: &App,
    bearer: Bearer,
    refresh_token: &str,
    status: StatusCode,
) -> Result<Response, AppError> {
    let signer = &app.parts().signer;
    let access_token = signer.issue(bearer).map_err(AppError::Internal)?;
    Ok((
        status,
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": signer.lifetime().as_secs(),
            "refresh_token": refresh_token,
            "citizen_id": bearer.citizen,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// `POST /v1/auth/refresh`: a new pair; the presented refresh token is spent, and presenting
/// a spent one revokes its session.
async fn refresh(
    State(app): State<App>,
    request: Result<Json<RefreshRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let request = body(request)?;
    if request.refresh_token.is_empty() || request.refresh_token.len() > 256 {
        return Err(AppError::BadRefreshToken);
    }
    match app
        .parts()
        .accounts
        .refresh(&request.refresh_token)
        .await
        .map_err(AppError::Internal)?
    {
        Refreshed::Rotated {
            bearer,
            refresh_token,
        } => tokens_response(&app, bearer, &refresh_token, StatusCode::OK),
        Refreshed::Replayed => {
            // A stolen token in use: worth a line, but naming neither token nor citizen.
            tracing::warn!("app: a spent refresh token was presented; its session is revoked");
            Err(AppError::BadRefreshToken)
        }
        Refreshed::Invalid => Err(AppError::BadRefreshToken),
    }
}

/// `POST /v1/auth/logout`: the session ends; its access and refresh tokens stop working.
async fn logout(State(app): State<App>, citizen: Citizen) -> Result<StatusCode, AppError> {
    app.parts()
        .accounts
        .revoke(citizen.bearer.session)
        .await
        .map_err(AppError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceRequest {
    token: String,
    platform: String,
}

/// `POST /v1/devices`: the device's push token, kept for the notify stream (which sends; not
/// built yet). 404 when no push provider is configured.
async fn register_device(
    State(app): State<App>,
    citizen: Citizen,
    request: Result<Json<DeviceRequest>, JsonRejection>,
) -> Result<StatusCode, AppError> {
    let parts = app.parts();
    if !parts.config.push {
        return Err(AppError::NotFound);
    }
    let request = body(request)?;
    let platform = Platform::parse(&request.platform)
        .ok_or_else(|| AppError::Malformed("platform must be ios or android".into()))?;
    let token = request.token.trim();
    if token.is_empty()
        || token.len() > MAX_DEVICE_TOKEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(AppError::Malformed(
            "token must be 1-4096 visible ASCII characters".into(),
        ));
    }
    parts
        .accounts
        .register_device(citizen.bearer.citizen, token, platform)
        .await
        .map_err(AppError::Internal)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Method, Request};
    use tower::ServiceExt as _;

    use super::*;
    use crate::app::accounts::Accounts;
    use crate::app::codes::{CodeLimits, Codes};
    use crate::app::tokens::Signer;
    use crate::app::{AppConfig, Parts};
    use crate::web::photo::PhotoStore;

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    /// The API over fakes: nothing here reaches Postgres or Redis (their pools are lazy and
    /// every request below is answered before a store is asked).
    fn app() -> App {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        let limits = CodeLimits {
            ttl: Duration::from_secs(300),
            max_tries: 5,
            per_phone: 5,
            per_client: 20,
            window: Duration::from_secs(3600),
        };
        let (signer, _) =
            Signer::generate("urn:hotline:app", Duration::from_secs(900)).expect("key");
        App::new(Parts {
            intake: crate::testing::Harness::new().state,
            config: AppConfig {
                issuer: "urn:hotline:app".into(),
                access_lifetime: Duration::from_secs(900),
                refresh_lifetime: Duration::from_secs(86400),
                codes: limits,
                push: false,
            },
            accounts: Accounts::new(pool.clone(), Duration::from_secs(86400)),
            signer,
            codes: Codes::new("redis://127.0.0.1:1", "test", limits).expect("lazy"),
            sender: None,
            photos: PhotoStore::new(pool),
            uploads: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    fn document() -> serde_json::Value {
        serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("a path item");
                item.keys()
                    .filter(|k| METHODS.contains(&k.as_str()))
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A concrete path for a template (`{no}` becomes a well-formed ticket number).
    fn concrete(path: &str) -> String {
        path.replace("{no}", "2612030000000011")
    }

    async fn call(app: App, method: &str, path: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"))
            .uri(concrete(path))
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let response = router(app).oneshot(request).await.expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[test]
    fn the_document_is_openapi_3_1_and_every_operation_answers_something() {
        let doc = document();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1.")),
            "openapi: {}",
            doc["openapi"]
        );
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        let paths = doc["paths"].as_object().expect("paths");
        assert!(!paths.is_empty());
        for (path, item) in paths {
            assert!(path.starts_with('/'), "{path}");
            for (method, operation) in item.as_object().expect("item") {
                assert!(METHODS.contains(&method.as_str()), "{method} {path}");
                let responses = operation["responses"].as_object();
                assert!(
                    responses.is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
                assert!(operation["operationId"].is_string(), "{method} {path}");
                for param in operation["parameters"].as_array().into_iter().flatten() {
                    if param["in"] == "path" {
                        let name = param["name"].as_str().expect("name");
                        assert!(path.contains(&format!("{{{name}}}")), "{path}: {name}");
                    }
                }
            }
        }
        // Every $ref points at something that exists.
        let text = OPENAPI;
        for (i, _) in text.match_indices("\"$ref\": \"#/") {
            let rest = &text[i + 9..];
            let target = &rest[..rest.find('"').expect("end")];
            let mut node = &doc;
            for segment in target.trim_start_matches("#/").split('/') {
                node = &node[segment];
            }
            assert!(!node.is_null(), "dangling {target}");
        }
    }

    #[test]
    fn the_document_and_the_route_table_list_the_same_operations() {
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented(), table);
    }

    #[tokio::test]
    async fn the_router_serves_every_documented_operation_and_no_other_method() {
        let app = app();
        let documented = documented();
        for (method, path) in &documented {
            let (status, body) = call(app.clone(), method, path).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !(status == StatusCode::NOT_FOUND && body["error"] == "not_found"),
                "{method} {path} fell through to the fallback"
            );
        }
        let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
        for path in paths {
            for method in METHODS {
                if documented.contains(&(method.to_owned(), path.clone())) {
                    continue;
                }
                let (status, _) = call(app.clone(), method, path).await;
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
        let (status, body) = call(app.clone(), "get", "/v1/nothing").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }

    #[tokio::test]
    async fn signed_in_routes_refuse_missing_and_foreign_tokens() {
        let app = app();
        let (status, body) = call(app.clone(), "get", "/v1/tickets").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "unauthenticated");
        // A token of another key (another deployment, or a forger): 401 before any store.
        let (other, _) =
            Signer::generate("urn:hotline:app", Duration::from_secs(900)).expect("key");
        let token = other
            .issue(Bearer {
                citizen: uuid::Uuid::now_v7(),
                session: uuid::Uuid::now_v7(),
            })
            .expect("token");
        let request = Request::builder()
            .uri("/v1/tickets")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = router(app.clone())
            .oneshot(request)
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn bodies_are_parsed_at_the_edge() {
        let app = app();
        let post = |body: &'static str| {
            Request::builder()
                .method("POST")
                .uri("/v1/auth/code")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request")
        };
        let read = |r: Response| async move {
            let status = r.status();
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 16)
                .await
                .expect("body");
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            (status, v["error"].as_str().map(str::to_owned))
        };
        let r = router(app.clone())
            .oneshot(post("{\"phone\":\"call me\"}"))
            .await
            .expect("r");
        assert_eq!(
            read(r).await,
            (StatusCode::BAD_REQUEST, Some("invalid_phone".into()))
        );
        let r = router(app.clone())
            .oneshot(post("{\"tel\":\"13800138000\"}"))
            .await
            .expect("r");
        assert_eq!(
            read(r).await,
            (StatusCode::BAD_REQUEST, Some("invalid_request".into()))
        );
        // A good number, but no SMS gateway here: 503, nothing sent.
        let r = router(app.clone())
            .oneshot(post("{\"phone\":\"13800138000\"}"))
            .await
            .expect("r");
        assert_eq!(
            read(r).await,
            (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable".into()))
        );
    }
}
