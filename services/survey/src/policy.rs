//! When a callback is due, how it is made, how often it is retried: pure functions of the
//! `[survey]` settings and the working calendar, so tests pin every case without a clock.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use hotline_calendar::{WorkCalendar, to_local, to_utc};
use hotline_config::Settings;
use hotline_domain::Channel;
use hotline_domain::contract::TicketView;

/// How the citizen is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Wechat,
    Sms,
    Email,
    App,
    /// A callback task in the agents' work list.
    Phone,
    /// No way back to the citizen: unreachable when due.
    None,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Wechat => "wechat",
            Method::Sms => "sms",
            Method::Email => "email",
            Method::App => "app",
            Method::Phone => "phone",
            Method::None => "none",
        }
    }

    pub fn parse(raw: &str) -> Option<Method> {
        [
            Method::Wechat,
            Method::Sms,
            Method::Email,
            Method::App,
            Method::Phone,
            Method::None,
        ]
        .into_iter()
        .find(|m| m.as_str() == raw)
    }

    /// The notify channel a link goes out on; `None` for the phone and for no method.
    pub fn notify_channel(self) -> Option<Channel> {
        match self {
            Method::Wechat => Some(Channel::Wechat),
            Method::Sms => Some(Channel::Sms),
            Method::Email => Some(Channel::Email),
            Method::App => Some(Channel::App),
            Method::Phone | Method::None => None,
        }
    }
}

/// The channel the citizen used, where it can carry a link back; otherwise a phone callback
/// when there is a number (what a 12345 centre does for web and phone contacts), or nothing.
/// Returns the method and the address a link goes to.
pub fn method_for(ticket: &TicketView) -> (Method, Option<String>) {
    let c = &ticket.citizen;
    let present = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let link = match ticket.channel {
        Channel::Wechat => c
            .account_id
            .as_deref()
            .and_then(|a| a.strip_prefix("wechat:"))
            .map(|s| (Method::Wechat, s.to_owned())),
        Channel::Sms => present(&c.phone).map(|p| (Method::Sms, p)),
        Channel::Email => present(&c.email).map(|e| (Method::Email, e)),
        Channel::App => present(&c.account_id).map(|a| (Method::App, a)),
        Channel::Phone => None,
        Channel::Web => present(&c.email).map(|e| (Method::Email, e)),
    };
    match link {
        Some((method, address)) => (method, Some(address)),
        None if present(&c.phone).is_some() => (Method::Phone, None),
        None => (Method::None, None),
    }
}

/// The `[survey]` settings that decide times.
#[derive(Debug, Clone)]
pub struct Policy {
    pub delay_working_days: u32,
    pub call_hour: u32,
    pub max_attempts: u32,
    pub retry_after: Duration,
    pub link_valid: Duration,
    pub max_reopens: u32,
    pub first_contact_days: u32,
}

impl Policy {
    pub fn from_settings(settings: &Settings) -> Policy {
        let s = &settings.survey;
        Policy {
            delay_working_days: s.delay_working_days,
            call_hour: s.call_hour,
            max_attempts: s.max_attempts,
            retry_after: Duration::minutes(i64::from(s.retry_after_minutes)),
            link_valid: Duration::hours(i64::from(s.link_valid_hours)),
            max_reopens: s.max_reopens,
            first_contact_days: s.first_contact_days,
        }
    }

    /// When the callback for a completion at `done` is due: `delay_working_days` working days
    /// later at `call_hour` local time. With 0 days a link goes at once, and a phone callback at
    /// the next working moment (agents call inside working hours).
    pub fn due(
        &self,
        calendar: &WorkCalendar,
        done: DateTime<Utc>,
        method: Method,
    ) -> DateTime<Utc> {
        if self.delay_working_days == 0 {
            return match method {
                Method::Phone => calendar.clock_start(done),
                _ => done,
            };
        }
        let mut day = to_local(done).date();
        for _ in 0..self.delay_working_days {
            day = calendar.next_working_day(day);
        }
        let hour = NaiveTime::from_hms_opt(self.call_hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
        to_utc(day.and_time(hour))
    }

    /// The wait after invitation `attempt` (1-based) before the next one: doubling from
    /// `retry_after`, capped at a week so the arithmetic never overflows.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1i64 << attempt.saturating_sub(1).min(16);
        (self.retry_after * factor as i32).min(Duration::days(7))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use hotline_domain::contract::Citizen;

    fn policy() -> Policy {
        Policy {
            delay_working_days: 1,
            call_hour: 10,
            max_attempts: 3,
            retry_after: Duration::minutes(120),
            link_valid: Duration::hours(72),
            max_reopens: 2,
            first_contact_days: 7,
        }
    }

    fn beijing(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        chrono::FixedOffset::east_opt(8 * 3600)
            .expect("offset")
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn due_next_working_day_at_the_call_hour_skipping_holidays_and_counting_make_up_days() {
        let calendar = WorkCalendar::china();
        // Friday 2026-12-04 → Monday 2026-12-07 10:00.
        assert_eq!(
            policy().due(&calendar, beijing(2026, 12, 4, 16), Method::Sms),
            beijing(2026, 12, 7, 10)
        );
        // National Day 2026: completed on 2026-09-30 → the holiday runs to 10-07; the next
        // working day is 10-08.
        assert_eq!(
            policy().due(&calendar, beijing(2026, 9, 30, 15), Method::Phone),
            beijing(2026, 10, 8, 10)
        );
        // Spring Festival 2026 make-up Saturday 02-14 is a working day (调休): completed
        // Friday 02-13 → due Saturday 02-14.
        assert_eq!(
            policy().due(&calendar, beijing(2026, 2, 13, 15), Method::Email),
            beijing(2026, 2, 14, 10)
        );
        let now = Policy {
            delay_working_days: 0,
            ..policy()
        };
        let inside = beijing(2026, 12, 3, 11);
        assert_eq!(now.due(&calendar, inside, Method::Phone), inside);
        // Saturday evening: a link at once, the phone callback on Monday morning.
        let weekend = beijing(2026, 12, 5, 20);
        assert_eq!(now.due(&calendar, weekend, Method::Sms), weekend);
        let monday = now.due(&calendar, weekend, Method::Phone);
        assert_eq!(
            hotline_calendar::to_local(monday).date(),
            beijing(2026, 12, 7, 12)
                .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
                .date_naive()
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy();
        assert_eq!(p.backoff(1), Duration::minutes(120));
        assert_eq!(p.backoff(2), Duration::minutes(240));
        assert_eq!(p.backoff(3), Duration::minutes(480));
        assert_eq!(p.backoff(40), Duration::days(7));
    }

    #[test]
    fn the_citizens_channel_when_it_can_carry_a_link_else_a_phone_callback() {
        let mut t: TicketView = serde_json::from_value(serde_json::json!({
            "ticket_no": hotline_domain::TicketNo::compose(261203, 1).expect("no").to_string(),
            "status": "completed",
            "channel": "wechat",
            "request_type": "complaint",
            "description": "d",
            "citizen": {"account_id": "wechat:oOPENID", "phone": "13800138000"},
            "created_at": "2026-12-03T00:00:00Z",
            "updated_at": "2026-12-03T00:00:00Z"
        }))
        .expect("view");
        assert_eq!(method_for(&t), (Method::Wechat, Some("oOPENID".into())));
        t.channel = Channel::Phone;
        assert_eq!(method_for(&t), (Method::Phone, None));
        t.channel = Channel::Web;
        assert_eq!(method_for(&t), (Method::Phone, None));
        t.citizen.email = Some("a@example.cn".into());
        assert_eq!(method_for(&t), (Method::Email, Some("a@example.cn".into())));
        t.citizen = Citizen::default();
        assert_eq!(method_for(&t), (Method::None, None));
    }
}
