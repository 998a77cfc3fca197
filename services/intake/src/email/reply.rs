//! Auto-replies with the ticket number, through the configured relay (`email.relay_host`),
//! written with `lettre`.
//!
//! Each reply goes out with the null reverse-path (`MAIL FROM:<>`) and `Auto-Submitted:
//! auto-replied` (RFC 3834 §3.1.7, §3.3), so no bounce or responder can answer it, and its
//! subject carries the number: a citizen who answers it adds to the ticket (`super::handler`).
//! A reply is sent after the ticket is in the ledger and the SMTP `250` is out; a relay that
//! does not answer is retried a few times, then the reply is given up (the ticket stands).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use super::address::Address;
use super::metrics::AUTO_REPLIES;

/// The display name of our From.
const FROM_NAME: &str = "12345政务服务便民热线";
/// Waits between attempts when the relay does not take the reply.
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];

/// One auto-reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoReply {
    pub to: Address,
    pub subject: String,
    pub text: String,
    /// The Message-ID answered (without brackets).
    pub in_reply_to: Option<String>,
}

/// The SMTP relay auto-replies go through.
pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl Relay {
    /// A relay at `host:port`, plain SMTP (the city's relay on its own network; no TLS in the
    /// local run), greeting it as `hello`.
    pub fn new(host: &str, port: u16, from: &Address, hello: &str) -> anyhow::Result<Relay> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .hello_name(ClientId::Domain(hello.to_owned()))
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let address = lettre::Address::new(from.local(), from.domain())
            .context("email.from_address for lettre")?;
        Ok(Relay {
            transport,
            from: Mailbox::new(Some(FROM_NAME.to_owned()), address),
            domain: from.domain().to_owned(),
        })
    }

    /// The message as it goes out.
    pub fn message(&self, reply: &AutoReply) -> anyhow::Result<Message> {
        let to = lettre::Address::new(reply.to.local(), reply.to.domain())
            .context("the recipient for lettre")?;
        let envelope =
            Envelope::new(None, vec![to.clone()]).context("the auto-reply's envelope")?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(reply.subject.clone())
            .message_id(Some(format!("<{}@{}>", uuid::Uuid::now_v7(), self.domain)))
            .raw_header(header("Auto-Submitted", "auto-replied")?)
            // Outlook's and Exchange's own responders read this one.
            .raw_header(header("X-Auto-Response-Suppress", "All")?)
            .envelope(envelope)
            .header(ContentType::TEXT_PLAIN);
        if let Some(id) = &reply.in_reply_to {
            builder = builder
                .in_reply_to(format!("<{id}>"))
                .references(format!("<{id}>"));
        }
        builder
            .body(reply.text.clone())
            .context("building the auto-reply")
    }

    pub async fn send(&self, reply: &AutoReply) -> anyhow::Result<()> {
        let message = self.message(reply)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .context("the relay did not take the auto-reply")
    }
}

fn header(name: &str, value: &str) -> anyhow::Result<HeaderValue> {
    let name = HeaderName::new_from_ascii(name.to_owned()).context("header name")?;
    Ok(HeaderValue::new(name, value.to_owned()))
}

/// Sends `reply` in the background, retrying a relay that does not answer; counts the
/// outcome. Without a relay it only counts `no_relay`.
pub fn send_later(relay: Option<Arc<Relay>>, reply: AutoReply) {
    let Some(relay) = relay else {
        AUTO_REPLIES.with_label_values(&["no_relay"]).inc();
        return;
    };
    tokio::spawn(async move {
        let mut waits = RETRY_AFTER.iter();
        loop {
            match relay.send(&reply).await {
                Ok(()) => {
                    AUTO_REPLIES.with_label_values(&["sent"]).inc();
                    return;
                }
                Err(e) => {
                    let permanent = e
                        .downcast_ref::<lettre::transport::smtp::Error>()
                        .is_some_and(lettre::transport::smtp::Error::is_permanent);
                    match waits.next() {
                        Some(wait) if !permanent => tokio::time::sleep(*wait).await,
                        _ => {
                            AUTO_REPLIES.with_label_values(&["failed"]).inc();
                            // The chain names the relay's answer, never the recipient.
                            tracing::warn!(error = %format!("{e:#}"), "auto-reply not sent");
                            return;
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_cannot_start_a_loop_and_carries_the_number() {
        let own = Address::parse("12345@hotline.local").expect("own");
        let relay = Relay::new("127.0.0.1", 2526, &own, "hotline.local").expect("relay");
        let message = relay
            .message(&AutoReply {
                to: Address::parse("citizen@example.cn").expect("to"),
                subject: "您的诉求已受理 工单编号 2612030000000011".into(),
                text: "您的诉求已受理。".into(),
                in_reply_to: Some("abc@example.cn".into()),
            })
            .expect("message");
        assert_eq!(message.envelope().from(), None, "null reverse-path");
        let raw = String::from_utf8(message.formatted()).expect("ascii headers");
        assert!(raw.contains("Auto-Submitted: auto-replied\r\n"), "{raw}");
        assert!(raw.contains("In-Reply-To: <abc@example.cn>\r\n"), "{raw}");
        assert!(raw.contains("To: citizen@example.cn\r\n"), "{raw}");
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("parses");
        assert_eq!(
            parsed.subject(),
            Some("您的诉求已受理 工单编号 2612030000000011")
        );
        assert_eq!(
            parsed.body_text(0).as_deref().map(str::trim),
            Some("您的诉求已受理。")
        );
    }
}
