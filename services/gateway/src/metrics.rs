//! The gateway's Prometheus metrics. Labels are department codes, kinds and outcomes: never
//! anything about a citizen.

use std::sync::LazyLock;

use hotline_telemetry::prometheus::{HistogramVec, IntCounterVec};
use hotline_telemetry::{counter_vec, histogram_vec};

/// Assignments published to `delivery.<dept>` by the forwarder.
pub static FORWARDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "hotline_gateway_deliveries_forwarded_total",
        "Assignments published to department delivery subjects",
        &["kind"],
    )
});

/// Assignments handed to a connected department.
pub static SENT: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "hotline_gateway_deliveries_sent_total",
        "Assignments sent to departments (redeliveries included)",
        &["protocol"],
    )
});

/// Acks and naks from departments; `unknown` is an id this stream or replica does not hold.
pub static ACKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "hotline_gateway_acks_total",
        "Acknowledgements received from departments, by result",
        &["protocol", "result"],
    )
});

/// Requests refused because of the caller: unauthenticated, forbidden, invalid...
pub static REFUSALS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "hotline_gateway_refusals_total",
        "Requests refused, by reason",
        &["reason"],
    )
});

/// Assignments given up on after too many deliveries, or undecodable.
pub static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "hotline_gateway_dead_letters_total",
        "Delivery messages moved to the dead-letter stream",
        &["reason"],
    )
});

/// Latency of department requests, by protocol, rpc and outcome.
pub static RPC_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "hotline_gateway_rpc_seconds",
        "Latency of department requests",
        &["protocol", "rpc", "outcome"],
    )
});
