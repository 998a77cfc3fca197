//! What the issuer grants, apart from HTTP: access and ID tokens, single-use authorization codes
//! bound to a client, a redirect URI and a PKCE challenge, and rotating refresh tokens.
//!
//! Codes and refresh tokens are random 256-bit strings handed out once; Postgres keeps only
//! their SHA-256. A code or refresh token used twice is taken as stolen: the family of refresh
//! tokens it belongs to is revoked (RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14).

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use hotline_config::IdentityClient;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

use crate::accounts::{Account, Accounts, Lockout};
use crate::keys::KeyRing;
use crate::metrics;

/// Scopes this issuer knows, in the order they are written back.
pub const SCOPES: [&str; 3] = ["openid", "profile", "hotline"];

/// An OAuth 2.0 error (RFC 6749 5.2), or a failure of ours.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid_client")]
    InvalidClient,
    /// Wrong password, locked or unknown account, bad/used/expired code or refresh token: one
    /// answer for all, so a caller learns nothing about which.
    #[error("invalid_grant")]
    InvalidGrant,
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope")]
    InvalidScope,
    /// A bearer token that does not verify (RFC 6750 3.1).
    #[error("invalid_token")]
    InvalidToken,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::InvalidToken => "invalid_token",
            OAuthError::Internal(_) => "server_error",
        }
    }

    /// The HTTP status: 401 for client and bearer failures, 500 for ours, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient | OAuthError::InvalidToken => 401,
            OAuthError::Internal(_) => 500,
            _ => 400,
        }
    }

    /// Words for `error_description`: fixed per kind, never about the account.
    pub fn description(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(d) => d,
            OAuthError::InvalidClient => "unknown client",
            OAuthError::InvalidGrant => "the credentials or the grant are not valid",
            OAuthError::UnauthorizedClient => "this client may not use this grant type",
            OAuthError::UnsupportedGrantType => {
                "grant_type must be authorization_code, password or refresh_token"
            }
            OAuthError::InvalidScope => "no known scope requested (openid, profile, hotline)",
            OAuthError::InvalidToken => "the access token is not valid",
            OAuthError::Internal(_) => "internal error",
        }
    }
}

/// The access token's claims (the contract in docs: iss, sub, aud, exp, nbf, iat, jti, azp,
/// name, roles, dept, scope).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub azp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    pub scope: String,
}

/// The ID token's claims (OpenID Connect Core 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    /// The client.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub azp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub preferred_username: String,
}

/// The token endpoint's success answer (RFC 6749 5.1, OIDC Core 3.1.3.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// A checked `/authorize` request.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
}

/// The issuer: accounts, keys and the grant tables.
#[derive(Clone)]
pub struct Issuer {
    pub accounts: Accounts,
    pub keys: KeyRing,
    pool: PgPool,
    config: hotline_config::Identity,
}

impl Issuer {
    pub fn new(pool: PgPool, config: hotline_config::Identity) -> Issuer {
        Issuer {
            accounts: Accounts::new(pool.clone()),
            keys: KeyRing::new(pool.clone(), config.access_token_secs),
            pool,
            config,
        }
    }

    pub fn config(&self) -> &hotline_config::Identity {
        &self.config
    }

    pub fn client(&self, client_id: &str) -> Option<&IdentityClient> {
        self.config
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
    }

    /// The client, if `redirect_uri` is exactly one it registered.
    pub fn client_for_redirect(
        &self,
        client_id: &str,
        redirect_uri: &str,
    ) -> Option<&IdentityClient> {
        self.client(client_id)
            .filter(|c| c.redirect_uris.iter().any(|u| u == redirect_uri))
    }

    fn lockout(&self) -> Lockout {
        Lockout {
            failures: self.config.lockout_failures,
            secs: self.config.lockout_secs,
        }
    }

    /// Checks a password; every refusal is [`OAuthError::InvalidGrant`].
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        grant: &'static str,
    ) -> Result<Account, OAuthError> {
        match self
            .accounts
            .authenticate(username, password, self.lockout())
            .await?
        {
            Ok(account) => Ok(account),
            Err(refusal) => {
                metrics::refused()
                    .with_label_values(&[grant, refusal.as_str()])
                    .inc();
                Err(OAuthError::InvalidGrant)
            }
        }
    }

    /// `grant_type=password`, for scripts, only for clients configured with `password_grant`.
    pub async fn password_grant(
        &self,
        client_id: &str,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.client(client_id).ok_or(OAuthError::InvalidClient)?;
        if !client.password_grant {
            return Err(OAuthError::UnauthorizedClient);
        }
        let scope = grant_scope(scope)?;
        let account = self.authenticate(username, password, "password").await?;
        let mut tx = self.pool.begin().await.context("beginning")?;
        let tokens = self
            .issue(&mut tx, &account, client_id, &scope, Uuid::new_v4(), None)
            .await?;
        tx.commit().await.context("committing")?;
        metrics::issued().with_label_values(&["password"]).inc();
        Ok(tokens)
    }

    /// Stores a code for `account`; returns the code to send to the redirect URI.
    pub async fn create_code(
        &self,
        request: &CodeRequest,
        account: &Account,
    ) -> Result<String, OAuthError> {
        let code = random_token();
        sqlx::query(
            "INSERT INTO identity.authorization_codes
                (digest, family, client_id, redirect_uri, code_challenge, username, scope, nonce, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))",
        )
        .bind(digest(&code))
        .bind(Uuid::new_v4())
        .bind(&request.client_id)
        .bind(&request.redirect_uri)
        .bind(&request.code_challenge)
        .bind(&account.username)
        .bind(&request.scope)
        .bind(&request.nonce)
        .bind(self.config.code_secs as f64)
        .execute(&self.pool)
        .await
        .context("storing an authorization code")?;
        Ok(code)
    }

    /// `grant_type=authorization_code`: the code once, by its client, with its redirect URI and
    /// the PKCE verifier of its challenge.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, OAuthError> {
        const GRANT: &str = "authorization_code";
        if self.client(client_id).is_none() {
            return Err(OAuthError::InvalidClient);
        }
        let refuse = |reason: &'static str| {
            metrics::refused().with_label_values(&[GRANT, reason]).inc();
            OAuthError::InvalidGrant
        };
        let mut tx = self.pool.begin().await.context("beginning")?;
        // Marked used before anything else is checked: a wrong verifier burns the code too.
        let row = sqlx::query(
            "UPDATE identity.authorization_codes SET used_at = now()
             WHERE digest = $1 AND used_at IS NULL
             RETURNING family, client_id, redirect_uri, code_challenge, username, scope, nonce,
                       expires_at > now() AS live",
        )
        .bind(digest(code))
        .fetch_optional(&mut *tx)
        .await
        .context("taking an authorization code")?;
        let Some(row) = row else {
            // Unknown, or used before: revoke what the first use got.
            let revoked = sqlx::query(
                "UPDATE identity.refresh_tokens SET revoked_at = now()
                 WHERE revoked_at IS NULL AND family =
                       (SELECT family FROM identity.authorization_codes WHERE digest = $1)",
            )
            .bind(digest(code))
            .execute(&mut *tx)
            .await
            .context("revoking a replayed code's tokens")?;
            tx.commit().await.context("committing")?;
            if revoked.rows_affected() > 0 {
                tracing::warn!("an authorization code was used twice: its tokens are revoked");
            }
            return Err(refuse("unknown_or_used_code"));
        };
        let family: Uuid = row.try_get("family").context("family")?;
        let stored_client: String = row.try_get("client_id").context("client")?;
        let stored_redirect: String = row.try_get("redirect_uri").context("redirect")?;
        let challenge: String = row.try_get("code_challenge").context("challenge")?;
        let username: String = row.try_get("username").context("username")?;
        let scope: String = row.try_get("scope").context("scope")?;
        let nonce: Option<String> = row.try_get("nonce").context("nonce")?;
        let live: bool = row.try_get("live").context("live")?;
        // The burn must stick whatever follows.
        tx.commit().await.context("committing")?;
        if !live {
            return Err(refuse("expired_code"));
        }
        if stored_client != client_id || stored_redirect != redirect_uri {
            return Err(refuse("code_mismatch"));
        }
        if !pkce_matches(code_verifier, &challenge) {
            return Err(refuse("pkce"));
        }
        let account = self
            .active_account(&username)
            .await?
            .ok_or_else(|| refuse("account"))?;
        let mut tx = self.pool.begin().await.context("beginning")?;
        let tokens = self
            .issue(
                &mut tx,
                &account,
                client_id,
                &scope,
                family,
                nonce.as_deref(),
            )
            .await?;
        tx.commit().await.context("committing")?;
        metrics::issued().with_label_values(&[GRANT]).inc();
        Ok(tokens)
    }

    /// `grant_type=refresh_token`: rotates the token. A token used a second time revokes every
    /// token of its family (the thief's and the owner's alike: both must sign in again).
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
    ) -> Result<TokenResponse, OAuthError> {
        const GRANT: &str = "refresh_token";
        if self.client(client_id).is_none() {
            return Err(OAuthError::InvalidClient);
        }
        let refuse = |reason: &'static str| {
            metrics::refused().with_label_values(&[GRANT, reason]).inc();
            OAuthError::InvalidGrant
        };
        let mut tx = self.pool.begin().await.context("beginning")?;
        // FOR UPDATE: two uses of one token at once are one use and one replay.
        let row = sqlx::query(
            "SELECT family, username, client_id, scope, used_at IS NOT NULL AS used,
                    revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired
             FROM identity.refresh_tokens WHERE digest = $1 FOR UPDATE",
        )
        .bind(digest(refresh_token))
        .fetch_optional(&mut *tx)
        .await
        .context("reading a refresh token")?;
        let Some(row) = row else {
            return Err(refuse("unknown_refresh_token"));
        };
        let family: Uuid = row.try_get("family").context("family")?;
        let username: String = row.try_get("username").context("username")?;
        let stored_client: String = row.try_get("client_id").context("client")?;
        let scope: String = row.try_get("scope").context("scope")?;
        if row.try_get::<bool, _>("revoked").context("revoked")? {
            return Err(refuse("revoked"));
        }
        if row.try_get::<bool, _>("used").context("used")? {
            sqlx::query(
                "UPDATE identity.refresh_tokens SET revoked_at = now()
                 WHERE family = $1 AND revoked_at IS NULL",
            )
            .bind(family)
            .execute(&mut *tx)
            .await
            .context("revoking a replayed token's family")?;
            tx.commit().await.context("committing")?;
            tracing::warn!("a refresh token was used twice: its sign-in is revoked");
            return Err(refuse("replayed"));
        }
        if row.try_get::<bool, _>("expired").context("expired")? {
            return Err(refuse("expired"));
        }
        if stored_client != client_id {
            return Err(refuse("client_mismatch"));
        }
        sqlx::query("UPDATE identity.refresh_tokens SET used_at = now() WHERE digest = $1")
            .bind(digest(refresh_token))
            .execute(&mut *tx)
            .await
            .context("using a refresh token")?;
        // Roles and name come from the account now, so changes reach the next access token.
        let Some(account) = self.active_account(&username).await? else {
            return Err(refuse("account"));
        };
        let tokens = self
            .issue(&mut tx, &account, client_id, &scope, family, None)
            .await?;
        tx.commit().await.context("committing")?;
        metrics::issued().with_label_values(&[GRANT]).inc();
        Ok(tokens)
    }

    /// The account behind a valid access token of ours (`/userinfo`).
    pub async fn userinfo(&self, access_token: &str) -> Result<Account, OAuthError> {
        let claims = self.verify(access_token).await?;
        self.active_account(&claims.sub)
            .await?
            .ok_or(OAuthError::InvalidToken)
    }

    /// Verifies one of our access tokens: signature by a published key, `iss`, `aud`, `exp`,
    /// `nbf`.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, OAuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OAuthError::InvalidToken)?;
        let kid = header.kid.ok_or(OAuthError::InvalidToken)?;
        let mut keys = self.keys.load().await?;
        if keys.decoding(&kid).is_none() {
            // Possibly made by a rotation elsewhere since the last read.
            keys = self.keys.reload().await?;
        }
        let key = keys.decoding(&kid).ok_or(OAuthError::InvalidToken)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
            .map(|t| t.claims)
            .map_err(|_| OAuthError::InvalidToken)
    }

    async fn active_account(&self, username: &str) -> anyhow::Result<Option<Account>> {
        Ok(self.accounts.get(username).await?.filter(|a| !a.disabled))
    }

    /// Signs an access token (and an ID token for `openid`) and stores a new refresh token of
    /// `family` in `tx`.
    async fn issue(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        account: &Account,
        client_id: &str,
        scope: &str,
        family: Uuid,
        nonce: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let keys = self.keys.load().await?;
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.config.access_token_secs).unwrap_or(i64::MAX / 2);
        let name = Some(account.display_name.clone()).filter(|n| !n.is_empty());
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            sub: account.username.clone(),
            aud: self.config.audience.clone(),
            exp: now.saturating_add(ttl),
            nbf: now,
            iat: now,
            jti: Uuid::new_v4().simple().to_string(),
            azp: client_id.to_owned(),
            name: name.clone(),
            roles: account
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            dept: account
                .dept
                .as_ref()
                .filter(|_| account.roles.iter().any(|r| r.needs_department()))
                .map(|d| d.as_str().to_owned()),
            scope: scope.to_owned(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(keys.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &keys.encoding)
            .context("signing an access token")?;
        let id_token = if scope.split(' ').any(|s| s == "openid") {
            let id = IdClaims {
                iss: self.config.issuer.clone(),
                sub: account.username.clone(),
                aud: client_id.to_owned(),
                exp: now.saturating_add(ttl),
                iat: now,
                azp: client_id.to_owned(),
                nonce: nonce.map(str::to_owned),
                name,
                preferred_username: account.username.clone(),
            };
            Some(
                jsonwebtoken::encode(&header, &id, &keys.encoding)
                    .context("signing an ID token")?,
            )
        } else {
            None
        };
        let refresh_token = random_token();
        sqlx::query(
            "INSERT INTO identity.refresh_tokens (digest, family, username, client_id, scope, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
        )
        .bind(digest(&refresh_token))
        .bind(family)
        .bind(&account.username)
        .bind(client_id)
        .bind(scope)
        .bind(self.config.refresh_token_secs as f64)
        .execute(&mut **tx)
        .await
        .context("storing a refresh token")?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: self.config.access_token_secs,
            refresh_token,
            scope: scope.to_owned(),
            id_token,
        })
    }

    /// Deletes codes and refresh tokens past their use, and keys past their last token.
    pub async fn prune(&self) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM identity.authorization_codes WHERE expires_at < now() - interval '1 hour'",
        )
        .execute(&self.pool)
        .await
        .context("deleting old codes")?;
        sqlx::query(
            "DELETE FROM identity.refresh_tokens WHERE expires_at < now() - interval '1 day'",
        )
        .execute(&self.pool)
        .await
        .context("deleting old refresh tokens")?;
        self.keys.prune().await?;
        Ok(())
    }
}

/// The scope granted for a request: the known scopes asked for, all of them when none is named.
pub fn grant_scope(requested: Option<&str>) -> Result<String, OAuthError> {
    let asked: Vec<&str> = requested.unwrap_or("").split_whitespace().collect();
    if asked.is_empty() {
        return Ok(SCOPES.join(" "));
    }
    let granted: Vec<&str> = SCOPES.into_iter().filter(|s| asked.contains(s)).collect();
    if granted.is_empty() {
        return Err(OAuthError::InvalidScope);
    }
    Ok(granted.join(" "))
}

/// Whether `s` can be a PKCE S256 challenge: BASE64URL of 32 bytes, 43 characters.
pub fn is_s256_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 4.6: BASE64URL(SHA256(verifier)) == challenge, with a well-formed verifier.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && constant_time_eq(s256(verifier).as_bytes(), challenge.as_bytes())
}

/// BASE64URL(SHA256(verifier)): what a client sends as `code_challenge`.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 256 random bits, URL-safe.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_follows_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches("short", &s256("short")));
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge("plain-challenge"));
    }

    #[test]
    fn scopes_are_filtered_to_known_ones() {
        assert_eq!(
            grant_scope(None).ok().as_deref(),
            Some("openid profile hotline")
        );
        assert_eq!(
            grant_scope(Some("hotline openid email")).ok().as_deref(),
            Some("openid hotline")
        );
        assert!(matches!(
            grant_scope(Some("email")),
            Err(OAuthError::InvalidScope)
        ));
    }
}
