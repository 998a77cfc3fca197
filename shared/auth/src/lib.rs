//! Who is calling.
//!
//! - Department credentials (this file): a bearer token per department, stored only as its
//!   SHA-256. Shared by every service a department's system talks to (the gateway, the
//!   knowledge base's editing API).
//! - People (the centre's staff, department staff): [`jwt`] verifies their access tokens against
//!   the issuer's JWKS; [`principal`] says who they are ([`Role`], [`Principal`]); [`extract`]
//!   is the axum extractor and the one 401/403 refusal. docs/roles.md is the table of roles.
//! - [`testing`] (feature `testing`): a stand-in issuer for other crates' tests.
//!
//! The presented token is hashed and compared with every stored digest in constant time (no
//! early exit, no data-dependent branch), so neither timing nor the order of the credential list
//! tells an attacker how close a guess was.
#![forbid(unsafe_code)]

pub mod extract;
pub mod jwt;
pub mod principal;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use extract::{AuthError, Authorized, Policy};
pub use jwt::{Verifier, VerifierConfig, VerifyError};
pub use principal::{CENTRE_ROLES, Principal, REVEAL_ROLES, Role};

use anyhow::Context as _;
use hotline_domain::{DeptCode, Directory};
use sha2::{Digest as _, Sha256};

/// Longest token accepted; a bound so that hashing a huge header costs nothing.
const MAX_TOKEN_LEN: usize = 512;

/// The demo token of a department: `demo-` + its code in lowercase (`demo-gz-th`).
pub fn demo_token(code: &DeptCode) -> String {
    format!("demo-{}", code.as_str().to_ascii_lowercase())
}

#[derive(Clone)]
struct Entry {
    digest: [u8; 32],
    department: DeptCode,
}

/// Who may connect.
#[derive(Clone, Default)]
pub struct Authenticator {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print digests.
        f.debug_struct("Authenticator")
            .field("credentials", &self.entries.len())
            .finish()
    }
}

impl Authenticator {
    /// The configured credentials, plus the demo ones when `settings.demo` is on.
    pub fn from_settings(settings: &hotline_config::Settings) -> anyhow::Result<Authenticator> {
        let mut auth = Authenticator::default();
        for c in &settings.gateway.credentials {
            let department = DeptCode::parse(&c.department)
                .with_context(|| format!("gateway credential department {:?}", c.department))?;
            let digest = decode_digest(&c.token_sha256).with_context(|| {
                format!("gateway credential for {department}: token_sha256 is not 64 hex digits")
            })?;
            auth.entries.push(Entry { digest, department });
        }
        if settings.demo {
            for dept in Directory::demo().iter() {
                auth.add_token(&demo_token(&dept.code), dept.code.clone());
            }
        }
        Ok(auth)
    }

    /// Adds a credential from a clear token (demo and tests).
    pub fn add_token(&mut self, token: &str, department: DeptCode) {
        self.entries.push(Entry {
            digest: Sha256::digest(token.as_bytes()).into(),
            department,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The department a token belongs to.
    pub fn department_for_token(&self, token: &str) -> Option<DeptCode> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found: Option<&DeptCode> = None;
        // Visit every entry whatever matches, so the time taken does not depend on the match.
        for entry in &self.entries {
            if constant_time_eq(&presented, &entry.digest) && found.is_none() {
                found = Some(&entry.department);
            }
        }
        found.cloned()
    }

    /// The department named by an `Authorization` header value (`Bearer <token>`).
    pub fn department_for_header(&self, header: Option<&str>) -> Option<DeptCode> {
        let token = bearer_token(header?)?;
        self.department_for_token(token)
    }
}

/// `Bearer <token>` -> `<token>`; the scheme is case-insensitive (RFC 7235).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

fn decode_digest(hex_digest: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_digest.trim()).context("not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("not 32 bytes"))
}

/// Equality whose running time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into an early-exit compare.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> hotline_config::Settings {
        hotline_config::Settings::load_from(
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .expect("valid settings")
    }

    fn code(raw: &str) -> DeptCode {
        DeptCode::parse(raw).expect("code")
    }

    #[test]
    fn demo_adds_a_token_for_every_department() {
        let auth =
            Authenticator::from_settings(&settings(&[("HOTLINE__DEMO", "true")])).expect("builds");
        assert_eq!(auth.len(), Directory::demo().len());
        assert_eq!(auth.department_for_token("demo-gz-th"), Some(code("GZ-TH")));
        assert_eq!(
            auth.department_for_header(Some("Bearer demo-gz-zj")),
            Some(code("GZ-ZJ"))
        );
        assert_eq!(auth.department_for_token("demo-GZ-TH"), None);
        assert_eq!(auth.department_for_token("demo-gz-nowhere"), None);
    }

    #[test]
    fn without_demo_nobody_gets_in_until_configured() {
        let auth = Authenticator::from_settings(&settings(&[])).expect("builds");
        assert!(auth.is_empty());
        assert_eq!(auth.department_for_token("demo-gz-th"), None);
    }

    #[test]
    fn configured_digests_authenticate_their_department() {
        let digest = hex::encode(Sha256::digest(b"s3cret-token"));
        let mut s = settings(&[]);
        s.gateway.credentials.push(hotline_config::Credential {
            department: "GZ-HZ".into(),
            token_sha256: digest.to_uppercase(),
        });
        let auth = Authenticator::from_settings(&s).expect("builds");
        assert_eq!(
            auth.department_for_header(Some("bearer  s3cret-token ")),
            Some(code("GZ-HZ"))
        );
        assert_eq!(auth.department_for_header(Some("Basic s3cret-token")), None);
        assert_eq!(auth.department_for_header(Some("Bearer")), None);
        assert_eq!(auth.department_for_header(Some("Bearer ")), None);
        assert_eq!(auth.department_for_header(None), None);
        let huge = "x".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(auth.department_for_token(&huge), None);
    }

    #[test]
    fn a_credential_naming_an_invalid_department_stops_start_up() {
        let mut s = settings(&[]);
        s.gateway.credentials.push(hotline_config::Credential {
            department: "gz th".into(),
            token_sha256: "0".repeat(64),
        });
        assert!(Authenticator::from_settings(&s).is_err());
    }

    #[test]
    fn constant_time_eq_compares_whole_digests() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!constant_time_eq(&a, &b));
    }

    #[test]
    fn debug_output_shows_no_digest() {
        let mut auth = Authenticator::default();
        auth.add_token("t", code("GZ-TH"));
        let text = format!("{auth:?}");
        assert!(!text.contains(&hex::encode(Sha256::digest(b"t"))));
    }
}
