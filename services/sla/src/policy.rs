//! The deadline policy: a limit for every (request type × urgency × stage) cell, the extension
//! cap and the warning share, with the documented defaults of `defaults.toml` and a city's
//! overrides in the same TOML shape.
//!
//! ```toml
//! extension_cap = 1          # optional
//! warning_share = 0.8        # optional, 0 < share < 1
//! supervise_after = "1 working day"    # optional: overdue this long -> supervision order (督办)
//! escalate_after = "2 working days"    # optional: supervised this long -> escalation
//! supervision_office = "市政府督查室"    # optional: who a department without a parent answers to
//!
//! [limits.complaint.normal]  # or [limits."投诉"."一般"]
//! handling = "10 working days"
//! ```
//!
//! A stage's clock starts at the instant passed as `received_at` (the stage's start: the
//! centre's intake for dispatch, the dispatch for sign-off, …; which instant starts handling is
//! the caller's choice). Praise (表扬) has no handling deadline: its cell is `none`, and
//! [`Policy::deadline`] returns `None`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use hotline_domain::RequestType;
use serde::{Deserialize, Serialize};

use crate::calendar::WorkCalendar;

/// The default policy, compiled in.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// The largest accepted limit in working days (about a year and a half of working days).
pub const MAX_DAYS: i64 = 366;
/// The largest accepted limit in hours (working or calendar): a year.
pub const MAX_HOURS: i64 = 24 * 366;

/// A stage of the closed loop that runs against a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 转派: the centre dispatches the ticket to a department.
    Dispatch,
    /// 签收: the department signs the ticket off (accepts it).
    SignOff,
    /// 办结: the department handles the ticket to completion.
    Handling,
    /// 退单审核: the centre reviews a department's return.
    ReturnReview,
    /// 回访: the centre calls the citizen back.
    Callback,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Dispatch,
        Stage::SignOff,
        Stage::Handling,
        Stage::ReturnReview,
        Stage::Callback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dispatch => "dispatch",
            Stage::SignOff => "sign_off",
            Stage::Handling => "handling",
            Stage::ReturnReview => "return_review",
            Stage::Callback => "callback",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Stage::Dispatch => "转派",
            Stage::SignOff => "签收",
            Stage::Handling => "办结",
            Stage::ReturnReview => "退单审核",
            Stage::Callback => "回访",
        }
    }

    /// Accepts the English name or the Chinese term.
    pub fn parse(raw: &str) -> Option<Stage> {
        let raw = raw.trim();
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str() == raw || s.chinese() == raw)
    }
}

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// 一般
    Normal,
    /// 紧急
    Urgent,
    /// 特急
    Emergency,
}

impl Urgency {
    pub const ALL: [Urgency; 3] = [Urgency::Normal, Urgency::Urgent, Urgency::Emergency];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
            Urgency::Emergency => "emergency",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Urgency::Normal => "一般",
            Urgency::Urgent => "紧急",
            Urgency::Emergency => "特急",
        }
    }

    /// Accepts the English name or the Chinese term.
    pub fn parse(raw: &str) -> Option<Urgency> {
        let raw = raw.trim();
        Urgency::ALL
            .into_iter()
            .find(|u| u.as_str() == raw || u.chinese() == raw)
    }
}

/// A time limit. Every count is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// End of working hours of the n-th working day after the clock start's day.
    WorkingDays(u32),
    /// n hours of working time from the clock start.
    WorkingHours(u32),
    /// n wall-clock hours from the received instant, nights, weekends and holidays included.
    CalendarHours(u32),
    /// End of the next working day after the clock start's day (the same as `WorkingDays(1)`).
    NextWorkingDay,
}

impl Limit {
    /// The deadline for a clock started at `received_at`.
    pub fn deadline(self, received_at: DateTime<Utc>, cal: &WorkCalendar) -> DateTime<Utc> {
        match self {
            Limit::WorkingDays(n) => cal.add_working_days(received_at, n),
            Limit::WorkingHours(n) => cal.add_working_hours(received_at, n),
            Limit::CalendarHours(n) => received_at
                .checked_add_signed(Duration::hours(i64::from(n)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Limit::NextWorkingDay => cal.add_working_days(received_at, 1),
        }
    }

    /// The instant this limit's amount of time after `from`, read as a *period* (the ladder's
    /// "overdue for 1 working day"): working days count whole days of working time (so
    /// 17:30 + 1 working day = 17:30 of the next working day, not the end of the day after),
    /// working hours count working time, calendar hours count wall-clock time.
    pub fn after(self, from: DateTime<Utc>, cal: &WorkCalendar) -> DateTime<Utc> {
        match self {
            Limit::WorkingDays(n) => {
                cal.add_working_time(from, cal.working_hours().per_day() * n as i32)
            }
            Limit::NextWorkingDay => cal.add_working_time(from, cal.working_hours().per_day()),
            Limit::WorkingHours(n) => cal.add_working_hours(from, n),
            Limit::CalendarHours(n) => from
                .checked_add_signed(Duration::hours(i64::from(n)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// Calendar-hour limits run on the wall clock (nights and holidays included); the others
    /// on working time. Pausing and resuming follow the same rule.
    pub fn is_calendar(self) -> bool {
        matches!(self, Limit::CalendarHours(_))
    }

    /// Parses `"3 working days"`, `"1 working day"`, `"2 working hours"`, `"2 calendar hours"`,
    /// `"next working day"`; `"none"` gives `Ok(None)`. `cell` names the cell in errors.
    pub fn parse(raw: &str, cell: &str) -> Result<Option<Limit>, PolicyError> {
        let norm = raw
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        match norm.as_str() {
            "none" => return Ok(None),
            "next working day" => return Ok(Some(Limit::NextWorkingDay)),
            _ => {}
        }
        let bad = || PolicyError::BadLimit {
            cell: cell.to_string(),
            value: raw.to_string(),
        };
        let (count, unit) = norm.split_once(' ').ok_or_else(bad)?;
        let (ctor, max): (fn(u32) -> Limit, i64) = match unit {
            "working day" | "working days" => (Limit::WorkingDays, MAX_DAYS),
            "working hour" | "working hours" => (Limit::WorkingHours, MAX_HOURS),
            "calendar hour" | "calendar hours" => (Limit::CalendarHours, MAX_HOURS),
            _ => return Err(bad()),
        };
        let n: i64 = count.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(PolicyError::ZeroLimit {
                cell: cell.to_string(),
            });
        }
        if n < 0 {
            return Err(PolicyError::NegativeLimit {
                cell: cell.to_string(),
                value: n,
            });
        }
        if n > max {
            return Err(PolicyError::TooLarge {
                cell: cell.to_string(),
                value: n,
                max,
            });
        }
        let n = u32::try_from(n).map_err(|_| bad())?;
        Ok(Some(ctor(n)))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match *self {
            Limit::WorkingDays(n) => write!(f, "{n} working day{}", plural(n)),
            Limit::WorkingHours(n) => write!(f, "{n} working hour{}", plural(n)),
            Limit::CalendarHours(n) => write!(f, "{n} calendar hour{}", plural(n)),
            Limit::NextWorkingDay => f.write_str("next working day"),
        }
    }
}

/// A bad policy config. Nothing of a bad file is applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error("policy config: {0}")]
    Toml(String),
    #[error(
        "policy config: unknown request type `{0}` (consultation/咨询, help_request/求助, complaint/投诉, \
         report/举报, suggestion/建议, praise/表扬)"
    )]
    UnknownRequestType(String),
    #[error("policy config: unknown urgency `{0}` (normal/一般, urgent/紧急, emergency/特急)")]
    UnknownUrgency(String),
    #[error(
        "policy config: unknown stage `{0}` (dispatch/转派, sign_off/签收, handling/办结, \
         return_review/退单审核, callback/回访)"
    )]
    UnknownStage(String),
    #[error(
        "policy config [{cell}]: `{value}` is not a limit (\"3 working days\", \"2 working hours\", \
         \"2 calendar hours\", \"next working day\" or \"none\")"
    )]
    BadLimit { cell: String, value: String },
    #[error("policy config [{cell}]: a limit of zero; use \"none\" for no deadline")]
    ZeroLimit { cell: String },
    #[error("policy config [{cell}]: negative limit {value}")]
    NegativeLimit { cell: String, value: i64 },
    #[error("policy config [{cell}]: limit {value} is above the maximum {max}")]
    TooLarge { cell: String, value: i64, max: i64 },
    #[error("policy config: extension_cap {0} is negative")]
    NegativeExtensionCap(i64),
    #[error("policy config: warning_share {0} must be above 0 and below 1")]
    WarningShare(f64),
    #[error(
        "policy config: {0} must be a period (\"1 working day\", \"4 working hours\", \"2 calendar hours\"), not \"none\""
    )]
    NoLadderPeriod(&'static str),
    #[error("policy config: supervision_office must not be empty")]
    EmptySupervisionOffice,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    extension_cap: Option<i64>,
    warning_share: Option<f64>,
    supervise_after: Option<String>,
    escalate_after: Option<String>,
    supervision_office: Option<String>,
    #[serde(default)]
    limits: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

type Cells = [[[Option<Limit>; 5]; 3]; 6];

fn type_index(t: RequestType) -> usize {
    RequestType::ALL.iter().position(|x| *x == t).unwrap_or(0)
}

/// The deadline policy of one city.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    cells: Cells,
    extension_cap: u32,
    warning_share: f64,
    supervise_after: Limit,
    escalate_after: Limit,
    supervision_office: String,
}

impl Default for Policy {
    /// The compiled-in defaults (`defaults.toml`; the tests check it parses).
    fn default() -> Self {
        let empty = Policy {
            cells: [[[None; 5]; 3]; 6],
            extension_cap: 0,
            warning_share: 0.75,
            supervise_after: Limit::WorkingDays(1),
            escalate_after: Limit::WorkingDays(2),
            supervision_office: String::new(),
        };
        empty
            .apply_toml(DEFAULTS_TOML)
            .expect("defaults.toml is valid (checked by the tests)")
    }
}

impl Policy {
    /// The defaults with a city's overrides applied.
    pub fn from_toml(src: &str) -> Result<Policy, PolicyError> {
        Policy::default().apply_toml(src)
    }

    /// A copy of this policy with the overrides of `src`; `self` is untouched, and nothing of a
    /// file with any error is applied.
    pub fn apply_toml(&self, src: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(src).map_err(|e| PolicyError::Toml(e.to_string()))?;
        let mut next = self.clone();
        if let Some(cap) = file.extension_cap {
            next.extension_cap =
                u32::try_from(cap).map_err(|_| PolicyError::NegativeExtensionCap(cap))?;
        }
        if let Some(share) = file.warning_share {
            if !(share > 0.0 && share < 1.0) {
                return Err(PolicyError::WarningShare(share));
            }
            next.warning_share = share;
        }
        for (key, raw, slot) in [
            (
                "supervise_after",
                &file.supervise_after,
                &mut next.supervise_after,
            ),
            (
                "escalate_after",
                &file.escalate_after,
                &mut next.escalate_after,
            ),
        ] {
            if let Some(raw) = raw {
                *slot = Limit::parse(raw, key)?.ok_or(PolicyError::NoLadderPeriod(key))?;
            }
        }
        if let Some(office) = file.supervision_office {
            if office.trim().is_empty() {
                return Err(PolicyError::EmptySupervisionOffice);
            }
            next.supervision_office = office.trim().to_owned();
        }
        for (type_key, by_urgency) in &file.limits {
            let rt = RequestType::parse(type_key)
                .ok_or_else(|| PolicyError::UnknownRequestType(type_key.clone()))?;
            for (urgency_key, by_stage) in by_urgency {
                let urgency = Urgency::parse(urgency_key)
                    .ok_or_else(|| PolicyError::UnknownUrgency(urgency_key.clone()))?;
                for (stage_key, raw) in by_stage {
                    let stage = Stage::parse(stage_key)
                        .ok_or_else(|| PolicyError::UnknownStage(stage_key.clone()))?;
                    let cell = format!("{}/{}/{}", rt.as_str(), urgency.as_str(), stage.as_str());
                    next.cells[type_index(rt)][urgency as usize][stage as usize] =
                        Limit::parse(raw, &cell)?;
                }
            }
        }
        Ok(next)
    }

    /// The limit of a cell; `None` means the stage has no deadline (praise handling by default).
    pub fn limit(
        &self,
        request_type: RequestType,
        urgency: Urgency,
        stage: Stage,
    ) -> Option<Limit> {
        self.cells[type_index(request_type)][urgency as usize][stage as usize]
    }

    /// Extensions (延期) a department may be granted per ticket.
    pub fn extension_cap(&self) -> u32 {
        self.extension_cap
    }

    /// Share of the limit after which a ticket turns yellow.
    pub fn warning_share(&self) -> f64 {
        self.warning_share
    }

    /// How long a department's stage may be overdue before a supervision order (督办) goes out.
    pub fn supervise_after(&self) -> Limit {
        self.supervise_after
    }

    /// How long after the supervision order the matter is escalated to the department's
    /// supervising authority.
    pub fn escalate_after(&self) -> Limit {
        self.escalate_after
    }

    /// Who a department without a parent in the directory answers to (the city government's
    /// supervision office).
    pub fn supervision_office(&self) -> &str {
        &self.supervision_office
    }

    /// The deadline of a stage whose clock started at `received_at`, or `None` if the cell has
    /// no deadline.
    pub fn deadline(
        &self,
        received_at: DateTime<Utc>,
        request_type: RequestType,
        urgency: Urgency,
        stage: Stage,
        cal: &WorkCalendar,
    ) -> Option<DateTime<Utc>> {
        self.limit(request_type, urgency, stage)
            .map(|l| l.deadline(received_at, cal))
    }

    /// When the ticket turns yellow: after `warning_share` of the time to the deadline, counted
    /// in working time for working-day and working-hour limits, wall-clock time for calendar
    /// hours. Rounded down to the second.
    pub fn warning_at(
        &self,
        received_at: DateTime<Utc>,
        request_type: RequestType,
        urgency: Urgency,
        stage: Stage,
        cal: &WorkCalendar,
    ) -> Option<DateTime<Utc>> {
        let limit = self.limit(request_type, urgency, stage)?;
        let due = limit.deadline(received_at, cal);
        let share = |d: Duration| {
            Duration::seconds((d.num_seconds() as f64 * self.warning_share).floor() as i64)
        };
        Some(match limit {
            Limit::CalendarHours(_) => received_at + share(due - received_at),
            _ => cal.add_working_time(
                received_at,
                share(cal.working_time_between(received_at, due)),
            ),
        })
    }

    /// The whole table as Markdown (one row per request type and urgency), as in the README.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from("| request type | urgency |");
        for s in Stage::ALL {
            out.push_str(&format!(" {} {} |", s.as_str(), s.chinese()));
        }
        out.push_str("\n|---|---|---|---|---|---|---|\n");
        for rt in RequestType::ALL {
            for u in Urgency::ALL {
                out.push_str(&format!(
                    "| {} {} | {} {} |",
                    rt.as_str(),
                    rt.chinese(),
                    u.as_str(),
                    u.chinese()
                ));
                for s in Stage::ALL {
                    match self.limit(rt, u, s) {
                        Some(l) => out.push_str(&format!(" {l} |")),
                        None => out.push_str(" none |"),
                    }
                }
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
