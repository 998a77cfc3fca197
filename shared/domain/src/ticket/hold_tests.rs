//! The hold (暂缓派单) of a ticket created during a call: dispatch waits for the release, the
//! agent's own endings lift it.

use super::*;

fn dept(code: &str) -> DeptCode {
    DeptCode::parse(code).expect("valid code")
}

fn agent() -> Actor {
    Actor::Agent {
        id: "agent1".into(),
    }
}

fn held() -> Ticket {
    Ticket {
        held: true,
        ..Ticket::new(TicketNo::compose(261203, 11).expect("number"))
    }
}

fn dispatch() -> Action {
    Action::Dispatch {
        lead: dept("GZ-TH"),
        co: vec![],
        note: String::new(),
    }
}

fn decide(t: &Ticket, actor: &Actor, action: &Action) -> Result<Transition, TransitionError> {
    t.decide(actor, action, &Directory::demo())
}

#[test]
fn a_held_ticket_is_not_dispatched_by_anyone() {
    let t = held();
    for actor in [agent(), Actor::system("dispatch")] {
        assert_eq!(
            decide(&t, &actor, &dispatch()),
            Err(TransitionError::Held { action: "dispatch" }),
            "{actor:?}"
        );
    }
}

#[test]
fn release_lifts_the_hold_and_keeps_the_ticket_received() {
    let mut t = held();
    let tr = decide(&t, &Actor::system("intake"), &Action::Release).expect("release");
    assert_eq!((tr.to, tr.held), (Status::Received, false));
    t.apply(tr);
    assert!(!t.held);
    assert_eq!(
        decide(&t, &agent(), &dispatch()).map(|tr| tr.to),
        Ok(Status::Dispatched)
    );
    // A second release (the sweeper after the agent, say) finds nothing to lift.
    assert_eq!(
        decide(&t, &agent(), &Action::Release),
        Err(TransitionError::NotHeld)
    );
}

#[test]
fn only_the_centre_releases() {
    assert_eq!(
        decide(
            &held(),
            &Actor::Department {
                code: dept("GZ-TH")
            },
            &Action::Release
        ),
        Err(TransitionError::CentreOnly { action: "release" })
    );
    assert_eq!(
        decide(
            &held(),
            &Actor::Citizen {
                channel: Channel::Phone
            },
            &Action::Release
        ),
        Err(TransitionError::CentreOnly { action: "release" })
    );
}

#[test]
fn the_agent_finishing_on_the_spot_ends_the_hold() {
    let endings = [
        (
            Action::Answer {
                answer: "携带户口簿办理参保登记。".into(),
                knowledge_leaf: Some("XP-JD-1".into()),
            },
            Status::Answered,
        ),
        (
            Action::Reject {
                rule: RejectRule::Litigation,
                note: "已起诉".into(),
            },
            Status::Rejected,
        ),
        (
            Action::Emergency {
                service: EmergencyService::Fire119,
                note: "起火".into(),
            },
            Status::Emergency,
        ),
        (
            Action::Merge {
                into: TicketNo::compose(261203, 1).expect("number"),
            },
            Status::Merged,
        ),
    ];
    for (action, to) in endings {
        let tr = decide(&held(), &agent(), &action).expect("allowed while held");
        assert_eq!((tr.to, tr.held), (to, false), "{}", action.name());
        let mut t = held();
        t.apply(tr);
        // Nothing is left to release: a late release is refused, not a second step.
        assert!(decide(&t, &agent(), &Action::Release).is_err());
    }
}

#[test]
fn notes_on_a_held_ticket_keep_it_held() {
    let t = held();
    for action in [
        Action::Supplement {
            note: "市民补充地址".into(),
        },
        Action::Supervise {
            note: "尽快处理".into(),
        },
    ] {
        let tr = decide(&t, &agent(), &action).expect("allowed");
        assert_eq!(
            (tr.to, tr.held),
            (Status::Received, true),
            "{}",
            action.name()
        );
    }
}

#[test]
fn a_ticket_created_without_a_hold_is_not_held() {
    let t = Ticket::new(TicketNo::compose(261203, 12).expect("number"));
    assert!(!t.held);
    assert_eq!(
        decide(&t, &agent(), &Action::Release),
        Err(TransitionError::NotHeld)
    );
    // Records written before the hold existed read as not held.
    let mut json = serde_json::to_value(held()).expect("encode");
    json.as_object_mut().expect("an object").remove("held");
    let old: Ticket = serde_json::from_value(json).expect("decode");
    assert!(!old.held);
    assert_eq!(Action::Release.name(), "release");
    let encoded = serde_json::to_value(Action::Release).expect("encode");
    assert_eq!(encoded, serde_json::json!({ "action": "release" }));
}
