//! The email channel's Prometheus counters. Labels are fixed words (outcomes, reasons, rules):
//! never an address, a subject or a host name.

use std::sync::LazyLock;

use hotline_telemetry::prometheus::IntCounterVec;

/// Connections by `outcome`: `served`, `busy` (over `email.max_connections`, answered 421).
pub static CONNECTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_email_connections_total",
        "SMTP connections, by outcome",
        &["outcome"],
    )
});

/// Messages taken (`250` after DATA), by `outcome`: `created`, `replayed`, `replayed_cache`,
/// `supplemented`, `supplement_replayed`, `supplement_empty`, `supplement_refused` (the ticket
/// was not waiting for the citizen), `dropped_bounce`,
/// `dropped_auto_reply`, `dropped_own` (taken but no ticket: see `loops`).
pub static ACCEPTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_email_accepted_total",
        "Mail messages taken, by outcome",
        &["outcome"],
    )
});

/// Refusals by `reason` (`unknown_recipient`, `too_large`, `idle_timeout`, `text`,
/// `attachment_type`, `unavailable`, ...), whichever command or stage they came at.
pub static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_email_refused_total",
        "SMTP commands and messages refused, by reason",
        &["reason"],
    )
});

/// Auto-replies by `outcome`: `sent`, `failed`, `no_relay`, or `suppressed_<rule>` (the loop
/// rule that held it back).
pub static AUTO_REPLIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_email_auto_replies_total",
        "Auto-replies with the ticket number, by outcome",
        &["outcome"],
    )
});

pub fn refused(reason: &str) {
    REFUSED.with_label_values(&[reason]).inc();
}

pub fn accepted(outcome: &str) {
    ACCEPTED.with_label_values(&[outcome]).inc();
}
