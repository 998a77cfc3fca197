//! From a received message to a ticket (or a step on one), as the final SMTP reply.
//!
//! In this order, and nothing is stored before the checks pass:
//!
//! 1. MIME: parsed and checked (`super::mime`): charsets, the text rule, attachments' number,
//!    size and type. A refusal is a 5xx and nothing is kept.
//! 2. Loops (`super::loops`): bounces, other systems' auto-replies and our own mail coming
//!    back are taken (250) and open nothing.
//! 3. A subject carrying a ticket number of a ticket whose contact is this sender: the body
//!    (quoted original cut) and the attachments are the citizen's answer to the department's
//!    request for information (补充材料), recorded as WeChat's `补充` is: `ProvideInformation`
//!    by the system actor `intake`. A ticket not waiting for the citizen refuses it and the
//!    auto-reply says so. Another sender, or a number the ledger does not know: a new ticket.
//! 4. A new ticket as a citizen on the email channel, the contact's address normalised (domain
//!    lower case), 保密 when the subject or the body starts with it (WeChat's rule).
//!    Attachments go to Postgres first; their ids and names into the ticket's attributes
//!    `email.attachment_ids` / `email.attachment_names`.
//!
//! One ticket per message however often it is sent: the key is
//! `email:<sha256(our address, the sender, the Message-ID)>` (the message's digest without a
//! Message-ID), in Redis and in the ledger, as for Open311 and WeChat. `250` is answered only
//! once the ledger has the ticket; `451` when it does not answer in time (the sending server
//! retries, and the key makes the retry the same ticket).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hotline_domain::contract::{Citizen, CreateTicket, ErrorKind, Location, TicketCommand};
use hotline_domain::text::TextError;
use hotline_domain::{Action, Actor, Channel, RequestType, TicketNo};
use sha2::{Digest as _, Sha256};

use super::address::Address;
use super::mime::{self, Mail, MimeError, MimeLimits};
use super::reply::{self, AutoReply, Relay};
use super::server::Deliver;
use super::smtp::{Envelope, Reply};
use super::store::{Kind, Store, Stored};
use super::{loops, metrics};
use crate::idempotency::{self, Claim, IdempotencyCache};
use crate::metrics::TICKETS_CREATED;
use crate::upstream::{Ledger, NumberIssuer};

/// Why a message is refused after DATA. Texts name limits, never content.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error(transparent)]
    Mime(#[from] MimeError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("the text is longer than {0} characters")]
    TooLong(usize),
    #[error("the ledger refused the message")]
    Refused,
    #[error("temporarily unavailable")]
    Unavailable,
}

impl EmailError {
    pub fn reply(&self) -> Reply {
        match self {
            EmailError::Mime(e) => e.reply(),
            EmailError::Text(e) => Reply::refuse(554, format!("5.6.0 Refused: {e}"), "text"),
            EmailError::TooLong(max) => Reply::refuse(
                552,
                format!("5.3.4 The text is longer than {max} characters"),
                "text_too_long",
            ),
            EmailError::Refused => Reply::refuse(
                554,
                "5.6.0 The message cannot be registered",
                "ledger_refused",
            ),
            EmailError::Unavailable => Reply::refuse(
                451,
                "4.3.0 Temporarily unable to register the message, try again later",
                "unavailable",
            ),
        }
    }
}

/// What the handler needs besides the ledger.
#[derive(Debug, Clone)]
pub struct Intake {
    /// Our address (`mailbox@domain`): auto-replies' From, and the loop rules' "own".
    pub own: Address,
    pub mime: MimeLimits,
    /// Redis keys are `<namespace>:idem:email:...`.
    pub namespace: String,
    pub max_description_chars: usize,
    /// Longest wait for the ledger before `451`.
    pub answer_within: Duration,
}

/// Turns messages into tickets; the SMTP server's [`Deliver`].
pub struct Handler {
    pub intake: Intake,
    pub ledger: Arc<dyn Ledger>,
    pub numbers: Arc<dyn NumberIssuer>,
    /// `None`: the ledger alone makes repeats idempotent.
    pub idempotency: Option<Arc<dyn IdempotencyCache>>,
    pub store: Store,
    /// `None`: no auto-replies.
    pub relay: Option<Arc<Relay>>,
}

/// What a taken message became.
struct Taken {
    /// The metric's outcome.
    outcome: &'static str,
    /// The text after `250 `.
    text: String,
    /// The auto-reply's subject and text, when one is due.
    answer: Option<(String, String)>,
}

impl Deliver for Handler {
    fn deliver(&self, envelope: Envelope, message: Vec<u8>) -> BoxFuture<'_, Reply> {
        Box::pin(async move {
            match self.take(&envelope, &message).await {
                Ok(taken) => {
                    metrics::accepted(taken.outcome);
                    Reply::new(250, taken.text)
                }
                Err(e) => {
                    tracing::info!(
                        reason = e.reply().reason().unwrap_or("refused"),
                        "email refused"
                    );
                    e.reply()
                }
            }
        })
    }
}

impl Handler {
    async fn take(&self, envelope: &Envelope, raw: &[u8]) -> Result<Taken, EmailError> {
        let mail = mime::parse(raw, &self.intake.mime)?;
        let own = &self.intake.own;
        if let Some(dropped) = loops::dropped(&envelope.reverse_path, &mail, own) {
            return Ok(Taken {
                outcome: dropped.outcome(),
                text: "2.0.0 OK, automatic mail: no ticket".to_owned(),
                answer: None,
            });
        }
        // `dropped` took every null reverse-path; the From header names the citizen better
        // than a forwarder's envelope.
        let Some(sender) = mail
            .from
            .clone()
            .or_else(|| envelope.reverse_path.mailbox().cloned())
        else {
            return Ok(Taken {
                outcome: loops::Dropped::Bounce.outcome(),
                text: "2.0.0 OK, no sender: no ticket".to_owned(),
                answer: None,
            });
        };
        let key = message_key(own, &sender, mail.message_id.as_deref(), raw);
        let mut taken = None;
        if let Some(ticket_no) = ticket_in_subject(&mail.subject) {
            taken = self.follow_up(ticket_no, &sender, &mail, &key).await?;
        }
        let taken = match taken {
            Some(t) => t,
            None => self.open(&sender, &mail, &key).await?,
        };
        if let Some((subject, text)) = &taken.answer {
            match loops::reply_to(&envelope.reverse_path, &mail, own) {
                Ok(to) => reply::send_later(
                    self.relay.clone(),
                    AutoReply {
                        to,
                        subject: subject.clone(),
                        text: text.clone(),
                        in_reply_to: mail.message_id.clone(),
                    },
                ),
                Err(why) => metrics::AUTO_REPLIES
                    .with_label_values(&[why.outcome()])
                    .inc(),
            }
        }
        Ok(taken)
    }

    /// A reply naming `ticket_no`: the citizen's answer on their own ticket, or `None` when
    /// the ticket is unknown or not this sender's (then it is a new request).
    async fn follow_up(
        &self,
        ticket_no: TicketNo,
        sender: &Address,
        mail: &Mail,
        key: &str,
    ) -> Result<Option<Taken>, EmailError> {
        let within = self.intake.answer_within;
        let found = match tokio::time::timeout(within, self.ledger.get(ticket_no)).await {
            Err(_) => return Err(EmailError::Unavailable),
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Ok(Err(_)) => return Err(EmailError::Unavailable),
            Ok(Ok(found)) => found,
        };
        let contact = found
            .ticket
            .citizen
            .email
            .as_deref()
            .and_then(|e| Address::parse(e).ok());
        if contact.as_ref() != Some(sender) {
            return Ok(None);
        }
        let words = mime::strip_quoted(&mail.body);
        if words.is_empty() && mail.attachments.is_empty() {
            return Ok(Some(Taken {
                outcome: "supplement_empty",
                text: format!("2.0.0 OK, nothing to add to ticket {ticket_no}"),
                answer: Some((
                    format!("工单编号 {ticket_no}"),
                    format!(
                        "您好！\n\n来信未见补充内容。如需为工单 {ticket_no} 补充材料，请在邮件正文中写明或附上文件后回复本邮件。\n\n本邮件由系统自动发送。\n12345政务服务便民热线"
                    ),
                )),
            }));
        }
        hotline_domain::text::check("note", &words)?;
        // Its own key: the ledger's command log holds one reply per key, and this message's
        // key may one day open a ticket instead (if the ticket's contact changed).
        let key = format!("{key}:supplement");
        let stored = self.store_attachments(&key, Kind::Supplement, mail).await?;
        let mut note = words;
        for s in &stored {
            if !note.is_empty() {
                note.push('\n');
            }
            note.push_str(&format!("[附件] {} ({})", s.file_name, s.id));
        }
        // The answer to the department's question (补充材料) when it asked one; otherwise the
        // citizen's own addition (市民补充), which leaves the status and clocks alone. The ledger
        // decides which applies: the first is refused unless the ticket awaits the citizen.
        let asked = TicketCommand::Act {
            idempotency_key: key.clone(),
            actor: Actor::system("intake"),
            ticket_no,
            action: Action::ProvideInformation { note: note.clone() },
        };
        let submitted = match tokio::time::timeout(within, self.ledger.submit(asked)).await {
            Ok(Err(e)) if e.kind().is_refusal() => {
                let added = TicketCommand::Act {
                    idempotency_key: format!("{key}:addition"),
                    actor: Actor::system("intake"),
                    ticket_no,
                    action: Action::Supplement { note },
                };
                tokio::time::timeout(within, self.ledger.submit(added)).await
            }
            other => other,
        };
        match submitted {
            Ok(Ok(accepted)) => {
                self.settle(&key, ticket_no).await;
                // A message sent again is the same step, and its confirmation went out already.
                if accepted.replayed {
                    return Ok(Some(Taken {
                        outcome: "supplement_replayed",
                        text: format!("2.0.0 OK, added to ticket {ticket_no}"),
                        answer: None,
                    }));
                }
                Ok(Some(Taken {
                    outcome: "supplemented",
                    text: format!("2.0.0 OK, added to ticket {ticket_no}"),
                    answer: Some((
                        format!("补充材料已收到 工单编号 {ticket_no}"),
                        format!(
                            "您好！\n\n已将您的补充材料转交工单 {ticket_no} 的承办单位。\n\n本邮件由系统自动发送。\n12345政务服务便民热线"
                        ),
                    )),
                }))
            }
            Ok(Err(e)) if e.kind().is_refusal() => {
                self.forget(&key).await;
                Ok(Some(Taken {
                    outcome: "supplement_refused",
                    text: format!("2.0.0 OK, ticket {ticket_no} is closed to additions"),
                    answer: Some((
                        format!("工单编号 {ticket_no}"),
                        format!(
                            "您好！\n\n工单 {ticket_no} 已办结，来信未转交。如有新的诉求，请另发新邮件（主题中不要包含工单编号）。\n\n本邮件由系统自动发送。\n12345政务服务便民热线"
                        ),
                    )),
                }))
            }
            Ok(Err(_)) | Err(_) => Err(EmailError::Unavailable),
        }
    }

    /// A new ticket from the message.
    async fn open(&self, sender: &Address, mail: &Mail, key: &str) -> Result<Taken, EmailError> {
        let mut ticket = self.draft(sender, mail)?;
        ticket.check_text()?;
        let stored = self.store_attachments(key, Kind::Ticket, mail).await?;
        if !stored.is_empty() {
            ticket.attributes.insert(
                "email.attachment_ids".to_owned(),
                stored.iter().map(|s| s.id.to_string()).collect(),
            );
            ticket.attributes.insert(
                "email.attachment_names".to_owned(),
                stored.iter().map(|s| s.file_name.clone()).collect(),
            );
        }
        let created =
            tokio::time::timeout(self.intake.answer_within, self.create_once(key, ticket)).await;
        let (ticket_no, outcome) = match created {
            Ok(Ok(done)) => done,
            Ok(Err(EmailError::Refused)) => {
                self.forget(key).await;
                return Err(EmailError::Refused);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(EmailError::Unavailable),
        };
        self.settle(key, ticket_no).await;
        // A repeat of a message already answered stays quiet.
        let answer = (outcome == "created").then(|| receipt(ticket_no));
        Ok(Taken {
            outcome,
            text: format!("2.0.0 OK, ticket {ticket_no}"),
            answer,
        })
    }

    async fn store_attachments(
        &self,
        key: &str,
        kind: Kind,
        mail: &Mail,
    ) -> Result<Vec<Stored>, EmailError> {
        self.store
            .put(key, kind, &mail.attachments)
            .await
            .map_err(|e| {
                tracing::warn!(error = %format!("{e:#}"), "attachments not stored");
                EmailError::Unavailable
            })
    }

    async fn settle(&self, key: &str, ticket_no: TicketNo) {
        if let Err(e) = self.store.settle(key, ticket_no).await {
            // The ticket stands; only the message's row lacks its number.
            tracing::warn!(ticket = %ticket_no, error = %format!("{e:#}"), "message not settled");
        }
    }

    async fn forget(&self, key: &str) {
        if let Err(e) = self.store.forget(key).await {
            tracing::warn!(error = %format!("{e:#}"), "refused message not removed");
        }
    }

    /// The ticket the message asks for.
    fn draft(&self, sender: &Address, mail: &Mail) -> Result<CreateTicket, EmailError> {
        let (subject, secret_subject) = confidential_request(&mail.subject);
        let (body, secret_body) = confidential_request(&mail.body);
        let mut description = [subject, body]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if description.is_empty() {
            let names: Vec<&str> = mail.attachments.iter().map(|a| a.name.as_str()).collect();
            description = format!("[附件] {}", names.join("、"));
        }
        let max = self.intake.max_description_chars;
        if description.chars().count() > max {
            return Err(EmailError::TooLong(max));
        }
        Ok(CreateTicket {
            // Replaced by the issued number in create_once.
            ticket_no: placeholder()?,
            channel: Channel::Email,
            request_type: RequestType::HelpRequest,
            service_code: None,
            description,
            location: Location::default(),
            citizen: Citizen {
                name: mail.from_name.clone(),
                email: Some(sender.to_string()),
                ..Citizen::default()
            },
            confidential: secret_subject || secret_body,
            attributes: BTreeMap::new(),
            media_url: None,
            hold: false,
        })
    }

    /// One ticket per key: Redis first, the ledger's idempotency key as the backstop (as
    /// WeChat's and Open311's).
    async fn create_once(
        &self,
        key: &str,
        ticket: CreateTicket,
    ) -> Result<(TicketNo, &'static str), EmailError> {
        let issue = || async {
            self.numbers.next().await.map_err(|e| {
                tracing::warn!(error = %format!("{e:#}"), "no ticket number");
                EmailError::Unavailable
            })
        };
        let cache = self.idempotency.as_deref();
        let cache_key = format!("{}:idem:{key}", self.intake.namespace);
        let ticket_no = match idempotency::claim(cache, &cache_key, issue).await? {
            Claim::Replayed(no) => return Ok((no, "replayed_cache")),
            Claim::Send(no) => no,
        };
        let command = TicketCommand::Create {
            idempotency_key: key.to_owned(),
            actor: Actor::Citizen {
                channel: Channel::Email,
            },
            ticket: Box::new(CreateTicket {
                ticket_no,
                ..ticket
            }),
        };
        let accepted = match self.ledger.submit(command).await {
            Ok(accepted) => accepted,
            Err(e) if e.kind().is_refusal() => {
                tracing::warn!(kind = ?e.kind(), "the ledger refused an email ticket");
                return Err(EmailError::Refused);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the ledger did not take an email ticket");
                return Err(EmailError::Unavailable);
            }
        };
        idempotency::confirm(cache, &cache_key, accepted.ticket_no).await;
        let outcome = if accepted.replayed {
            "replayed"
        } else {
            "created"
        };
        TICKETS_CREATED
            .with_label_values(&[Channel::Email.as_str(), outcome])
            .inc();
        Ok((accepted.ticket_no, outcome))
    }
}

fn placeholder() -> Result<TicketNo, EmailError> {
    TicketNo::compose(0, 0).ok_or(EmailError::Unavailable)
}

/// The auto-reply to a new ticket.
fn receipt(ticket_no: TicketNo) -> (String, String) {
    (
        format!("您的诉求已受理 工单编号 {ticket_no}"),
        format!(
            "您好！\n\n您的来信已受理，工单编号 {ticket_no}。我们将转交承办单位办理，请留意后续答复。\n\n如承办单位请您补充材料，请直接回复本邮件（保留主题中的工单编号）；如有新的诉求，请另发新邮件。\n\n本邮件由系统自动发送。\n12345政务服务便民热线"
        ),
    )
}

/// `email:<sha256(our address, the sender, the Message-ID)>`; the whole message's digest
/// stands in for a missing Message-ID. The sender is in it so that nobody can reuse another
/// person's Message-ID to be told their ticket number.
pub fn message_key(
    own: &Address,
    sender: &Address,
    message_id: Option<&str>,
    raw: &[u8],
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(own.to_string().as_bytes());
    hasher.update([0u8]);
    hasher.update(sender.to_string().as_bytes());
    hasher.update([0u8]);
    match message_id {
        Some(id) => {
            hasher.update(b"id:");
            hasher.update(id.as_bytes());
        }
        None => {
            hasher.update(b"digest:");
            hasher.update(Sha256::digest(raw));
        }
    }
    format!("email:{}", hex::encode(hasher.finalize()))
}

/// The first 16-digit run in the subject that is a ticket number (check digit included), as
/// our auto-replies' subjects carry it (`Re: 您的诉求已受理 工单编号 2612030000000011`).
pub fn ticket_in_subject(subject: &str) -> Option<TicketNo> {
    subject
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 16)
        .find_map(|run| TicketNo::parse(run).ok())
}

/// A text starting with 保密 (`保密：…`, `【保密】…`, `[保密]…`) asks for confidentiality, as on
/// WeChat: departments get no contact details. Answers the rest and whether it asked.
fn confidential_request(text: &str) -> (&str, bool) {
    let trimmed = text.trim();
    let rest = trimmed
        .strip_prefix("【保密】")
        .or_else(|| trimmed.strip_prefix("[保密]"))
        .or_else(|| trimmed.strip_prefix("保密"));
    match rest {
        Some(rest) => (
            rest.trim_start_matches([' ', '\u{3000}', ':', '：', ',', '，'])
                .trim(),
            true,
        ),
        None => (trimmed, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_numbers_are_found_in_reply_subjects() {
        let no = TicketNo::parse("2612030000000011").expect("no");
        assert_eq!(
            ticket_in_subject("Re: 您的诉求已受理 工单编号 2612030000000011"),
            Some(no)
        );
        assert_eq!(
            ticket_in_subject("回复：工单编号2612030000000011（补充）"),
            Some(no)
        );
        assert_eq!(
            ticket_in_subject("2612030000000012 then 2612030000000011"),
            Some(no),
            "a bad check digit is skipped"
        );
        assert_eq!(ticket_in_subject("26120300000000110"), None, "17 digits");
        assert_eq!(ticket_in_subject("路灯不亮"), None);
    }

    #[test]
    fn confidentiality_is_asked_by_a_prefix_as_on_wechat() {
        assert_eq!(
            confidential_request("保密：邻居半夜施工"),
            ("邻居半夜施工", true)
        );
        assert_eq!(confidential_request("【保密】 噪音"), ("噪音", true));
        assert_eq!(confidential_request("[保密]噪音"), ("噪音", true));
        assert_eq!(confidential_request("请保密"), ("请保密", false));
        assert_eq!(confidential_request(" 路灯 "), ("路灯", false));
    }

    #[test]
    fn message_keys_follow_sender_and_message_id() {
        let own = Address::parse("12345@hotline.local").expect("own");
        let a = Address::parse("a@example.cn").expect("a");
        let b = Address::parse("b@example.cn").expect("b");
        let k = message_key(&own, &a, Some("id-1@example.cn"), b"one");
        assert_eq!(
            k,
            message_key(&own, &a, Some("id-1@example.cn"), b"two"),
            "the id decides"
        );
        assert_ne!(
            k,
            message_key(&own, &b, Some("id-1@example.cn"), b"one"),
            "per sender"
        );
        assert_ne!(k, message_key(&own, &a, Some("id-2@example.cn"), b"one"));
        let d = message_key(&own, &a, None, b"raw");
        assert_eq!(d, message_key(&own, &a, None, b"raw"));
        assert_ne!(d, message_key(&own, &a, None, b"raw2"));
        assert!(k.starts_with("email:") && k.len() == 6 + 64);
        assert!(!k.contains("example"), "no address in the key");
    }

    #[test]
    fn refusals_have_their_smtp_codes() {
        assert_eq!(EmailError::Unavailable.reply().code(), 451);
        assert_eq!(EmailError::Refused.reply().code(), 554);
        assert_eq!(EmailError::TooLong(10).reply().code(), 552);
        let text = hotline_domain::text::check("body", "a\u{0}b").expect_err("NUL");
        let reply = EmailError::from(text).reply();
        assert_eq!((reply.code(), reply.reason()), (554, Some("text")));
    }
}
