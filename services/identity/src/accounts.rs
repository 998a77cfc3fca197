//! People's accounts: roles, department, password hash, lockout.
//!
//! Lockout is counted in Postgres (one atomic UPDATE per failure), so replicas agree on it and
//! a burst of parallel guesses cannot slip past the limit. Every refusal looks the same to the
//! caller (unknown user, disabled, locked, wrong password); only metrics tell them apart.

use std::fmt;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_domain::DeptCode;
use sqlx::{PgPool, Row as _};

use crate::password;

/// The six roles: one definition, shared with every verifier (docs/roles.md says what each may do).
pub use hotline_auth::Role;

fn parse_role(raw: &str) -> Result<Role, AccountError> {
    Role::parse(raw).ok_or_else(|| AccountError::UnknownRole(raw.to_owned()))
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "a username is 2-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
    )]
    Username,
    #[error(
        "unknown role {0:?}: one of agent, dispatcher, supervisor, knowledge_editor, admin, department_staff"
    )]
    UnknownRole(String),
    #[error("an account needs at least one role")]
    NoRoles,
    #[error("department_staff and knowledge_editor act for a department: give --dept")]
    DeptRequired,
    #[error("only department_staff and knowledge_editor belong to a department")]
    DeptNotAllowed,
    #[error("{0}")]
    Dept(#[from] hotline_domain::IdError),
    #[error("{0}")]
    Password(String),
    #[error("a display name has at most 128 characters and no control characters")]
    DisplayName,
    #[error("account {0} already exists")]
    Exists(String),
    #[error("no account {0}")]
    NotFound(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A username, checked: what `sub` carries and the ledger records as the actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Username, AccountError> {
        let ok = (2..=64).contains(&s.len())
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Username(s.to_owned()))
        } else {
            Err(AccountError::Username)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an operator gives to make an account (passwords travel separately).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: Username,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub dept: Option<DeptCode>,
}

impl NewAccount {
    /// Parses and checks the parts: known roles, a department exactly when a role needs one.
    pub fn parse(
        username: &str,
        display_name: Option<&str>,
        roles: &[String],
        dept: Option<&str>,
    ) -> Result<NewAccount, AccountError> {
        let username = Username::parse(username)?;
        let mut parsed: Vec<Role> = roles
            .iter()
            .map(|r| parse_role(r.trim()))
            .collect::<Result<_, _>>()?;
        parsed.sort();
        parsed.dedup();
        if parsed.is_empty() {
            return Err(AccountError::NoRoles);
        }
        let dept = dept.map(DeptCode::parse).transpose()?;
        let needs = parsed.iter().any(|r| r.needs_department());
        match (&dept, needs) {
            (None, true) => return Err(AccountError::DeptRequired),
            (Some(_), false) => return Err(AccountError::DeptNotAllowed),
            _ => {}
        }
        let display_name = display_name.unwrap_or("").trim().to_owned();
        if display_name.chars().count() > 128 || display_name.chars().any(char::is_control) {
            return Err(AccountError::DisplayName);
        }
        Ok(NewAccount {
            username,
            display_name,
            roles: parsed,
            dept,
        })
    }
}

/// An account as stored (without its hash).
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub dept: Option<DeptCode>,
    pub disabled: bool,
    pub failed_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Account {
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

/// Why a sign-in was refused: for metrics only, never shown to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Disabled,
    Locked,
    WrongPassword,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown",
            Refusal::Disabled => "disabled",
            Refusal::Locked => "locked",
            Refusal::WrongPassword => "wrong_password",
        }
    }
}

/// How many wrong passwords lock an account, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    pub failures: u32,
    pub secs: u64,
}

/// The account columns, as a literal so queries stay static strings.
macro_rules! columns {
    () => {
        "username, display_name, roles, dept, disabled, failed_attempts, locked_until, created_at, updated_at"
    };
}

fn account_from(row: &sqlx::postgres::PgRow) -> anyhow::Result<Account> {
    let roles: Vec<String> = row.try_get("roles")?;
    let dept: Option<String> = row.try_get("dept")?;
    Ok(Account {
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        // Stored roles were checked on the way in; one this build does not know grants nothing.
        roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
        dept: dept.and_then(|d| DeptCode::parse(&d).ok()),
        disabled: row.try_get("disabled")?,
        failed_attempts: row.try_get("failed_attempts")?,
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The accounts table.
#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
}

impl Accounts {
    pub fn new(pool: PgPool) -> Accounts {
        Accounts { pool }
    }

    /// Creates an account; refuses an existing username.
    pub async fn add(&self, new: &NewAccount, password: &str) -> Result<(), AccountError> {
        password::check_strength(password).map_err(AccountError::Password)?;
        let hash = password::hash(password.to_owned()).await?;
        let inserted = self.insert(new, &hash).await?;
        if inserted {
            Ok(())
        } else {
            Err(AccountError::Exists(new.username.to_string()))
        }
    }

    async fn insert(&self, new: &NewAccount, hash: &str) -> anyhow::Result<bool> {
        let roles: Vec<&str> = new.roles.iter().map(|r| r.as_str()).collect();
        let done = sqlx::query(
            "INSERT INTO identity.accounts (username, display_name, password_hash, roles, dept)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(new.username.as_str())
        .bind(&new.display_name)
        .bind(hash)
        .bind(&roles)
        .bind(new.dept.as_ref().map(|d| d.as_str()))
        .execute(&self.pool)
        .await
        .context("inserting an account")?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get(&self, username: &str) -> anyhow::Result<Option<Account>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM identity.accounts WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .context("reading an account")?;
        row.as_ref().map(account_from).transpose()
    }

    pub async fn list(&self) -> anyhow::Result<Vec<Account>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM identity.accounts ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await
        .context("listing accounts")?;
        rows.iter().map(account_from).collect()
    }

    /// Disables or enables an account; disabling also revokes its refresh tokens.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), AccountError> {
        let mut tx = self.pool.begin().await.context("beginning")?;
        let done = sqlx::query(
            "UPDATE identity.accounts SET disabled = $2, updated_at = now() WHERE username = $1",
        )
        .bind(username)
        .bind(disabled)
        .execute(&mut *tx)
        .await
        .context("disabling an account")?;
        if done.rows_affected() == 0 {
            return Err(AccountError::NotFound(username.to_owned()));
        }
        if disabled {
            revoke_all(&mut tx, username).await?;
        }
        tx.commit().await.context("committing")?;
        Ok(())
    }

    /// Lifts a lockout and forgets the failures.
    pub async fn unlock(&self, username: &str) -> Result<(), AccountError> {
        let done = sqlx::query(
            "UPDATE identity.accounts SET failed_attempts = 0, locked_until = NULL, updated_at = now()
             WHERE username = $1",
        )
        .bind(username)
        .execute(&self.pool)
        .await
        .context("unlocking an account")?;
        if done.rows_affected() == 0 {
            return Err(AccountError::NotFound(username.to_owned()));
        }
        Ok(())
    }

    /// Sets a new password, unlocks, and revokes the account's refresh tokens (a password
    /// change ends every other sign-in).
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), AccountError> {
        password::check_strength(password).map_err(AccountError::Password)?;
        let hash = password::hash(password.to_owned()).await?;
        let mut tx = self.pool.begin().await.context("beginning")?;
        let done = sqlx::query(
            "UPDATE identity.accounts SET password_hash = $2, failed_attempts = 0,
                    locked_until = NULL, updated_at = now()
             WHERE username = $1",
        )
        .bind(username)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .context("setting a password")?;
        if done.rows_affected() == 0 {
            return Err(AccountError::NotFound(username.to_owned()));
        }
        revoke_all(&mut tx, username).await?;
        tx.commit().await.context("committing")?;
        Ok(())
    }

    /// Checks a username and password, counting failures toward the lockout.
    ///
    /// `Ok(Err(_))` is a refusal; all refusals must look alike to the caller.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        lockout: Lockout,
    ) -> anyhow::Result<Result<Account, Refusal>> {
        let username = username.trim().to_lowercase();
        let row = if Username::parse(&username).is_ok() {
            sqlx::query(concat!(
                "SELECT ",
                columns!(),
                ", password_hash FROM identity.accounts WHERE username = $1"
            ))
            .bind(&username)
            .fetch_optional(&self.pool)
            .await
            .context("reading an account")?
        } else {
            None
        };
        let Some(row) = row else {
            // Same work as for a real account: the answer's timing does not tell who exists.
            password::verify(password.to_owned(), None).await?;
            return Ok(Err(Refusal::Unknown));
        };
        let account = account_from(&row)?;
        let phc: String = row.try_get("password_hash")?;
        let matches = password::verify(password.to_owned(), Some(phc)).await?;
        if account.disabled {
            return Ok(Err(Refusal::Disabled));
        }
        if account.is_locked(Utc::now()) {
            // Not counted: a locked account's lock is not extended by whoever keeps guessing.
            return Ok(Err(Refusal::Locked));
        }
        if !matches {
            // One statement: parallel failures each count, and the one reaching the limit locks
            // (and starts a fresh count for after the lock).
            let locked: Option<bool> = sqlx::query_scalar(
                "UPDATE identity.accounts SET
                    failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0
                                           ELSE failed_attempts + 1 END,
                    locked_until = CASE WHEN failed_attempts + 1 >= $2
                                        THEN now() + make_interval(secs => $3)
                                        ELSE locked_until END,
                    updated_at = now()
                 WHERE username = $1
                 RETURNING locked_until IS NOT NULL AND locked_until > now()",
            )
            .bind(&account.username)
            .bind(i32::try_from(lockout.failures).unwrap_or(i32::MAX))
            .bind(lockout.secs as f64)
            .fetch_optional(&self.pool)
            .await
            .context("counting a failed sign-in")?;
            if locked == Some(true) {
                crate::metrics::lockouts().inc();
                tracing::warn!("an account was locked after repeated wrong passwords");
            }
            return Ok(Err(Refusal::WrongPassword));
        }
        // Succeeds only if nothing locked or disabled the account in the meantime.
        let row = sqlx::query(concat!(
            "UPDATE identity.accounts SET failed_attempts = 0
             WHERE username = $1 AND NOT disabled AND (locked_until IS NULL OR locked_until <= now())
             RETURNING ",
            columns!()
        ))
        .bind(&account.username)
        .fetch_optional(&self.pool)
        .await
        .context("resetting failed sign-ins")?;
        match row {
            Some(row) => Ok(Ok(account_from(&row)?)),
            None => Ok(Err(Refusal::Locked)),
        }
    }

    /// Creates the demo accounts that do not exist yet (password "demo-" + username).
    /// Returns how many were added.
    pub async fn ensure_demo(&self) -> anyhow::Result<usize> {
        let mut added = 0;
        for (username, name, roles, dept) in DEMO_ACCOUNTS {
            if self.get(username).await?.is_some() {
                continue;
            }
            let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
            let new = NewAccount::parse(username, Some(name), &roles, dept)
                .map_err(|e| anyhow::anyhow!("demo account {username}: {e}"))?;
            let hash = password::hash(format!("demo-{username}")).await?;
            if self.insert(&new, &hash).await? {
                added += 1;
            }
        }
        Ok(added)
    }
}

async fn revoke_all(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    username: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE identity.refresh_tokens SET revoked_at = now()
         WHERE username = $1 AND revoked_at IS NULL",
    )
    .bind(username)
    .execute(&mut **tx)
    .await
    .context("revoking refresh tokens")?;
    Ok(())
}

/// The local run's accounts: username, display name, roles, department.
pub const DEMO_ACCOUNTS: [(&str, &str, &[&str], Option<&str>); 7] = [
    ("agent1", "Demo agent", &["agent"], None),
    ("dispatcher1", "Demo dispatcher", &["dispatcher"], None),
    ("supervisor1", "Demo supervisor", &["supervisor"], None),
    ("admin1", "Demo administrator", &["admin"], None),
    (
        "th-staff1",
        "Demo Tianhe staff",
        &["department_staff", "knowledge_editor"],
        Some("GZ-TH"),
    ),
    (
        "hz-staff1",
        "Demo Haizhu staff",
        &["department_staff"],
        Some("GZ-HZ"),
    ),
    // The centre's knowledge editor (the demo's `city.centre`): reviews, publishes, rejects
    // and retires the departments' knowledge items.
    (
        "kb-centre1",
        "Demo centre knowledge editor",
        &["knowledge_editor"],
        Some("GZ-CENTRE"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_accounts_are_checked() {
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(NewAccount::parse("agent7", None, &roles(&["agent"]), None).is_ok());
        assert!(matches!(
            NewAccount::parse("agent7", None, &roles(&["root"]), None),
            Err(AccountError::UnknownRole(_))
        ));
        assert!(matches!(
            NewAccount::parse("staff", None, &roles(&["department_staff"]), None),
            Err(AccountError::DeptRequired)
        ));
        assert!(matches!(
            NewAccount::parse("agent7", None, &roles(&["agent"]), Some("GZ-TH")),
            Err(AccountError::DeptNotAllowed)
        ));
        assert!(matches!(
            NewAccount::parse("staff", None, &roles(&["department_staff"]), Some("gz th")),
            Err(AccountError::Dept(_))
        ));
        assert!(matches!(
            NewAccount::parse("Agent 7", None, &roles(&["agent"]), None),
            Err(AccountError::Username)
        ));
        assert!(matches!(
            NewAccount::parse("agent7", None, &[], None),
            Err(AccountError::NoRoles)
        ));
        for (u, _, r, d) in DEMO_ACCOUNTS {
            let r: Vec<String> = r.iter().map(|s| (*s).to_owned()).collect();
            assert!(NewAccount::parse(u, None, &r, d).is_ok(), "{u}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(parse_role(r.as_str()).ok(), Some(r));
        }
    }
}
