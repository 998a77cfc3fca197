//! The issuer's HTTP endpoints (OpenID Connect Discovery, RFC 6749, RFC 7636, RFC 7517):
//!
//! | route | what |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | discovery |
//! | `GET /jwks.json` | the keys that verify (current and recently retired) |
//! | `GET /authorize` | the sign-in page (authorization code flow, PKCE S256 required) |
//! | `POST /authorize` | checks the password, 302 to `redirect_uri?code=..&state=..&iss=..` |
//! | `POST /token` | `authorization_code`, `password`, `refresh_token` grants |
//! | `GET`/`POST /userinfo` | the signed-in account, for a Bearer access token |

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde::Deserialize;

use crate::grants::{self, CodeRequest, Issuer, OAuthError};
use crate::page::{self, AuthorizeParams};

/// Forms and token requests are small; nothing here needs more.
const BODY_LIMIT: usize = 16 * 1024;
/// Longest `state` or `nonce` echoed back.
const MAX_ECHO: usize = 1024;

pub fn router(issuer: Issuer) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks.json", get(jwks))
        .route("/authorize", get(authorize_page).post(authorize_submit))
        .route("/token", axum::routing::post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(issuer)
}

async fn discovery(State(issuer): State<Issuer>) -> Response {
    let base = &issuer.config().issuer;
    let body = serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks.json"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "password", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": grants::SCOPES,
        "claims_supported": ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "name",
                             "preferred_username", "roles", "dept", "scope", "nonce"],
        "authorization_response_iss_parameter_supported": true,
    });
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(body),
    )
        .into_response()
}

async fn jwks(State(issuer): State<Issuer>) -> Response {
    match issuer.keys.load().await {
        // Short: a rotation should reach verifiers quickly.
        Ok(keys) => (
            [(header::CACHE_CONTROL, "public, max-age=60")],
            axum::Json(&keys.jwks),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "reading the signing keys");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Where a bad `/authorize` request is answered.
enum Refused {
    /// On our own page: the client or redirect URI cannot be trusted with the answer.
    Page(StatusCode, &'static str),
    /// At the client's redirect URI (RFC 6749 4.1.2.1).
    Redirect(String),
}

/// Checks an `/authorize` request: a registered client and exactly one of its redirect URIs,
/// `response_type=code`, a PKCE S256 challenge, a known scope.
fn check(issuer: &Issuer, p: &AuthorizeParams) -> Result<CodeRequest, Refused> {
    let (Some(client_id), Some(redirect_uri)) = (p.client_id.as_deref(), p.redirect_uri.as_deref())
    else {
        return Err(Refused::Page(
            StatusCode::BAD_REQUEST,
            "client_id and redirect_uri are required.",
        ));
    };
    if issuer
        .client_for_redirect(client_id, redirect_uri)
        .is_none()
    {
        return Err(Refused::Page(
            StatusCode::BAD_REQUEST,
            "Unknown application or redirect URI. 未登记的应用或回调地址。",
        ));
    }
    let to_client = |error: &str, description: &str| {
        Refused::Redirect(redirect_with(
            redirect_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", p.state.as_deref()),
                ("iss", Some(&issuer.config().issuer)),
            ],
        ))
    };
    if p.response_type.as_deref() != Some("code") {
        return Err(to_client(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let challenge = p.code_challenge.as_deref().unwrap_or("");
    if p.code_challenge_method.as_deref() != Some("S256") || !grants::is_s256_challenge(challenge) {
        return Err(to_client(
            "invalid_request",
            "PKCE is required: code_challenge_method=S256 and a 43-character code_challenge",
        ));
    }
    let too_long = |v: &Option<String>| v.as_ref().is_some_and(|v| v.len() > MAX_ECHO);
    if too_long(&p.state) || too_long(&p.nonce) {
        return Err(to_client("invalid_request", "state or nonce is too long"));
    }
    let scope = match grants::grant_scope(p.scope.as_deref()) {
        Ok(s) => s,
        Err(e) => return Err(to_client(e.code(), e.description())),
    };
    Ok(CodeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: challenge.to_owned(),
        scope,
        nonce: p.nonce.clone(),
    })
}

/// `uri` with `params` added to its query.
fn redirect_with(uri: &str, params: &[(&str, Option<&str>)]) -> String {
    let present: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    let query = serde_urlencoded::to_string(&present).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, v),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => html(StatusCode::BAD_REQUEST, page::error("Bad redirect URI.")),
    }
}

/// An HTML answer that no other site may frame, cache or script.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // `same-origin`, not `no-referrer`: under no-referrer a browser sends `Origin: null`
            // with the sign-in form's POST, and `same_origin` refuses it as another site's (no
            // browser could sign in). Nothing goes to another origin either way.
            (header::REFERRER_POLICY, "same-origin"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

fn refused(r: Refused) -> Response {
    crate::metrics::refused()
        .with_label_values(&["authorize", "bad_request"])
        .inc();
    match r {
        Refused::Page(status, message) => html(status, page::error(message)),
        Refused::Redirect(location) => found(&location),
    }
}

async fn authorize_page(State(issuer): State<Issuer>, RawQuery(query): RawQuery) -> Response {
    let Ok(params) = serde_urlencoded::from_str::<AuthorizeParams>(query.as_deref().unwrap_or(""))
    else {
        return refused(Refused::Page(StatusCode::BAD_REQUEST, "Malformed request."));
    };
    match check(&issuer, &params) {
        Ok(_) => html(StatusCode::OK, page::sign_in(&params, None, "")),
        Err(r) => refused(r),
    }
}

async fn authorize_submit(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers) {
        return refused(Refused::Page(
            StatusCode::FORBIDDEN,
            "This form was sent from another site. 请从登录页提交。",
        ));
    }
    let Ok(params) = serde_urlencoded::from_bytes::<AuthorizeParams>(&body) else {
        return refused(Refused::Page(StatusCode::BAD_REQUEST, "Malformed request."));
    };
    let request = match check(&issuer, &params) {
        Ok(r) => r,
        Err(r) => return refused(r),
    };
    let username = params.username.as_deref().unwrap_or("");
    let password = params.password.as_deref().unwrap_or("");
    let account = match issuer.authenticate(username, password, "authorize").await {
        Ok(a) => a,
        Err(OAuthError::InvalidGrant) => {
            return html(
                StatusCode::UNAUTHORIZED,
                page::sign_in(
                    &params,
                    Some(
                        "用户名或密码错误，或账号已锁定。Wrong username or password, or the account is locked.",
                    ),
                    username,
                ),
            );
        }
        Err(e) => return internal(&e),
    };
    match issuer.create_code(&request, &account).await {
        Ok(code) => found(&redirect_with(
            &request.redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", params.state.as_deref()),
                ("iss", Some(&issuer.config().issuer)),
            ],
        )),
        Err(e) => internal(&e),
    }
}

/// A browser names the page's origin on every POST; a form posted from another site (login
/// CSRF) names that site. Clients that send no `Origin` (scripts) are not browsers.
fn same_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

fn internal(e: &OAuthError) -> Response {
    if let OAuthError::Internal(e) = e {
        tracing::error!(error = %format!("{e:#}"), "identity request failed");
    }
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        page::error("Internal error, please try again. 内部错误，请重试。"),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenParams {
    grant_type: Option<String>,
    client_id: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

async fn token(State(issuer): State<Issuer>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let p: TokenParams = serde_urlencoded::from_bytes(&body)
            .map_err(|_| OAuthError::InvalidRequest("the body must be a form (application/x-www-form-urlencoded) with each parameter once"))?;
        let client_id = p
            .client_id
            .clone()
            .or_else(|| basic_client_id(&headers))
            .ok_or(OAuthError::InvalidRequest("client_id is required"))?;
        let need = |v: &Option<String>, what: &'static str| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .ok_or(OAuthError::InvalidRequest(what))
                .map(str::to_owned)
        };
        match p.grant_type.as_deref() {
            Some("password") => {
                let username = need(&p.username, "username is required")?;
                let password = need(&p.password, "password is required")?;
                issuer
                    .password_grant(&client_id, &username, &password, p.scope.as_deref())
                    .await
            }
            Some("authorization_code") => {
                let code = need(&p.code, "code is required")?;
                let redirect_uri = need(&p.redirect_uri, "redirect_uri is required")?;
                let verifier = need(&p.code_verifier, "code_verifier is required (PKCE)")?;
                issuer
                    .exchange_code(&client_id, &code, &redirect_uri, &verifier)
                    .await
            }
            Some("refresh_token") => {
                let refresh = need(&p.refresh_token, "refresh_token is required")?;
                issuer.refresh(&client_id, &refresh).await
            }
            Some(_) => Err(OAuthError::UnsupportedGrantType),
            None => Err(OAuthError::InvalidRequest("grant_type is required")),
        }
    }
    .await;
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    match result {
        Ok(tokens) => (no_store, axum::Json(tokens)).into_response(),
        Err(e) => (no_store, oauth_error(&e)).into_response(),
    }
}

/// A public client may name itself in HTTP Basic with an empty secret (some libraries do).
fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, _) = decoded.split_once(':')?;
    Some(id.to_owned()).filter(|id| !id.is_empty())
}

fn oauth_error(e: &OAuthError) -> Response {
    if let OAuthError::Internal(inner) = e {
        tracing::error!(error = %format!("{inner:#}"), "identity request failed");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = axum::Json(serde_json::json!({
        "error": e.code(),
        "error_description": e.description(),
    }));
    if status == StatusCode::UNAUTHORIZED {
        let challenge = match e {
            OAuthError::InvalidToken => "Bearer error=\"invalid_token\"",
            _ => "Basic",
        };
        (status, [(header::WWW_AUTHENTICATE, challenge)], body).into_response()
    } else {
        (status, body).into_response()
    }
}

async fn userinfo(State(issuer): State<Issuer>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    };
    match issuer.userinfo(token).await {
        Ok(account) => {
            let mut body = serde_json::json!({
                "sub": account.username,
                "preferred_username": account.username,
                "roles": account.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            });
            if !account.display_name.is_empty() {
                body["name"] = account.display_name.clone().into();
            }
            if let Some(dept) = &account.dept {
                body["dept"] = dept.as_str().into();
            }
            ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
        }
        Err(e) => {
            crate::metrics::refused()
                .with_label_values(&["userinfo", e.code()])
                .inc();
            oauth_error(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_client_query_and_encode_values() {
        assert_eq!(
            redirect_with("http://a/cb", &[("code", Some("x y")), ("state", None)]),
            "http://a/cb?code=x+y"
        );
        assert_eq!(
            redirect_with(
                "http://a/cb?t=1",
                &[("code", Some("c")), ("state", Some("&s"))]
            ),
            "http://a/cb?t=1&code=c&state=%26s"
        );
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h), "no Origin: not a browser");
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8079"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8079"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8079"),
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }

    /// Under `no-referrer` browsers send `Origin: null` with the form's POST, which
    /// `same_origin` refuses: the sign-in page would refuse every browser.
    #[test]
    fn the_sign_in_page_lets_the_browser_name_its_origin() {
        let page = html(StatusCode::OK, String::new());
        assert_eq!(page.headers()[header::REFERRER_POLICY], "same-origin");
    }
}
