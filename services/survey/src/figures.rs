//! Satisfaction and resolution figures (满意率、解决率), by department, matter, channel, agent
//! or period, over surveys whose completion fell in `[from, to)`.
//!
//! - satisfaction rate: (满意 + 基本满意) / cases rated (承办满意率);
//! - call satisfaction rate: the same over call ratings (话务满意度, the agent who took it);
//! - resolution rate: resolved / answered;
//! - reach rate: answered / (answered + unreachable): unreachable is counted apart, never as
//!   satisfied;
//! - 一次性解答率 (first-contact resolution): of the answers on the spot at least
//!   `first_contact_days` old, the share neither reported unresolved or 不满意 in the survey
//!   nor reopened.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool, Row as _};

use crate::error::SurveyError;

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Department,
    Matter,
    Channel,
    Agent,
    Day,
    Month,
}

impl By {
    pub fn parse(raw: &str) -> Option<By> {
        Some(match raw {
            "department" => By::Department,
            "matter" => By::Matter,
            "channel" => By::Channel,
            "agent" => By::Agent,
            "day" => By::Day,
            "month" => By::Month,
            _ => return None,
        })
    }

    /// The grouping expression: fixed SQL per variant, never caller text.
    fn key_sql(self) -> &'static str {
        match self {
            By::Department => "COALESCE(lead, 'centre')",
            By::Matter => "COALESCE(service_code, 'none')",
            By::Channel => "channel",
            By::Agent => "COALESCE(agent, 'none')",
            By::Day => "to_char(completed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')",
            By::Month => "to_char(completed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
        }
    }
}

/// One group's counts and rates.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Row {
    pub key: String,
    pub surveys: i64,
    pub pending: i64,
    pub answered: i64,
    pub unreachable: i64,
    pub resolved: i64,
    pub satisfied: i64,
    pub basically_satisfied: i64,
    pub dissatisfied: i64,
    pub call_satisfied: i64,
    pub call_basically_satisfied: i64,
    pub call_dissatisfied: i64,
    pub reopened: i64,
    pub satisfaction_rate: Option<f64>,
    pub call_satisfaction_rate: Option<f64>,
    pub resolution_rate: Option<f64>,
    pub reach_rate: Option<f64>,
}

impl Row {
    /// The sum of `rows`' counts, keyed `all`, with its own rates.
    fn sum(rows: &[Row]) -> Row {
        rows.iter()
            .fold(
                Row {
                    key: "all".to_owned(),
                    ..Row::default()
                },
                |t, r| Row {
                    surveys: t.surveys + r.surveys,
                    pending: t.pending + r.pending,
                    answered: t.answered + r.answered,
                    unreachable: t.unreachable + r.unreachable,
                    resolved: t.resolved + r.resolved,
                    satisfied: t.satisfied + r.satisfied,
                    basically_satisfied: t.basically_satisfied + r.basically_satisfied,
                    dissatisfied: t.dissatisfied + r.dissatisfied,
                    call_satisfied: t.call_satisfied + r.call_satisfied,
                    call_basically_satisfied: t.call_basically_satisfied
                        + r.call_basically_satisfied,
                    call_dissatisfied: t.call_dissatisfied + r.call_dissatisfied,
                    reopened: t.reopened + r.reopened,
                    ..t
                },
            )
            .rates()
    }

    fn rates(mut self) -> Row {
        let ratio = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
        let rated = self.satisfied + self.basically_satisfied + self.dissatisfied;
        let call_rated =
            self.call_satisfied + self.call_basically_satisfied + self.call_dissatisfied;
        self.satisfaction_rate = ratio(self.satisfied + self.basically_satisfied, rated);
        self.call_satisfaction_rate = ratio(
            self.call_satisfied + self.call_basically_satisfied,
            call_rated,
        );
        self.resolution_rate = ratio(self.resolved, self.answered);
        self.reach_rate = ratio(self.answered, self.answered + self.unreachable);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub by: By,
    pub rows: Vec<Row>,
    pub total: Row,
    /// 一次性解答率 and the answers on the spot it is computed over.
    pub first_contact_resolution_rate: Option<f64>,
    pub first_contact_answers: i64,
}

const COUNTS: &str = "count(*) AS surveys, \
    count(*) FILTER (WHERE state IN ('scheduled', 'invited')) AS pending, \
    count(*) FILTER (WHERE state = 'answered') AS answered, \
    count(*) FILTER (WHERE state = 'unreachable') AS unreachable, \
    count(*) FILTER (WHERE resolved) AS resolved, \
    count(*) FILTER (WHERE case_rating = 'satisfied') AS satisfied, \
    count(*) FILTER (WHERE case_rating = 'basically_satisfied') AS basically_satisfied, \
    count(*) FILTER (WHERE case_rating = 'dissatisfied') AS dissatisfied, \
    count(*) FILTER (WHERE call_rating = 'satisfied') AS call_satisfied, \
    count(*) FILTER (WHERE call_rating = 'basically_satisfied') AS call_basically_satisfied, \
    count(*) FILTER (WHERE call_rating = 'dissatisfied') AS call_dissatisfied, \
    count(*) FILTER (WHERE outcome = 'reopened') AS reopened";

fn row(r: &sqlx::postgres::PgRow, key: String) -> Result<Row, SurveyError> {
    Ok(Row {
        key,
        surveys: r.try_get("surveys")?,
        pending: r.try_get("pending")?,
        answered: r.try_get("answered")?,
        unreachable: r.try_get("unreachable")?,
        resolved: r.try_get("resolved")?,
        satisfied: r.try_get("satisfied")?,
        basically_satisfied: r.try_get("basically_satisfied")?,
        dissatisfied: r.try_get("dissatisfied")?,
        call_satisfied: r.try_get("call_satisfied")?,
        call_basically_satisfied: r.try_get("call_basically_satisfied")?,
        call_dissatisfied: r.try_get("call_dissatisfied")?,
        reopened: r.try_get("reopened")?,
        ..Row::default()
    }
    .rates())
}

/// The figures for `[from, to)`, optionally of one department (a department's staff see only
/// their own).
pub async fn compute(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: By,
    department: Option<&str>,
    first_contact_days: u32,
) -> Result<Figures, SurveyError> {
    let filter = "completed_at >= $1 AND completed_at < $2 AND state <> 'cancelled' \
                  AND ($3::text IS NULL OR lead = $3)";
    let key = by.key_sql();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key} AS key, {COUNTS} FROM survey.survey WHERE {filter} GROUP BY 1 ORDER BY 1"
    )))
    .bind(from)
    .bind(to)
    .bind(department)
    .fetch_all(pool)
    .await?;
    let rows = rows
        .iter()
        .map(|r| row(r, r.try_get::<String, _>("key").unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()?;
    // Every survey of the period is in exactly one group, and every count adds up: the total
    // is the groups' sum, not a second scan of the period.
    let total = Row::sum(&rows);
    let first = sqlx::query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE COALESCE(s.resolved, true) \
         AND s.case_rating IS DISTINCT FROM 'dissatisfied' AND COALESCE(t.reopens, 0) = 0) AS ok \
         FROM survey.survey s LEFT JOIN survey.ticket t USING (ticket_no) \
         WHERE s.kind = 'on_the_spot' AND s.completed_at >= $1 AND s.completed_at < $2 \
         AND s.completed_at <= now() - make_interval(days => $3) AND s.state <> 'cancelled' \
         AND ($4::text IS NULL OR s.lead = $4)",
    )
    .bind(from)
    .bind(to)
    .bind(i32::try_from(first_contact_days).unwrap_or(i32::MAX))
    .bind(department)
    .fetch_one(pool)
    .await?;
    let n: i64 = first.try_get("n")?;
    let ok: i64 = first.try_get("ok")?;
    Ok(Figures {
        from,
        to,
        by,
        rows,
        total,
        first_contact_resolution_rate: (n > 0).then(|| ok as f64 / n as f64),
        first_contact_answers: n,
    })
}

/// The rows as CSV (a header, then one line per group, then `all`).
pub fn to_csv(figures: &Figures) -> Result<String, SurveyError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    w.write_record([
        "key",
        "surveys",
        "pending",
        "answered",
        "unreachable",
        "resolved",
        "satisfied",
        "basically_satisfied",
        "dissatisfied",
        "call_satisfied",
        "call_basically_satisfied",
        "call_dissatisfied",
        "reopened",
        "satisfaction_rate",
        "call_satisfaction_rate",
        "resolution_rate",
        "reach_rate",
    ])
    .map_err(|e| SurveyError::Other(e.into()))?;
    for r in figures.rows.iter().chain(std::iter::once(&figures.total)) {
        let n = |v: i64| v.to_string();
        w.write_record([
            r.key.clone(),
            n(r.surveys),
            n(r.pending),
            n(r.answered),
            n(r.unreachable),
            n(r.resolved),
            n(r.satisfied),
            n(r.basically_satisfied),
            n(r.dissatisfied),
            n(r.call_satisfied),
            n(r.call_basically_satisfied),
            n(r.call_dissatisfied),
            n(r.reopened),
            fmt(r.satisfaction_rate),
            fmt(r.call_satisfaction_rate),
            fmt(r.resolution_rate),
            fmt(r.reach_rate),
        ])
        .map_err(|e| SurveyError::Other(e.into()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SurveyError::Other(anyhow::anyhow!("{e}")))?;
    String::from_utf8(bytes).map_err(|e| SurveyError::Other(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_count_basically_satisfied_as_satisfied_and_unreachable_apart() {
        let r = Row {
            answered: 8,
            unreachable: 2,
            resolved: 6,
            satisfied: 5,
            basically_satisfied: 1,
            dissatisfied: 2,
            ..Row::default()
        }
        .rates();
        assert_eq!(r.satisfaction_rate, Some(0.75));
        assert_eq!(r.resolution_rate, Some(0.75));
        assert_eq!(r.reach_rate, Some(0.8));
        assert_eq!(r.call_satisfaction_rate, None, "no call rated");
    }

    #[test]
    fn the_total_is_the_groups_sum_with_its_own_rates() {
        let a = Row {
            key: "GZ-TH".into(),
            surveys: 10,
            answered: 4,
            resolved: 4,
            satisfied: 4,
            ..Row::default()
        }
        .rates();
        let b = Row {
            key: "GZ-HZ".into(),
            surveys: 5,
            answered: 4,
            unreachable: 1,
            resolved: 2,
            dissatisfied: 4,
            ..Row::default()
        }
        .rates();
        let total = Row::sum(&[a, b]);
        assert_eq!(total.key, "all");
        assert_eq!(
            (total.surveys, total.answered, total.unreachable),
            (15, 8, 1)
        );
        assert_eq!(total.satisfaction_rate, Some(0.5), "4 of 8 rated");
        assert_eq!(total.resolution_rate, Some(0.75));
        assert_eq!(Row::sum(&[]).satisfaction_rate, None);
    }
}
