//! The issuer's metrics. Labels are grant types, outcomes and reasons: never a username.

use std::sync::OnceLock;

use hotline_telemetry::prometheus::{IntCounter, IntCounterVec};

/// Tokens issued, by grant (`password`, `authorization_code`, `refresh_token`).
pub fn issued() -> &'static IntCounterVec {
    static M: OnceLock<IntCounterVec> = OnceLock::new();
    M.get_or_init(|| {
        hotline_telemetry::counter_vec(
            "identity_tokens_issued_total",
            "Tokens issued by the identity service, by grant type",
            &["grant"],
        )
    })
}

/// Requests refused, by grant (or `authorize`, `userinfo`) and reason.
pub fn refused() -> &'static IntCounterVec {
    static M: OnceLock<IntCounterVec> = OnceLock::new();
    M.get_or_init(|| {
        hotline_telemetry::counter_vec(
            "identity_refusals_total",
            "Sign-ins and token requests the identity service refused, by grant and reason",
            &["grant", "reason"],
        )
    })
}

/// Accounts locked after repeated wrong passwords.
pub fn lockouts() -> IntCounter {
    static M: OnceLock<IntCounterVec> = OnceLock::new();
    M.get_or_init(|| {
        hotline_telemetry::counter_vec(
            "identity_lockouts_total",
            "Accounts locked after repeated wrong passwords",
            &[],
        )
    })
    .with_label_values::<&str>(&[])
}
