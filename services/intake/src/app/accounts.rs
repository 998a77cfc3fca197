//! Postgres schema `app`: citizens (one per phone number), sessions, refresh tokens, devices.
//!
//! A session is one sign-in on one device: its refresh tokens form a family, each used once.
//! Presenting a used one means two holders (a stolen token): the whole session is revoked, so
//! the thief's and the citizen's tokens both stop, and the citizen signs in again.

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_domain::PhoneNumber;
use sqlx::PgPool;
use uuid::Uuid;

use super::tokens::{self, Bearer};

pub const SCHEMA: &str = "app";

/// Runs the migrations of schema `app` on `pool` (idempotent).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations/app"), SCHEMA).await
}

/// A new refresh token and the session it belongs to.
pub struct Issued {
    pub bearer: Bearer,
    pub refresh_token: String,
}

/// What became of a presented refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum Refreshed {
    Rotated {
        bearer: Bearer,
        refresh_token: String,
    },
    /// Unknown, expired, or its session was revoked.
    Invalid,
    /// Used before: its session is now revoked.
    Replayed,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("bearer", &self.bearer)
            .finish_non_exhaustive()
    }
}

/// A push device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Ios,
    Android,
}

impl Platform {
    pub fn parse(raw: &str) -> Option<Platform> {
        match raw {
            "ios" => Some(Platform::Ios),
            "android" => Some(Platform::Android),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
        }
    }
}

/// A refresh token's session, citizen, expiry, use and the session's revocation.
type TokenRow = (
    Uuid,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
    refresh_lifetime: Duration,
}

impl Accounts {
    pub fn new(pool: PgPool, refresh_lifetime: Duration) -> Accounts {
        Accounts {
            pool,
            refresh_lifetime,
        }
    }

    fn expiry(&self) -> anyhow::Result<DateTime<Utc>> {
        let lifetime =
            chrono::Duration::from_std(self.refresh_lifetime).context("refresh lifetime")?;
        Ok(Utc::now() + lifetime)
    }

    /// The citizen with this phone number, made on first sign-in, and a new session.
    pub async fn sign_in(&self, phone: &PhoneNumber) -> anyhow::Result<Issued> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let (citizen,): (Uuid,) = sqlx::query_as(
            "INSERT INTO app.citizen (id, phone) VALUES ($1, $2) \
             ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(phone.as_str())
        .fetch_one(&mut *tx)
        .await
        .context("finding the citizen")?;
        let session = Uuid::now_v7();
        sqlx::query("INSERT INTO app.session (id, citizen_id) VALUES ($1, $2)")
            .bind(session)
            .bind(citizen)
            .execute(&mut *tx)
            .await
            .context("opening a session")?;
        let (refresh_token, digest) = tokens::refresh_token();
        sqlx::query(
            "INSERT INTO app.refresh_token (token_sha256, session_id, expires_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(&digest[..])
        .bind(session)
        .bind(self.expiry()?)
        .execute(&mut *tx)
        .await
        .context("storing a refresh token")?;
        tx.commit().await.context("committing a sign-in")?;
        Ok(Issued {
            bearer: Bearer { citizen, session },
            refresh_token,
        })
    }

    /// Uses a refresh token once: a new one in the same session, or the session revoked when
    /// the token was used before.
    pub async fn refresh(&self, presented: &str) -> anyhow::Result<Refreshed> {
        let digest = tokens::refresh_digest(presented);
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT s.id, s.citizen_id, r.expires_at, r.used_at, s.revoked_at \
                 FROM app.refresh_token r JOIN app.session s ON s.id = r.session_id \
                 WHERE r.token_sha256 = $1 FOR UPDATE",
        )
        .bind(&digest[..])
        .fetch_optional(&mut *tx)
        .await
        .context("reading a refresh token")?;
        let Some((session, citizen, expires_at, used_at, revoked_at)) = row else {
            return Ok(Refreshed::Invalid);
        };
        if revoked_at.is_some() || expires_at <= Utc::now() {
            return Ok(Refreshed::Invalid);
        }
        if used_at.is_some() {
            sqlx::query("UPDATE app.session SET revoked_at = now() WHERE id = $1")
                .bind(session)
                .execute(&mut *tx)
                .await
                .context("revoking a session")?;
            tx.commit().await.context("committing a revocation")?;
            return Ok(Refreshed::Replayed);
        }
        sqlx::query("UPDATE app.refresh_token SET used_at = now() WHERE token_sha256 = $1")
            .bind(&digest[..])
            .execute(&mut *tx)
            .await
            .context("using a refresh token")?;
        let (refresh_token, next) = tokens::refresh_token();
        sqlx::query(
            "INSERT INTO app.refresh_token (token_sha256, session_id, expires_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(&next[..])
        .bind(session)
        .bind(self.expiry()?)
        .execute(&mut *tx)
        .await
        .context("storing a refresh token")?;
        tx.commit().await.context("committing a refresh")?;
        Ok(Refreshed::Rotated {
            bearer: Bearer { citizen, session },
            refresh_token,
        })
    }

    /// Revokes the session of `bearer`.
    pub async fn revoke(&self, session: Uuid) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE app.session SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(session)
        .execute(&self.pool)
        .await
        .context("revoking a session")?;
        Ok(())
    }

    /// The citizen's phone number while the session stands; `None` once revoked.
    pub async fn active(&self, bearer: Bearer) -> anyhow::Result<Option<PhoneNumber>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT c.phone FROM app.session s JOIN app.citizen c ON c.id = s.citizen_id \
             WHERE s.id = $1 AND s.citizen_id = $2 AND s.revoked_at IS NULL",
        )
        .bind(bearer.session)
        .bind(bearer.citizen)
        .fetch_optional(&self.pool)
        .await
        .context("reading a session")?;
        row.map(|(phone,)| PhoneNumber::parse(&phone).context("a stored phone number"))
            .transpose()
    }

    /// Registers (or moves to this citizen) a device's push token.
    pub async fn register_device(
        &self,
        citizen: Uuid,
        token: &str,
        platform: Platform,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO app.device (token, citizen_id, platform) VALUES ($1, $2, $3) \
             ON CONFLICT (token) DO UPDATE SET citizen_id = EXCLUDED.citizen_id, \
             platform = EXCLUDED.platform, updated_at = now()",
        )
        .bind(token)
        .bind(citizen)
        .bind(platform.as_str())
        .execute(&self.pool)
        .await
        .context("storing a device")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_exactly() {
        assert_eq!(Platform::parse("ios"), Some(Platform::Ios));
        assert_eq!(Platform::parse("android"), Some(Platform::Android));
        assert_eq!(Platform::parse("Android"), None);
        assert_eq!(Platform::parse("web"), None);
        assert_eq!(Platform::Ios.as_str(), "ios");
    }
}
