//! `hotline users ...`: what an operator does with accounts and keys. The binary only parses;
//! everything happens here.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use chrono::Utc;
use hotline_config::Settings;

use crate::accounts::{Accounts, NewAccount};
use crate::keys::{KeyRing, RETIRED_MARGIN_SECS};

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Create an account. The password is read from standard input (one line), or asked for
    /// twice on a terminal.
    Add {
        username: String,
        /// agent, dispatcher, supervisor, knowledge_editor, admin or department_staff; repeat
        /// for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The department (e.g. GZ-TH): required for department_staff and knowledge_editor,
        /// refused for the others.
        #[arg(long)]
        dept: Option<String>,
        /// Display name, shown in the console and carried as the token's `name`.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input even on a terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts: roles, department, state, failures.
    List,
    /// Disable an account and end its sign-ins (refresh tokens revoked).
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Lift a lockout after repeated wrong passwords.
    Unlock { username: String },
    /// Set a new password (read like `add`); ends the account's other sign-ins.
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make a new signing key; the old one stays in the JWKS until its tokens have expired.
    RotateKey,
}

/// Runs one `hotline users` command against the configured database.
pub async fn run(settings: &Settings, command: UsersCommand) -> anyhow::Result<()> {
    let pool = crate::connect_db(settings).await?;
    crate::migrate(&pool).await?;
    let accounts = Accounts::new(pool.clone());
    match command {
        UsersCommand::Add {
            username,
            roles,
            dept,
            name,
            password_stdin,
        } => {
            let new = NewAccount::parse(&username, name.as_deref(), &roles, dept.as_deref())?;
            let password = read_password(password_stdin, true).await?;
            accounts.add(&new, &password).await?;
            println!("account {} created", new.username);
        }
        UsersCommand::List => {
            let now = Utc::now();
            println!("username\troles\tdept\tstate\tfailed_attempts\tcreated\tname");
            for a in accounts.list().await? {
                let state = if a.disabled {
                    "disabled".to_owned()
                } else if a.is_locked(now) {
                    format!(
                        "locked until {}",
                        a.locked_until.map(|t| t.to_rfc3339()).unwrap_or_default()
                    )
                } else {
                    "active".to_owned()
                };
                let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    a.username,
                    roles.join(","),
                    a.dept.as_ref().map(|d| d.as_str()).unwrap_or("-"),
                    state,
                    a.failed_attempts,
                    a.created_at.format("%Y-%m-%d"),
                    a.display_name
                );
            }
        }
        UsersCommand::Disable { username } => {
            accounts.set_disabled(&username, true).await?;
            println!("account {username} disabled; its refresh tokens are revoked");
        }
        UsersCommand::Enable { username } => {
            accounts.set_disabled(&username, false).await?;
            println!("account {username} enabled");
        }
        UsersCommand::Unlock { username } => {
            accounts.unlock(&username).await?;
            println!("account {username} unlocked");
        }
        UsersCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let password = read_password(password_stdin, true).await?;
            accounts.set_password(&username, &password).await?;
            println!("password of {username} set; its other sign-ins are ended");
        }
        UsersCommand::RotateKey => {
            let keys = KeyRing::new(pool.clone(), settings.identity.access_token_secs);
            let kid = keys.rotate().await?;
            println!(
                "new signing key {kid}; the previous key stays in the JWKS for {} s \
                 (access_token_secs + {RETIRED_MARGIN_SECS}); replicas sign with the new key \
                 within {} s",
                settings.identity.access_token_secs + RETIRED_MARGIN_SECS,
                crate::keys::RELOAD_SECS
            );
        }
    }
    Ok(())
}

/// One line from standard input, or asked for twice (not echoed) on a terminal.
async fn read_password(from_stdin: bool, confirm: bool) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let stdin = std::io::stdin();
        if from_stdin || !stdin.is_terminal() {
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']).to_owned();
            anyhow::ensure!(!password.is_empty(), "no password on standard input");
            return Ok(password);
        }
        let password = rpassword::prompt_password("password: ").context("reading the password")?;
        if confirm {
            let again = rpassword::prompt_password("again: ").context("reading the password")?;
            anyhow::ensure!(password == again, "the two passwords differ");
        }
        Ok(password)
    })
    .await
    .context("the password prompt ended")?
}
