//! Prometheus metrics of the SLA service. Labels are stages, steps, states and department codes
//! (organisations, not people): no personal data.

use std::sync::LazyLock;

use chrono::Utc;
use hotline_telemetry::prometheus;
use sqlx::{PgPool, Row as _};

use crate::error::SlaError;

pub static FIRED: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_sla_steps_fired_total",
        "Ladder steps fired, by step (warning, overdue, supervise, escalate)",
        &["step"],
    )
});

pub static LATENESS: LazyLock<prometheus::HistogramVec> = LazyLock::new(|| {
    hotline_telemetry::histogram_vec(
        "hotline_sla_firing_lateness_seconds",
        "How long after it was due a ladder step fired",
        &["step"],
    )
});

pub static COMMANDS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_sla_ledger_commands_total",
        "Supervision orders sent to the ledger, by outcome (sent, refused, retry)",
        &["outcome"],
    )
});

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C, name: &str) -> C {
    // Registering twice (`hotline all` runs every service in one process) keeps the first.
    match prometheus::register(Box::new(c.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => c,
        Err(e) => panic!("metric {name}: {e}"),
    }
}

fn int_gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::IntGaugeVec {
    let g = prometheus::IntGaugeVec::new(prometheus::Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(g, name)
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::GaugeVec {
    let g = prometheus::GaugeVec::new(prometheus::Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"));
    register(g, name)
}

pub static RUNNING: LazyLock<prometheus::IntGaugeVec> = LazyLock::new(|| {
    int_gauge_vec(
        "hotline_sla_running_clocks",
        "Stage clocks running now, by stage and state (open, paused)",
        &["stage", "state"],
    )
});

pub static OVERDUE: LazyLock<prometheus::IntGaugeVec> = LazyLock::new(|| {
    int_gauge_vec(
        "hotline_sla_overdue_clocks",
        "Running stage clocks past their deadline, by stage and department (centre for the centre's own stages)",
        &["stage", "department"],
    )
});

pub static OLDEST_OVERDUE: LazyLock<prometheus::GaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "hotline_sla_oldest_overdue_seconds",
        "Age past the deadline of the most overdue running clock, by stage",
        &["stage"],
    )
});

pub static ON_TIME: LazyLock<prometheus::GaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "hotline_sla_on_time_ratio_30d",
        "Share of stages ended by their deadline over the last 30 days, by stage (sign_off: on-time sign-off; handling: on-time completion)",
        &["stage"],
    )
});

/// Recomputes the gauges from the clocks (run periodically by one task per replica).
pub async fn refresh(pool: &PgPool) -> Result<(), SlaError> {
    let now = Utc::now();
    let rows = sqlx::query(
        "SELECT stage, state, count(*) AS n FROM sla.clock WHERE state IN ('open', 'paused') \
         GROUP BY stage, state",
    )
    .fetch_all(pool)
    .await?;
    RUNNING.reset();
    for r in rows {
        let (stage, state): (String, String) = (r.try_get("stage")?, r.try_get("state")?);
        RUNNING
            .with_label_values(&[stage.as_str(), state.as_str()])
            .set(r.try_get("n")?);
    }
    let rows = sqlx::query(
        "SELECT stage, COALESCE(department, 'centre') AS department, count(*) AS n, \
         EXTRACT(EPOCH FROM ($1 - min(due_at)))::float8 AS oldest \
         FROM sla.clock WHERE state IN ('open', 'paused') AND level >= 2 \
         GROUP BY stage, department",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    OVERDUE.reset();
    OLDEST_OVERDUE.reset();
    for r in rows {
        let (stage, department): (String, String) = (r.try_get("stage")?, r.try_get("department")?);
        OVERDUE
            .with_label_values(&[stage.as_str(), department.as_str()])
            .set(r.try_get("n")?);
        let oldest: Option<f64> = r.try_get("oldest")?;
        let g = OLDEST_OVERDUE.with_label_values(&[stage.as_str()]);
        g.set(g.get().max(oldest.unwrap_or(0.0)));
    }
    // The last 30 days as the figures count them (whole days from the daily rollups): a
    // recount of a month's clocks every 30 s in every replica was a steady load of its own.
    let period = crate::figures::Period {
        from: now - chrono::Duration::days(30),
        to: now,
    };
    let mut by_stage: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for (_, stage, ended, on_time) in crate::figures::ended(pool, period, None, None, now).await? {
        let (all_on_time, all_ended) = by_stage.entry(stage).or_default();
        *all_on_time += on_time;
        *all_ended += ended;
    }
    ON_TIME.reset();
    for (stage, (on_time, ended)) in by_stage {
        if ended > 0 {
            ON_TIME
                .with_label_values(&[stage.as_str()])
                .set(on_time as f64 / ended as f64);
        }
    }
    Ok(())
}
