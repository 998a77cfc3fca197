//! Property-based fuzz of the verifier (issue 8): whatever arrives in `Authorization: Bearer`,
//! verification never panics and accepts nothing but the issuer's own untouched token.
//! Arbitrary text, token-shaped text, valid tokens with bytes flipped in any part, `alg: none`,
//! HS256 keyed with the public key, missing or made-up kids, and huge tokens.

use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::json;

use super::b64url;
use crate::jwt::{MAX_TOKEN_BYTES, Verifier, VerifyError};
use crate::principal::Role;
use crate::testing::TestIssuer;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    issuer: TestIssuer,
    verifier: Verifier,
    valid: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (issuer, verifier, valid) = runtime.block_on(async {
            let issuer = TestIssuer::start().await;
            let mut config = issuer.verifier_config();
            // Made-up kids must not turn the fuzz into a JWKS download loop.
            config.min_refetch = std::time::Duration::from_secs(3600);
            let verifier = Verifier::new(config).expect("verifier");
            let valid = issuer.token("admin1", &[Role::Admin], None);
            verifier
                .verify(&valid)
                .await
                .expect("the valid token verifies");
            (issuer, verifier, valid)
        });
        Fixture {
            runtime,
            issuer,
            verifier,
            valid,
        }
    })
}

fn verify(token: &str) -> Result<(), VerifyError> {
    let f = fixture();
    f.runtime
        .block_on(f.verifier.verify(token))
        .map(|p| assert_eq!(p.subject, "admin1"))
}

fn b64_alphabet() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9_-]{0,200}").expect("regex")
}

fn header_alg() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("none".to_owned()),
        Just("NONE".to_owned()),
        Just("HS256".to_owned()),
        Just("HS512".to_owned()),
        Just("ES256".to_owned()),
        Just("ES384".to_owned()),
        Just("RS256".to_owned()),
        Just("PS256".to_owned()),
        Just("EdDSA".to_owned()),
        "[A-Za-z0-9]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_refused(s in any::<String>()) {
        prop_assert!(verify(&s).is_err());
    }

    #[test]
    fn arbitrary_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(verify(&String::from_utf8_lossy(&bytes)).is_err());
    }

    #[test]
    fn token_shaped_text_is_refused(a in b64_alphabet(), b in b64_alphabet(), c in b64_alphabet(), dots in 0usize..5) {
        let token = match dots {
            0 => a,
            1 => format!("{a}.{b}"),
            2 => format!("{a}.{b}.{c}"),
            3 => format!("{a}.{b}.{c}.{a}"),
            _ => format!("{a}..{c}"),
        };
        prop_assert!(verify(&token).is_err());
    }

    #[test]
    fn a_valid_token_with_any_byte_changed_is_refused(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let f = fixture();
        let mut bytes = f.valid.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        let token = String::from_utf8_lossy(&bytes).into_owned();
        prop_assume!(token != f.valid);
        prop_assert!(verify(&token).is_err(), "accepted a token changed at byte {i}");
    }

    #[test]
    fn a_valid_token_cut_or_extended_is_refused(cut in 1usize..400, tail in "[A-Za-z0-9_.=-]{1,40}") {
        let f = fixture();
        let shorter = &f.valid[..f.valid.len().saturating_sub(cut)];
        prop_assert!(verify(shorter).is_err());
        let appended = format!("{}{}", f.valid, tail);
        let prepended = format!("{}{}", tail, f.valid);
        prop_assert!(verify(&appended).is_err());
        prop_assert!(verify(&prepended).is_err());
    }

    #[test]
    fn forged_headers_and_claims_are_refused(
        alg in header_alg(),
        kid in prop_oneof![Just(None), Just(Some("current".to_owned())), "[ -~]{0,40}".prop_map(Some)],
        sig in b64_alphabet(),
        roles in proptest::collection::vec("[a-z_]{0,20}", 0..4),
        extra in proptest::collection::btree_map("[a-z]{1,6}", any::<i64>(), 0..4),
    ) {
        let f = fixture();
        let current = f.issuer.current_key().kid;
        let kid = kid.map(|k| if k == "current" { current.clone() } else { k });
        let mut header = json!({ "alg": alg, "typ": "JWT" });
        if let Some(k) = &kid {
            header["kid"] = json!(k);
        }
        let mut claims = f.issuer.claims("admin1", &[Role::Admin], None);
        claims["roles"] = json!(roles);
        for (k, v) in extra {
            claims[k] = json!(v);
        }
        let token = format!(
            "{}.{}.{sig}",
            b64url(&serde_json::to_vec(&header).expect("json")),
            b64url(&serde_json::to_vec(&claims).expect("json"))
        );
        prop_assert!(verify(&token).is_err());
    }

    #[test]
    fn hmac_keyed_with_public_material_is_refused(secret_choice in 0usize..4, use_kid in any::<bool>()) {
        let f = fixture();
        let key = f.issuer.current_key();
        let jwk = serde_json::to_value(&key.jwk).expect("jwk");
        let x = jwk["x"].as_str().unwrap_or_default().to_owned();
        let y = jwk["y"].as_str().unwrap_or_default().to_owned();
        let secret: Vec<u8> = match secret_choice {
            0 => serde_json::to_vec(&jwk).expect("json"),
            1 => format!("{x}{y}").into_bytes(),
            2 => x.into_bytes(),
            _ => f.issuer.issuer.clone().into_bytes(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = use_kid.then(|| key.kid.clone());
        let claims = f.issuer.claims("admin1", &[Role::Admin], None);
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret).expect("key")).expect("sign");
        prop_assert!(verify(&token).is_err());
    }
}

#[test]
fn huge_tokens_are_refused_before_any_work() {
    let f = fixture();
    let padded = format!("{}{}", f.valid, "A".repeat(MAX_TOKEN_BYTES));
    assert_eq!(verify(&padded), Err(VerifyError::Malformed));
    let huge_claims = f
        .issuer
        .sign(&json!({ "sub": "admin1", "blob": "x".repeat(MAX_TOKEN_BYTES) }));
    assert_eq!(verify(&huge_claims), Err(VerifyError::Malformed));
    assert_eq!(verify(&"a.".repeat(1 << 20)), Err(VerifyError::Malformed));
    // And the untouched token still passes: the properties above are not vacuous.
    assert_eq!(verify(&f.valid), Ok(()));
}
