//! Verifying people's access tokens (JWS compact JWTs) against the issuer's JWKS.
//!
//! - The keys come from `auth.jwks_uri`, or from OpenID Connect discovery at
//!   `auth.issuer/.well-known/openid-configuration` when that is empty.
//! - They are cached and fetched again every `auth.jwks_refresh_secs` (in the background: a
//!   request never waits for a refresh when its key is known) and when a token names an unknown
//!   `kid`, so a rotated key works without a restart. Fetches caused by unknown kids are
//!   single-flight and at most one per `min_refetch`: a flood of made-up kids costs the issuer
//!   nothing.
//! - The algorithm comes from the key, never from the token: an EC P-256 key verifies ES256 only,
//!   P-384 ES384, Ed25519 EdDSA, RSA the RS/PS algorithm the key names (RS256 when it names
//!   none). Symmetric (`oct`) keys in a JWKS are ignored, so `alg: none` and HS256 signed with a
//!   public key are refused.
//! - Claims: `iss` exactly the configured issuer, `aud` (string or array) containing the
//!   audience, `exp` and `nbf` with leeway, `sub` present; roles and department from the
//!   configured claims (a dotted path such as `realm_access.roles` reaches into objects).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hotline_domain::DeptCode;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::principal::{Principal, Role};

/// Longest token considered; real ones are under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest `kid` considered.
const MAX_KID_BYTES: usize = 256;
/// Longest subject accepted (it becomes the ledger's actor id).
const MAX_SUBJECT_CHARS: usize = 128;
/// Largest JWKS or discovery document read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// How a [`Verifier`] checks tokens.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub issuer: String,
    pub audience: String,
    /// `None`: discovered from the issuer.
    pub jwks_uri: Option<String>,
    pub roles_claim: String,
    pub department_claim: String,
    pub leeway: Duration,
    pub refresh_every: Duration,
    /// Least time between two fetches (unknown kids, failures).
    pub min_refetch: Duration,
    pub fetch_timeout: Duration,
}

impl VerifierConfig {
    pub fn from_settings(settings: &hotline_config::Settings) -> VerifierConfig {
        let a = &settings.auth;
        VerifierConfig {
            issuer: a.issuer.clone(),
            audience: a.audience.clone(),
            jwks_uri: Some(a.jwks_uri.trim().to_owned()).filter(|u| !u.is_empty()),
            roles_claim: a.roles_claim.clone(),
            department_claim: a.department_claim.clone(),
            leeway: Duration::from_secs(a.leeway_secs),
            refresh_every: Duration::from_secs(a.jwks_refresh_secs),
            min_refetch: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a token was refused. The message is safe to show to the client (it names no key and
/// echoes nothing from the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names no key (kid)")]
    MissingKid,
    #[error("the token's signing key is not known")]
    UnknownKey,
    #[error("the token's algorithm does not match its key")]
    WrongAlgorithm,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token lacks a required claim")]
    MissingClaim,
    #[error("the token's claims are invalid")]
    InvalidClaims,
    /// The issuer's keys could not be fetched and none are cached: not the caller's fault.
    #[error("the signing keys are not available")]
    KeysUnavailable,
}

struct Key {
    decoding: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<Key>>,
    fetched_at: Option<Instant>,
    /// Bumped by every successful fetch: lets a waiter see that someone else just fetched.
    generation: u64,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_failed: bool,
    discovered_jwks_uri: Option<String>,
    fetches: u64,
}

struct Inner {
    config: VerifierConfig,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

/// Verifies bearer tokens. Cheap to clone (shared cache).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    Stale,
    UnknownKid,
}

impl Verifier {
    /// A verifier that fetches its keys on first use (the issuer may start after the service).
    pub fn new(config: VerifierConfig) -> anyhow::Result<Verifier> {
        let http = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                config,
                http,
                keys: RwLock::new(Arc::new(KeySet::default())),
                fetch: tokio::sync::Mutex::new(FetchState::default()),
            }),
        })
    }

    pub fn from_settings(settings: &hotline_config::Settings) -> anyhow::Result<Verifier> {
        Verifier::new(VerifierConfig::from_settings(settings))
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.inner.config
    }

    /// How many times the keys were fetched (for tests and metrics).
    pub async fn fetch_count(&self) -> u64 {
        self.inner.fetch.lock().await.fetches
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.inner.keys.read() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-swap; the Arc inside is still whole.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fetches the keys now (start-up warm-up; errors are also logged by later attempts).
    pub async fn refresh(&self) -> Result<(), VerifyError> {
        let generation = self.snapshot().generation;
        self.fetch_keys(Why::UnknownKid, generation, true).await
    }

    /// Verifies a token and returns who it names.
    pub async fn verify(&self, token: &str) -> Result<Principal, VerifyError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty() && k.len() <= MAX_KID_BYTES)
            .ok_or(VerifyError::MissingKid)?;
        let key = self.key_for(kid).await?;
        if !key.algorithms.contains(&header.alg) {
            return Err(VerifyError::WrongAlgorithm);
        }
        let config = &self.inner.config;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = key.algorithms.clone();
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|e| map_error(e.kind()))?;
        principal_from_claims(&data.claims, config)
    }

    /// The key named `kid`, fetching the keys again when it is unknown or the cache is stale.
    async fn key_for(&self, kid: &str) -> Result<Arc<Key>, VerifyError> {
        let set = self.snapshot();
        let stale = set
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.inner.config.refresh_every);
        if let Some(key) = set.keys.get(kid) {
            if stale {
                // Refresh behind the request: a known key never waits for the issuer.
                let this = self.clone();
                let generation = set.generation;
                tokio::spawn(async move {
                    let _ = this.fetch_keys(Why::Stale, generation, false).await;
                });
            }
            return Ok(key.clone());
        }
        let fetched = self
            .fetch_keys(Why::UnknownKid, set.generation, false)
            .await;
        let set = self.snapshot();
        match set.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if set.fetched_at.is_none() && fetched.is_err() => {
                Err(VerifyError::KeysUnavailable)
            }
            None => Err(VerifyError::UnknownKey),
        }
    }

    /// One fetch at a time; skipped when another caller fetched since `seen_generation` or the
    /// last attempt was less than `min_refetch` ago (unless `force`).
    async fn fetch_keys(
        &self,
        why: Why,
        seen_generation: u64,
        force: bool,
    ) -> Result<(), VerifyError> {
        let mut state = match why {
            // A background refresh gives way to any fetch in flight.
            Why::Stale => match self.inner.fetch.try_lock() {
                Ok(s) => s,
                Err(_) => return Ok(()),
            },
            Why::UnknownKid => self.inner.fetch.lock().await,
        };
        if !force {
            if self.snapshot().generation != seen_generation {
                return Ok(());
            }
            if let Some(at) = state.last_attempt
                && at.elapsed() < self.inner.config.min_refetch
            {
                return if state.last_failed {
                    Err(VerifyError::KeysUnavailable)
                } else {
                    Ok(())
                };
            }
        }
        state.last_attempt = Some(Instant::now());
        state.fetches += 1;
        match self.download(&mut state).await {
            Ok(keys) => {
                state.last_failed = false;
                let previous = self.snapshot();
                let set = Arc::new(KeySet {
                    keys,
                    fetched_at: Some(Instant::now()),
                    generation: previous.generation + 1,
                });
                match self.inner.keys.write() {
                    Ok(mut guard) => *guard = set,
                    Err(poisoned) => *poisoned.into_inner() = set,
                }
                Ok(())
            }
            Err(e) => {
                state.last_failed = true;
                // Forget a discovered URI: the issuer may have moved its keys.
                state.discovered_jwks_uri = None;
                tracing::warn!(issuer = %self.inner.config.issuer, error = %format!("{e:#}"), "could not fetch the token signing keys");
                Err(VerifyError::KeysUnavailable)
            }
        }
    }

    async fn download(&self, state: &mut FetchState) -> anyhow::Result<HashMap<String, Arc<Key>>> {
        use anyhow::Context as _;
        let config = &self.inner.config;
        let uri = match (&config.jwks_uri, &state.discovered_jwks_uri) {
            (Some(uri), _) => uri.clone(),
            (None, Some(uri)) => uri.clone(),
            (None, None) => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    config.issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&url).await.context("discovery")?;
                // OpenID Connect Discovery 1.0 section 4.3: the issuer must be exactly ours.
                if doc.get("issuer").and_then(Value::as_str) != Some(config.issuer.as_str()) {
                    anyhow::bail!("the discovery document names another issuer");
                }
                let uri = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                    .context("the discovery document has no http(s) jwks_uri")?
                    .to_owned();
                state.discovered_jwks_uri = Some(uri.clone());
                uri
            }
        };
        let doc = self.get_json(&uri).await.context("jwks")?;
        let keys = keys_from_jwks(&doc);
        if keys.is_empty() {
            anyhow::bail!("the JWKS holds no usable signing key");
        }
        Ok(keys)
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        use anyhow::Context as _;
        let response = self
            .inner
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            anyhow::bail!("{url} is too large");
        }
        let bytes = response.bytes().await?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            anyhow::bail!("{url} is too large");
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// The usable signing keys of a JWKS document, by kid. A key this verifier cannot use safely
/// (no kid, encryption use, symmetric, unknown curve, an `alg` that contradicts the key) is
/// skipped, not fatal: a provider may publish keys for other purposes.
fn keys_from_jwks(doc: &Value) -> HashMap<String, Arc<Key>> {
    let mut out = HashMap::new();
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return out;
    };
    for raw in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone().filter(|k| !k.is_empty()) else {
            continue;
        };
        if let Some(key) = key_from_jwk(&jwk) {
            out.insert(kid, Arc::new(key));
        }
    }
    out
}

fn key_from_jwk(jwk: &Jwk) -> Option<Key> {
    if matches!(
        jwk.common.public_key_use,
        Some(ref u) if *u != PublicKeyUse::Signature
    ) {
        return None;
    }
    let named = jwk.common.key_algorithm;
    let algorithms = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => {
            let alg = match p.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            };
            vec![alg]
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != EllipticCurve::Ed25519 {
                return None;
            }
            vec![Algorithm::EdDSA]
        }
        AlgorithmParameters::RSA(_) => match named {
            None => vec![Algorithm::RS256],
            Some(a) => {
                let alg = Algorithm::try_from(a).ok()?;
                if !matches!(
                    alg,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                ) {
                    return None;
                }
                vec![alg]
            }
        },
        // Symmetric keys are never taken from a JWKS; unknown key types are not ours.
        _ => return None,
    };
    if let Some(a) = named
        && !algorithms.iter().any(|alg| KeyAlgorithm::from(*alg) == a)
    {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        decoding,
        algorithms,
    })
}

fn map_error(kind: &jsonwebtoken::errors::ErrorKind) -> VerifyError {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => VerifyError::BadSignature,
        K::ExpiredSignature => VerifyError::Expired,
        K::ImmatureSignature => VerifyError::NotYetValid,
        K::InvalidIssuer => VerifyError::WrongIssuer,
        K::InvalidAudience => VerifyError::WrongAudience,
        K::MissingRequiredClaim(_) => VerifyError::MissingClaim,
        K::InvalidClaimFormat(_) | K::InvalidSubject => VerifyError::InvalidClaims,
        K::InvalidAlgorithm | K::MissingAlgorithm => VerifyError::WrongAlgorithm,
        // Bad base64, JSON, key/signature encodings: the token is not well-formed.
        _ => VerifyError::Malformed,
    }
}

/// The claim at a dotted path (`realm_access.roles`), or at the literal name when it has a dot.
fn claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn principal_from_claims(
    claims: &Map<String, Value>,
    config: &VerifierConfig,
) -> Result<Principal, VerifyError> {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| {
            !s.trim().is_empty()
                && s.chars().count() <= MAX_SUBJECT_CHARS
                && !s.chars().any(char::is_control)
                && hotline_domain::text::check("sub", s).is_ok()
        })
        .ok_or(VerifyError::InvalidClaims)?
        .to_owned();
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.chars().count() <= 256)
        .map(str::to_owned);
    let mut roles: BTreeSet<Role> = match claim(claims, &config.roles_claim) {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(Role::parse)
            .collect(),
        // Some providers put roles in one space-separated string.
        Some(Value::String(s)) => s.split_whitespace().filter_map(Role::parse).collect(),
        Some(_) => return Err(VerifyError::InvalidClaims),
    };
    let department = match claim(claims, &config.department_claim) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(DeptCode::parse(s).map_err(|_| VerifyError::InvalidClaims)?),
        Some(_) => return Err(VerifyError::InvalidClaims),
    };
    if department.is_none() {
        // Department staff or an editor without a department could be scoped to nothing.
        roles.retain(|r| !r.needs_department());
    }
    Ok(Principal {
        subject,
        name,
        roles,
        department,
    })
}

#[cfg(test)]
mod tests;
