//! The app's access tokens: ES256 JWTs signed by the app's own key, `aud` [`AUDIENCE`], `sub`
//! the citizen's id (never the phone number), `sid` the session (refresh-token family), short
//! lived. A staff API verifies `aud` against the issuer's audience (`shared/auth`), so a
//! citizen's token opens nothing there.
//!
//! The key is made as services/identity makes its keys (P-256, PKCS#8 PEM) and kept in
//! Postgres (`app.signing_key`): every replica signs with it and verifies what the others
//! signed. Refresh tokens are opaque ([`refresh_token`]) and stored only as their SHA-256.

use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// The audience of every citizen token, and only of those.
pub const AUDIENCE: &str = "hotline-app";
/// Clock skew allowed between replicas.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The citizen's id.
    pub sub: String,
    /// The session: logging out or replaying a refresh token revokes it.
    pub sid: String,
    pub iat: u64,
    pub exp: u64,
}

/// Who a valid access token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bearer {
    pub citizen: Uuid,
    pub session: Uuid,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct Signer {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    lifetime: Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// From a PKCS#8 PEM P-256 key.
    pub fn from_pem(
        kid: &str,
        pem: &str,
        issuer: &str,
        lifetime: Duration,
    ) -> anyhow::Result<Signer> {
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).context("the app's signing key")?;
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .context("the app key's public half")?;
        let decoding = DecodingKey::from_jwk(&jwk).context("the app key's public half")?;
        Ok(Signer {
            kid: kid.to_owned(),
            encoding,
            decoding,
            issuer: issuer.to_owned(),
            lifetime,
        })
    }

    /// A fresh key (for tests and the first start).
    pub fn generate(issuer: &str, lifetime: Duration) -> anyhow::Result<(Signer, String)> {
        let (kid, pem) = generate()?;
        Ok((Signer::from_pem(&kid, &pem, issuer, lifetime)?, pem))
    }

    /// The key shared by every replica, made by the first one to start.
    pub async fn load(pool: &PgPool, issuer: &str, lifetime: Duration) -> anyhow::Result<Signer> {
        let (kid, pem) = generate()?;
        sqlx::query(
            "INSERT INTO app.signing_key (id, kid, private_pem) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&kid)
        .bind(&pem)
        .execute(pool)
        .await
        .context("storing the app's signing key")?;
        let (kid, pem): (String, String) =
            sqlx::query_as("SELECT kid, private_pem FROM app.signing_key WHERE id = 1")
                .fetch_one(pool)
                .await
                .context("reading the app's signing key")?;
        Signer::from_pem(&kid, &pem, issuer, lifetime)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The public key as a JWK (for tests and anyone who wants to check our tokens).
    pub fn jwk(&self) -> anyhow::Result<Jwk> {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, Algorithm::ES256)?;
        jwk.common.key_id = Some(self.kid.clone());
        Ok(jwk)
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// An access token for `bearer`, valid from now for the configured lifetime.
    pub fn issue(&self, bearer: Bearer) -> anyhow::Result<String> {
        let now = now_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: bearer.citizen.to_string(),
            sid: bearer.session.to_string(),
            iat: now,
            exp: now + self.lifetime.as_secs(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, &claims, &self.encoding).context("signing an access token")
    }

    /// Checks signature, issuer, audience and expiry; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Bearer> {
        if token.is_empty() || token.len() > 2048 {
            return None;
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        Some(Bearer {
            citizen: Uuid::parse_str(&data.claims.sub).ok()?,
            session: Uuid::parse_str(&data.claims.sid).ok()?,
        })
    }
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default()
}

fn generate() -> anyhow::Result<(String, String)> {
    let secret = p256::SecretKey::try_generate()
        .map_err(|e| anyhow::anyhow!("no randomness for a signing key: {e}"))?;
    let pem = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding a signing key: {e}"))?;
    let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).context("reading back a new key")?;
    let jwk =
        Jwk::from_encoding_key(&encoding, Algorithm::ES256).context("a new key's public half")?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .context("a new key's thumbprint")?;
    Ok((kid, pem.to_string()))
}

/// A fresh opaque refresh token (256 random bits) and the digest that is stored.
pub fn refresh_token() -> (String, [u8; 32]) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = refresh_digest(&token);
    (token, digest)
}

/// What a presented refresh token is looked up by.
pub fn refresh_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::generate("urn:hotline:app", Duration::from_secs(900))
            .expect("key")
            .0
    }

    #[test]
    fn a_token_names_the_citizen_by_id_and_checks_out() {
        let s = signer();
        let bearer = Bearer {
            citizen: Uuid::now_v7(),
            session: Uuid::now_v7(),
        };
        let token = s.issue(bearer).expect("token");
        assert_eq!(s.verify(&token), Some(bearer));
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(s.kid()));
        // Another key's signature, or a token tampered with, is refused.
        assert_eq!(signer().verify(&token), None);
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(s.verify(&tampered), None);
        assert_eq!(s.verify(""), None);
    }

    #[test]
    fn expired_and_foreign_audience_tokens_are_refused() {
        let s = signer();
        let now = now_secs();
        let sign = |claims: &Claims| {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(s.kid().to_owned());
            jsonwebtoken::encode(&header, claims, s.encoding_key()).expect("sign")
        };
        let good = Claims {
            iss: "urn:hotline:app".into(),
            aud: AUDIENCE.into(),
            sub: Uuid::now_v7().to_string(),
            sid: Uuid::now_v7().to_string(),
            iat: now,
            exp: now + 600,
        };
        assert!(s.verify(&sign(&good)).is_some());
        let expired = Claims {
            exp: now - 600,
            ..good.clone()
        };
        assert_eq!(s.verify(&sign(&expired)), None);
        let staff = Claims {
            aud: "hotline".into(),
            ..good.clone()
        };
        assert_eq!(
            s.verify(&sign(&staff)),
            None,
            "a token for another audience"
        );
        let other_issuer = Claims {
            iss: "http://127.0.0.1:8079".into(),
            ..good
        };
        assert_eq!(s.verify(&sign(&other_issuer)), None);
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_digests() {
        let (a, digest) = refresh_token();
        let (b, _) = refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(refresh_digest(&a), digest);
        assert!(!hex::encode(digest).contains(&a));
    }

    /// The staff verifier (`shared/auth`) refuses a citizen's token even when it trusts the
    /// key and the issuer that signed it: the audience is not its own.
    #[tokio::test]
    async fn the_staff_verifier_refuses_a_citizen_token() {
        let issuer = hotline_auth::testing::TestIssuer::start().await;
        let (s, _) = Signer::generate(&issuer.issuer, Duration::from_secs(900)).expect("key");
        let published = hotline_auth::testing::SigningKey::from_encoding(
            s.kid(),
            Algorithm::ES256,
            s.encoding_key().clone(),
        )
        .expect("key");
        issuer.publish(published);
        let verifier = issuer.verifier();
        let token = s
            .issue(Bearer {
                citizen: Uuid::now_v7(),
                session: Uuid::now_v7(),
            })
            .expect("token");
        assert!(s.verify(&token).is_some(), "a good citizen token");
        let refused = verifier.verify(&token).await;
        assert!(
            matches!(refused, Err(hotline_auth::VerifyError::WrongAudience)),
            "{refused:?}"
        );
        // The same key's staff token passes: the refusal is the audience, not the key.
        let staff = issuer.token("agent1", &[hotline_auth::Role::Agent], None);
        assert!(verifier.verify(&staff).await.is_ok());
    }
}
