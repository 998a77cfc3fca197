//! The console as an OpenID Connect client of `[auth]`'s issuer (the platform's `hotline
//! identity` in the local run, the city's provider in production): discovery, the
//! authorization code flow with PKCE (S256), the refresh grant.
//!
//! A public client: no secret. PKCE binds the code to this sign-in's verifier, and `state` (kept
//! server-side and in a cookie of the browser that started it) binds the way back to that
//! browser. The access token is verified exactly as the services verify it (shared/auth,
//! JWKS), so the roles the console shows are the roles the services will enforce.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hotline_auth::{Principal, Verifier};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::RwLock;

use crate::session::random_token;

/// The scopes asked for.
const SCOPE: &str = "openid profile hotline";

#[derive(Debug, Clone, Deserialize)]
struct Endpoints {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The token endpoint's answer (RFC 6749 5.1).
#[derive(Clone, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The issuer refused the code or the refresh token (used, expired, revoked): sign in again.
    #[error("the issuer refused the grant: {0}")]
    Refused(String),
    /// The access token the issuer gave does not verify (keys, issuer, audience).
    #[error("the access token does not verify: {0}")]
    Token(#[from] hotline_auth::VerifyError),
    #[error("the issuer is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// A PKCE pair: the verifier kept here, the challenge sent with the authorization request.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub struct Oidc {
    http: reqwest::Client,
    issuer: String,
    client_id: String,
    redirect_uri: String,
    /// Discovered once, again after a failure.
    endpoints: RwLock<Option<Endpoints>>,
    verifier: Verifier,
}

impl Oidc {
    pub fn from_settings(settings: &hotline_config::Settings) -> anyhow::Result<Oidc> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the HTTP client")?;
        Ok(Oidc {
            http,
            issuer: settings.auth.issuer.clone(),
            client_id: settings.console.client_id.clone(),
            redirect_uri: format!("{}/auth/callback", settings.console_public_url()),
            endpoints: RwLock::new(None),
            verifier: Verifier::from_settings(settings)?,
        })
    }

    /// The issuer's URL, as its answers must name it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn endpoints(&self) -> Result<Endpoints, OidcError> {
        if let Some(found) = self.endpoints.read().await.as_ref() {
            return Ok(found.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let found: Endpoints = async {
            self.http
                .get(&url)
                .send()
                .await
                .context("fetching the issuer's discovery document")?
                .error_for_status()
                .context("the issuer's discovery document")?
                .json()
                .await
                .context("reading the issuer's discovery document")
        }
        .await
        .map_err(OidcError::Unavailable)?;
        // OpenID Connect Discovery 4.3: the document must name the issuer we asked.
        if found.issuer != self.issuer {
            return Err(OidcError::Unavailable(anyhow::anyhow!(
                "the discovery document names another issuer"
            )));
        }
        *self.endpoints.write().await = Some(found.clone());
        Ok(found)
    }

    /// Where to send the browser to sign in.
    pub async fn authorization_url(
        &self,
        state: &str,
        code_challenge: &str,
    ) -> Result<String, OidcError> {
        let endpoints = self.endpoints().await?;
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", SCOPE),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| OidcError::Unavailable(e.into()))?;
        let sep = if endpoints.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{query}", endpoints.authorization_endpoint))
    }

    /// `grant_type=authorization_code` with the PKCE verifier.
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
    ) -> Result<TokenSet, OidcError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", code_verifier),
            ("client_id", &self.client_id),
        ])
        .await
    }

    /// `grant_type=refresh_token`: new tokens, the refresh token rotated.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, OidcError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.client_id),
        ])
        .await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<TokenSet, OidcError> {
        let endpoints = self.endpoints().await?;
        let response = self
            .http
            .post(&endpoints.token_endpoint)
            .form(form)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(anyhow::anyhow!("the token endpoint: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .await
                .map_err(|e| OidcError::Unavailable(anyhow::anyhow!("the token answer: {e}")));
        }
        if status.is_client_error() {
            // RFC 6749 5.2: the error code says which; it never holds the token.
            let code = response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| status.as_str().to_owned());
            return Err(OidcError::Refused(code));
        }
        Err(OidcError::Unavailable(anyhow::anyhow!(
            "the token endpoint answered {status}"
        )))
    }

    /// Who the access token says the person is, verified as the services verify it.
    pub async fn principal(&self, access_token: &str) -> Result<Principal, OidcError> {
        Ok(self.verifier.verify(access_token).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_s256_of_the_verifier() {
        let (verifier, challenge) = pkce_pair();
        assert_eq!(verifier.len(), 43);
        assert_eq!(challenge.len(), 43);
        assert_eq!(
            challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        );
        assert_ne!(pkce_pair().0, verifier, "fresh each time");
    }
}
