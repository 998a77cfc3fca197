//! Prometheus metrics of the survey service. Labels are channels, methods, outcomes and
//! department codes: no personal data.

use std::sync::LazyLock;

use hotline_telemetry::prometheus;
use sqlx::{PgPool, Row as _};

use crate::error::SurveyError;

pub static SCHEDULED: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_survey_scheduled_total",
        "Surveys scheduled, by kind (case, on_the_spot)",
        &["kind"],
    )
});

pub static INVITATIONS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_survey_invitations_total",
        "Survey links sent (by channel) and callback tasks opened (phone)",
        &["method"],
    )
});

pub static ANSWERS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_survey_answers_total",
        "Survey answers, by how they came (link, agent, ivr, message) and what followed (closed, reopened, review)",
        &["via", "outcome"],
    )
});

pub static UNREACHABLE: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_survey_unreachable_total",
        "Surveys closed as unreachable after the last attempt",
        &[],
    )
    .with_label_values(&[] as &[&str])
});

pub static COMMANDS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_survey_ledger_commands_total",
        "Survey answers, reopens, closes and supervision orders sent to the ledger, by outcome (sent, refused, retry)",
        &["outcome"],
    )
});

pub static PENDING: LazyLock<prometheus::GaugeVec> = LazyLock::new(|| {
    hotline_telemetry::gauge_vec(
        "hotline_survey_pending",
        "Surveys not yet answered, by state (scheduled, invited)",
        &["state"],
    )
});

pub static RATES: LazyLock<prometheus::GaugeVec> = LazyLock::new(|| {
    hotline_telemetry::gauge_vec(
        "hotline_survey_rate_30d",
        "Over the last 30 days: satisfaction (满意+基本满意 of rated cases), call satisfaction (话务), resolution and reach rates, by channel (all: every channel)",
        &["rate", "channel"],
    )
});

/// Recomputes the gauges (one task per replica, periodically).
pub async fn refresh(pool: &PgPool, first_contact_days: u32) -> Result<(), SurveyError> {
    let rows = sqlx::query(
        "SELECT state, count(*)::float8 AS n FROM survey.survey \
         WHERE state IN ('scheduled', 'invited') GROUP BY state",
    )
    .fetch_all(pool)
    .await?;
    PENDING.reset();
    for r in rows {
        let state: String = r.try_get("state")?;
        PENDING
            .with_label_values(&[state.as_str()])
            .set(r.try_get("n")?);
    }
    let to = chrono::Utc::now();
    let from = to - chrono::Duration::days(30);
    let figures = crate::figures::compute(
        pool,
        from,
        to,
        crate::figures::By::Channel,
        None,
        first_contact_days,
    )
    .await?;
    RATES.reset();
    for row in figures.rows.iter().chain(std::iter::once(&figures.total)) {
        for (rate, value) in [
            ("satisfaction", row.satisfaction_rate),
            ("call_satisfaction", row.call_satisfaction_rate),
            ("resolution", row.resolution_rate),
            ("reach", row.reach_rate),
        ] {
            if let Some(v) = value {
                RATES.with_label_values(&[rate, row.key.as_str()]).set(v);
            }
        }
    }
    Ok(())
}
