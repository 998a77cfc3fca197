//! Signing keys: ES256 (P-256), stored in Postgres, published at `/jwks.json`.
//!
//! One key is current (it signs); `hotline users rotate-key` retires it and makes a new one. A
//! retired key stays in the JWKS for `access_token_secs` + [`RETIRED_MARGIN_SECS`], long
//! enough for every token it signed to expire, and is then deleted. Each replica re-reads the
//! keys every [`RELOAD_SECS`], so a rotation made by the command line reaches every replica
//! without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use sqlx::{PgPool, Row as _};
use tokio::sync::RwLock;

/// How often a replica re-reads the keys.
pub const RELOAD_SECS: u64 = 5;
/// Beyond the access-token lifetime, how long a retired key still verifies (clock skew, tokens
/// issued just before the rotation reached every replica).
pub const RETIRED_MARGIN_SECS: u64 = 120;

/// Taken while creating or rotating keys, so replicas starting together make one key.
const KEYS_LOCK: i64 = 0x1de7_0001;

/// The keys as one replica sees them.
pub struct Loaded {
    /// The key that signs.
    pub kid: String,
    pub encoding: EncodingKey,
    /// Every key that verifies, current first.
    pub jwks: JwkSet,
    decoding: HashMap<String, DecodingKey>,
}

impl Loaded {
    pub fn decoding(&self, kid: &str) -> Option<&DecodingKey> {
        self.decoding.get(kid)
    }
}

/// The keys and when they were read.
type Cached = (Instant, Arc<Loaded>);

/// The signing keys, cached per replica.
#[derive(Clone)]
pub struct KeyRing {
    pool: PgPool,
    /// How long after retirement a key still verifies.
    window_secs: u64,
    cache: Arc<RwLock<Option<Cached>>>,
}

impl KeyRing {
    pub fn new(pool: PgPool, access_token_secs: u64) -> KeyRing {
        KeyRing {
            pool,
            window_secs: access_token_secs.saturating_add(RETIRED_MARGIN_SECS),
            cache: Arc::new(RwLock::new(None)),
        }
    }

    /// Makes the first key when there is none (first start). Returns whether it made one.
    pub async fn ensure(&self) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await.context("beginning")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(KEYS_LOCK)
            .execute(&mut *tx)
            .await
            .context("locking the keys")?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT kid FROM identity.signing_keys WHERE retired_at IS NULL")
                .fetch_optional(&mut *tx)
                .await
                .context("reading the current key")?;
        if current.is_some() {
            return Ok(false);
        }
        insert_new(&mut tx).await?;
        tx.commit().await.context("committing the first key")?;
        Ok(true)
    }

    /// Retires the current key and makes a new one; returns the new key's id.
    pub async fn rotate(&self) -> anyhow::Result<String> {
        let mut tx = self.pool.begin().await.context("beginning")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(KEYS_LOCK)
            .execute(&mut *tx)
            .await
            .context("locking the keys")?;
        sqlx::query("UPDATE identity.signing_keys SET retired_at = now() WHERE retired_at IS NULL")
            .execute(&mut *tx)
            .await
            .context("retiring the current key")?;
        let kid = insert_new(&mut tx).await?;
        tx.commit().await.context("committing the new key")?;
        *self.cache.write().await = None;
        Ok(kid)
    }

    /// Deletes keys whose last tokens have expired.
    pub async fn prune(&self) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM identity.signing_keys
             WHERE retired_at < now() - make_interval(secs => $1)",
        )
        .bind(self.window_secs as f64)
        .execute(&self.pool)
        .await
        .context("deleting expired keys")?;
        Ok(done.rows_affected())
    }

    /// The keys, re-read from Postgres when the cached copy is older than [`RELOAD_SECS`].
    pub async fn load(&self) -> anyhow::Result<Arc<Loaded>> {
        if let Some((at, loaded)) = self.cache.read().await.as_ref()
            && at.elapsed() < Duration::from_secs(RELOAD_SECS)
        {
            return Ok(loaded.clone());
        }
        let loaded = Arc::new(self.read().await?);
        *self.cache.write().await = Some((Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    /// Re-reads the keys now (a token names a key this replica has not seen), at most once a
    /// second so that tokens with made-up key ids cannot turn into a query each.
    pub async fn reload(&self) -> anyhow::Result<Arc<Loaded>> {
        if let Some((at, loaded)) = self.cache.read().await.as_ref()
            && at.elapsed() < Duration::from_secs(1)
        {
            return Ok(loaded.clone());
        }
        let loaded = Arc::new(self.read().await?);
        *self.cache.write().await = Some((Instant::now(), loaded.clone()));
        Ok(loaded)
    }

    async fn read(&self) -> anyhow::Result<Loaded> {
        let rows = sqlx::query(
            "SELECT kid, private_pem, public_jwk, retired_at IS NULL AS current
             FROM identity.signing_keys
             WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
             ORDER BY retired_at IS NULL DESC, created_at DESC",
        )
        .bind(self.window_secs as f64)
        .fetch_all(&self.pool)
        .await
        .context("reading the signing keys")?;
        let mut signing = None;
        let mut keys = Vec::new();
        let mut decoding = HashMap::new();
        for row in &rows {
            let kid: String = row.try_get("kid")?;
            let jwk: serde_json::Value = row.try_get("public_jwk")?;
            let jwk: Jwk = serde_json::from_value(jwk).context("a stored public key")?;
            decoding.insert(
                kid.clone(),
                DecodingKey::from_jwk(&jwk).context("a stored public key")?,
            );
            keys.push(jwk);
            if row.try_get::<bool, _>("current")? {
                let pem: String = row.try_get("private_pem")?;
                let encoding =
                    EncodingKey::from_ec_pem(pem.as_bytes()).context("the current private key")?;
                signing = Some((kid, encoding));
            }
        }
        let (kid, encoding) =
            signing.context("no current signing key (the issuer makes one on start)")?;
        Ok(Loaded {
            kid,
            encoding,
            jwks: JwkSet { keys },
            decoding,
        })
    }
}

/// A fresh P-256 key, stored as current. Its id is the key's RFC 7638 thumbprint.
async fn insert_new(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> anyhow::Result<String> {
    let (kid, pem, jwk) = generate()?;
    sqlx::query(
        "INSERT INTO identity.signing_keys (kid, alg, private_pem, public_jwk) VALUES ($1, 'ES256', $2, $3)",
    )
    .bind(&kid)
    .bind(pem.as_str())
    .bind(serde_json::to_value(&jwk).context("encoding a public key")?)
    .execute(&mut **tx)
    .await
    .context("storing a signing key")?;
    Ok(kid)
}

fn generate() -> anyhow::Result<(String, String, Jwk)> {
    let secret = p256::SecretKey::try_generate()
        .map_err(|e| anyhow::anyhow!("no randomness for a signing key: {e}"))?;
    let pem = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding a signing key: {e}"))?;
    let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).context("reading back a new key")?;
    let mut jwk =
        Jwk::from_encoding_key(&encoding, Algorithm::ES256).context("a new key's public half")?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .context("a new key's thumbprint")?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok((kid, pem.to_string(), jwk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_published_as_an_es256_jwk() {
        let (kid, pem, jwk) = generate().expect("key");
        let v = serde_json::to_value(&jwk).expect("json");
        assert_eq!(v["kty"], "EC");
        assert_eq!(v["crv"], "P-256");
        assert_eq!(v["alg"], "ES256");
        assert_eq!(v["use"], "sig");
        assert_eq!(v["kid"], kid.as_str());
        assert!(v["x"].as_str().is_some_and(|x| x.len() == 43));
        assert!(v["y"].as_str().is_some_and(|y| y.len() == 43));
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(v.get("d").is_none(), "no private part in the JWK");
        // Signs, and verifies with the published half.
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::ES256),
            &serde_json::json!({"sub": "x", "exp": 4_000_000_000u64}),
            &EncodingKey::from_ec_pem(pem.as_bytes()).expect("enc"),
        )
        .expect("sign");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.validate_aud = false;
        jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_jwk(&jwk).expect("dec"),
            &validation,
        )
        .expect("verifies");
    }
}
