//! A stand-in OpenID Connect issuer for tests of services that verify tokens (feature
//! `testing`): fresh ES256 keys made in memory (nothing on disk), discovery and a JWKS served
//! on 127.0.0.1 port 0, tokens minted for any subject, roles and department, key rotation.
//!
//! End-to-end tests use the real issuer (services/identity); this one lets a single crate's
//! tests run without it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::jwt::{Verifier, VerifierConfig};
use crate::principal::Role;

pub const AUDIENCE: &str = "hotline";

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

impl SigningKey {
    /// A fresh P-256 key (ES256).
    pub fn es256(kid: &str) -> SigningKey {
        // PKCS#8 of an EC P-256 private key without the optional public key: a fixed prefix and
        // the 32-byte scalar. A random scalar is below the group order but for ~2^-32 of cases.
        const PREFIX: [u8; 35] = [
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27,
            0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
        ];
        loop {
            let mut der = PREFIX.to_vec();
            der.extend_from_slice(&rand::random::<[u8; 32]>());
            let encoding = EncodingKey::from_ec_der(&der);
            if let Ok(key) = SigningKey::from_encoding(kid, Algorithm::ES256, encoding) {
                return key;
            }
        }
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> SigningKey {
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut der = PREFIX.to_vec();
        der.extend_from_slice(&rand::random::<[u8; 32]>());
        SigningKey::from_encoding(kid, Algorithm::EdDSA, EncodingKey::from_ed_der(&der))
            .unwrap_or_else(|e| panic!("an Ed25519 key from 32 random bytes: {e}"))
    }

    pub fn from_encoding(
        kid: &str,
        alg: Algorithm,
        encoding: EncodingKey,
    ) -> Result<SigningKey, jsonwebtoken::errors::Error> {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg)?;
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(SigningKey {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        })
    }

    /// Signs `claims` with this key and a header naming its kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .unwrap_or_else(|e| panic!("signing a test token: {e}"))
    }
}

struct Keys {
    /// Published in the JWKS; the first one signs.
    published: Vec<SigningKey>,
    fetches: usize,
    discoveries: usize,
}

/// The test issuer. Dropping it stops its server.
pub struct TestIssuer {
    pub issuer: String,
    keys: Arc<Mutex<Keys>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(keys: &Mutex<Keys>) -> std::sync::MutexGuard<'_, Keys> {
    keys.lock().unwrap_or_else(|p| p.into_inner())
}

impl TestIssuer {
    /// Starts serving discovery and the JWKS with one fresh ES256 key.
    pub async fn start() -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind the test issuer: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("test issuer address: {e}"))
            .port();
        let issuer = format!("http://127.0.0.1:{port}");
        let keys = Arc::new(Mutex::new(Keys {
            published: vec![SigningKey::es256(&new_kid())],
            fetches: 0,
            discoveries: 0,
        }));
        let app = {
            let jwks_keys = keys.clone();
            let disco_keys = keys.clone();
            let disco_issuer = issuer.clone();
            axum::Router::new()
                .route(
                    "/.well-known/openid-configuration",
                    axum::routing::get(move || {
                        let keys = disco_keys.clone();
                        let issuer = disco_issuer.clone();
                        async move {
                            lock(&keys).discoveries += 1;
                            axum::Json(json!({
                                "issuer": issuer,
                                "jwks_uri": format!("{issuer}/jwks.json"),
                                "id_token_signing_alg_values_supported": ["ES256"],
                            }))
                        }
                    }),
                )
                .route(
                    "/jwks.json",
                    axum::routing::get(move || {
                        let keys = jwks_keys.clone();
                        async move {
                            let mut k = lock(&keys);
                            k.fetches += 1;
                            let jwks: Vec<&Jwk> = k.published.iter().map(|s| &s.jwk).collect();
                            axum::Json(json!({ "keys": jwks }))
                        }
                    }),
                )
        };
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestIssuer {
            issuer,
            keys,
            server,
        }
    }

    /// Points `settings.auth` at this issuer.
    pub fn configure(&self, settings: &mut hotline_config::Settings) {
        settings.auth.issuer = self.issuer.clone();
        settings.auth.audience = AUDIENCE.into();
        settings.auth.jwks_uri = String::new();
    }

    /// A verifier of this issuer's tokens that refetches keys without delay.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.verifier_config()).unwrap_or_else(|e| panic!("verifier: {e}"))
    }

    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            issuer: self.issuer.clone(),
            audience: AUDIENCE.into(),
            jwks_uri: None,
            roles_claim: "roles".into(),
            department_claim: "dept".into(),
            leeway: Duration::from_secs(30),
            refresh_every: Duration::from_secs(300),
            min_refetch: Duration::ZERO,
            fetch_timeout: Duration::from_secs(5),
        }
    }

    /// The key that signs now.
    pub fn current_key(&self) -> SigningKey {
        lock(&self.keys).published[0].clone()
    }

    /// The claims of a token for `subject` with `roles` (and `dept`), valid for 15 minutes.
    pub fn claims(&self, subject: &str, roles: &[Role], dept: Option<&str>) -> Value {
        let now = now();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 900,
            "jti": new_kid(),
            "azp": "hotline-console",
            "scope": "openid profile hotline",
            "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        });
        if let Some(d) = dept {
            claims["dept"] = json!(d);
        }
        claims
    }

    /// A valid token.
    pub fn token(&self, subject: &str, roles: &[Role], dept: Option<&str>) -> String {
        self.sign(&self.claims(subject, roles, dept))
    }

    /// Signs any claims with the current key.
    pub fn sign(&self, claims: &Value) -> String {
        self.current_key().sign(claims)
    }

    /// A token that expired an hour ago.
    pub fn expired_token(&self, subject: &str, roles: &[Role], dept: Option<&str>) -> String {
        let mut claims = self.claims(subject, roles, dept);
        let now = now();
        claims["iat"] = json!(now - 7200);
        claims["nbf"] = json!(now - 7200);
        claims["exp"] = json!(now - 3600);
        self.sign(&claims)
    }

    /// A new key signs from now on; the old ones stay published when `keep_old`.
    pub fn rotate(&self, keep_old: bool) -> String {
        let key = SigningKey::es256(&new_kid());
        let kid = key.kid.clone();
        let mut k = lock(&self.keys);
        if !keep_old {
            k.published.clear();
        }
        k.published.insert(0, key);
        kid
    }

    /// Publishes an extra key (e.g. an EdDSA or RSA key) that signs from now on.
    pub fn publish(&self, key: SigningKey) {
        lock(&self.keys).published.insert(0, key);
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        lock(&self.keys).fetches
    }

    pub fn discoveries(&self) -> usize {
        lock(&self.keys).discoveries
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn new_kid() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}
