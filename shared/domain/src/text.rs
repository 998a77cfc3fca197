//! Text from outside, checked once at the edge: which characters a stored text may hold.
//!
//! Every edge (Open311 intake, the departments' gateway, the centre's HTTP actions) runs what
//! people typed through [`check`] before it builds a command, so text the store or an answer
//! format cannot carry is refused with the channel's client error instead of failing a write
//! later (Postgres refuses NUL in `text` and `\u0000` in `jsonb`; XML 1.0 cannot carry most
//! control characters at all).
//!
//! The rule ([`is_allowed`]):
//! - C0 controls U+0000–U+001F are refused, except tab, line feed and carriage return, which
//!   multi-line notes legitimately hold.
//! - DEL U+007F and the C1 controls U+0080–U+009F are refused too. No keyboard or input method
//!   produces them; they come from mis-decoded legacy encodings or from terminal escape
//!   sequences (U+009B is a CSI), and XML 1.0 only tolerates them as "discouraged".
//! - U+FFFE and U+FFFF are refused: they are not characters and XML 1.0 forbids them.
//!
//! Lone surrogates cannot occur: a Rust `str` is valid UTF-8. The same rule applies to names,
//! addresses and every other field (one rule, so no field is the weak one).
//!
//! [`Action::check_text`], [`CreateTicket::check_text`] and [`TicketCommand::check_text`]
//! walk every free text a command carries; [`action_from_json`] is the one parser of an
//! action's JSON body from outside.

use crate::contract::{CreateTicket, TicketCommand};
use crate::ticket::{Action, Actor};

/// Why a text was refused. Names the field and the code point, never the text (it may be
/// personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} contains a control character (U+{code:04X}), which is not allowed")]
    Control { field: String, code: u32 },
}

impl TextError {
    /// The field the refused character was in.
    pub fn field(&self) -> &str {
        match self {
            TextError::Control { field, .. } => field,
        }
    }
}

/// Whether `c` may appear in a stored text (see the module header for the rule).
pub fn is_allowed(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// Refuses `text` when it holds a character [`is_allowed`] refuses; `field` names it in the
/// error.
pub fn check(field: &str, text: &str) -> Result<(), TextError> {
    match text.chars().find(|c| !is_allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(TextError::Control {
            field: field.to_owned(),
            code: u32::from(c),
        }),
    }
}

fn check_opt(field: &str, text: Option<&str>) -> Result<(), TextError> {
    text.map_or(Ok(()), |t| check(field, t))
}

impl Action {
    /// Checks every free text the action carries (notes, reasons, answers, replies).
    pub fn check_text(&self) -> Result<(), TextError> {
        match self {
            Action::Answer {
                answer,
                knowledge_leaf,
            } => {
                check("answer", answer)?;
                check_opt("knowledge_leaf", knowledge_leaf.as_deref())
            }
            Action::Reject { note, .. }
            | Action::Emergency { note, .. }
            | Action::Dispatch { note, .. }
            | Action::ReviewReturn { note, .. }
            | Action::AddProgress { note }
            | Action::ProvideInformation { note }
            | Action::Supplement { note }
            | Action::DecideExtension { note, .. }
            | Action::Complete { note }
            | Action::Redispatch { note, .. }
            | Action::Supervise { note }
            | Action::Survey { note, .. } => check("note", note),
            Action::Return { reason }
            | Action::RequestExtension { reason, .. }
            | Action::Reopen { reason } => check("reason", reason),
            Action::RequestInformation { question } => check("question", question),
            Action::Reply { text } => check("text", text),
            Action::Release => Ok(()),
            Action::Conclude { ruling, note } => {
                check("note", note)?;
                match ruling {
                    crate::ticket::Ruling::UnreasonableRepeat { rule } => check("rule", rule),
                    crate::ticket::Ruling::Explained => Ok(()),
                }
            }
            Action::Merge { .. }
            | Action::MergedFrom { .. }
            | Action::Accept
            | Action::Close
            | Action::SurveyUnreachable { .. } => Ok(()),
        }
    }
}

impl Actor {
    /// Checks the texts naming the actor (an agent id comes from a header or a token).
    pub fn check_text(&self) -> Result<(), TextError> {
        match self {
            Actor::Agent { id } => check("actor", id),
            Actor::System { service } => check("actor", service),
            Actor::Citizen { .. } | Actor::Department { .. } => Ok(()),
        }
    }
}

impl CreateTicket {
    /// Checks every text of a new ticket: description, location, contact details,
    /// attributes and media URL.
    pub fn check_text(&self) -> Result<(), TextError> {
        check("description", &self.description)?;
        check_opt("address_string", self.location.address.as_deref())?;
        check_opt("address_id", self.location.address_id.as_deref())?;
        let c = &self.citizen;
        check_opt("name", c.name.as_deref())?;
        check_opt("phone", c.phone.as_deref())?;
        check_opt("email", c.email.as_deref())?;
        check_opt("account_id", c.account_id.as_deref())?;
        check_opt("device_id", c.device_id.as_deref())?;
        for (code, values) in &self.attributes {
            check("attribute", code)?;
            for value in values {
                check("attribute", value)?;
            }
        }
        check_opt("media_url", self.media_url.as_deref())
    }
}

impl TicketCommand {
    /// Checks every text of the command, its idempotency key and actor included.
    pub fn check_text(&self) -> Result<(), TextError> {
        match self {
            TicketCommand::Create {
                idempotency_key,
                actor,
                ticket,
            } => {
                check("idempotency_key", idempotency_key)?;
                actor.check_text()?;
                ticket.check_text()
            }
            TicketCommand::Act {
                idempotency_key,
                actor,
                action,
                ..
            } => {
                check("idempotency_key", idempotency_key)?;
                actor.check_text()?;
                action.check_text()
            }
        }
    }
}

/// Why an action's JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionJsonError {
    #[error("not a valid action: {0}")]
    Malformed(String),
    #[error(transparent)]
    Text(#[from] TextError),
}

/// Parses an action from a JSON body sent from outside (`{"action":"supervise","note":..}`)
/// and checks its texts. Never panics, whatever the bytes.
pub fn action_from_json(body: &[u8]) -> Result<Action, ActionJsonError> {
    let action: Action =
        serde_json::from_slice(body).map_err(|e| ActionJsonError::Malformed(e.to_string()))?;
    action.check_text()?;
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Citizen, Location};
    use crate::{Channel, RequestType, TicketNo};
    use proptest::prelude::*;

    #[test]
    fn tab_lf_cr_pass_other_controls_do_not() {
        assert!(check("note", "line 1\r\n\tline 2 噪音 😀").is_ok());
        for bad in [
            '\0', '\u{1}', '\u{1b}', '\u{1f}', '\u{7f}', '\u{85}', '\u{9b}', '\u{ffff}',
        ] {
            let text = format!("ok{bad}ok");
            assert_eq!(
                check("note", &text),
                Err(TextError::Control {
                    field: "note".into(),
                    code: u32::from(bad)
                }),
                "{:?}",
                bad
            );
        }
        assert!(check("note", "\u{a0}\u{fffd}\u{10ffff}").is_ok());
        let e = check("description", "secret 13800138000\0").expect_err("nul");
        assert!(!e.to_string().contains("13800138000"), "no text echoed");
        assert_eq!(e.field(), "description");
    }

    #[test]
    fn every_text_of_an_action_is_checked() {
        let bad = || "a\0b".to_owned();
        let actions = [
            Action::Answer {
                answer: "ok".into(),
                knowledge_leaf: Some(bad()),
            },
            Action::Supervise { note: bad() },
            Action::Return { reason: bad() },
            Action::RequestInformation { question: bad() },
            Action::Reply { text: bad() },
            Action::Complete { note: bad() },
        ];
        for action in actions {
            assert!(action.check_text().is_err(), "{action:?}");
        }
        assert!(Action::Accept.check_text().is_ok());
        assert!(Actor::Agent { id: "a\0".into() }.check_text().is_err());
        assert!(Actor::Agent { id: "a1".into() }.check_text().is_ok());
    }

    fn create(description: &str) -> CreateTicket {
        CreateTicket {
            ticket_no: TicketNo::compose(261129, 1).expect("no"),
            channel: Channel::Web,
            request_type: RequestType::Complaint,
            service_code: None,
            description: description.into(),
            location: Location::default(),
            citizen: Citizen::default(),
            confidential: false,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }
    }

    #[test]
    fn every_text_of_a_new_ticket_is_checked() {
        assert!(create("ok").check_text().is_ok());
        assert!(create("o\0k").check_text().is_err());
        let mut t = create("ok");
        t.citizen.name = Some("张\u{1}三".into());
        assert_eq!(
            t.check_text().map_err(|e| e.field().to_owned()),
            Err("name".into())
        );
        let mut t = create("ok");
        t.attributes.insert("when".into(), vec!["night\0".into()]);
        assert!(t.check_text().is_err());
        let cmd = TicketCommand::Create {
            idempotency_key: "k\0".into(),
            actor: Actor::Citizen {
                channel: Channel::Web,
            },
            ticket: Box::new(create("ok")),
        };
        assert!(cmd.check_text().is_err());
    }

    #[test]
    fn action_json_is_parsed_and_checked() {
        assert_eq!(
            action_from_json(br#"{"action":"supervise","note":"x"}"#),
            Ok(Action::Supervise { note: "x".into() })
        );
        assert!(matches!(
            action_from_json(br#"{"action":"supervise","note":"x\u0000"}"#),
            Err(ActionJsonError::Text(_))
        ));
        assert!(matches!(
            action_from_json(b"{\"action\":"),
            Err(ActionJsonError::Malformed(_))
        ));
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>().prop_map(|n| serde_json::json!(n)),
            any::<String>().prop_map(serde_json::Value::String),
            prop::sample::select(vec![
                "supervise",
                "answer",
                "reject",
                "dispatch",
                "return",
                "review_return",
                "reply",
                "survey",
                "close",
                "merge",
                "request_extension",
                "uphold",
                "redispatch",
            ])
            .prop_map(|s| serde_json::Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "action",
                        "note",
                        "reason",
                        "answer",
                        "text",
                        "rule",
                        "lead",
                        "co",
                        "into",
                        "ruling",
                        "decision",
                        "until",
                        "approved",
                        "satisfied",
                        "service",
                        "to",
                        "question",
                        "knowledge_leaf",
                        "x",
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..5
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Arbitrary bytes: either a checked action or a typed error, never a panic.
        #[test]
        fn action_json_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(action) = action_from_json(&body) {
                prop_assert!(action.check_text().is_ok());
            }
        }

        /// Arbitrary JSON shaped like actions: whatever parses holds no refused character.
        #[test]
        fn action_json_never_panics_on_values(value in json_value()) {
            let body = serde_json::to_vec(&value).expect("a value serializes");
            match action_from_json(&body) {
                Ok(action) => {
                    prop_assert!(action.check_text().is_ok());
                    // What was accepted serializes back to an action that parses the same.
                    let again = serde_json::to_vec(&action).expect("serializes");
                    prop_assert_eq!(action_from_json(&again), Ok(action));
                }
                Err(ActionJsonError::Malformed(_) | ActionJsonError::Text(_)) => {}
            }
        }

        #[test]
        fn check_agrees_with_is_allowed(text in any::<String>()) {
            prop_assert_eq!(check("f", &text).is_ok(), text.chars().all(is_allowed));
        }
    }
}
