//! The verifier against a real (in-test) issuer over HTTP: discovery, rotation, rate-limited
//! refetches, every claim check, algorithm confusion, and the axum extractor's answers.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::testing::{SigningKey, TestIssuer};

mod fuzz;

/// Unpadded base64url (RFC 7515 section 2), for hand-made tokens.
pub(super) fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=n {
            out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn dept(code: &str) -> DeptCode {
    DeptCode::parse(code).expect("code")
}

#[tokio::test]
async fn a_valid_token_names_its_subject_roles_and_department() {
    let issuer = TestIssuer::start().await;
    let verifier = issuer.verifier();
    let token = issuer.token(
        "th-staff1",
        &[Role::DepartmentStaff, Role::KnowledgeEditor],
        Some("GZ-TH"),
    );
    let p = verifier.verify(&token).await.expect("valid");
    assert_eq!(p.subject, "th-staff1");
    assert_eq!(p.department, Some(dept("GZ-TH")));
    assert!(p.has(Role::DepartmentStaff) && p.has(Role::KnowledgeEditor));
    assert!(!p.has(Role::Agent));
    assert_eq!(issuer.discoveries(), 1, "the JWKS was found by discovery");
    // A second token needs no fetch.
    verifier
        .verify(&issuer.token("agent1", &[Role::Agent], None))
        .await
        .expect("valid");
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_restart_and_a_retired_one_stops_working() {
    let issuer = TestIssuer::start().await;
    let verifier = issuer.verifier();
    let old = issuer.token("agent1", &[Role::Agent], None);
    verifier.verify(&old).await.expect("old key valid");

    issuer.rotate(false);
    let new = issuer.token("agent1", &[Role::Agent], None);
    verifier
        .verify(&new)
        .await
        .expect("the new kid fetches the keys again");
    assert_eq!(issuer.jwks_fetches(), 2);
    // The old key is no longer published, and the cache was replaced by the fetch.
    assert_eq!(
        verifier.verify(&old).await.map(|_| ()),
        Err(VerifyError::UnknownKey)
    );
}

#[tokio::test]
async fn a_flood_of_made_up_kids_does_not_hammer_the_issuer() {
    let issuer = TestIssuer::start().await;
    let mut config = issuer.verifier_config();
    config.min_refetch = Duration::from_secs(60);
    let verifier = Verifier::new(config).expect("verifier");
    verifier
        .verify(&issuer.token("agent1", &[Role::Agent], None))
        .await
        .expect("valid");
    let claims = issuer.claims("mallory", &[Role::Admin], None);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut key = issuer.current_key();
        key.kid = format!("bogus-{i}");
        let token = key.sign(&claims);
        let v = verifier.clone();
        tasks.push(tokio::spawn(async move { v.verify(&token).await }));
    }
    for t in tasks {
        assert_eq!(
            t.await.expect("join").map(|_| ()),
            Err(VerifyError::UnknownKey)
        );
    }
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "unknown kids within min_refetch cause no fetch"
    );
}

#[tokio::test]
async fn stale_keys_are_refreshed_in_the_background() {
    let issuer = TestIssuer::start().await;
    let mut config = issuer.verifier_config();
    config.refresh_every = Duration::from_millis(50);
    let verifier = Verifier::new(config).expect("verifier");
    let old = issuer.token("agent1", &[Role::Agent], None);
    verifier.verify(&old).await.expect("valid");
    issuer.rotate(false);
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Still served from the cache (the key is known), while a refresh starts behind it.
    verifier.verify(&old).await.expect("cached key still valid");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if verifier.verify(&old).await == Err(VerifyError::UnknownKey) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the background refresh never dropped the retired key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_claim_is_checked() {
    let issuer = TestIssuer::start().await;
    let verifier = issuer.verifier();
    let base = issuer.claims("agent1", &[Role::Agent], None);
    let now = base["iat"].as_i64().expect("iat");
    let check = |patch: serde_json::Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                c.as_object_mut().expect("object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        issuer.sign(&c)
    };
    let cases = [
        (json!({}), Ok(())),
        (json!({"exp": now - 3600}), Err(VerifyError::Expired)),
        (json!({"exp": now - 10}), Ok(())), // within the 30 s leeway
        (json!({"nbf": now + 3600}), Err(VerifyError::NotYetValid)),
        (json!({"nbf": now + 10}), Ok(())),
        (
            json!({"iss": "http://evil.example"}),
            Err(VerifyError::WrongIssuer),
        ),
        (
            json!({"iss": format!("{}/", issuer.issuer)}),
            Err(VerifyError::WrongIssuer),
        ),
        (json!({"aud": "other"}), Err(VerifyError::WrongAudience)),
        (json!({"aud": ["other", "hotline"]}), Ok(())),
        (json!({"aud": ["other"]}), Err(VerifyError::WrongAudience)),
        (json!({"aud": null}), Err(VerifyError::MissingClaim)),
        (json!({"exp": null}), Err(VerifyError::MissingClaim)),
        (json!({"iss": null}), Err(VerifyError::MissingClaim)),
        (json!({"sub": null}), Err(VerifyError::MissingClaim)),
        (json!({"sub": ""}), Err(VerifyError::InvalidClaims)),
        (json!({"sub": "a\nb"}), Err(VerifyError::InvalidClaims)),
        (json!({"sub": 42}), Err(VerifyError::MissingClaim)),
        (json!({"exp": "soon"}), Err(VerifyError::MissingClaim)),
        (
            json!({"dept": "not a code"}),
            Err(VerifyError::InvalidClaims),
        ),
        (json!({"roles": 7}), Err(VerifyError::InvalidClaims)),
    ];
    for (patch, expected) in cases {
        let token = check(patch.clone());
        assert_eq!(
            verifier.verify(&token).await.map(|_| ()),
            expected,
            "{patch}"
        );
    }
}

#[tokio::test]
async fn roles_come_from_the_configured_claims_and_need_a_department_where_it_matters() {
    let issuer = TestIssuer::start().await;
    let mut config = issuer.verifier_config();
    config.roles_claim = "realm_access.roles".into();
    config.department_claim = "department".into();
    let verifier = Verifier::new(config).expect("verifier");
    let mut claims = issuer.claims("x", &[], None);
    claims["realm_access"] = json!({"roles": ["supervisor", "offline_access"]});
    claims["department"] = json!("GZ-HZ");
    let p = verifier.verify(&issuer.sign(&claims)).await.expect("valid");
    assert_eq!(
        p.roles.iter().copied().collect::<Vec<_>>(),
        [Role::Supervisor]
    );
    assert_eq!(p.department, Some(dept("GZ-HZ")));

    // Department staff without a department are scoped to nothing: the role is dropped.
    let plain = issuer.verifier();
    let p = plain
        .verify(&issuer.token("y", &[Role::DepartmentStaff, Role::Agent], None))
        .await
        .expect("valid");
    assert_eq!(p.roles.iter().copied().collect::<Vec<_>>(), [Role::Agent]);
    // A space-separated string is read as a list.
    let mut claims = issuer.claims("z", &[], None);
    claims["roles"] = json!("agent dispatcher root");
    let p = plain.verify(&issuer.sign(&claims)).await.expect("valid");
    assert_eq!(
        p.roles.iter().copied().collect::<Vec<_>>(),
        [Role::Agent, Role::Dispatcher]
    );
}

#[tokio::test]
async fn the_algorithm_comes_from_the_key_never_from_the_token() {
    let issuer = TestIssuer::start().await;
    let verifier = issuer.verifier();
    let claims = issuer.claims("mallory", &[Role::Admin], None);
    let key = issuer.current_key();
    let b64 = |v: &serde_json::Value| b64url(&serde_json::to_vec(v).expect("json"));
    // alg: none, with and without a signature.
    for header in [
        json!({"alg": "none", "kid": key.kid, "typ": "JWT"}),
        json!({"alg": "None", "kid": key.kid}),
    ] {
        for sig in ["", "AAAA"] {
            let token = format!("{}.{}.{sig}", b64(&header), b64(&claims));
            assert!(verifier.verify(&token).await.is_err(), "{header} {sig:?}");
        }
    }
    // HS256 keyed with the public key in every form an attacker might pick.
    let jwk = serde_json::to_value(&key.jwk).expect("jwk");
    let x = jwk["x"].as_str().expect("x").to_owned();
    let y = jwk["y"].as_str().expect("y").to_owned();
    let secrets: Vec<Vec<u8>> = vec![
        serde_json::to_vec(&jwk).expect("json"),
        format!("{x}{y}").into_bytes(),
        x.clone().into_bytes(),
    ];
    for secret in secrets {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(&secret).expect("hmac key"),
        )
        .expect("sign");
        assert_eq!(
            verifier.verify(&token).await.map(|_| ()),
            Err(VerifyError::WrongAlgorithm)
        );
    }
    // ES384 header on a P-256 key.
    let good = key.sign(&claims);
    let mut parts: Vec<&str> = good.split('.').collect();
    let h384 = b64(&json!({"alg": "ES384", "kid": key.kid, "typ": "JWT"}));
    parts[0] = &h384;
    assert_eq!(
        verifier.verify(&parts.join(".")).await.map(|_| ()),
        Err(VerifyError::WrongAlgorithm)
    );
    // No kid.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = None;
    let token = jsonwebtoken::encode(&header, &claims, &key.encoding).expect("sign");
    assert_eq!(
        verifier.verify(&token).await.map(|_| ()),
        Err(VerifyError::MissingKid)
    );
    // Signed by a key the issuer never published, under a published kid.
    let mut stranger = SigningKey::es256("stranger");
    stranger.kid = key.kid.clone();
    assert_eq!(
        verifier.verify(&stranger.sign(&claims)).await.map(|_| ()),
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test]
async fn eddsa_and_rsa_keys_of_a_citys_provider_are_accepted() {
    let issuer = TestIssuer::start().await;
    let verifier = issuer.verifier();
    issuer.publish(SigningKey::ed25519("ed-1"));
    let p = verifier
        .verify(&issuer.token("agent1", &[Role::Agent], None))
        .await
        .expect("EdDSA token");
    assert_eq!(p.subject, "agent1");

    let rsa = SigningKey::from_encoding(
        "rsa-1",
        Algorithm::RS256,
        EncodingKey::from_rsa_pem(include_bytes!("rsa-test-key.pem")).expect("rsa pem"),
    )
    .expect("rsa key");
    issuer.publish(rsa.clone());
    verifier
        .verify(&issuer.token("agent1", &[Role::Agent], None))
        .await
        .expect("RS256 token");
    // The RSA key named RS256: a PS256 or RS512 token under its kid is refused.
    let claims = issuer.claims("agent1", &[Role::Agent], None);
    for alg in [Algorithm::PS256, Algorithm::RS512] {
        let mut header = Header::new(alg);
        header.kid = Some("rsa-1".into());
        let token = jsonwebtoken::encode(&header, &claims, &rsa.encoding).expect("sign");
        assert_eq!(
            verifier.verify(&token).await.map(|_| ()),
            Err(VerifyError::WrongAlgorithm)
        );
    }
}

#[test]
fn unusable_keys_in_a_jwks_are_skipped_not_fatal() {
    let good = SigningKey::es256("good");
    let mut enc = serde_json::to_value(&SigningKey::es256("enc").jwk).expect("jwk");
    enc["use"] = json!("enc");
    let mut liar = serde_json::to_value(&SigningKey::es256("liar").jwk).expect("jwk");
    liar["alg"] = json!("RS256");
    let doc = json!({ "keys": [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},
        {"kty": "EC", "crv": "P-256", "kid": "broken", "x": "AAAA"},
        {"kty": "XYZ", "kid": "alien"},
        serde_json::to_value(&good.jwk).expect("jwk"),
        enc,
        liar,
        serde_json::to_value({ let mut k = SigningKey::es256("x").jwk; k.common.key_id = None; k }).expect("jwk"),
    ]});
    let keys = keys_from_jwks(&doc);
    assert_eq!(keys.keys().collect::<Vec<_>>(), ["good"]);
    assert_eq!(keys["good"].algorithms, [Algorithm::ES256]);
}

#[tokio::test]
async fn an_unreachable_issuer_makes_tokens_unverifiable_not_valid() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let issuer = TestIssuer::start().await;
    let token = issuer.token("agent1", &[Role::Agent], None);
    let mut config = issuer.verifier_config();
    config.issuer = format!("http://127.0.0.1:{port}");
    config.fetch_timeout = Duration::from_secs(1);
    let verifier = Verifier::new(config).expect("verifier");
    assert_eq!(
        verifier.verify(&token).await.map(|_| ()),
        Err(VerifyError::KeysUnavailable)
    );
    // A discovery document naming another issuer is refused too.
    let mut config = issuer.verifier_config();
    config.issuer = format!("{}/realms/x", issuer.issuer);
    config.jwks_uri = None;
    let verifier = Verifier::new(config).expect("verifier");
    assert_eq!(verifier.refresh().await, Err(VerifyError::KeysUnavailable));
}

mod extractor {
    use axum::extract::FromRef;
    use axum::routing::get;
    use axum::{Json, Router};

    use super::*;
    use crate::{AuthError, Authorized, Policy, Principal};

    #[derive(Clone)]
    struct State {
        verifier: Verifier,
    }

    impl FromRef<State> for Verifier {
        fn from_ref(s: &State) -> Verifier {
            s.verifier.clone()
        }
    }

    struct SupervisorsOnly;
    impl Policy for SupervisorsOnly {
        const ROLES: &'static [Role] = &[Role::Supervisor, Role::Admin];
        const WHAT: &'static str = "supervise";
    }

    async fn serve(verifier: Verifier) -> String {
        let app =
            Router::new()
                .route(
                    "/me",
                    get(|p: Principal| async move { Json(json!({ "sub": p.subject })) }),
                )
                .route(
                    "/maybe",
                    get(|p: Option<Principal>| async move {
                        Json(json!({ "sub": p.map(|p| p.subject) }))
                    }),
                )
                .route(
                    "/supervise",
                    axum::routing::post(
                        |a: Authorized<SupervisorsOnly>, body: String| async move {
                            Json(json!({ "sub": a.subject, "len": body.len() }))
                        },
                    ),
                )
                .with_state(State { verifier });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn answers_401_with_a_challenge_403_and_200() {
        let issuer = TestIssuer::start().await;
        let base = serve(issuer.verifier()).await;
        let http = reqwest::Client::new();
        let agent = issuer.token("agent1", &[Role::Agent], None);
        let supervisor = issuer.token("supervisor1", &[Role::Supervisor], None);
        let expired = issuer.expired_token("supervisor1", &[Role::Supervisor], None);

        let r = http.get(format!("{base}/me")).send().await.expect("send");
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], r#"Bearer realm="hotline""#);
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["error"]["kind"], "unauthorized");

        for bad in [
            "Bearer".to_owned(),
            "Basic YWdlbnQxOg==".to_owned(),
            format!("Bearer {expired}"),
            "Bearer not.a.jwt".to_owned(),
        ] {
            let r = http
                .get(format!("{base}/me"))
                .header("authorization", &bad)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 401, "{bad}");
            assert!(
                r.headers()["www-authenticate"]
                    .to_str()
                    .expect("ascii")
                    .starts_with("Bearer"),
            );
        }
        let r = http
            .get(format!("{base}/me"))
            .bearer_auth(&agent)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);

        // Optional: absent is anonymous, present but bad is refused.
        let r = http
            .get(format!("{base}/maybe"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        let r = http
            .get(format!("{base}/maybe"))
            .bearer_auth(&expired)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401);

        // The role check runs before the body is read: a wrong role gets 403 for any body.
        let r = http
            .post(format!("{base}/supervise"))
            .bearer_auth(&agent)
            .body("x".repeat(10))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["error"]["kind"], "forbidden");
        let r = http
            .post(format!("{base}/supervise"))
            .bearer_auth(&supervisor)
            .body("abc")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["sub"], "supervisor1");
        assert_eq!(
            AuthError::Invalid(VerifyError::KeysUnavailable).status(),
            503
        );
    }
}
