//! The pure arithmetic of a stage clock: which ladder step comes next and when, pausing and
//! resuming, moving a deadline for an extension, the extension rules, and who a late
//! department answers to. No I/O: the store applies these inside its transactions, and the unit
//! tests below pin them down.
//!
//! ```text
//! level 0 ──warning (warn_at)──▶ 1 ──overdue (due_at)──▶ 2 ──supervise (due + supervise_after)──▶ 3
//!        ──escalate (due + supervise_after + escalate_after)──▶ 4 (nothing further)
//! ```
//! Supervision and escalation concern departments; the centre's own stages (dispatch, return
//! review, callback) stop at overdue and are reported.
//!
//! Every step time is derived from `(level, warn_at, due_at)` alone, never from when the
//! previous step happened to fire, so a replica catching up after downtime fires the same steps
//! at the same nominal times as one that never stopped.

use chrono::{DateTime, Duration, Utc};
use hotline_domain::contract::{ErrorKind, SupervisingAuthority};
use hotline_domain::{DeptCode, Directory};

use crate::calendar::WorkCalendar;
use crate::policy::{Limit, Policy, Stage};

/// The furthest an extension may push a deadline from its current one: a year.
pub const MAX_EXTENSION: Duration = Duration::days(366);

/// A step of the supervision ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Yellow.
    Warning,
    /// Red.
    Overdue,
    /// 督办: a supervision order to the department.
    Supervise,
    /// To the department's supervising authority.
    Escalate,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Warning => "warning",
            Step::Overdue => "overdue",
            Step::Supervise => "supervise",
            Step::Escalate => "escalate",
        }
    }

    pub fn parse(raw: &str) -> Option<Step> {
        [
            Step::Warning,
            Step::Overdue,
            Step::Supervise,
            Step::Escalate,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// The clock's level once this step fired.
    pub fn level_after(self) -> i16 {
        match self {
            Step::Warning => 1,
            Step::Overdue => 2,
            Step::Supervise => 3,
            Step::Escalate => 4,
        }
    }
}

/// The ladder's periods after the deadline (from the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ladder {
    pub supervise_after: Limit,
    pub escalate_after: Limit,
}

impl Ladder {
    pub fn from_policy(policy: &Policy) -> Ladder {
        Ladder {
            supervise_after: policy.supervise_after(),
            escalate_after: policy.escalate_after(),
        }
    }

    /// The next step of a clock at `level` and when it is due; `None` when the ladder is done.
    /// `department` is false for the centre's own stages, whose ladder stops at overdue.
    pub fn next(
        &self,
        level: i16,
        warn_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        department: bool,
        cal: &WorkCalendar,
    ) -> Option<(Step, DateTime<Utc>)> {
        let supervise_at = || self.supervise_after.after(due_at, cal);
        match level {
            i16::MIN..=0 => Some((Step::Warning, warn_at.min(due_at))),
            1 => Some((Step::Overdue, due_at)),
            2 if department => Some((Step::Supervise, supervise_at())),
            3 if department => Some((
                Step::Escalate,
                self.escalate_after.after(supervise_at(), cal),
            )),
            _ => None,
        }
    }
}

/// Whether a stage's clock runs against a department (sign-off, handling) or the centre.
pub fn is_department_stage(stage: Stage) -> bool {
    matches!(stage, Stage::SignOff | Stage::Handling)
}

/// What a paused clock keeps: the time left to its deadline and, when the warning has not fired
/// yet, to its warning. Working time for working-day and working-hour limits; wall-clock time
/// for calendar hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paused {
    pub remaining: Duration,
    pub warn_remaining: Option<Duration>,
}

fn time_left(
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    calendar_hours: bool,
    cal: &WorkCalendar,
) -> Duration {
    if until <= now {
        Duration::zero()
    } else if calendar_hours {
        until - now
    } else {
        cal.working_time_between(now, until)
    }
}

fn time_after(
    from: DateTime<Utc>,
    amount: Duration,
    calendar_hours: bool,
    cal: &WorkCalendar,
) -> DateTime<Utc> {
    if calendar_hours {
        from.checked_add_signed(amount)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    } else {
        cal.add_working_time(from, amount)
    }
}

/// Stops a clock at `now` (the ticket waits on the citizen).
pub fn pause(
    now: DateTime<Utc>,
    due_at: DateTime<Utc>,
    warn_at: DateTime<Utc>,
    level: i16,
    calendar_hours: bool,
    cal: &WorkCalendar,
) -> Paused {
    Paused {
        remaining: time_left(now, due_at, calendar_hours, cal),
        warn_remaining: (level <= 0).then(|| time_left(now, warn_at, calendar_hours, cal)),
    }
}

/// Restarts a paused clock at `now`: the new deadline and warning instant. The warning instant
/// is `None` when the warning had fired before the pause.
pub fn resume(
    now: DateTime<Utc>,
    paused: Paused,
    calendar_hours: bool,
    cal: &WorkCalendar,
) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let due = time_after(now, paused.remaining, calendar_hours, cal);
    let warn = paused
        .warn_remaining
        .map(|w| time_after(now, w, calendar_hours, cal).min(due));
    (due, warn)
}

/// The warning instant for a clock started at `started_at` and due at `due_at`: the policy's
/// share of the time between them (working or wall-clock), rounded down to the second.
pub fn warning_at(
    started_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    share: f64,
    calendar_hours: bool,
    cal: &WorkCalendar,
) -> DateTime<Utc> {
    let span = time_left(started_at, due_at, calendar_hours, cal);
    let part = Duration::seconds((span.num_seconds() as f64 * share).floor() as i64);
    time_after(started_at, part, calendar_hours, cal).min(due_at)
}

/// A clock after an approved extension moved its deadline to `until` at `now`: the new warning
/// instant and level. The warning is re-armed when it now lies ahead; an overdue clock whose
/// deadline moved into the future is red no more (its earlier `overdue` stays in the log).
pub fn extend(
    now: DateTime<Utc>,
    started_at: DateTime<Utc>,
    until: DateTime<Utc>,
    level: i16,
    share: f64,
    calendar_hours: bool,
    cal: &WorkCalendar,
) -> (DateTime<Utc>, i16) {
    let warn = warning_at(started_at, until, share, calendar_hours, cal);
    let level = if until <= now {
        level
    } else if warn > now {
        0
    } else {
        // A warning not fired yet fires now; a red clock goes back to warned.
        level.min(1)
    };
    (warn, level)
}

/// A running clock as the extension rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningClock {
    pub id: i64,
    pub stage: Stage,
    pub department: Option<DeptCode>,
    pub paused: bool,
    pub due_at: DateTime<Utc>,
}

/// Why an extension request is refused. Each maps to one error kind (and so one gRPC/HTTP code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionRefusal {
    #[error("the reason must not be empty")]
    EmptyReason,
    #[error("the ticket has no running deadline")]
    NoClock,
    #[error("the ticket's deadline runs against another department")]
    OtherDepartment,
    #[error("an extension can only be asked for the handling deadline: accept the ticket first")]
    NotHandling,
    #[error("the clock is paused while the ticket waits on the citizen")]
    Paused,
    #[error("the deadline ({due}) has already passed; an extension must be asked before it")]
    DeadlinePassed { due: DateTime<Utc> },
    #[error("the date asked for must be after the current deadline ({due})")]
    NotLater { due: DateTime<Utc> },
    #[error("the date asked for is more than a year after the current deadline")]
    TooFar,
    #[error("the ticket already had {cap} extension(s), the most the policy allows")]
    CapReached { cap: u32 },
    #[error("an extension request is already waiting for a decision")]
    Pending,
}

impl ExtensionRefusal {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExtensionRefusal::EmptyReason
            | ExtensionRefusal::NotLater { .. }
            | ExtensionRefusal::TooFar => ErrorKind::Invalid,
            ExtensionRefusal::OtherDepartment => ErrorKind::Forbidden,
            ExtensionRefusal::NoClock
            | ExtensionRefusal::NotHandling
            | ExtensionRefusal::Paused
            | ExtensionRefusal::DeadlinePassed { .. }
            | ExtensionRefusal::CapReached { .. }
            | ExtensionRefusal::Pending => ErrorKind::Conflict,
        }
    }
}

/// Checks a department's extension request against the ticket's running clocks. Returns the
/// clock the extension would move.
#[allow(clippy::too_many_arguments)]
pub fn check_extension<'a>(
    now: DateTime<Utc>,
    running: &'a [RunningClock],
    department: &DeptCode,
    reason: &str,
    until: DateTime<Utc>,
    granted: u32,
    cap: u32,
    pending: bool,
) -> Result<&'a RunningClock, ExtensionRefusal> {
    if reason.trim().is_empty() {
        return Err(ExtensionRefusal::EmptyReason);
    }
    let mut department_clocks = running.iter().filter(|c| c.department.is_some());
    let clock = match running
        .iter()
        .find(|c| c.department.as_ref() == Some(department))
    {
        Some(c) => c,
        None if department_clocks.next().is_some() => {
            return Err(ExtensionRefusal::OtherDepartment);
        }
        None => return Err(ExtensionRefusal::NoClock),
    };
    if clock.stage != Stage::Handling {
        return Err(ExtensionRefusal::NotHandling);
    }
    if clock.paused {
        return Err(ExtensionRefusal::Paused);
    }
    if now >= clock.due_at {
        return Err(ExtensionRefusal::DeadlinePassed { due: clock.due_at });
    }
    if until <= clock.due_at {
        return Err(ExtensionRefusal::NotLater { due: clock.due_at });
    }
    if until - clock.due_at > MAX_EXTENSION {
        return Err(ExtensionRefusal::TooFar);
    }
    if pending {
        return Err(ExtensionRefusal::Pending);
    }
    if granted >= cap {
        return Err(ExtensionRefusal::CapReached { cap });
    }
    Ok(clock)
}

/// Who `department` answers to: its parent in the directory (a street's district), else the
/// city government's supervision office.
pub fn authority(
    department: &DeptCode,
    directory: &Directory,
    supervision_office: &str,
) -> SupervisingAuthority {
    match directory.get(department).and_then(|d| d.parent.clone()) {
        Some(code) => SupervisingAuthority::Department { code },
        None => SupervisingAuthority::SupervisionOffice {
            name: supervision_office.to_owned(),
        },
    }
}

/// How long the firing loop sleeps: until the earliest next step, but never longer than the
/// poll interval (another replica or the consumer may schedule an earlier one meanwhile) and
/// never less than a millisecond (no busy loop on a clock due right now that another replica
/// holds locked).
pub fn sleep_for(
    now: DateTime<Utc>,
    earliest: Option<DateTime<Utc>>,
    poll: std::time::Duration,
) -> std::time::Duration {
    let until_earliest = earliest
        .map(|e| (e - now).to_std().unwrap_or(std::time::Duration::ZERO))
        .unwrap_or(poll);
    until_earliest
        .min(poll)
        .max(std::time::Duration::from_millis(1))
}

#[cfg(test)]
mod tests;
