//! # hotline-sla: the foundation of the SLA service
//!
//! - [`calendar`]: China's working-day calendar. [`calendar::WorkCalendar`] carries the State
//!   Council's statutory holidays and make-up working days (调休) for 2020–2026, each year from
//!   its notice ([`calendar::STATUTORY`]), a city's own days and working hours from TOML,
//!   Asia/Shanghai time, and the deadline arithmetic: working days, working hours, working time
//!   between two instants.
//! - [`policy`]: the deadline policy. [`policy::Policy`] holds a [`policy::Limit`] for every
//!   request type × [`policy::Urgency`] × [`policy::Stage`], the extension cap and the warning
//!   share; defaults in `defaults.toml`, city overrides in the same shape.
//! - [`print_calendar`]: what `hotline calendar YEAR` prints.
//!
//! No I/O, no database, no async: the SLA service's later parts build on this.
#![forbid(unsafe_code)]

/// The calendar lives in a shared crate: the knowledge service's 5-working-day rule uses it too.
pub use hotline_calendar as calendar;
pub mod policy;

pub use calendar::{CalendarError, DayKind, WorkCalendar, WorkingHours};
pub use policy::{Limit, Policy, PolicyError, Stage, Urgency};

/// What `hotline calendar YEAR` prints: the year's national exceptions, one per line, the ISO
/// date then `holiday` (a weekday off) or `workday` (a weekend day worked). Empty for a year
/// without a notice in the table (see [`WorkCalendar::notice`] to say so); for a city's calendar
/// use [`WorkCalendar::format_exceptions`].
pub fn print_calendar(year: i32) -> String {
    WorkCalendar::china().format_exceptions(year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_calendar_2026() {
        let text = print_calendar(2026);
        assert_eq!(text.lines().count(), 25);
        assert_eq!(text.lines().next(), Some("2026-01-01 holiday"));
        assert!(text.contains("\n2026-02-14 workday\n"));
        assert_eq!(print_calendar(2027), "");
    }
}
