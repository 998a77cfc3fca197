//! The supervisor's numbers, as pure functions (the handlers in `web::supervisor` fetch, these
//! compute): the period a report or a hotspot map is for ([`Period`]), the report's rows per
//! department ([`rows`]), its CSV ([`csv`]) and the rising topics against the period before
//! ([`rising`]).

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike as _, Duration, FixedOffset, Months, NaiveDate, TimeZone as _, Utc,
};
use serde::{Deserialize, Serialize};

/// The longest period a report or a map may cover (the SLA and survey APIs' own bound).
pub const MAX_DAYS: i64 = 366;

/// A period of whole local days, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("period {0:?}: use YYYY-MM, YYYY-Qn, YYYY, or YYYY-MM-DD..YYYY-MM-DD")]
pub struct BadPeriod(pub String);

impl Period {
    /// `2026-03` (a month), `2026-Q1` (a quarter), `2026` (a year), `2026-03-01..2026-03-15`
    /// (days, both included). At most [`MAX_DAYS`] days, first not after last.
    pub fn parse(raw: &str) -> Result<Period, BadPeriod> {
        let bad = || BadPeriod(raw.chars().take(40).collect());
        let raw = raw.trim();
        let period = if let Some((a, b)) = raw.split_once("..") {
            let day = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| bad());
            Period {
                first: day(a)?,
                last: day(b)?,
            }
        } else if let Some((y, q)) = raw.split_once("-Q").or_else(|| raw.split_once("-q")) {
            let year: i32 = y.parse().map_err(|_| bad())?;
            let q: u32 = q.parse().map_err(|_| bad())?;
            if !(1..=4).contains(&q) {
                return Err(bad());
            }
            let first = NaiveDate::from_ymd_opt(year, (q - 1) * 3 + 1, 1).ok_or_else(bad)?;
            Period {
                first,
                last: end_after(first, 3).ok_or_else(bad)?,
            }
        } else if raw.len() == 7 {
            let first =
                NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").map_err(|_| bad())?;
            Period {
                first,
                last: end_after(first, 1).ok_or_else(bad)?,
            }
        } else if raw.len() == 4 {
            let year: i32 = raw.parse().map_err(|_| bad())?;
            let first = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(bad)?;
            Period {
                first,
                last: end_after(first, 12).ok_or_else(bad)?,
            }
        } else {
            return Err(bad());
        };
        if period.first > period.last || period.days() > MAX_DAYS {
            return Err(bad());
        }
        Ok(period)
    }

    /// The current month of `today`.
    pub fn month_of(today: NaiveDate) -> Period {
        let first = today.with_day(1).unwrap_or(today);
        Period {
            first,
            last: end_after(first, 1).unwrap_or(today),
        }
    }

    pub fn days(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }

    /// The period of the same kind just before: the month, quarter or year before when this is
    /// one, else as many days ending the day before.
    pub fn previous(&self) -> Period {
        let whole_months =
            self.first.day() == 1 && self.last.succ_opt().is_some_and(|next| next.day() == 1);
        if whole_months {
            let months = (self.last.year() - self.first.year()) * 12 + self.last.month() as i32
                - self.first.month() as i32
                + 1;
            if let Some(first) = self.first.checked_sub_months(Months::new(months as u32)) {
                let last = self.first.pred_opt().unwrap_or(self.first);
                return Period { first, last };
            }
        }
        let last = self.first.pred_opt().unwrap_or(self.first);
        Period {
            first: last - Duration::days(self.days() - 1),
            last,
        }
    }

    /// `[from, to)` in UTC, the days being local days at `offset`.
    pub fn instants(&self, offset: FixedOffset) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |d: NaiveDate| {
            offset
                .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                .single()
                .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
        };
        (at(self.first), at(self.last + Duration::days(1)))
    }

    /// How the period is written in a query (`first..last`), which [`Period::parse`] reads.
    pub fn query(&self) -> String {
        format!("{}..{}", self.first, self.last)
    }
}

/// The last day of `months` months from `first`.
fn end_after(first: NaiveDate, months: u32) -> Option<NaiveDate> {
    first.checked_add_months(Months::new(months))?.pred_opt()
}

/// One row of the SLA API's figures (a department × stage).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlaRow {
    pub department: String,
    pub stage: String,
    #[serde(default)]
    pub ended: i64,
    #[serde(default)]
    pub on_time: i64,
    #[serde(default)]
    pub overdue_now: i64,
    #[serde(default)]
    pub overdue: i64,
    #[serde(default)]
    pub supervised: i64,
}

/// One row of the survey API's figures by department.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SurveyRow {
    pub key: String,
    #[serde(default)]
    pub answered: i64,
    #[serde(default)]
    pub satisfied: i64,
    #[serde(default)]
    pub basically_satisfied: i64,
    #[serde(default)]
    pub satisfaction_rate: Option<f64>,
}

/// A department's line of the report (通报).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReportRow {
    pub department: String,
    /// Handling stages (办理) that ended in the period, and how many by their deadline.
    pub completed: i64,
    pub on_time: i64,
    pub on_time_rate: Option<f64>,
    /// Deadlines that went overdue in the period (any stage), and running overdue now.
    pub overdue: i64,
    pub overdue_now: i64,
    /// 督办 fired in the period.
    pub supervised: i64,
    /// Callback answers and the satisfaction rate the survey API gives.
    pub surveys: i64,
    pub satisfaction_rate: Option<f64>,
}

/// The report's rows: one per department the SLA or the survey figures name (the centre's own
/// stages left out), by department code.
pub fn rows(sla: &[SlaRow], survey: &[SurveyRow]) -> Vec<ReportRow> {
    let mut by: BTreeMap<String, ReportRow> = BTreeMap::new();
    fn row<'a>(by: &'a mut BTreeMap<String, ReportRow>, d: &str) -> Option<&'a mut ReportRow> {
        if d.is_empty() || d == "centre" {
            return None;
        }
        Some(by.entry(d.to_owned()).or_insert_with(|| ReportRow {
            department: d.to_owned(),
            ..ReportRow::default()
        }))
    }
    for s in sla {
        let Some(r) = row(&mut by, &s.department) else {
            continue;
        };
        if s.stage == "handling" {
            r.completed += s.ended;
            r.on_time += s.on_time;
        }
        r.overdue += s.overdue;
        r.overdue_now += s.overdue_now;
        r.supervised += s.supervised;
    }
    for s in survey {
        if let Some(r) = row(&mut by, &s.key) {
            r.surveys += s.answered;
            r.satisfaction_rate = s.satisfaction_rate;
        }
    }
    let mut out: Vec<ReportRow> = by.into_values().collect();
    for r in &mut out {
        r.on_time_rate = (r.completed > 0).then(|| r.on_time as f64 / r.completed as f64);
    }
    out
}

/// A rate as a percentage with one decimal, `—` when there is none.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

/// The byte-order mark Excel needs to read a CSV file as UTF-8 (without it, Chinese is garbled).
pub const BOM: &str = "\u{feff}";

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled. A
/// field starting with `=`, `+`, `-`, `@`, tab or CR is prefixed with `'` so a spreadsheet does
/// not run it as a formula (department names and codes are data, not formulas).
pub fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// A whole CSV file: the BOM, the header, the rows, CRLF line ends.
pub fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from(BOM);
    let line = |out: &mut String, fields: &mut dyn Iterator<Item = &str>| {
        let joined: Vec<String> = fields.map(csv_field).collect();
        out.push_str(&joined.join(","));
        out.push_str("\r\n");
    };
    line(&mut out, &mut header.iter().copied());
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

/// A topic's count now and in the period before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rising {
    pub topic: String,
    pub now: i64,
    pub before: i64,
    /// now / before; none when there were none before (a new topic).
    pub ratio: Option<f64>,
}

/// The topics that grew against the period before, most grown first: new topics (none before)
/// first by count, then by ratio, then by count; topics that did not grow are left out.
pub fn rising(now: &BTreeMap<String, i64>, before: &BTreeMap<String, i64>) -> Vec<Rising> {
    let mut out: Vec<Rising> = now
        .iter()
        .filter_map(|(topic, &n)| {
            let b = before.get(topic).copied().unwrap_or(0);
            (n > b).then(|| Rising {
                topic: topic.clone(),
                now: n,
                before: b,
                ratio: (b > 0).then(|| n as f64 / b as f64),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |r: &Rising| r.ratio.unwrap_or(f64::INFINITY);
        key(b)
            .total_cmp(&key(a))
            .then(b.now.cmp(&a.now))
            .then(a.topic.cmp(&b.topic))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn periods_are_months_quarters_years_or_days() {
        let p = Period::parse("2026-02").expect("month");
        assert_eq!((p.first, p.last), (day("2026-02-01"), day("2026-02-28")));
        let p = Period::parse("2024-02").expect("leap month");
        assert_eq!(p.last, day("2024-02-29"));
        let p = Period::parse("2026-Q4").expect("quarter");
        assert_eq!((p.first, p.last), (day("2026-10-01"), day("2026-12-31")));
        let p = Period::parse("2026").expect("year");
        assert_eq!(p.days(), 365);
        let p = Period::parse(" 2026-03-01..2026-03-15 ").expect("days");
        assert_eq!(p.days(), 15);
        assert_eq!(
            Period::parse(&p.query()),
            Ok(p),
            "the query form reads back"
        );
        for bad in [
            "",
            "2026-13",
            "2026-Q5",
            "2026-Q0",
            "26",
            "2026-03-15..2026-03-01",
            "2025-01-01..2026-12-31",
            "x..y",
            "2026-3",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn the_previous_period_is_the_same_kind_just_before() {
        let prev = |s: &str| Period::parse(s).expect("period").previous();
        let p = prev("2026-03");
        assert_eq!((p.first, p.last), (day("2026-02-01"), day("2026-02-28")));
        let p = prev("2026-01");
        assert_eq!((p.first, p.last), (day("2025-12-01"), day("2025-12-31")));
        let p = prev("2026-Q2");
        assert_eq!((p.first, p.last), (day("2026-01-01"), day("2026-03-31")));
        let p = prev("2026-03-10..2026-03-16");
        assert_eq!((p.first, p.last), (day("2026-03-03"), day("2026-03-09")));
    }

    #[test]
    fn a_period_is_local_days_in_utc() {
        let p = Period::parse("2026-03-01..2026-03-01").expect("a day");
        let china = FixedOffset::east_opt(8 * 3600).expect("offset");
        let (from, to) = p.instants(china);
        assert_eq!(from.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        assert_eq!(to - from, Duration::days(1));
        assert_eq!(
            Period::month_of(day("2026-03-17")),
            Period::parse("2026-03").expect("month")
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("天河区"), "天河区");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        let file = csv(&["部门", "rate"], &[vec!["GZ-TH".into(), "95.0%".into()]]);
        assert!(file.starts_with('\u{feff}'), "the BOM first");
        assert_eq!(file.as_bytes()[..3], [0xEF, 0xBB, 0xBF]);
        assert_eq!(file, "\u{feff}部门,rate\r\nGZ-TH,95.0%\r\n");
    }

    #[test]
    fn rising_topics_are_new_first_then_by_ratio() {
        let map = |pairs: &[(&str, i64)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect::<BTreeMap<_, _>>()
        };
        let now = map(&[("01", 30), ("02", 10), ("03", 4), ("04", 5), ("05", 6)]);
        let before = map(&[("01", 10), ("02", 10), ("03", 1), ("04", 8)]);
        let r = rising(&now, &before);
        let topics: Vec<&str> = r.iter().map(|r| r.topic.as_str()).collect();
        assert_eq!(
            topics,
            ["05", "03", "01"],
            "02 flat and 04 falling are left out"
        );
        assert_eq!(r[0].ratio, None);
        assert_eq!(r[1].ratio, Some(4.0));
        assert_eq!((r[2].now, r[2].before, r[2].ratio), (30, 10, Some(3.0)));
    }

    #[test]
    fn report_rows_join_the_deadlines_and_the_surveys_by_department() {
        let sla = vec![
            SlaRow {
                department: "GZ-TH".into(),
                stage: "handling".into(),
                ended: 4,
                on_time: 3,
                overdue: 1,
                ..SlaRow::default()
            },
            SlaRow {
                department: "GZ-TH".into(),
                stage: "sign_off".into(),
                ended: 5,
                on_time: 5,
                overdue: 2,
                supervised: 1,
                overdue_now: 1,
            },
            SlaRow {
                department: "centre".into(),
                stage: "dispatch".into(),
                overdue: 9,
                ..SlaRow::default()
            },
        ];
        let survey = vec![SurveyRow {
            key: "GZ-HZ".into(),
            answered: 2,
            satisfaction_rate: Some(0.5),
            ..SurveyRow::default()
        }];
        let r = rows(&sla, &survey);
        assert_eq!(r.len(), 2, "the centre's stages are not a department");
        assert_eq!(r[0].department, "GZ-HZ");
        assert_eq!(r[0].on_time_rate, None);
        assert_eq!(r[0].satisfaction_rate, Some(0.5));
        let th = &r[1];
        assert_eq!((th.completed, th.on_time), (4, 3), "handling only");
        assert_eq!(th.on_time_rate, Some(0.75));
        assert_eq!((th.overdue, th.supervised, th.overdue_now), (3, 1, 1));
        assert_eq!(percent(th.on_time_rate), "75.0%");
        assert_eq!(percent(None), "—");
    }
}
