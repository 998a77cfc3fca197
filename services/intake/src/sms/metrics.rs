//! The SMS channel's Prometheus counters. Labels are fixed words (templates, outcomes,
//! reasons): never a number, a text or a message id.

use std::sync::LazyLock;

use hotline_telemetry::prometheus::IntCounterVec;

/// Outbound messages by `template` (`receipt`, `progress`, `survey`, `one_time_code`) and
/// `outcome` (`sent`, `stopped`, `rate_limited`, `provider`, `refused`).
pub static SENT: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_sms_sent_total",
        "Outbound SMS, by template and outcome",
        &["template", "outcome"],
    )
});

/// Inbound callbacks by `outcome`: `created`, `replayed`, `replayed_cache`, `stop`, `start`,
/// `progress`, or `refused_<reason>` (`signature`, `stale`, `malformed`, `text`), `unavailable`.
pub static INBOUND: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_sms_inbound_total",
        "Inbound SMS callbacks, by outcome",
        &["outcome"],
    )
});
