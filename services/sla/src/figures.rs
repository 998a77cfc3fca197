//! Timeliness figures (per department, stage and period) and the periodic report (通报) of
//! overdue, supervised and escalated tickets.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row as _};

use crate::error::SlaError;
use crate::policy::Stage;
use crate::store::{CLOCK_COLUMNS, Clock};

/// The longest period a figure or report covers.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The period when none is given: the last 30 days.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;
/// Most tickets one report lists.
pub const REPORT_LIMIT: i64 = 10_000;

/// A half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// `raw` as RFC 3339, or as a local date (Asia/Shanghai): the start of that day, or for the end
/// of a period the start of the next day (a `to` date is included).
fn instant(field: &str, raw: &str, end: bool) -> Result<DateTime<Utc>, SlaError> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        SlaError::invalid(format!(
            "{field}: {raw:?} is neither an RFC 3339 time nor a date (YYYY-MM-DD)"
        ))
    })?;
    let date = if end {
        date.succ_opt()
            .ok_or_else(|| SlaError::invalid(format!("{field}: date out of range")))?
    } else {
        date
    };
    Ok(crate::calendar::to_utc(
        date.and_time(chrono::NaiveTime::MIN),
    ))
}

impl Period {
    /// From the query's `from` and `to` (either may be missing: to = now, from = to - 30 days).
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Period, SlaError> {
        let to = match to.filter(|s| !s.trim().is_empty()) {
            Some(raw) => instant("to", raw, true)?,
            None => now,
        };
        let from = match from.filter(|s| !s.trim().is_empty()) {
            Some(raw) => instant("from", raw, false)?,
            None => to - Duration::days(DEFAULT_PERIOD_DAYS),
        };
        if from >= to {
            return Err(SlaError::invalid("from must be before to"));
        }
        if to - from > Duration::days(MAX_PERIOD_DAYS) {
            return Err(SlaError::invalid(format!(
                "a period may span at most {MAX_PERIOD_DAYS} days"
            )));
        }
        Ok(Period { from, to })
    }
}

/// One department × stage row of the figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    pub department: String,
    pub stage: String,
    /// Stages that ended in the period, and how many by their deadline.
    pub ended: i64,
    pub on_time: i64,
    pub on_time_rate: Option<f64>,
    /// Running now and past the deadline (red or further).
    pub overdue_now: i64,
    pub oldest_overdue_hours: Option<f64>,
    pub mean_overdue_hours: Option<f64>,
    /// Ladder steps fired in the period.
    pub warnings: i64,
    pub overdue: i64,
    pub supervised: i64,
    pub escalated: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub period: Period,
    /// On-time sign-off (签收) over all departments in the period.
    pub sign_off_on_time_rate: Option<f64>,
    /// On-time completion (办结) over all departments in the period.
    pub completion_on_time_rate: Option<f64>,
    pub overdue_now: i64,
    pub rows: Vec<Row>,
}

fn rate(on_time: i64, ended: i64) -> Option<f64> {
    (ended > 0).then(|| on_time as f64 / ended as f64)
}

/// The city's time zone, whose dates the daily rollups (`sla.day_ended`, `sla.day_steps`) are
/// counted by: the SLA calendar's (test: `the_rollups_count_by_the_calendars_days`).
pub const TIME_ZONE: &str = "Asia/Shanghai";

/// A period cut for the daily rollups: the whole local days inside it, read from the rollups,
/// and the partial days before and after them, read from the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySplit {
    /// The rows before the first whole day: `[period.from, head_end)`.
    pub head_end: DateTime<Utc>,
    /// The rows after the last whole day: `[tail_start, period.to)`.
    pub tail_start: DateTime<Utc>,
    /// The whole days `[first_day, end_day)` (empty when equal).
    pub first_day: NaiveDate,
    pub end_day: NaiveDate,
}

impl Period {
    /// The period cut at its whole days. A period that runs to `now` or later has its last day
    /// whole: nothing of it has happened after now, so the day's rollup is its rows so far
    /// (the default period, the last 30 days, reads only part of its first day from the rows).
    pub fn split_days(&self, now: DateTime<Utc>) -> DaySplit {
        let from = crate::calendar::to_local(self.from);
        let first = if from.time() == chrono::NaiveTime::MIN {
            from.date()
        } else {
            from.date().succ_opt().unwrap_or(NaiveDate::MAX)
        };
        let to = crate::calendar::to_local(self.to);
        let (end, tail_start) = if self.to >= now && to.time() != chrono::NaiveTime::MIN {
            (to.date().succ_opt().unwrap_or(NaiveDate::MAX), self.to)
        } else {
            let end = to.date();
            (
                end,
                crate::calendar::to_utc(end.and_time(chrono::NaiveTime::MIN)),
            )
        };
        if first < end {
            DaySplit {
                head_end: crate::calendar::to_utc(first.and_time(chrono::NaiveTime::MIN)),
                tail_start,
                first_day: first,
                end_day: end,
            }
        } else {
            // No whole day: the rows of the whole period, no rollup.
            DaySplit {
                head_end: self.to,
                tail_start: self.to,
                first_day: first,
                end_day: first,
            }
        }
    }
}

/// A period's ended clocks by department and stage, and how many were on time ($1, $2: the
/// period; $3: a department or NULL; $4: a stage or NULL; $5..$8: its [`DaySplit`]). The
/// partial days are read from `clock_closed_figures` alone (an index-only scan), the whole days
/// from `sla.day_ended` (test: tests/figures_plan.rs).
pub const ENDED_SQL: &str = "SELECT department, stage, sum(ended)::int8 AS ended, \
         sum(on_time)::int8 AS on_time FROM ( \
         SELECT COALESCE(department, 'centre') AS department, stage, 1 AS ended, \
         (state = 'met')::int AS on_time FROM sla.clock WHERE closed_at >= $1 AND closed_at < $5 \
         UNION ALL SELECT COALESCE(department, 'centre'), stage, 1, (state = 'met')::int \
         FROM sla.clock WHERE closed_at >= $6 AND closed_at < $2 \
         UNION ALL SELECT department, stage, ended, on_time FROM sla.day_ended \
         WHERE day >= $7 AND day < $8) AS t \
         WHERE ($3::text IS NULL OR department = $3) AND ($4::text IS NULL OR stage = $4) \
         GROUP BY 1, 2";

/// The clocks overdue now by department and stage ($5: now; $1, $2 unused, to share the
/// others' parameters). Read from `clock_overdue_figures` alone.
pub const OVERDUE_SQL: &str = "SELECT COALESCE(department, 'centre') AS department, stage, count(*) AS n, \
         EXTRACT(EPOCH FROM ($5 - min(due_at)))::float8 / 3600 AS oldest, \
         EXTRACT(EPOCH FROM avg($5 - due_at))::float8 / 3600 AS mean \
         FROM sla.clock WHERE state IN ('open', 'paused') AND level >= 2 \
         AND ($3::text IS NULL OR COALESCE(department, 'centre') = $3) \
         AND ($4::text IS NULL OR stage = $4) AND $1::timestamptz IS NOT NULL \
         AND $2::timestamptz IS NOT NULL GROUP BY 1, 2";

/// A period's fired ladder steps by department, stage and kind (parameters as [`ENDED_SQL`]'s).
/// The partial days are read from `event_log_fired_figures` alone, the whole days from
/// `sla.day_steps`.
pub const STEPS_SQL: &str = "SELECT department, stage, kind, sum(n)::int8 AS n FROM ( \
         SELECT COALESCE(department, 'centre') AS department, stage, kind, 1 AS n \
         FROM sla.event_log WHERE fired_at >= $1 AND fired_at < $5 \
         UNION ALL SELECT COALESCE(department, 'centre'), stage, kind, 1 \
         FROM sla.event_log WHERE fired_at >= $6 AND fired_at < $2 \
         UNION ALL SELECT department, stage, kind, n FROM sla.day_steps \
         WHERE day >= $7 AND day < $8) AS t \
         WHERE kind IN ('warning', 'overdue', 'supervised', 'escalated') \
         AND ($3::text IS NULL OR department = $3) AND ($4::text IS NULL OR stage = $4) \
         GROUP BY 1, 2, 3";

/// The period's ended clocks as (department, stage, ended, on time): the figures' first part,
/// and all the 30-day on-time gauge needs.
pub async fn ended(
    pool: &PgPool,
    period: Period,
    department: Option<&str>,
    stage: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String, i64, i64)>, SlaError> {
    let split = period.split_days(now);
    let rows = sqlx::query(ENDED_SQL)
        .bind(period.from)
        .bind(period.to)
        .bind(department)
        .bind(stage)
        .bind(split.head_end)
        .bind(split.tail_start)
        .bind(split.first_day)
        .bind(split.end_day)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("department")?,
                r.try_get("stage")?,
                r.try_get("ended")?,
                r.try_get("on_time")?,
            ))
        })
        .collect()
}

/// The figures for `period`, optionally for one department (`centre` for the centre's stages)
/// and one stage.
pub async fn figures(
    pool: &PgPool,
    period: Period,
    department: Option<&str>,
    stage: Option<Stage>,
    now: DateTime<Utc>,
) -> Result<Figures, SlaError> {
    let stage = stage.map(Stage::as_str);
    let split = period.split_days(now);
    let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
    for (department, stage, ended, on_time) in ended(pool, period, department, stage, now).await? {
        let e = entry(&mut rows, (department, stage));
        e.ended = ended;
        e.on_time = on_time;
        e.on_time_rate = rate(on_time, ended);
    }
    let overdue = sqlx::query(OVERDUE_SQL)
        .bind(period.from)
        .bind(period.to)
        .bind(department)
        .bind(stage)
        .bind(now)
        .fetch_all(pool)
        .await?;
    for r in overdue {
        let key = (r.try_get("department")?, r.try_get("stage")?);
        let e = entry(&mut rows, key);
        e.overdue_now = r.try_get("n")?;
        e.oldest_overdue_hours = r.try_get("oldest")?;
        e.mean_overdue_hours = r.try_get("mean")?;
    }
    let steps = sqlx::query(STEPS_SQL)
        .bind(period.from)
        .bind(period.to)
        .bind(department)
        .bind(stage)
        .bind(split.head_end)
        .bind(split.tail_start)
        .bind(split.first_day)
        .bind(split.end_day)
        .fetch_all(pool)
        .await?;
    for r in steps {
        let key = (r.try_get("department")?, r.try_get("stage")?);
        let kind: String = r.try_get("kind")?;
        let n: i64 = r.try_get("n")?;
        let e = entry(&mut rows, key);
        match kind.as_str() {
            "warning" => e.warnings = n,
            "overdue" => e.overdue = n,
            "supervised" => e.supervised = n,
            _ => e.escalated = n,
        }
    }
    let rows: Vec<Row> = rows.into_values().collect();
    let total = |stage: &str| {
        let (on_time, ended) = rows
            .iter()
            .filter(|r| r.stage == stage)
            .fold((0, 0), |(o, e), r| (o + r.on_time, e + r.ended));
        rate(on_time, ended)
    };
    Ok(Figures {
        period,
        sign_off_on_time_rate: total(Stage::SignOff.as_str()),
        completion_on_time_rate: total(Stage::Handling.as_str()),
        overdue_now: rows.iter().map(|r| r.overdue_now).sum(),
        rows,
    })
}

/// Counts the daily rollups again from the clocks and the log, in one transaction: for rows
/// changed behind the service's back (a restore, the console bench moving its tickets back in
/// time). The service keeps them itself in every other case.
///
/// The lock makes a close or firing that runs meanwhile wait for the recount and then add
/// itself, so none is counted twice or lost.
pub async fn recount_days(pool: &PgPool) -> Result<(), SlaError> {
    let mut tx = pool.begin().await?;
    for sql in [
        "LOCK TABLE sla.day_ended, sla.day_steps IN EXCLUSIVE MODE",
        "DELETE FROM sla.day_ended",
        "INSERT INTO sla.day_ended (day, department, stage, ended, on_time) \
         SELECT (closed_at AT TIME ZONE $1)::date, COALESCE(department, 'centre'), stage, \
         count(*), count(*) FILTER (WHERE state = 'met') \
         FROM sla.clock WHERE closed_at IS NOT NULL GROUP BY 1, 2, 3",
        "DELETE FROM sla.day_steps",
        "INSERT INTO sla.day_steps (day, department, stage, kind, n) \
         SELECT (fired_at AT TIME ZONE $1)::date, COALESCE(department, 'centre'), stage, kind, \
         count(*) FROM sla.event_log \
         WHERE kind IN ('warning', 'overdue', 'supervised', 'escalated') \
         GROUP BY 1, 2, 3, 4",
    ] {
        let query = sqlx::query(sql);
        let query = if sql.contains("$1") {
            query.bind(TIME_ZONE)
        } else {
            query
        };
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn entry(rows: &mut BTreeMap<(String, String), Row>, key: (String, String)) -> &mut Row {
    rows.entry(key.clone()).or_insert_with(|| Row {
        department: key.0,
        stage: key.1,
        ..Row::default()
    })
}

/// The report (通报): every stage clock that went overdue, was supervised or escalated in the
/// period, by department then deadline.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub period: Period,
    pub overdue: usize,
    pub supervised: usize,
    pub escalated: usize,
    pub clocks: Vec<Clock>,
}

pub async fn report(pool: &PgPool, period: Period) -> Result<Report, SlaError> {
    let sql = format!(
        "SELECT {CLOCK_COLUMNS} FROM sla.clock WHERE id IN (SELECT clock_id FROM sla.event_log \
         WHERE fired_at >= $1 AND fired_at < $2 AND kind IN ('overdue', 'supervised', 'escalated')) \
         ORDER BY COALESCE(department, 'centre'), due_at, id LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(period.from)
        .bind(period.to)
        .bind(REPORT_LIMIT)
        .fetch_all(pool)
        .await?;
    let clocks = rows
        .iter()
        .map(Clock::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let within = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= period.from && t < period.to);
    Ok(Report {
        period,
        overdue: clocks.iter().filter(|c| within(c.overdue_at)).count(),
        supervised: clocks.iter().filter(|c| within(c.supervised_at)).count(),
        escalated: clocks.iter().filter(|c| within(c.escalated_at)).count(),
        clocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-15T04:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn periods_parse_dates_and_times_and_refuse_nonsense() {
        let p = Period::parse(Some("2026-12-01"), Some("2026-12-01"), now()).expect("one day");
        assert_eq!(p.from.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert_eq!(p.to.to_rfc3339(), "2026-12-01T16:00:00+00:00");
        let p = Period::parse(None, None, now()).expect("default");
        assert_eq!(p.to, now());
        assert_eq!(p.to - p.from, Duration::days(30));
        let p = Period::parse(Some("2026-12-01T00:00:00+08:00"), None, now()).expect("rfc3339");
        assert_eq!(p.from.to_rfc3339(), "2026-11-30T16:00:00+00:00");
        assert!(matches!(
            Period::parse(Some("2026-02-30"), None, now()),
            Err(SlaError::Invalid(_))
        ));
        assert!(Period::parse(Some("2026-12-10"), Some("2026-12-01"), now()).is_err());
        assert!(Period::parse(Some("2024-01-01"), Some("2026-12-01"), now()).is_err());
    }

    fn local(s: &str) -> DateTime<Utc> {
        crate::calendar::to_utc(
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time"),
        )
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_rollups_count_by_the_calendars_days() {
        assert_eq!(TIME_ZONE, crate::calendar::TIME_ZONE.name());
    }

    #[test]
    fn a_period_of_dates_is_read_from_the_rollups_alone() {
        let now = local("2026-12-05 10:00");
        let p = Period::parse(Some("2026-11-01"), Some("2026-11-30"), now).expect("period");
        let s = p.split_days(now);
        assert_eq!(
            (s.first_day, s.end_day),
            (day("2026-11-01"), day("2026-12-01"))
        );
        assert_eq!((s.head_end, s.tail_start), (p.from, p.to), "no partial day");
    }

    #[test]
    fn the_last_thirty_days_read_only_their_partial_first_day_from_the_rows() {
        let now = local("2026-12-05 10:30");
        let p = Period::parse(None, None, now).expect("period");
        let s = p.split_days(now);
        // Today so far is today's rollup: nothing of it has happened after now.
        assert_eq!(
            (s.first_day, s.end_day),
            (day("2026-11-06"), day("2026-12-06"))
        );
        assert_eq!(s.head_end, local("2026-11-06 00:00"));
        assert!(p.from < s.head_end);
        assert_eq!(s.tail_start, p.to, "no rows after the last day");
    }

    #[test]
    fn a_period_that_ended_reads_its_partial_last_day_from_the_rows() {
        let now = local("2026-12-05 10:30");
        let p = Period {
            from: local("2026-11-20 00:00"),
            to: local("2026-12-04 18:00"),
        };
        let s = p.split_days(now);
        assert_eq!(
            (s.first_day, s.end_day),
            (day("2026-11-20"), day("2026-12-04"))
        );
        assert_eq!(s.head_end, p.from);
        assert_eq!(s.tail_start, local("2026-12-04 00:00"));
    }

    #[test]
    fn a_period_within_one_day_is_read_from_the_rows_alone() {
        let p = Period {
            from: local("2026-12-05 08:00"),
            to: local("2026-12-05 18:00"),
        };
        let s = p.split_days(local("2026-12-06 09:00"));
        assert_eq!(s.first_day, s.end_day, "no whole day");
        assert_eq!((s.head_end, s.tail_start), (p.to, p.to));
        // Across midnight but no whole day either.
        let p = Period {
            from: local("2026-12-04 20:00"),
            to: local("2026-12-05 06:00"),
        };
        let s = p.split_days(local("2026-12-06 09:00"));
        assert_eq!(s.first_day, s.end_day);
        assert_eq!(s.head_end, p.to);
    }
}
