//! China's working-day calendar: statutory holidays and make-up working days (调休) as the State
//! Council General Office publishes them each year, a city's own additions from config, working
//! hours, and the Asia/Shanghai time zone.
//!
//! # What counts as a working day
//!
//! A date is a working day when
//! - a city entry says so (`workday`) or says not (`holiday`); otherwise
//! - a State Council notice says so: a weekday inside a holiday block is off (`holiday`), a
//!   weekend day the notice names as worked (`上班`) is on (`workday`); otherwise
//! - Monday to Friday is on, Saturday and Sunday are off.
//!
//! A year whose notice is not in [`STATUTORY`] (2027 and later, 2019 and earlier) is plain
//! weekends until a city adds its days: nothing is guessed.
//!
//! # Deadlines
//!
//! All clocks start at the *clock start*: the received instant if it falls inside working hours
//! of a working day, else the start of the next working period (after lunch, the next morning,
//! or the first working day after a weekend or holiday).
//!
//! - [`WorkCalendar::add_working_days`]`(t, n)`: let day 0 be the working day of the clock start.
//!   The deadline is the **end of working hours of the n-th working day after day 0**. So a
//!   ticket received at 10:00 (or at 12:30, or at 07:00) on working day D with n = 3 is due at
//!   the end of D+3; one received at 18:00 on D, or on a Sunday or a holiday, is due at the end of
//!   the third working day after the next working day. n = 0 means the end of day 0.
//! - [`WorkCalendar::add_working_hours`]`(t, h)`: h hours of working time counted from the clock
//!   start; the deadline is the earliest instant at which they are used up, so a deadline that
//!   ends exactly at a period's end is that end (12:00, not 13:00).
//! - [`WorkCalendar::working_time_between`]`(a, b)`: the working time inside `[a, b)`, so that a
//!   paused clock can be resumed with [`WorkCalendar::add_working_time`].
//!
//! Asia/Shanghai has had no daylight saving since 1991, so every local working period maps to one
//! UTC interval (09:00 local = 01:00 UTC all year).

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The time zone every working day and working hour is reckoned in.
pub const TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// What an exception day is: a weekday that is off, or a weekend day that is worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A day off (放假); as an exception, a weekday off.
    Holiday,
    /// A day worked (上班); as an exception, a weekend day worked (调休上班).
    Workday,
}

impl DayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }

    /// Accepts `holiday`/`workday` or the Chinese 放假/上班.
    pub fn parse(raw: &str) -> Option<DayKind> {
        match raw.trim() {
            "holiday" | "放假" => Some(DayKind::Holiday),
            "workday" | "上班" => Some(DayKind::Workday),
            _ => None,
        }
    }
}

impl fmt::Display for DayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Ymd = (i32, u32, u32);

/// One holiday block of a notice, as the notice words it: "first 至 last 放假调休，共 days 天。
/// worked… 上班".
#[derive(Debug)]
pub struct HolidayBlock {
    pub name: &'static str,
    pub first: Ymd,
    pub last: Ymd,
    /// The notice's "共N天".
    pub days: u32,
    /// The weekend days the notice names as worked for this block.
    pub worked: &'static [Ymd],
}

/// One year's arrangement and the document it comes from.
#[derive(Debug)]
pub struct Notice {
    pub year: i32,
    /// The document number(s), e.g. 国办发明电〔2025〕7号.
    pub document: &'static str,
    pub blocks: &'static [HolidayBlock],
}

/// The statutory arrangements, one per year, transcribed from the State Council General
/// Office's notices (国务院办公厅关于YYYY年部分节假日安排的通知). A year that is not here has no
/// published notice known to this table and is plain weekends.
#[rustfmt::skip]
pub static STATUTORY: &[Notice] = &[
    // 国务院办公厅关于2020年部分节假日安排的通知，国办发明电〔2019〕16号 (2019-11-21),
    // amended by 国务院办公厅关于延长2020年春节假期的通知，国办发明电〔2020〕1号 (2020-01-27):
    // the Spring Festival holiday runs to 2 February (正月初九，星期日); work resumes Monday
    // 3 February. Saturday 1 February, first named as worked, is therefore off.
    Notice {
        year: 2020,
        document: "国办发明电〔2019〕16号; 国办发明电〔2020〕1号",
        blocks: &[
            HolidayBlock { name: "元旦", first: (2020, 1, 1), last: (2020, 1, 1), days: 1, worked: &[] },
            // As first published: 1月24日至30日，共7天，1月19日（星期日）、2月1日（星期六）上班.
            // As extended: to 2 February, 10 days; only 19 January stays worked.
            HolidayBlock { name: "春节", first: (2020, 1, 24), last: (2020, 2, 2), days: 10, worked: &[(2020, 1, 19)] },
            HolidayBlock { name: "清明节", first: (2020, 4, 4), last: (2020, 4, 6), days: 3, worked: &[] },
            HolidayBlock { name: "劳动节", first: (2020, 5, 1), last: (2020, 5, 5), days: 5, worked: &[(2020, 4, 26), (2020, 5, 9)] },
            HolidayBlock { name: "端午节", first: (2020, 6, 25), last: (2020, 6, 27), days: 3, worked: &[(2020, 6, 28)] },
            HolidayBlock { name: "国庆节、中秋节", first: (2020, 10, 1), last: (2020, 10, 8), days: 8, worked: &[(2020, 9, 27), (2020, 10, 10)] },
        ],
    },
    // 国务院办公厅关于2021年部分节假日安排的通知，国办发明电〔2020〕27号 (2020-11-25)
    Notice {
        year: 2021,
        document: "国办发明电〔2020〕27号",
        blocks: &[
            HolidayBlock { name: "元旦", first: (2021, 1, 1), last: (2021, 1, 3), days: 3, worked: &[] },
            HolidayBlock { name: "春节", first: (2021, 2, 11), last: (2021, 2, 17), days: 7, worked: &[(2021, 2, 7), (2021, 2, 20)] },
            HolidayBlock { name: "清明节", first: (2021, 4, 3), last: (2021, 4, 5), days: 3, worked: &[] },
            HolidayBlock { name: "劳动节", first: (2021, 5, 1), last: (2021, 5, 5), days: 5, worked: &[(2021, 4, 25), (2021, 5, 8)] },
            HolidayBlock { name: "端午节", first: (2021, 6, 12), last: (2021, 6, 14), days: 3, worked: &[] },
            HolidayBlock { name: "中秋节", first: (2021, 9, 19), last: (2021, 9, 21), days: 3, worked: &[(2021, 9, 18)] },
            HolidayBlock { name: "国庆节", first: (2021, 10, 1), last: (2021, 10, 7), days: 7, worked: &[(2021, 9, 26), (2021, 10, 9)] },
        ],
    },
    // 国务院办公厅关于2022年部分节假日安排的通知，国办发明电〔2021〕11号 (2021-10-25)
    Notice {
        year: 2022,
        document: "国办发明电〔2021〕11号",
        blocks: &[
            HolidayBlock { name: "元旦", first: (2022, 1, 1), last: (2022, 1, 3), days: 3, worked: &[] },
            HolidayBlock { name: "春节", first: (2022, 1, 31), last: (2022, 2, 6), days: 7, worked: &[(2022, 1, 29), (2022, 1, 30)] },
            HolidayBlock { name: "清明节", first: (2022, 4, 3), last: (2022, 4, 5), days: 3, worked: &[(2022, 4, 2)] },
            HolidayBlock { name: "劳动节", first: (2022, 4, 30), last: (2022, 5, 4), days: 5, worked: &[(2022, 4, 24), (2022, 5, 7)] },
            HolidayBlock { name: "端午节", first: (2022, 6, 3), last: (2022, 6, 5), days: 3, worked: &[] },
            HolidayBlock { name: "中秋节", first: (2022, 9, 10), last: (2022, 9, 12), days: 3, worked: &[] },
            HolidayBlock { name: "国庆节", first: (2022, 10, 1), last: (2022, 10, 7), days: 7, worked: &[(2022, 10, 8), (2022, 10, 9)] },
        ],
    },
    // 国务院办公厅关于2023年部分节假日安排的通知，国办发明电〔2022〕16号 (2022-12-08)
    Notice {
        year: 2023,
        document: "国办发明电〔2022〕16号",
        blocks: &[
            // 2022年12月31日至2023年1月2日放假调休，共3天。
            HolidayBlock { name: "元旦", first: (2022, 12, 31), last: (2023, 1, 2), days: 3, worked: &[] },
            HolidayBlock { name: "春节", first: (2023, 1, 21), last: (2023, 1, 27), days: 7, worked: &[(2023, 1, 28), (2023, 1, 29)] },
            HolidayBlock { name: "清明节", first: (2023, 4, 5), last: (2023, 4, 5), days: 1, worked: &[] },
            HolidayBlock { name: "劳动节", first: (2023, 4, 29), last: (2023, 5, 3), days: 5, worked: &[(2023, 4, 23), (2023, 5, 6)] },
            HolidayBlock { name: "端午节", first: (2023, 6, 22), last: (2023, 6, 24), days: 3, worked: &[(2023, 6, 25)] },
            HolidayBlock { name: "中秋节、国庆节", first: (2023, 9, 29), last: (2023, 10, 6), days: 8, worked: &[(2023, 10, 7), (2023, 10, 8)] },
        ],
    },
    // 国务院办公厅关于2024年部分节假日安排的通知，国办发明电〔2023〕7号 (2023-10-25).
    // The notice only *encourages* employers to give 除夕 (Friday 9 February) off: it is a
    // working day and is not listed.
    Notice {
        year: 2024,
        document: "国办发明电〔2023〕7号",
        blocks: &[
            // 1月1日放假，与周末连休。
            HolidayBlock { name: "元旦", first: (2024, 1, 1), last: (2024, 1, 1), days: 1, worked: &[] },
            HolidayBlock { name: "春节", first: (2024, 2, 10), last: (2024, 2, 17), days: 8, worked: &[(2024, 2, 4), (2024, 2, 18)] },
            HolidayBlock { name: "清明节", first: (2024, 4, 4), last: (2024, 4, 6), days: 3, worked: &[(2024, 4, 7)] },
            HolidayBlock { name: "劳动节", first: (2024, 5, 1), last: (2024, 5, 5), days: 5, worked: &[(2024, 4, 28), (2024, 5, 11)] },
            // 6月10日放假，与周末连休。
            HolidayBlock { name: "端午节", first: (2024, 6, 10), last: (2024, 6, 10), days: 1, worked: &[] },
            HolidayBlock { name: "中秋节", first: (2024, 9, 15), last: (2024, 9, 17), days: 3, worked: &[(2024, 9, 14)] },
            HolidayBlock { name: "国庆节", first: (2024, 10, 1), last: (2024, 10, 7), days: 7, worked: &[(2024, 9, 29), (2024, 10, 12)] },
        ],
    },
    // 国务院办公厅关于2025年部分节假日安排的通知，国办发明电〔2024〕12号 (2024-11-12),
    // the first under the revised 全国年节及纪念日放假办法 (13 statutory days).
    Notice {
        year: 2025,
        document: "国办发明电〔2024〕12号",
        blocks: &[
            // 1月1日（周三）放假1天，不调休。
            HolidayBlock { name: "元旦", first: (2025, 1, 1), last: (2025, 1, 1), days: 1, worked: &[] },
            HolidayBlock { name: "春节", first: (2025, 1, 28), last: (2025, 2, 4), days: 8, worked: &[(2025, 1, 26), (2025, 2, 8)] },
            HolidayBlock { name: "清明节", first: (2025, 4, 4), last: (2025, 4, 6), days: 3, worked: &[] },
            HolidayBlock { name: "劳动节", first: (2025, 5, 1), last: (2025, 5, 5), days: 5, worked: &[(2025, 4, 27)] },
            HolidayBlock { name: "端午节", first: (2025, 5, 31), last: (2025, 6, 2), days: 3, worked: &[] },
            HolidayBlock { name: "国庆节、中秋节", first: (2025, 10, 1), last: (2025, 10, 8), days: 8, worked: &[(2025, 9, 28), (2025, 10, 11)] },
        ],
    },
    // 国务院办公厅关于2026年部分节假日安排的通知，国办发明电〔2025〕7号 (2025-11-04)
    Notice {
        year: 2026,
        document: "国办发明电〔2025〕7号",
        blocks: &[
            HolidayBlock { name: "元旦", first: (2026, 1, 1), last: (2026, 1, 3), days: 3, worked: &[(2026, 1, 4)] },
            HolidayBlock { name: "春节", first: (2026, 2, 15), last: (2026, 2, 23), days: 9, worked: &[(2026, 2, 14), (2026, 2, 28)] },
            HolidayBlock { name: "清明节", first: (2026, 4, 4), last: (2026, 4, 6), days: 3, worked: &[] },
            HolidayBlock { name: "劳动节", first: (2026, 5, 1), last: (2026, 5, 5), days: 5, worked: &[(2026, 5, 9)] },
            HolidayBlock { name: "端午节", first: (2026, 6, 19), last: (2026, 6, 21), days: 3, worked: &[] },
            HolidayBlock { name: "中秋节", first: (2026, 9, 25), last: (2026, 9, 27), days: 3, worked: &[] },
            HolidayBlock { name: "国庆节", first: (2026, 10, 1), last: (2026, 10, 7), days: 7, worked: &[(2026, 9, 20), (2026, 10, 10)] },
        ],
    },
];

/// Where an exception day comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaySource {
    /// A State Council notice (its document number).
    Statutory(&'static str),
    /// The city's calendar config, with the line it is on.
    City { line: usize },
}

/// One day whose status differs from, or restates, the plain week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayEntry {
    pub kind: DayKind,
    pub note: String,
    pub source: DaySource,
}

/// Working hours: the periods of a working day, local time, sorted and disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    periods: Vec<(NaiveTime, NaiveTime)>,
}

/// The default working hours, 09:00–12:00 and 13:00–17:30 (7.5 hours), the common office hours
/// of Chinese government departments.
pub const DEFAULT_WORKING_HOURS: &[&str] = &["09:00-12:00", "13:00-17:30"];

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            periods: vec![(hm(9, 0), hm(12, 0)), (hm(13, 0), hm(17, 30))],
        }
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl WorkingHours {
    /// Parses periods like `"09:00-12:00"`; they must be non-empty, ascending and disjoint.
    pub fn parse(periods: &[&str]) -> Result<WorkingHours, String> {
        if periods.is_empty() {
            return Err("working hours need at least one period".into());
        }
        let mut out: Vec<(NaiveTime, NaiveTime)> = Vec::with_capacity(periods.len());
        for raw in periods {
            let (a, b) = raw
                .split_once('-')
                .ok_or_else(|| format!("working period `{raw}` is not HH:MM-HH:MM"))?;
            let parse = |s: &str| {
                NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
                    format!("working period `{raw}`: `{}` is not a time HH:MM", s.trim())
                })
            };
            let (start, end) = (parse(a)?, parse(b)?);
            if start >= end {
                return Err(format!("working period `{raw}` ends before it starts"));
            }
            if let Some(&(_, prev_end)) = out.last()
                && start < prev_end
            {
                return Err(format!(
                    "working period `{raw}` overlaps or precedes the one before it"
                ));
            }
            out.push((start, end));
        }
        Ok(WorkingHours { periods: out })
    }

    pub fn periods(&self) -> &[(NaiveTime, NaiveTime)] {
        &self.periods
    }

    /// The end of the working day (end of the last period).
    pub fn day_end(&self) -> NaiveTime {
        self.periods.last().map(|p| p.1).unwrap_or(NaiveTime::MIN)
    }

    /// Working time in one working day.
    pub fn per_day(&self) -> Duration {
        self.periods.iter().map(|(a, b)| *b - *a).sum()
    }
}

/// A bad calendar config. Nothing is applied when any entry is bad.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("calendar config: {0}")]
    Toml(String),
    #[error("calendar config line {line}: `{value}` is not a date (YYYY-MM-DD)")]
    BadDate { line: usize, value: String },
    #[error(
        "calendar config line {line} ({date}): kind `{value}` is neither `holiday` nor `workday`"
    )]
    BadKind {
        line: usize,
        date: String,
        value: String,
    },
    #[error("calendar config line {line}: {date} is listed twice (first on line {first_line})")]
    Duplicate {
        line: usize,
        date: NaiveDate,
        first_line: usize,
    },
    #[error(
        "calendar config line {line}: {date} is a {weekday}, already a day off; `holiday` on a weekend \
         day only makes sense to cancel a statutory make-up workday (a wrong date?)"
    )]
    HolidayOnWeekend {
        line: usize,
        date: NaiveDate,
        weekday: Weekday,
    },
    #[error(
        "calendar config line {line}: {date} is a {weekday}, already a working day; `workday` on a \
         weekday only makes sense to work through a statutory holiday (a wrong date?)"
    )]
    WorkdayOnWeekday {
        line: usize,
        date: NaiveDate,
        weekday: Weekday,
    },
    #[error("calendar config line {line}: {date} is already set by an earlier city config")]
    AlreadySet { line: usize, date: NaiveDate },
    #[error("calendar config: {0}")]
    WorkingHours(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    working_hours: Option<Vec<String>>,
    #[serde(default)]
    days: Vec<DayFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DayFile {
    date: toml::Spanned<String>,
    kind: toml::Spanned<String>,
    #[serde(default)]
    note: String,
}

/// China's working-day calendar for one city.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    days: BTreeMap<NaiveDate, DayEntry>,
    hours: WorkingHours,
}

impl Default for WorkCalendar {
    fn default() -> Self {
        WorkCalendar::china()
    }
}

fn date(ymd: Ymd) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(ymd.0, ymd.1, ymd.2)
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl WorkCalendar {
    /// The national calendar: every notice in [`STATUTORY`], default working hours.
    pub fn china() -> WorkCalendar {
        let mut days = BTreeMap::new();
        for notice in STATUTORY {
            for block in notice.blocks {
                let (Some(first), Some(last)) = (date(block.first), date(block.last)) else {
                    continue; // impossible for the table; caught by the tests
                };
                for d in first.iter_days().take_while(|d| *d <= last) {
                    if !is_weekend(d) {
                        days.insert(
                            d,
                            DayEntry {
                                kind: DayKind::Holiday,
                                note: block.name.to_string(),
                                source: DaySource::Statutory(notice.document),
                            },
                        );
                    }
                }
                for d in block.worked.iter().filter_map(|w| date(*w)) {
                    days.insert(
                        d,
                        DayEntry {
                            kind: DayKind::Workday,
                            note: format!("{}调休上班", block.name),
                            source: DaySource::Statutory(notice.document),
                        },
                    );
                }
            }
        }
        WorkCalendar {
            days,
            hours: WorkingHours::default(),
        }
    }

    /// The national calendar plus a city's config (see [`WorkCalendar::apply_toml`]).
    pub fn from_toml(src: &str) -> Result<WorkCalendar, CalendarError> {
        let mut cal = WorkCalendar::china();
        cal.apply_toml(src)?;
        Ok(cal)
    }

    /// Applies a city's calendar config:
    ///
    /// ```toml
    /// working_hours = ["09:00-12:00", "13:00-17:30"]   # optional
    ///
    /// [[days]]
    /// date = "2026-12-31"
    /// kind = "holiday"          # or "workday" (放假 / 上班 also accepted)
    /// note = "city anniversary"
    /// ```
    ///
    /// All or nothing: every entry is checked first and the calendar is left untouched on any
    /// error. A city entry overrides the statutory status of its date. Entries that could only
    /// be a wrong date are refused: `holiday` on a weekend day that is not a statutory make-up
    /// workday, `workday` on a weekday that is not a statutory holiday.
    pub fn apply_toml(&mut self, src: &str) -> Result<usize, CalendarError> {
        let file: CalendarFile =
            toml::from_str(src).map_err(|e| CalendarError::Toml(e.to_string()))?;
        let hours = match &file.working_hours {
            Some(p) => {
                let refs: Vec<&str> = p.iter().map(String::as_str).collect();
                Some(WorkingHours::parse(&refs).map_err(CalendarError::WorkingHours)?)
            }
            None => None,
        };
        let mut staged: BTreeMap<NaiveDate, DayEntry> = BTreeMap::new();
        for entry in &file.days {
            let line = line_of(src, entry.date.span().start);
            let raw = entry.date.get_ref().trim();
            let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .filter(|_| raw.len() == 10)
                .ok_or_else(|| CalendarError::BadDate {
                    line,
                    value: raw.to_string(),
                })?;
            let kind =
                DayKind::parse(entry.kind.get_ref()).ok_or_else(|| CalendarError::BadKind {
                    line: line_of(src, entry.kind.span().start),
                    date: raw.to_string(),
                    value: entry.kind.get_ref().clone(),
                })?;
            if let Some(first) = staged.get(&d) {
                let first_line = match first.source {
                    DaySource::City { line } => line,
                    DaySource::Statutory(_) => 0,
                };
                return Err(CalendarError::Duplicate {
                    line,
                    date: d,
                    first_line,
                });
            }
            let existing = self.days.get(&d);
            if let Some(DayEntry {
                source: DaySource::City { .. },
                ..
            }) = existing
            {
                return Err(CalendarError::AlreadySet { line, date: d });
            }
            let statutory = existing.map(|e| e.kind);
            match kind {
                DayKind::Holiday if is_weekend(d) && statutory != Some(DayKind::Workday) => {
                    return Err(CalendarError::HolidayOnWeekend {
                        line,
                        date: d,
                        weekday: d.weekday(),
                    });
                }
                DayKind::Workday if !is_weekend(d) && statutory != Some(DayKind::Holiday) => {
                    return Err(CalendarError::WorkdayOnWeekday {
                        line,
                        date: d,
                        weekday: d.weekday(),
                    });
                }
                _ => {}
            }
            staged.insert(
                d,
                DayEntry {
                    kind,
                    note: entry.note.clone(),
                    source: DaySource::City { line },
                },
            );
        }
        let n = staged.len();
        self.days.extend(staged);
        if let Some(h) = hours {
            self.hours = h;
        }
        Ok(n)
    }

    /// Replaces the working hours.
    pub fn with_working_hours(mut self, hours: WorkingHours) -> WorkCalendar {
        self.hours = hours;
        self
    }

    pub fn working_hours(&self) -> &WorkingHours {
        &self.hours
    }

    /// The notice(s) a year's statutory days come from, or `None` when the table has no notice
    /// for that year (the year is plain weekends plus city days).
    pub fn notice(year: i32) -> Option<&'static str> {
        STATUTORY
            .iter()
            .find(|n| n.year == year)
            .map(|n| n.document)
    }

    /// The entry for a date, if any (statutory or city).
    pub fn entry(&self, d: NaiveDate) -> Option<&DayEntry> {
        self.days.get(&d)
    }

    /// Whether `d` is a working day (see the module docs for the rule).
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.days.get(&d) {
            Some(e) => e.kind == DayKind::Workday,
            None => !is_weekend(d),
        }
    }

    /// The year's exceptions to the plain week, by date: weekdays off (`Holiday`) and weekend days
    /// worked (`Workday`). Weekend days inside a holiday block are not listed: they are off anyway.
    pub fn exceptions(&self, year: i32) -> Vec<(NaiveDate, DayKind)> {
        let (Some(first), Some(last)) = (date((year, 1, 1)), date((year, 12, 31))) else {
            return Vec::new();
        };
        self.days
            .range(first..=last)
            .filter(|(d, e)| match e.kind {
                DayKind::Holiday => !is_weekend(**d),
                DayKind::Workday => is_weekend(**d),
            })
            .map(|(d, e)| (*d, e.kind))
            .collect()
    }

    /// `exceptions(year)` as text, one `YYYY-MM-DD holiday|workday` line each.
    pub fn format_exceptions(&self, year: i32) -> String {
        self.exceptions(year)
            .into_iter()
            .map(|(d, k)| format!("{} {}\n", d.format("%Y-%m-%d"), k))
            .collect()
    }

    /// The first working day strictly after `d` (saturates at the last representable date).
    pub fn next_working_day(&self, d: NaiveDate) -> NaiveDate {
        let mut cur = d;
        while let Some(next) = cur.succ_opt() {
            cur = next;
            if self.is_working_day(cur) {
                return cur;
            }
        }
        cur
    }

    /// The clock start: `t` itself if it is inside working hours of a working day, else the
    /// start of the next working period.
    pub fn clock_start(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = to_local(t);
        let mut day = local.date();
        let mut first = true;
        loop {
            if self.is_working_day(day) {
                for (ps, pe) in &self.hours.periods {
                    let (ps, pe) = (day.and_time(*ps), day.and_time(*pe));
                    if first && local >= pe {
                        continue;
                    }
                    return if first && local >= ps { t } else { to_utc(ps) };
                }
            }
            first = false;
            match day.succ_opt() {
                Some(n) => day = n,
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
    }

    /// The deadline `n` working days after `from`: the end of working hours of the n-th working
    /// day after the day of the clock start (see the module docs).
    pub fn add_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let start = self.clock_start(from);
        if start == DateTime::<Utc>::MAX_UTC {
            return start;
        }
        let mut day = to_local(start).date();
        for _ in 0..n {
            day = self.next_working_day(day);
        }
        to_utc(day.and_time(self.hours.day_end()))
    }

    /// `hours` hours of working time after `from` (see [`WorkCalendar::add_working_time`]).
    pub fn add_working_hours(&self, from: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
        self.add_working_time(from, Duration::hours(i64::from(hours)))
    }

    /// The earliest instant by which `amount` of working time has elapsed since `from`. A zero
    /// or negative amount returns `from` unchanged.
    pub fn add_working_time(&self, from: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if amount <= Duration::zero() {
            return from;
        }
        let local = to_local(from);
        let mut remaining = amount;
        let mut day = local.date();
        loop {
            if self.is_working_day(day) {
                for (ps, pe) in &self.hours.periods {
                    let (ps, pe) = (day.and_time(*ps), day.and_time(*pe));
                    let s = ps.max(local);
                    if s >= pe {
                        continue;
                    }
                    let available = pe - s;
                    if available >= remaining {
                        return to_utc(s + remaining);
                    }
                    remaining -= available;
                }
            }
            match day.succ_opt() {
                Some(n) => day = n,
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
    }

    /// The working time inside `[a, b)`; zero when `b <= a`.
    pub fn working_time_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        let (la, lb) = (to_local(a), to_local(b));
        let mut total = Duration::zero();
        let mut day = la.date();
        while day <= lb.date() {
            if self.is_working_day(day) {
                for (ps, pe) in &self.hours.periods {
                    let s = day.and_time(*ps).max(la);
                    let e = day.and_time(*pe).min(lb);
                    if e > s {
                        total += e - s;
                    }
                }
            }
            match day.succ_opt() {
                Some(n) => day = n,
                None => break,
            }
        }
        total
    }
}

/// UTC to Asia/Shanghai wall-clock time.
pub fn to_local(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&TIME_ZONE).naive_local()
}

/// Asia/Shanghai wall-clock time to UTC. Shanghai has no gaps or folds since 1991; for older
/// local times in a DST gap the earliest valid reading, else UTC+8, is used.
pub fn to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    TIME_ZONE
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&(local - Duration::hours(8))))
}

#[cfg(test)]
mod tests;
