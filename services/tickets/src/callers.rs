//! Who may send which actor: the ledger's check of a command against the service that sent it.
//!
//! Each service sends ticket commands on its own subject `<ns>.tickets.cmd.<caller>`, and its
//! NATS user may publish only there (`hotline_bus::permissions`). So the subject names the
//! sender, and the ledger refuses an actor that sender may not speak for:
//!
//! | actor                | accepted from                                                  |
//! |----------------------|----------------------------------------------------------------|
//! | citizen              | intake (the channels)                                          |
//! | department           | gateway; sla only to relay an extension request (`request_extension`) the gateway sent it |
//! | agent                | the centre's own services with staff APIs: dispatch, knowledge, sla, survey |
//! | agent, `release` only | intake: the phone channel's agent finishing a call lifts the hold |
//! | system `<service>`   | that service only                                              |
//!
//! Anything else (an unknown caller token, `setup`, `tickets`) is refused. The tickets HTTP API
//! calls the ledger in-process and does not pass here. A refusal is `forbidden`.

use hotline_bus::rpc::{self, RemoteError};
use hotline_bus::{Bus, Service};
use hotline_domain::contract::TicketCommand;
use hotline_domain::{Action, Actor};
use tokio_util::sync::CancellationToken;

use crate::ledger::Ledger;

/// Whether `caller` may send `command`; `Err(forbidden)` says why not.
pub fn check(caller: Option<Service>, command: &TicketCommand) -> Result<(), RemoteError> {
    let Some(caller) = caller else {
        return Err(RemoteError::forbidden(
            "commands are accepted only on a service's own command subject",
        ));
    };
    let (actor, action) = match command {
        TicketCommand::Create { actor, .. } => (actor, None),
        TicketCommand::Act { actor, action, .. } => (actor, Some(action)),
    };
    // The phone channel runs as intake's user: the agent who finished a call lifts the hold of
    // the ticket made during it, and nothing else is said for an agent from there.
    if caller == Service::Intake
        && matches!(actor, Actor::Agent { .. })
        && matches!(action, Some(Action::Release))
    {
        return Ok(());
    }
    let allowed = match actor {
        Actor::Citizen { .. } => caller == Service::Intake,
        Actor::Department { .. } => {
            caller == Service::Gateway
                || (caller == Service::Sla
                    && matches!(action, Some(Action::RequestExtension { .. })))
        }
        Actor::Agent { .. } => matches!(
            caller,
            Service::Dispatch | Service::Knowledge | Service::Sla | Service::Survey
        ),
        Actor::System { service } => {
            service == caller.as_str() && !matches!(caller, Service::Setup | Service::Tickets)
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(RemoteError::forbidden(format!(
            "the {caller} service may not act as {}",
            actor_kind(actor)
        )))
    }
}

/// The service that normally sends commands for `actor` (an agent's: dispatch). For tests and
/// tools that stand in for a service; `None` for a system actor that is no service.
pub fn sender_of(actor: &Actor) -> Option<Service> {
    match actor {
        Actor::Citizen { .. } => Some(Service::Intake),
        Actor::Department { .. } => Some(Service::Gateway),
        Actor::Agent { .. } => Some(Service::Dispatch),
        Actor::System { service } => Service::parse(service),
    }
}

fn actor_kind(actor: &Actor) -> String {
    match actor {
        Actor::Citizen { .. } => "a citizen".to_owned(),
        Actor::Agent { .. } => "an agent".to_owned(),
        Actor::Department { .. } => "a department".to_owned(),
        // A service name is no personal data; it says which system actor was refused.
        Actor::System { service } => format!("the system actor {service:?}"),
    }
}

/// Serves ticket commands from every caller's subject until `shutdown`, checking each against
/// its caller before the ledger sees it.
pub async fn serve_commands(
    bus: Bus,
    ledger: Ledger,
    shutdown: CancellationToken,
    listening: impl FnOnce() + Send,
) -> anyhow::Result<()> {
    let subjects = bus.subjects.clone();
    rpc::serve_signalled(
        bus.clone(),
        bus.subjects.ticket_commands_all(),
        "tickets",
        4096,
        move |subject: &str, command: TicketCommand| {
            let caller = subjects.ticket_command_caller(subject);
            let checked = check(caller, &command);
            let ledger = ledger.clone();
            async move {
                if let Err(refusal) = checked {
                    tracing::warn!(
                        caller = caller.map(Service::as_str).unwrap_or("unknown"),
                        reason = %refusal.message,
                        "ticket command refused"
                    );
                    return Err(refusal);
                }
                ledger.execute(command).await
            }
        },
        shutdown,
        listening,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_domain::contract::{CreateTicket, ErrorKind};
    use hotline_domain::{Channel, DeptCode, RequestType, TicketNo};

    fn no() -> TicketNo {
        TicketNo::compose(260101, 1).expect("no")
    }

    fn act(actor: Actor, action: Action) -> TicketCommand {
        TicketCommand::Act {
            idempotency_key: "k".into(),
            actor,
            ticket_no: no(),
            action,
        }
    }

    fn create(actor: Actor) -> TicketCommand {
        TicketCommand::Create {
            idempotency_key: "k".into(),
            actor,
            ticket: Box::new(CreateTicket {
                ticket_no: no(),
                channel: Channel::Web,
                request_type: RequestType::Complaint,
                service_code: None,
                description: "x".into(),
                location: Default::default(),
                citizen: Default::default(),
                confidential: false,
                attributes: Default::default(),
                media_url: None,
                hold: false,
            }),
        }
    }

    fn department() -> Actor {
        Actor::Department {
            code: DeptCode::parse("GZ-TH").expect("code"),
        }
    }

    fn citizen() -> Actor {
        Actor::Citizen {
            channel: Channel::Web,
        }
    }

    fn agent() -> Actor {
        Actor::Agent { id: "a1".into() }
    }

    fn accept() -> Action {
        Action::Accept
    }

    fn extension() -> Action {
        Action::RequestExtension {
            reason: "parts on order".into(),
            until: chrono::Utc::now(),
        }
    }

    fn allowed_callers(command: &TicketCommand) -> Vec<Service> {
        Service::ALL
            .into_iter()
            .filter(|c| check(Some(*c), command).is_ok())
            .collect()
    }

    #[test]
    fn a_citizen_speaks_only_through_intake() {
        assert_eq!(allowed_callers(&create(citizen())), vec![Service::Intake]);
        assert_eq!(
            allowed_callers(&act(citizen(), accept())),
            vec![Service::Intake]
        );
    }

    #[test]
    fn a_department_speaks_through_the_gateway_and_sla_relays_only_its_extension_requests() {
        assert_eq!(
            allowed_callers(&act(department(), accept())),
            vec![Service::Gateway]
        );
        assert_eq!(
            allowed_callers(&act(department(), extension())),
            vec![Service::Gateway, Service::Sla]
        );
        assert_eq!(
            allowed_callers(&create(department())),
            vec![Service::Gateway]
        );
    }

    #[test]
    fn agents_come_from_the_centres_services() {
        assert_eq!(
            allowed_callers(&act(agent(), accept())),
            vec![
                Service::Dispatch,
                Service::Knowledge,
                Service::Sla,
                Service::Survey
            ]
        );
    }

    #[test]
    fn intake_speaks_for_an_agent_only_to_release_a_held_ticket() {
        let release = allowed_callers(&act(agent(), Action::Release));
        assert!(release.contains(&Service::Intake), "{release:?}");
        let answer = Action::Answer {
            answer: "a".into(),
            knowledge_leaf: None,
        };
        assert!(check(Some(Service::Intake), &act(agent(), answer)).is_err());
        assert!(check(Some(Service::Intake), &act(agent(), accept())).is_err());
        assert!(check(Some(Service::Intake), &create(agent())).is_err());
    }

    #[test]
    fn a_system_actor_only_from_its_own_service() {
        for (name, expected) in [
            ("dispatch", vec![Service::Dispatch]),
            ("sla", vec![Service::Sla]),
            ("intake", vec![Service::Intake]),
            ("tickets", vec![]),
            ("setup", vec![]),
            ("survey", vec![Service::Survey]),
            ("callback", vec![]),
        ] {
            assert_eq!(
                allowed_callers(&act(Actor::system(name), accept())),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn the_usual_sender_is_always_allowed() {
        for actor in [citizen(), department(), agent(), Actor::system("sla")] {
            let command = act(actor.clone(), accept());
            assert!(check(sender_of(&actor), &command).is_ok(), "{actor:?}");
        }
    }

    #[test]
    fn unknown_callers_are_refused_as_forbidden() {
        let refused = check(None, &create(citizen())).expect_err("refused");
        assert_eq!(refused.kind, ErrorKind::Forbidden);
        let refused = check(Some(Service::Intake), &act(department(), accept())).expect_err("no");
        assert_eq!(refused.kind, ErrorKind::Forbidden);
        assert!(refused.message.contains("intake"), "{}", refused.message);
    }
}
