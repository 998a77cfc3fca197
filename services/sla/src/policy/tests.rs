use super::*;
use chrono::{NaiveDate, Timelike};

use crate::calendar::to_utc;

fn sh(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    to_utc(
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|x| x.and_hms_opt(h, mi, 0))
            .expect("valid test time"),
    )
}

use RequestType::*;

#[test]
fn defaults_match_the_issue() {
    let p = Policy::default();
    for t in [Consultation, HelpRequest] {
        assert_eq!(
            p.limit(t, Urgency::Normal, Stage::Handling),
            Some(Limit::WorkingDays(3))
        );
    }
    for t in [Complaint, Report, Suggestion] {
        assert_eq!(
            p.limit(t, Urgency::Normal, Stage::Handling),
            Some(Limit::WorkingDays(13))
        );
    }
    for t in RequestType::ALL {
        assert_eq!(
            p.limit(t, Urgency::Normal, Stage::SignOff),
            Some(Limit::WorkingDays(1))
        );
        assert_eq!(
            p.limit(t, Urgency::Normal, Stage::ReturnReview),
            Some(Limit::WorkingDays(1))
        );
        for u in Urgency::ALL {
            assert_eq!(p.limit(t, u, Stage::Callback), Some(Limit::NextWorkingDay));
        }
        if t != Praise {
            assert_eq!(
                p.limit(t, Urgency::Emergency, Stage::Handling),
                Some(Limit::CalendarHours(2))
            );
        }
    }
    assert_eq!(p.extension_cap(), 1);
    assert_eq!(p.warning_share(), 0.75);
}

#[test]
fn every_cell_is_set_except_praise_handling() {
    let p = Policy::default();
    let mut none = Vec::new();
    for t in RequestType::ALL {
        for u in Urgency::ALL {
            for s in Stage::ALL {
                if p.limit(t, u, s).is_none() {
                    none.push((t, u, s));
                }
            }
        }
    }
    let want: Vec<_> = Urgency::ALL
        .into_iter()
        .map(|u| (Praise, u, Stage::Handling))
        .collect();
    assert_eq!(none, want);
}

#[test]
fn praise_has_no_handling_deadline() {
    let p = Policy::default();
    let cal = WorkCalendar::china();
    let t = sh(2026, 11, 30, 10, 0);
    assert_eq!(
        p.deadline(t, Praise, Urgency::Normal, Stage::Handling, &cal),
        None
    );
    assert_eq!(
        p.warning_at(t, Praise, Urgency::Normal, Stage::Handling, &cal),
        None
    );
    assert!(
        p.deadline(t, Praise, Urgency::Normal, Stage::SignOff, &cal)
            .is_some()
    );
}

#[test]
fn deadlines_across_holidays() {
    let p = Policy::default();
    let cal = WorkCalendar::china();
    // A complaint received Tuesday 10 Feb 2026 09:30: 13 working days across Spring Festival.
    let t = sh(2026, 2, 10, 9, 30);
    assert_eq!(
        p.deadline(t, Complaint, Urgency::Normal, Stage::Handling, &cal),
        Some(sh(2026, 3, 5, 17, 30))
    );
    // A consultation received on National Day: day 0 is Thursday 8 Oct; then 9, 10 (Saturday,
    // worked) and Monday 12 Oct.
    let t = sh(2026, 10, 2, 15, 0);
    assert_eq!(
        p.deadline(t, Consultation, Urgency::Normal, Stage::Handling, &cal),
        Some(sh(2026, 10, 12, 17, 30))
    );
    // Sign-off (1 working day) and callback (next working day) from Wednesday 30 Sep 2026: the
    // next working day is Thursday 8 October.
    let t = sh(2026, 9, 30, 16, 0);
    assert_eq!(
        p.deadline(t, Report, Urgency::Normal, Stage::SignOff, &cal),
        Some(sh(2026, 10, 8, 17, 30))
    );
    assert_eq!(
        p.deadline(t, Report, Urgency::Normal, Stage::Callback, &cal),
        Some(sh(2026, 10, 8, 17, 30))
    );
    // Emergency handling: 2 calendar hours, holiday or not.
    let t = sh(2026, 10, 1, 23, 0);
    assert_eq!(
        p.deadline(t, HelpRequest, Urgency::Emergency, Stage::Handling, &cal),
        Some(sh(2026, 10, 2, 1, 0))
    );
    // Normal dispatch: 2 working hours; received Sunday 4 Jan 2026 (worked) at 17:00 -> 30 min
    // Sunday, then Monday 5 Jan 09:00 + 1.5 h.
    let t = sh(2026, 1, 4, 17, 0);
    assert_eq!(
        p.deadline(t, Complaint, Urgency::Normal, Stage::Dispatch, &cal),
        Some(sh(2026, 1, 5, 10, 30))
    );
}

#[test]
fn warning_at_share_of_the_time() {
    let p = Policy::default();
    let cal = WorkCalendar::china();
    // Emergency handling 2 h from 10:00: yellow at 11:30.
    let t = sh(2026, 11, 30, 10, 0);
    assert_eq!(
        p.warning_at(t, Complaint, Urgency::Emergency, Stage::Handling, &cal),
        Some(sh(2026, 11, 30, 11, 30))
    );
    // Consultation from Monday 30 Nov 09:00: 4 working days of 7.5 h = 30 h to the deadline;
    // 75% = 22.5 h = 3 working days -> end of Wednesday 2 Dec.
    let t = sh(2026, 11, 30, 9, 0);
    assert_eq!(
        p.warning_at(t, Consultation, Urgency::Normal, Stage::Handling, &cal),
        Some(sh(2026, 12, 2, 17, 30))
    );
    // With a city share of 0.5: 15 h = 2 working days -> end of Tuesday 1 Dec.
    let half = Policy::from_toml("warning_share = 0.5").expect("valid");
    assert_eq!(
        half.warning_at(t, Consultation, Urgency::Normal, Stage::Handling, &cal),
        Some(sh(2026, 12, 1, 17, 30))
    );
    // The warning is always before the deadline.
    let w = p
        .warning_at(t, Complaint, Urgency::Normal, Stage::Handling, &cal)
        .expect("set");
    let due = p
        .deadline(t, Complaint, Urgency::Normal, Stage::Handling, &cal)
        .expect("set");
    assert!(w < due);
    assert_eq!(w.second(), 0);
}

#[test]
fn overrides_change_only_their_cells() {
    let src = r#"
extension_cap = 2
warning_share = 0.8

[limits.complaint.normal]
handling = "10 working days"

[limits."投诉"."特急"]
"办结" = "4 calendar hours"

[limits.praise.normal]
handling = "5 working days"
callback = "none"
"#;
    let p = Policy::from_toml(src).expect("valid");
    let d = Policy::default();
    assert_eq!(
        p.limit(Complaint, Urgency::Normal, Stage::Handling),
        Some(Limit::WorkingDays(10))
    );
    assert_eq!(
        p.limit(Complaint, Urgency::Emergency, Stage::Handling),
        Some(Limit::CalendarHours(4))
    );
    assert_eq!(
        p.limit(Praise, Urgency::Normal, Stage::Handling),
        Some(Limit::WorkingDays(5))
    );
    assert_eq!(p.limit(Praise, Urgency::Normal, Stage::Callback), None);
    assert_eq!(p.extension_cap(), 2);
    assert_eq!(p.warning_share(), 0.8);
    let mut changed = 0;
    for t in RequestType::ALL {
        for u in Urgency::ALL {
            for s in Stage::ALL {
                if p.limit(t, u, s) != d.limit(t, u, s) {
                    changed += 1;
                }
            }
        }
    }
    assert_eq!(changed, 4);
}

#[test]
fn every_cell_can_be_overridden() {
    let mut src = String::new();
    for t in RequestType::ALL {
        for u in Urgency::ALL {
            src.push_str(&format!("[limits.{}.{}]\n", t.as_str(), u.as_str()));
            for s in Stage::ALL {
                src.push_str(&format!("{} = \"7 working hours\"\n", s.as_str()));
            }
        }
    }
    let p = Policy::from_toml(&src).expect("valid");
    for t in RequestType::ALL {
        for u in Urgency::ALL {
            for s in Stage::ALL {
                assert_eq!(
                    p.limit(t, u, s),
                    Some(Limit::WorkingHours(7)),
                    "{t:?} {u:?} {s:?}"
                );
            }
        }
    }
}

#[test]
fn validation_errors_are_typed_and_nothing_half_applied() {
    let err = |src: &str| Policy::from_toml(src).expect_err(src);
    assert_eq!(
        err("[limits.complain.normal]\nhandling = \"3 working days\""),
        PolicyError::UnknownRequestType("complain".into())
    );
    assert_eq!(
        err("[limits.complaint.high]\nhandling = \"3 working days\""),
        PolicyError::UnknownUrgency("high".into())
    );
    assert_eq!(
        err("[limits.complaint.normal]\nclosing = \"3 working days\""),
        PolicyError::UnknownStage("closing".into())
    );
    assert_eq!(
        err("[limits.complaint.normal]\nhandling = \"0 working days\""),
        PolicyError::ZeroLimit {
            cell: "complaint/normal/handling".into()
        }
    );
    assert_eq!(
        err("[limits.complaint.normal]\nhandling = \"-3 working days\""),
        PolicyError::NegativeLimit {
            cell: "complaint/normal/handling".into(),
            value: -3
        }
    );
    assert!(matches!(
        err("[limits.complaint.normal]\nhandling = \"3 weeks\""),
        PolicyError::BadLimit { .. }
    ));
    assert!(matches!(
        err("[limits.complaint.normal]\nhandling = \"three working days\""),
        PolicyError::BadLimit { .. }
    ));
    assert!(matches!(
        err("[limits.complaint.normal]\nhandling = \"400 working days\""),
        PolicyError::TooLarge { max: 366, .. }
    ));
    assert_eq!(
        err("extension_cap = -1"),
        PolicyError::NegativeExtensionCap(-1)
    );
    assert_eq!(err("warning_share = 1.0"), PolicyError::WarningShare(1.0));
    assert_eq!(err("warning_share = 0.0"), PolicyError::WarningShare(0.0));
    // Wrong types and unknown keys: the toml error names the line.
    let e = err("[limits.complaint.normal]\nhandling = 3");
    assert!(
        matches!(&e, PolicyError::Toml(m) if m.contains("line 2")),
        "{e}"
    );
    let e = err("warning_shares = 0.5");
    assert!(
        matches!(&e, PolicyError::Toml(m) if m.contains("warning_shares")),
        "{e}"
    );
    // A good cell followed by a bad one: the base policy is untouched, no new policy.
    let base = Policy::default();
    let bad = "[limits.complaint.normal]\nhandling = \"5 working days\"\nsign_off = \"0 working hours\"\n";
    assert!(base.apply_toml(bad).is_err());
    assert_eq!(base, Policy::default());
    assert_eq!(
        base.limit(Complaint, Urgency::Normal, Stage::Handling),
        Some(Limit::WorkingDays(13))
    );
}

#[test]
fn limit_text_round_trips() {
    for l in [
        Limit::WorkingDays(1),
        Limit::WorkingDays(13),
        Limit::WorkingHours(2),
        Limit::CalendarHours(1),
        Limit::CalendarHours(24),
        Limit::NextWorkingDay,
    ] {
        assert_eq!(Limit::parse(&l.to_string(), "x"), Ok(Some(l)));
    }
    assert_eq!(
        Limit::parse("  3   Working  Days ", "x"),
        Ok(Some(Limit::WorkingDays(3)))
    );
    assert_eq!(Limit::parse("none", "x"), Ok(None));
}

#[test]
fn names_parse_in_english_and_chinese() {
    for s in Stage::ALL {
        assert_eq!(Stage::parse(s.as_str()), Some(s));
        assert_eq!(Stage::parse(s.chinese()), Some(s));
    }
    for u in Urgency::ALL {
        assert_eq!(Urgency::parse(u.as_str()), Some(u));
        assert_eq!(Urgency::parse(u.chinese()), Some(u));
    }
    assert_eq!(Stage::parse("sign-off"), None);
}

#[test]
fn readme_holds_the_default_table() {
    let readme = include_str!("../../README.md");
    let table = Policy::default().markdown_table();
    assert!(
        readme.contains(&table),
        "README's default table is stale; paste:\n{table}"
    );
}

#[test]
fn the_ladder_periods_are_policy_too() {
    let p = Policy::default();
    assert_eq!(p.supervise_after(), Limit::WorkingDays(1));
    assert_eq!(p.escalate_after(), Limit::WorkingDays(2));
    assert_eq!(p.supervision_office(), "市政府督查室");
    let p = Policy::from_toml(
        "supervise_after = \"4 working hours\"\nescalate_after = \"2 calendar hours\"\n\
         supervision_office = \"City inspection office\"\n",
    )
    .expect("valid");
    assert_eq!(p.supervise_after(), Limit::WorkingHours(4));
    assert_eq!(p.escalate_after(), Limit::CalendarHours(2));
    assert_eq!(p.supervision_office(), "City inspection office");
    assert_eq!(
        Policy::from_toml("supervise_after = \"none\""),
        Err(PolicyError::NoLadderPeriod("supervise_after"))
    );
    assert!(matches!(
        Policy::from_toml("escalate_after = \"0 working days\""),
        Err(PolicyError::ZeroLimit { .. })
    ));
    assert_eq!(
        Policy::from_toml("supervision_office = \" \""),
        Err(PolicyError::EmptySupervisionOffice)
    );
}
