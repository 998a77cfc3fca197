//! The issuer end to end over HTTP, against the real Postgres (a fresh database per test):
//! discovery, the password grant verified against the published JWKS, lockout, the
//! authorization code flow with PKCE, refresh rotation with replay detection, key rotation.

use std::collections::HashMap;
use std::time::Duration;

use hotline_identity::grants::s256;
use hotline_identity::{Accounts, NewAccount, UsersCommand};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const CONSOLE: &str = "hotline-console";
const CALLBACK: &str = "http://127.0.0.1:8089/auth/callback";

struct Issuer {
    base: String,
    settings: hotline_config::Settings,
    http: reqwest::Client,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Issuer {
    async fn start(demo: bool) -> Issuer {
        let env = hotline_testkit::env().await.expect("test env");
        let mut settings = env.settings().expect("settings");
        settings.demo = demo;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        settings.identity.issuer = base.clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(hotline_identity::run_with_listener(
            settings.clone(),
            listener,
            stop.clone(),
        ));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status() == StatusCode::OK
            {
                return Issuer {
                    base,
                    settings,
                    http,
                    stop,
                    task,
                };
            }
            assert!(!task.is_finished(), "the issuer stopped while starting");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the issuer did not become ready");
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("join").expect("clean stop");
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"))
            .send()
            .await
            .expect("post")
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let r = self.post_form("/token", form).await;
        let status = r.status();
        assert_eq!(
            r.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        (status, r.json().await.expect("json"))
    }

    async fn password(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "password"),
            ("client_id", CONSOLE),
            ("username", username),
            ("password", password),
        ])
        .await
    }

    async fn jwks(&self) -> JwkSet {
        let d: Value = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.base))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("json");
        let uri = d["jwks_uri"].as_str().expect("jwks_uri");
        self.http
            .get(uri)
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwk set")
    }

    /// Verifies `token` as any verifier would: the key named by `kid` in the JWKS, ES256, iss,
    /// aud, exp, nbf.
    async fn verify(&self, token: &str) -> (String, Value) {
        let header = jsonwebtoken::decode_header(token).expect("header");
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let kid = header.kid.expect("kid");
        let jwks = self.jwks().await;
        let jwk = jwks.find(&kid).expect("the token's key is published");
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[&self.base]);
        v.set_audience(&["hotline"]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(
            token,
            &DecodingKey::from_jwk(jwk).expect("decoding key"),
            &v,
        )
        .expect("the token verifies against the JWKS");
        (kid, data.claims)
    }

    fn authorize_query(&self, challenge: &str, redirect: &str) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", CONSOLE.into()),
            ("redirect_uri", redirect.into()),
            ("scope", "openid profile hotline".into()),
            ("state", "st<&>\"1".into()),
            ("nonce", "n-0S6_WzA2Mj".into()),
            ("code_challenge", challenge.into()),
            ("code_challenge_method", "S256".into()),
        ]
    }

    /// Signs in on the form; returns the redirect's query parameters.
    async fn sign_in(
        &self,
        challenge: &str,
        username: &str,
        password: &str,
    ) -> HashMap<String, String> {
        let mut form = self.authorize_query(challenge, CALLBACK);
        form.push(("username", username.into()));
        form.push(("password", password.into()));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = self.post_form("/authorize", &form).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location")
            .to_owned();
        let (target, query) = location.split_once('?').expect("query");
        assert_eq!(target, CALLBACK);
        serde_urlencoded::from_str(query).expect("redirect query")
    }
}

fn verifier(seed: char) -> String {
    std::iter::repeat_n(seed, 20)
        .chain("-._~0123456789abcdefghijk".chars())
        .collect()
}

#[tokio::test]
async fn discovery_names_every_endpoint_under_the_issuer() {
    let issuer = Issuer::start(true).await;
    let r = issuer
        .http
        .get(format!("{}/.well-known/openid-configuration", issuer.base))
        .send()
        .await
        .expect("discovery");
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.expect("json");
    let base = issuer.base.as_str();
    assert_eq!(d["issuer"], base);
    assert_eq!(d["authorization_endpoint"], format!("{base}/authorize"));
    assert_eq!(d["token_endpoint"], format!("{base}/token"));
    assert_eq!(d["jwks_uri"], format!("{base}/jwks.json"));
    assert_eq!(d["userinfo_endpoint"], format!("{base}/userinfo"));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["grant_types_supported"],
        serde_json::json!(["authorization_code", "password", "refresh_token"])
    );
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );

    let jwks: Value = issuer
        .http
        .get(format!("{base}/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "one key on first start: {jwks}");
    for field in ["kty", "crv", "x", "y", "kid", "alg", "use"] {
        assert!(keys[0][field].is_string(), "{field} in {jwks}");
    }
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(keys[0].get("d").is_none(), "no private key material");

    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = issuer
            .http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("ops");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    issuer.stop().await;
}

#[tokio::test]
async fn password_grant_tokens_verify_against_the_published_keys() {
    let issuer = Issuer::start(true).await;
    let (status, body) = issuer.password("agent1", "demo-agent1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.len() >= 43)
    );
    let access = body["access_token"].as_str().expect("access token");
    let (_, claims) = issuer.verify(access).await;
    assert_eq!(claims["sub"], "agent1");
    assert_eq!(claims["roles"], serde_json::json!(["agent"]));
    assert_eq!(claims["azp"], CONSOLE);
    assert_eq!(claims["scope"], "openid profile hotline");
    assert!(claims.get("dept").is_none(), "{claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let exp = claims["exp"].as_i64().expect("exp");
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(exp - iat, 900);

    // A department's staff carries the department; roles in the token's order are stable.
    let (status, body) = issuer.password("th-staff1", "demo-th-staff1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, claims) = issuer
        .verify(body["access_token"].as_str().expect("token"))
        .await;
    assert_eq!(claims["dept"], "GZ-TH");
    assert_eq!(
        claims["roles"],
        serde_json::json!(["knowledge_editor", "department_staff"])
    );

    // userinfo answers for a valid token only.
    let r = issuer
        .http
        .get(format!("{}/userinfo", issuer.base))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.expect("json");
    assert_eq!(info["sub"], "agent1");
    let mut forged = access.to_owned();
    forged.pop();
    forged.push(if access.ends_with('A') { 'B' } else { 'A' });
    let r = issuer
        .http
        .get(format!("{}/userinfo", issuer.base))
        .bearer_auth(&forged)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Client and grant checks.
    let (status, body) = issuer
        .token(&[
            ("grant_type", "password"),
            ("client_id", "someone-else"),
            ("username", "agent1"),
            ("password", "demo-agent1"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = issuer
        .token(&[("grant_type", "client_credentials"), ("client_id", CONSOLE)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    issuer.stop().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_until_unlocked() {
    let issuer = Issuer::start(true).await;
    assert_eq!(issuer.settings.identity.lockout_failures, 5);
    let (_, unknown) = issuer.password("nobody", "whatever-1").await;
    for attempt in 1..=5 {
        let (status, body) = issuer.password("dispatcher1", "wrong-password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "attempt {attempt}");
        assert_eq!(body, unknown, "a wrong password looks like an unknown user");
    }
    // Locked: the right password is refused, with the very same answer.
    let (status, body) = issuer.password("dispatcher1", "demo-dispatcher1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, unknown, "a locked account looks like an unknown user");
    assert_eq!(body["error"], "invalid_grant");
    // Other accounts are not affected.
    let (status, _) = issuer.password("agent1", "demo-agent1").await;
    assert_eq!(status, StatusCode::OK);

    let pool = hotline_identity::connect_db(&issuer.settings)
        .await
        .expect("db");
    let accounts = Accounts::new(pool);
    let a = accounts
        .get("dispatcher1")
        .await
        .expect("get")
        .expect("exists");
    assert!(a.is_locked(chrono::Utc::now()), "{a:?}");
    accounts.unlock("dispatcher1").await.expect("unlock");
    let (status, body) = issuer.password("dispatcher1", "demo-dispatcher1").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Four failures and a success start the count again.
    for _ in 0..4 {
        issuer.password("dispatcher1", "wrong-password").await;
    }
    assert_eq!(
        issuer.password("dispatcher1", "demo-dispatcher1").await.0,
        StatusCode::OK
    );
    issuer.password("dispatcher1", "wrong-password").await;
    assert_eq!(
        issuer.password("dispatcher1", "demo-dispatcher1").await.0,
        StatusCode::OK
    );

    // A burst of parallel guesses cannot slip past the limit: every failure counts.
    let guesses = (0..8).map(|i| {
        let issuer = &issuer;
        async move {
            issuer
                .password("supervisor1", &format!("guess-number-{i}"))
                .await
                .0
        }
    });
    for status in futures::future::join_all(guesses).await {
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        issuer.password("supervisor1", "demo-supervisor1").await.0,
        StatusCode::BAD_REQUEST,
        "locked after the burst"
    );
    issuer.stop().await;
}

#[tokio::test]
async fn authorization_code_with_pkce_round_trip() {
    let issuer = Issuer::start(true).await;
    let good = verifier('a');
    let challenge = s256(&good);

    // The sign-in page, its values escaped and its framing forbidden.
    let r = issuer
        .http
        .get(format!("{}/authorize", issuer.base))
        .query(&issuer.authorize_query(&challenge, CALLBACK))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.text().await.expect("html");
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(
        html.contains("st&lt;&amp;&gt;&quot;1"),
        "state escaped: {html}"
    );
    assert!(!html.contains("<script"), "{html}");

    // An unregistered redirect URI gets our page, never a redirect.
    for redirect in [
        "http://evil.example/cb",
        "http://127.0.0.1:8089/auth/callback/x",
    ] {
        let r = issuer
            .http
            .get(format!("{}/authorize", issuer.base))
            .query(&issuer.authorize_query(&challenge, redirect))
            .send()
            .await
            .expect("page");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(r.headers().get("location").is_none());
    }
    // No PKCE: the client is told at its redirect URI.
    let mut plain = issuer.authorize_query(&challenge, CALLBACK);
    plain.retain(|(k, _)| !k.starts_with("code_challenge"));
    let r = issuer
        .http
        .get(format!("{}/authorize", issuer.base))
        .query(&plain)
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().expect("location");
    assert!(
        location.starts_with(CALLBACK) && location.contains("error=invalid_request"),
        "{location}"
    );

    // A wrong password re-shows the form, no code.
    let mut form = issuer.authorize_query(&challenge, CALLBACK);
    form.push(("username", "supervisor1".into()));
    form.push(("password", "not-it-at-all".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = issuer.post_form("/authorize", &form).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("location").is_none());

    // A code exchanged with the wrong verifier is refused (and spent).
    let q = issuer
        .sign_in(&challenge, "supervisor1", "demo-supervisor1")
        .await;
    assert_eq!(q["state"], "st<&>\"1");
    assert_eq!(q["iss"], issuer.base);
    let exchange = |code: String, verifier: String, redirect: &'static str| {
        let issuer = &issuer;
        async move {
            issuer
                .token(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", CONSOLE),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", &verifier),
                ])
                .await
        }
    };
    let (status, body) = exchange(q["code"].clone(), verifier('b'), CALLBACK).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = exchange(q["code"].clone(), good.clone(), CALLBACK).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a code refused once is spent"
    );

    // A redirect URI other than the code's is refused.
    let q = issuer
        .sign_in(&challenge, "supervisor1", "demo-supervisor1")
        .await;
    let (status, _) = exchange(
        q["code"].clone(),
        good.clone(),
        "http://localhost:8089/auth/callback",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The round trip.
    let q = issuer
        .sign_in(&challenge, "supervisor1", "demo-supervisor1")
        .await;
    let (status, body) = exchange(q["code"].clone(), good.clone(), CALLBACK).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, claims) = issuer
        .verify(body["access_token"].as_str().expect("access"))
        .await;
    assert_eq!(claims["sub"], "supervisor1");
    assert_eq!(claims["roles"], serde_json::json!(["supervisor"]));
    // The ID token is for the client, with the nonce.
    let id = body["id_token"].as_str().expect("id token");
    let kid = jsonwebtoken::decode_header(id)
        .expect("header")
        .kid
        .expect("kid");
    let jwks = issuer.jwks().await;
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[&issuer.base]);
    v.set_audience(&[CONSOLE]);
    let id = jsonwebtoken::decode::<Value>(
        id,
        &DecodingKey::from_jwk(jwks.find(&kid).expect("jwk")).expect("key"),
        &v,
    )
    .expect("id token verifies");
    assert_eq!(id.claims["nonce"], "n-0S6_WzA2Mj");

    // Single use: a second exchange is refused and revokes what the first one got.
    let refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
    let (status, _) = exchange(q["code"].clone(), good.clone(), CALLBACK).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = issuer
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CONSOLE),
            ("refresh_token", &refresh),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A login form posted from another site is refused.
    let mut form = issuer.authorize_query(&challenge, CALLBACK);
    form.push(("username", "supervisor1".into()));
    form.push(("password", "demo-supervisor1".into()));
    let r = issuer
        .http
        .post(format!("{}/authorize", issuer.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "http://evil.example")
        .body(serde_urlencoded::to_string(&form).expect("form"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    issuer.stop().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_sign_in() {
    let issuer = Issuer::start(true).await;
    let refresh = |token: String| {
        let issuer = &issuer;
        async move {
            issuer
                .token(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", CONSOLE),
                    ("refresh_token", &token),
                ])
                .await
        }
    };
    let (_, first) = issuer.password("admin1", "demo-admin1").await;
    let r1 = first["refresh_token"].as_str().expect("r1").to_owned();
    let (status, second) = refresh(r1.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().expect("r2").to_owned();
    assert_ne!(r1, r2, "rotated");
    let (_, claims) = issuer
        .verify(second["access_token"].as_str().expect("access"))
        .await;
    assert_eq!(claims["sub"], "admin1");

    // r1 again: a replay. Refused, and r2 dies with it.
    let (status, body) = refresh(r1.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = refresh(r2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the family is revoked");

    // Another sign-in is unaffected; disabling the account ends it.
    let (_, other) = issuer.password("admin1", "demo-admin1").await;
    let r3 = other["refresh_token"].as_str().expect("r3").to_owned();
    let pool = hotline_identity::connect_db(&issuer.settings)
        .await
        .expect("db");
    Accounts::new(pool)
        .set_disabled("admin1", true)
        .await
        .expect("disable");
    let (status, _) = refresh(r3).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        issuer.password("admin1", "demo-admin1").await.0,
        StatusCode::BAD_REQUEST
    );
    issuer.stop().await;
}

#[tokio::test]
async fn rotated_keys_keep_old_tokens_verifying() {
    let issuer = Issuer::start(true).await;
    let (_, body) = issuer.password("agent1", "demo-agent1").await;
    let old = body["access_token"].as_str().expect("token").to_owned();
    let (old_kid, _) = issuer.verify(&old).await;

    // What `hotline users rotate-key` does.
    hotline_identity::cli::run(&issuer.settings, UsersCommand::RotateKey)
        .await
        .expect("rotate");

    // Within the replicas' reload interval, new tokens carry the new key.
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(hotline_identity::keys::RELOAD_SECS + 5);
    let new_kid = loop {
        let (_, body) = issuer.password("agent1", "demo-agent1").await;
        let (kid, _) = issuer
            .verify(body["access_token"].as_str().expect("token"))
            .await;
        if kid != old_kid {
            break kid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still signing with the old key"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let jwks = issuer.jwks().await;
    assert_eq!(jwks.keys.len(), 2);
    assert_eq!(
        jwks.keys[0].common.key_id.as_deref(),
        Some(new_kid.as_str()),
        "the current key first"
    );
    // The old token still verifies through the JWKS.
    let (kid, claims) = issuer.verify(&old).await;
    assert_eq!(kid, old_kid);
    assert_eq!(claims["sub"], "agent1");
    issuer.stop().await;
}

#[tokio::test]
async fn outside_the_demo_no_account_exists_until_an_operator_makes_one() {
    let issuer = Issuer::start(false).await;
    assert_eq!(
        issuer.password("agent1", "demo-agent1").await.0,
        StatusCode::BAD_REQUEST
    );
    let pool = hotline_identity::connect_db(&issuer.settings)
        .await
        .expect("db");
    let accounts = Accounts::new(pool);
    assert!(accounts.list().await.expect("list").is_empty());
    let new = NewAccount::parse(
        "li.ming",
        Some("Li Ming"),
        &["department_staff".to_owned()],
        Some("GZ-YX"),
    )
    .expect("valid");
    accounts.add(&new, "a long passphrase").await.expect("add");
    assert!(matches!(
        accounts.add(&new, "a long passphrase").await,
        Err(hotline_identity::AccountError::Exists(_))
    ));
    let (status, body) = issuer.password("li.ming", "a long passphrase").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, claims) = issuer
        .verify(body["access_token"].as_str().expect("token"))
        .await;
    assert_eq!(claims["dept"], "GZ-YX");
    assert_eq!(claims["name"], "Li Ming");
    assert_eq!(claims["roles"], serde_json::json!(["department_staff"]));
    issuer.stop().await;
}
