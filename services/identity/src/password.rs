//! Password hashing: Argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1), a random
//! salt from the OS for every hash, PHC strings in the database.
//!
//! Hashing is deliberately slow, so it runs on the blocking pool, never on a request's worker.

use std::sync::OnceLock;

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

/// Passwords are at least this long (characters) ...
pub const MIN_LEN: usize = 8;
/// ... and at most this long (bytes): hashing is slow on purpose, the input need not be.
pub const MAX_BYTES: usize = 1024;

/// The PHC string of `password`.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .context("the hashing task ended")?
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches `phc`. `None` checks against a fixed dummy hash (and is always
/// false), so an unknown user costs the same time as a known one.
pub async fn verify(password: String, phc: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        if password.len() > MAX_BYTES {
            return Ok(false);
        }
        match phc {
            Some(phc) => verify_now(&password, &phc),
            None => {
                let dummy = dummy_hash()?;
                let _ = verify_now(&password, dummy)?;
                Ok(false)
            }
        }
    })
    .await
    .context("the verifying task ended")?
}

fn verify_now(password: &str, phc: &str) -> anyhow::Result<bool> {
    let parsed =
        PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("a stored hash is malformed: {e}"))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// A hash of a random password, made once per process with the same parameters as real ones.
fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let random: [u8; 16] = rand::random();
    let h = hash_now(&hex_of(&random))?;
    Ok(DUMMY.get_or_init(|| h))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuses passwords too short to be worth hashing or too long to hash.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("a password needs at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_BYTES {
        return Err(format!("a password has at most {MAX_BYTES} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(
            verify("correct horse".into(), Some(phc.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("correct hors".into(), Some(phc.clone()))
                .await
                .expect("verify")
        );
        // Salted: the same password hashes differently.
        assert_ne!(phc, hash("correct horse".into()).await.expect("hash"));
        assert!(!verify("anything".into(), None).await.expect("dummy"));
    }
}
