//! The phone channel's Prometheus counters. Labels are events and outcomes: never a number.

use std::sync::LazyLock;

use hotline_telemetry::prometheus::{IntCounter, IntCounterVec};

/// CTI events by `event` (newCall, answer, hangup; `unknown` before parsing) and `outcome`
/// (applied, repeat, refused, unauthenticated).
pub static CTI_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_phone_cti_events_total",
        "CTI events from the call platform, by event and outcome",
        &["event", "outcome"],
    )
});

/// Calls that ended, by `direction` (in, out) and `outcome` (answered, abandoned).
pub static CALLS_ENDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_phone_calls_ended_total",
        "Calls that ended, by direction and whether they were answered",
        &["direction", "outcome"],
    )
});

/// Missed calls worked off the callback list.
pub static CALLBACKS_DONE: LazyLock<IntCounter> = LazyLock::new(|| {
    let c = hotline_telemetry::counter_vec(
        "hotline_phone_callbacks_done_total",
        "Missed calls marked as called back",
        &[],
    );
    c.with_label_values(&[] as &[&str])
});

/// Holds from dispatch ended by the phone channel, by `cause` (finished: the agent; wrap_up:
/// the sweeper after the hang-up; stale: no hang-up came) and `outcome` (released; moved_on:
/// the ledger had ended the hold, e.g. answered on the spot; unknown: no such ticket).
pub static RELEASES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_phone_releases_total",
        "Held tickets released (or found no longer held), by cause and outcome",
        &["cause", "outcome"],
    )
});
