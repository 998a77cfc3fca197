use chrono::TimeZone as _;

use super::*;

/// Asia/Shanghai wall-clock time.
fn sh(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .single()
        .expect("valid local time")
        .with_timezone(&Utc)
}

fn cal() -> WorkCalendar {
    WorkCalendar::china()
}

fn ladder() -> Ladder {
    Ladder::from_policy(&Policy::default())
}

fn code(raw: &str) -> DeptCode {
    DeptCode::parse(raw).expect("code")
}

#[test]
fn the_ladder_climbs_in_order_and_stops_for_the_centre() {
    let cal = cal();
    let l = ladder();
    // Due Thursday 2026-12-03 17:30, warned Wednesday.
    let warn = sh(2026, 12, 2, 15, 0);
    let due = sh(2026, 12, 3, 17, 30);
    assert_eq!(
        l.next(0, warn, due, true, &cal),
        Some((Step::Warning, warn))
    );
    assert_eq!(l.next(1, warn, due, true, &cal), Some((Step::Overdue, due)));
    // Overdue 1 working day: Friday 17:30.
    let supervise = sh(2026, 12, 4, 17, 30);
    assert_eq!(
        l.next(2, warn, due, true, &cal),
        Some((Step::Supervise, supervise))
    );
    // Then 2 more working days, over the weekend: Tuesday 17:30.
    assert_eq!(
        l.next(3, warn, due, true, &cal),
        Some((Step::Escalate, sh(2026, 12, 8, 17, 30)))
    );
    assert_eq!(l.next(4, warn, due, true, &cal), None);
    // The centre's own stages stop at overdue.
    assert_eq!(
        l.next(1, warn, due, false, &cal),
        Some((Step::Overdue, due))
    );
    assert_eq!(l.next(2, warn, due, false, &cal), None);
    for (step, level) in [
        (Step::Warning, 1),
        (Step::Overdue, 2),
        (Step::Supervise, 3),
        (Step::Escalate, 4),
    ] {
        assert_eq!(step.level_after(), level);
        assert_eq!(Step::parse(step.as_str()), Some(step));
    }
}

#[test]
fn ladder_periods_count_working_time_across_holidays() {
    let cal = cal();
    // Due on the make-up workday Saturday 2026-02-14, before the Spring Festival holiday
    // (15-23 Feb off): one working day overdue is the first working day after it.
    let due = sh(2026, 2, 14, 17, 30);
    let supervise = Limit::WorkingDays(1).after(due, &cal);
    assert_eq!(supervise, sh(2026, 2, 24, 17, 30));
    assert_eq!(
        Limit::WorkingHours(2).after(sh(2026, 2, 14, 17, 0), &cal),
        sh(2026, 2, 24, 10, 30)
    );
    assert_eq!(
        Limit::CalendarHours(24).after(due, &cal),
        due + Duration::hours(24)
    );
    assert_eq!(Limit::NextWorkingDay.after(due, &cal), supervise);
}

#[test]
fn pausing_keeps_the_working_time_left_and_resuming_spends_it() {
    let cal = cal();
    // Started Monday 2026-11-30 09:00, due Thursday 17:30 (3 working days), warning not yet.
    let due = sh(2026, 12, 3, 17, 30);
    let warn = sh(2026, 12, 3, 9, 0);
    // Paused Tuesday 10:00: left = Tue 10:00-17:30 (6.5 h) + Wed (7.5 h) + Thu (7.5 h) = 21.5 h.
    let p = pause(sh(2026, 12, 1, 10, 0), due, warn, 0, false, &cal);
    assert_eq!(p.remaining, Duration::minutes(21 * 60 + 30));
    assert_eq!(p.warn_remaining, Some(Duration::hours(14)));
    // Resumed the next Monday 09:00: 21.5 h of working time = Wednesday 12:00 + ... :
    // Mon 7.5 + Tue 7.5 = 15 h, 6.5 h more on Wednesday = 16:30.
    let (new_due, new_warn) = resume(sh(2026, 12, 7, 9, 0), p, false, &cal);
    assert_eq!(new_due, sh(2026, 12, 9, 16, 30));
    // 14 h: Mon 7.5 + 6.5 h on Tuesday = 16:30.
    assert_eq!(new_warn, Some(sh(2026, 12, 8, 16, 30)));
    // Paused outside working hours (Saturday): nothing of the weekend counts.
    let p2 = pause(
        sh(2026, 12, 5, 11, 0),
        due + Duration::days(7),
        warn,
        1,
        false,
        &cal,
    );
    assert_eq!(p2.warn_remaining, None, "the warning already fired");
    assert_eq!(p2.remaining, Duration::minutes(4 * 450));
}

#[test]
fn calendar_hour_clocks_pause_on_the_wall_clock_and_overdue_ones_keep_nothing() {
    let cal = cal();
    let now = sh(2026, 12, 5, 23, 0);
    let p = pause(
        now,
        now + Duration::hours(2),
        now + Duration::minutes(30),
        0,
        true,
        &cal,
    );
    assert_eq!(p.remaining, Duration::hours(2));
    assert_eq!(p.warn_remaining, Some(Duration::minutes(30)));
    let later = now + Duration::hours(10);
    assert_eq!(
        resume(later, p, true, &cal),
        (
            later + Duration::hours(2),
            Some(later + Duration::minutes(30))
        )
    );
    let late = pause(
        now,
        now - Duration::hours(1),
        now - Duration::hours(2),
        2,
        true,
        &cal,
    );
    assert_eq!(late.remaining, Duration::zero());
    assert_eq!(resume(later, late, true, &cal).0, later);
}

#[test]
fn extensions_move_the_warning_and_clear_red() {
    let cal = cal();
    let started = sh(2026, 11, 30, 9, 0);
    let now = sh(2026, 12, 2, 10, 0);
    // Extended to the next Friday: 10 working days from the start; warning at 75 % = 7.5 days.
    let until = sh(2026, 12, 11, 17, 30);
    let (warn, level) = extend(now, started, until, 1, 0.75, false, &cal);
    // 75 h of working time; 56.25 h = 7 days (52.5 h) + 3.75 h: Wednesday 13:45.
    assert_eq!(warn, sh(2026, 12, 9, 13, 45));
    assert_eq!(level, 0, "the warning is re-armed");
    // Decided after the warning point of the new span: still warned, no longer red.
    let (_, level) = extend(
        sh(2026, 12, 10, 10, 0),
        started,
        until,
        2,
        0.75,
        false,
        &cal,
    );
    assert_eq!(level, 1);
    // A date already past when decided: the level stays.
    let (_, level) = extend(
        sh(2026, 12, 12, 10, 0),
        started,
        until,
        2,
        0.75,
        false,
        &cal,
    );
    assert_eq!(level, 2);
    assert_eq!(
        warning_at(started, started + Duration::hours(4), 0.75, true, &cal),
        started + Duration::hours(3)
    );
}

fn handling(dept: &str, due: DateTime<Utc>) -> RunningClock {
    RunningClock {
        id: 7,
        stage: Stage::Handling,
        department: Some(code(dept)),
        paused: false,
        due_at: due,
    }
}

#[test]
fn extension_rules() {
    let now = sh(2026, 12, 2, 10, 0);
    let due = sh(2026, 12, 3, 17, 30);
    let later = due + Duration::days(3);
    let th = code("GZ-TH");
    let running = [handling("GZ-TH", due)];
    let ok = check_extension(now, &running, &th, "parts", later, 0, 1, false).expect("allowed");
    assert_eq!(ok.id, 7);
    let refuse =
        |running: &[RunningClock], dept: &DeptCode, reason: &str, until, granted, pending, now| {
            check_extension(now, running, dept, reason, until, granted, 1, pending)
                .expect_err("refused")
        };
    assert_eq!(
        refuse(&running, &th, " ", later, 0, false, now),
        ExtensionRefusal::EmptyReason
    );
    assert_eq!(
        refuse(&running, &code("GZ-HZ"), "r", later, 0, false, now),
        ExtensionRefusal::OtherDepartment
    );
    assert_eq!(
        refuse(&[], &th, "r", later, 0, false, now),
        ExtensionRefusal::NoClock
    );
    let centre = [RunningClock {
        department: None,
        stage: Stage::Callback,
        ..handling("GZ-TH", due)
    }];
    assert_eq!(
        refuse(&centre, &th, "r", later, 0, false, now),
        ExtensionRefusal::NoClock
    );
    let sign_off = [RunningClock {
        stage: Stage::SignOff,
        ..handling("GZ-TH", due)
    }];
    assert_eq!(
        refuse(&sign_off, &th, "r", later, 0, false, now),
        ExtensionRefusal::NotHandling
    );
    let paused = [RunningClock {
        paused: true,
        ..handling("GZ-TH", due)
    }];
    assert_eq!(
        refuse(&paused, &th, "r", later, 0, false, now),
        ExtensionRefusal::Paused
    );
    assert_eq!(
        refuse(&running, &th, "r", later, 0, false, due),
        ExtensionRefusal::DeadlinePassed { due }
    );
    assert_eq!(
        refuse(&running, &th, "r", due, 0, false, now),
        ExtensionRefusal::NotLater { due }
    );
    assert_eq!(
        refuse(&running, &th, "r", now - Duration::days(1), 0, false, now),
        ExtensionRefusal::NotLater { due }
    );
    assert_eq!(
        refuse(&running, &th, "r", due + Duration::days(400), 0, false, now),
        ExtensionRefusal::TooFar
    );
    assert_eq!(
        refuse(&running, &th, "r", later, 0, true, now),
        ExtensionRefusal::Pending
    );
    assert_eq!(
        refuse(&running, &th, "r", later, 1, false, now),
        ExtensionRefusal::CapReached { cap: 1 }
    );
    assert_eq!(
        ExtensionRefusal::OtherDepartment.kind(),
        ErrorKind::Forbidden
    );
    assert_eq!(ExtensionRefusal::TooFar.kind(), ErrorKind::Invalid);
    assert_eq!(ExtensionRefusal::Pending.kind(), ErrorKind::Conflict);
}

#[test]
fn escalation_goes_to_the_parent_else_the_supervision_office() {
    let dir = Directory::demo();
    assert_eq!(
        authority(&code("GZ-TH-SP"), &dir, "市政府督查室"),
        SupervisingAuthority::Department {
            code: code("GZ-TH")
        }
    );
    assert_eq!(
        authority(&code("GZ-ZJ"), &dir, "市政府督查室"),
        SupervisingAuthority::SupervisionOffice {
            name: "市政府督查室".into()
        }
    );
}

#[test]
fn the_loop_sleeps_until_the_next_step_but_never_past_the_poll() {
    let now = sh(2026, 12, 2, 10, 0);
    let poll = std::time::Duration::from_millis(250);
    assert_eq!(sleep_for(now, None, poll), poll);
    assert_eq!(
        sleep_for(now, Some(now + Duration::milliseconds(40)), poll),
        std::time::Duration::from_millis(40)
    );
    assert_eq!(sleep_for(now, Some(now + Duration::hours(1)), poll), poll);
    assert_eq!(
        sleep_for(now, Some(now - Duration::hours(1)), poll),
        std::time::Duration::from_millis(1)
    );
}

/// With tokio's clock paused, a sleep computed by [`sleep_for`] wakes exactly when the step is
/// due: the loop's lateness comes from the database, not from its timer.
#[tokio::test(start_paused = true)]
async fn a_sleep_ends_when_the_step_is_due() {
    let start = tokio::time::Instant::now();
    let now = Utc::now();
    let wait = sleep_for(
        now,
        Some(now + Duration::milliseconds(180)),
        std::time::Duration::from_millis(250),
    );
    tokio::time::sleep(wait).await;
    assert_eq!(start.elapsed(), std::time::Duration::from_millis(180));
}
