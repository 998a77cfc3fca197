use chrono::Utc;
use proptest::prelude::*;

use super::*;

fn dept(code: &str) -> DeptCode {
    DeptCode::parse(code).expect("valid code")
}

fn agent() -> Actor {
    Actor::Agent { id: "a1".into() }
}

fn as_dept(code: &str) -> Actor {
    Actor::Department { code: dept(code) }
}

fn ticket() -> Ticket {
    Ticket::new(TicketNo::compose(261129, 7).expect("number"))
}

fn step(t: &mut Ticket, actor: &Actor, action: Action) -> Result<(), TransitionError> {
    let tr = t.decide(actor, &action, &Directory::demo())?;
    t.apply(tr);
    Ok(())
}

#[test]
fn the_whole_loop_from_received_to_closed() {
    let mut t = ticket();
    let th = as_dept("GZ-TH");
    step(
        &mut t,
        &agent(),
        Action::Dispatch {
            lead: dept("GZ-TH"),
            co: vec![dept("GZ-CG")],
            note: String::new(),
        },
    )
    .expect("dispatch");
    assert_eq!(t.status, Status::Dispatched);
    step(
        &mut t,
        &th,
        Action::Redispatch {
            to: dept("GZ-TH-SP"),
            note: String::new(),
        },
    )
    .expect("down to a street");
    assert_eq!(t.lead, Some(dept("GZ-TH-SP")));
    let street = as_dept("GZ-TH-SP");
    step(&mut t, &street, Action::Accept).expect("accept");
    step(
        &mut t,
        &as_dept("GZ-CG"),
        Action::AddProgress {
            note: "co-handler checked".into(),
        },
    )
    .expect("co progress");
    step(
        &mut t,
        &street,
        Action::RequestExtension {
            reason: "needs survey".into(),
            until: Utc::now(),
        },
    )
    .expect("ask");
    assert!(t.extension_pending);
    step(
        &mut t,
        &agent(),
        Action::DecideExtension {
            approved: true,
            note: String::new(),
        },
    )
    .expect("decide");
    step(
        &mut t,
        &street,
        Action::Reply {
            text: "fixed the lamp".into(),
        },
    )
    .expect("reply");
    step(
        &mut t,
        &street,
        Action::Complete {
            note: String::new(),
        },
    )
    .expect("complete");
    step(
        &mut t,
        &agent(),
        Action::Survey {
            satisfied: false,
            note: String::new(),
        },
    )
    .expect("survey");
    step(
        &mut t,
        &agent(),
        Action::Reopen {
            reason: "lamp still dark".into(),
        },
    )
    .expect("reopen");
    // 重办 keeps the lead that completed it: dispatch sends it back there.
    assert_eq!(
        (t.status, t.lead.clone()),
        (Status::Reopened, Some(dept("GZ-TH-SP")))
    );
    step(
        &mut t,
        &agent(),
        Action::Dispatch {
            lead: dept("GZ-CG"),
            co: vec![],
            note: String::new(),
        },
    )
    .expect("again");
    step(
        &mut t,
        &as_dept("GZ-CG"),
        Action::Return {
            reason: "not ours".into(),
        },
    )
    .expect("return");
    step(
        &mut t,
        &agent(),
        Action::ReviewReturn {
            ruling: ReturnDecision::Uphold,
            note: String::new(),
        },
    )
    .expect("uphold");
    assert_eq!(
        (t.status, t.lead.clone()),
        (Status::Dispatched, Some(dept("GZ-CG")))
    );
    step(&mut t, &as_dept("GZ-CG"), Action::Accept).expect("accept");
    step(
        &mut t,
        &as_dept("GZ-CG"),
        Action::Reply {
            text: "done".into(),
        },
    )
    .expect("reply");
    step(
        &mut t,
        &as_dept("GZ-CG"),
        Action::Complete {
            note: String::new(),
        },
    )
    .expect("complete");
    step(
        &mut t,
        &agent(),
        Action::Survey {
            satisfied: true,
            note: String::new(),
        },
    )
    .expect("survey");
    step(&mut t, &agent(), Action::Close).expect("close");
    assert_eq!(t.status, Status::Closed);
    assert!(matches!(
        step(&mut t, &agent(), Action::Supervise { note: "x".into() }),
        Err(TransitionError::Illegal { .. })
    ));
}

#[test]
fn departments_cannot_touch_tickets_they_do_not_hold() {
    let mut t = ticket();
    step(
        &mut t,
        &agent(),
        Action::Dispatch {
            lead: dept("GZ-TH"),
            co: vec![],
            note: String::new(),
        },
    )
    .expect("dispatch");
    assert_eq!(
        step(&mut t, &as_dept("GZ-HZ"), Action::Accept),
        Err(TransitionError::NotHandler { action: "accept" })
    );
    assert_eq!(
        step(
            &mut t,
            &as_dept("GZ-TH"),
            Action::Dispatch {
                lead: dept("GZ-HZ"),
                co: vec![],
                note: String::new()
            }
        ),
        Err(TransitionError::CentreOnly { action: "dispatch" })
    );
    // A district may pass down only to its own streets, and a street not further.
    assert_eq!(
        step(
            &mut t,
            &as_dept("GZ-TH"),
            Action::Redispatch {
                to: dept("GZ-HZ-CG"),
                note: String::new()
            }
        ),
        Err(TransitionError::NotAStreetOfDistrict)
    );
    assert_eq!(t.status, Status::Dispatched);
}

#[test]
fn terminal_branches_from_received() {
    for action in [
        Action::Answer {
            answer: "open 9-5".into(),
            knowledge_leaf: None,
        },
        Action::Reject {
            rule: RejectRule::Litigation,
            note: String::new(),
        },
        Action::Emergency {
            service: EmergencyService::Fire119,
            note: String::new(),
        },
        Action::Merge {
            into: TicketNo::compose(261129, 1).expect("n"),
        },
    ] {
        let mut t = ticket();
        step(&mut t, &agent(), action.clone()).expect("allowed from received");
        assert_ne!(t.status, Status::Received, "{action:?}");
    }
    let mut t = ticket();
    assert_eq!(
        step(
            &mut t,
            &agent(),
            Action::Merge {
                into: TicketNo::compose(261129, 7).expect("same number")
            }
        ),
        Err(TransitionError::MergeIntoSelf)
    );
    assert_eq!(
        step(
            &mut t,
            &agent(),
            Action::Dispatch {
                lead: dept("GZ-NOPE"),
                co: vec![],
                note: String::new()
            }
        ),
        Err(TransitionError::UnknownDepartment)
    );
}

/// A ticket dispatched to GZ-TH and accepted by it.
fn accepted() -> Ticket {
    let mut t = ticket();
    step(
        &mut t,
        &agent(),
        Action::Dispatch {
            lead: dept("GZ-TH"),
            co: vec![dept("GZ-HZ")],
            note: String::new(),
        },
    )
    .expect("dispatch");
    step(&mut t, &as_dept("GZ-TH"), Action::Accept).expect("accept");
    t
}

#[test]
fn the_department_asks_the_citizen_and_the_centre_answers_for_them() {
    let mut t = accepted();
    let ask = Action::RequestInformation {
        question: "which floor?".into(),
    };
    // Only the lead asks: not a co-handler, not the centre.
    assert_eq!(
        step(&mut t, &as_dept("GZ-HZ"), ask.clone()),
        Err(TransitionError::NotHandler {
            action: "request_information"
        })
    );
    assert_eq!(
        step(&mut t, &agent(), ask.clone()),
        Err(TransitionError::NotHandler {
            action: "request_information"
        })
    );
    assert_eq!(
        step(
            &mut t,
            &as_dept("GZ-TH"),
            Action::RequestInformation {
                question: "  ".into()
            }
        ),
        Err(TransitionError::EmptyText)
    );
    step(&mut t, &as_dept("GZ-TH"), ask.clone()).expect("from accepted");
    assert_eq!(t.status, Status::AwaitingCitizen);
    assert_eq!(
        t.lead,
        Some(dept("GZ-TH")),
        "the department keeps the ticket"
    );
    assert!(t.status.is_with_department() && t.status.is_open_for_citizen());
    // Waiting: no second question, no reply, no extension; supervision is still possible.
    assert!(matches!(
        step(&mut t, &as_dept("GZ-TH"), ask.clone()),
        Err(TransitionError::Illegal { .. })
    ));
    assert!(matches!(
        step(
            &mut t,
            &as_dept("GZ-TH"),
            Action::Reply { text: "x".into() }
        ),
        Err(TransitionError::Illegal { .. })
    ));
    assert!(matches!(
        step(
            &mut t,
            &as_dept("GZ-TH"),
            Action::RequestExtension {
                reason: "r".into(),
                until: Utc::now()
            }
        ),
        Err(TransitionError::Illegal { .. })
    ));
    step(&mut t, &agent(), Action::Supervise { note: "s".into() }).expect("supervise");
    assert_eq!(t.status, Status::AwaitingCitizen);
    let answer = Action::ProvideInformation {
        note: "3rd floor".into(),
    };
    // The department cannot answer for the citizen.
    assert_eq!(
        step(&mut t, &as_dept("GZ-TH"), answer.clone()),
        Err(TransitionError::CentreOnly {
            action: "provide_information"
        })
    );
    step(&mut t, &agent(), answer.clone()).expect("answered");
    assert_eq!(t.status, Status::InProgress);
    // Not waiting any more: a second answer is illegal; asking again from in progress is fine.
    assert!(matches!(
        step(&mut t, &agent(), answer),
        Err(TransitionError::Illegal { .. })
    ));
    step(&mut t, &as_dept("GZ-TH"), ask).expect("from in progress");
    assert_eq!(t.status, Status::AwaitingCitizen);
}

#[test]
fn information_cannot_be_asked_before_accepting_or_with_an_extension_pending() {
    let mut t = ticket();
    step(
        &mut t,
        &agent(),
        Action::Dispatch {
            lead: dept("GZ-TH"),
            co: vec![],
            note: String::new(),
        },
    )
    .expect("dispatch");
    let ask = Action::RequestInformation {
        question: "q".into(),
    };
    assert!(matches!(
        step(&mut t, &as_dept("GZ-TH"), ask.clone()),
        Err(TransitionError::Illegal { .. })
    ));
    let mut t = accepted();
    step(
        &mut t,
        &as_dept("GZ-TH"),
        Action::RequestExtension {
            reason: "parts".into(),
            until: Utc::now(),
        },
    )
    .expect("extension");
    assert_eq!(
        step(&mut t, &as_dept("GZ-TH"), ask),
        Err(TransitionError::ExtensionPending)
    );
    assert_eq!(
        Status::parse("awaiting_citizen"),
        Some(Status::AwaitingCitizen)
    );
    assert_eq!(
        serde_json::to_value(Action::ProvideInformation { note: "n".into() }).expect("json")["action"],
        "provide_information"
    );
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(agent()),
        Just(Actor::system("dispatch")),
        Just(Actor::Citizen {
            channel: Channel::Web
        }),
        Just(as_dept("GZ-TH")),
        Just(as_dept("GZ-TH-SP")),
        Just(as_dept("GZ-HZ")),
        Just(as_dept("GZ-CG")),
    ]
}

fn arb_action() -> impl Strategy<Value = Action> {
    let d = prop_oneof![
        Just(dept("GZ-TH")),
        Just(dept("GZ-HZ")),
        Just(dept("GZ-CG")),
        Just(dept("GZ-TH-SP"))
    ];
    prop_oneof![
        Just(Action::Answer {
            answer: "a".into(),
            knowledge_leaf: None
        }),
        Just(Action::Reject {
            rule: RejectRule::Privacy,
            note: String::new()
        }),
        Just(Action::Emergency {
            service: EmergencyService::Police110,
            note: String::new()
        }),
        d.clone().prop_map(|lead| Action::Dispatch {
            lead,
            co: vec![],
            note: String::new()
        }),
        Just(Action::Return { reason: "r".into() }),
        Just(Action::ReviewReturn {
            ruling: ReturnDecision::Uphold,
            note: String::new()
        }),
        d.clone().prop_map(|lead| Action::ReviewReturn {
            ruling: ReturnDecision::Redispatch { lead, co: vec![] },
            note: String::new()
        }),
        Just(Action::Accept),
        Just(Action::AddProgress { note: "p".into() }),
        Just(Action::RequestInformation {
            question: "q".into()
        }),
        Just(Action::ProvideInformation { note: "n".into() }),
        Just(Action::RequestExtension {
            reason: "r".into(),
            until: Utc::now()
        }),
        any::<bool>().prop_map(|approved| Action::DecideExtension {
            approved,
            note: String::new()
        }),
        Just(Action::Reply { text: "t".into() }),
        Just(Action::Complete {
            note: String::new()
        }),
        d.prop_map(|to| Action::Redispatch {
            to,
            note: String::new()
        }),
        Just(Action::Supervise { note: "s".into() }),
        any::<bool>().prop_map(|satisfied| Action::Survey {
            satisfied,
            note: String::new()
        }),
        Just(Action::Close),
        Just(Action::Reopen { reason: "r".into() }),
        Just(Action::SurveyUnreachable { attempts: 3 }),
        Just(Action::Conclude {
            ruling: Ruling::Explained,
            note: "n".into()
        }),
    ]
}

proptest! {
    /// Whatever anyone tries, in any order, the ticket's invariants hold.
    #[test]
    fn invariants_hold_under_any_sequence(steps in proptest::collection::vec((arb_actor(), arb_action()), 1..60)) {
        let directory = Directory::demo();
        let mut t = ticket();
        for (actor, action) in steps {
            let before = t.clone();
            match t.decide(&actor, &action, &directory) {
                Ok(tr) => {
                    prop_assert!(!before.status.is_terminal(), "{:?} moved a terminal ticket", action);
                    if matches!(actor, Actor::Citizen { .. }) {
                        prop_assert!(false, "a citizen changed a ticket with {:?}", action);
                    }
                    if let Actor::Department { code } = &actor {
                        prop_assert!(before.lead.as_ref() == Some(code) || before.co.contains(code));
                    }
                    // An unsatisfied ticket ends only by a ruling, never by a plain close.
                    if matches!(action, Action::Close) && before.status == Status::Surveyed {
                        prop_assert!(before.satisfied != Some(false));
                    }
                    t.apply(tr);
                }
                Err(_) => prop_assert_eq!(&t, &before),
            }
            // A department holds the ticket while it is with a department or returned; once it
            // completed, the lead stays on record (who handled it) through survey and close; a
            // ticket that never reached a department, or went back to dispatch, has no lead.
            let held = t.status.is_with_department() || t.status == Status::Returned;
            if held {
                prop_assert!(t.lead.is_some(), "status {:?} without a lead", t.status);
            }
            if matches!(
                t.status,
                Status::Received | Status::Answered | Status::Rejected | Status::Emergency | Status::Merged
            ) {
                prop_assert!(t.lead.is_none(), "status {:?} lead {:?}", t.status, t.lead);
            }
            prop_assert!(!t.extension_pending || matches!(t.status, Status::Accepted | Status::InProgress | Status::Replied));
        }
    }
}

/// A completed ticket surveyed unsatisfied by the lead `GZ-CG`.
fn unsatisfied() -> Ticket {
    let mut t = ticket();
    t.status = Status::Surveyed;
    t.lead = Some(dept("GZ-CG"));
    t.satisfied = Some(false);
    t
}

#[test]
fn an_unsatisfied_ticket_ends_only_by_a_ruling_and_an_unreached_one_closes() {
    let directory = Directory::demo();
    let t = unsatisfied();
    assert!(matches!(
        t.decide(&agent(), &Action::Close, &directory),
        Err(TransitionError::Illegal { .. })
    ));
    let explained = Action::Conclude {
        ruling: Ruling::Explained,
        note: "已向市民解释政策".into(),
    };
    assert!(matches!(
        t.decide(&as_dept("GZ-CG"), &explained, &directory),
        Err(TransitionError::CentreOnly { .. })
    ));
    assert_eq!(
        t.decide(&agent(), &explained, &directory)
            .expect("ruling")
            .to,
        Status::Closed
    );
    let no_rule = Action::Conclude {
        ruling: Ruling::UnreasonableRepeat { rule: " ".into() },
        note: "同一诉求第四次".into(),
    };
    assert_eq!(
        t.decide(&agent(), &no_rule, &directory),
        Err(TransitionError::EmptyText)
    );

    let mut completed = ticket();
    completed.status = Status::Completed;
    completed.lead = Some(dept("GZ-CG"));
    assert!(matches!(
        completed.decide(&agent(), &explained, &directory),
        Err(TransitionError::Illegal { .. })
    ));
    let unreached = completed
        .decide(
            &agent(),
            &Action::SurveyUnreachable { attempts: 3 },
            &directory,
        )
        .expect("unreachable");
    assert_eq!(
        (unreached.to, unreached.satisfied),
        (Status::Surveyed, None)
    );
    completed.apply(unreached);
    assert_eq!(
        completed
            .decide(&agent(), &Action::Close, &directory)
            .expect("close")
            .to,
        Status::Closed
    );
}

/// 并单, the target's side: only a ticket still being worked on takes another one in, only from
/// the centre, never itself, and its state does not move.
#[test]
fn merged_from_needs_an_open_target_and_keeps_its_state() {
    let other = TicketNo::compose(261129, 1).expect("n");
    let merged_from = || Action::MergedFrom { from: other };
    let mut t = ticket();
    step(&mut t, &agent(), merged_from()).expect("a received ticket takes it");
    assert_eq!(t.status, Status::Received);
    assert_eq!(
        step(
            &mut t,
            &agent(),
            Action::MergedFrom {
                from: TicketNo::compose(261129, 7).expect("same number")
            }
        ),
        Err(TransitionError::MergeIntoSelf)
    );
    assert!(matches!(
        step(&mut t, &as_dept("GZ-TH"), merged_from()),
        Err(TransitionError::CentreOnly { .. })
    ));
    let dispatch = Action::Dispatch {
        lead: dept("GZ-TH"),
        co: vec![],
        note: String::new(),
    };
    step(&mut t, &agent(), dispatch).expect("dispatched");
    step(&mut t, &agent(), merged_from()).expect("a dispatched ticket takes it");
    assert_eq!(t.status, Status::Dispatched);
    assert_eq!(t.lead, Some(dept("GZ-TH")));
    for done in [
        Status::Answered,
        Status::Completed,
        Status::Surveyed,
        Status::Closed,
        Status::Rejected,
        Status::Emergency,
        Status::Merged,
    ] {
        let t = Ticket {
            status: done,
            ..ticket()
        };
        assert!(
            matches!(
                t.decide(&agent(), &merged_from(), &Directory::demo()),
                Err(TransitionError::Illegal { .. })
            ),
            "{done}"
        );
    }
}
