//! The senders: one per channel, each a durable consumer on `<ns>.notify.<channel>`.
//!
//! Never twice: the notice id is claimed in `notify.sent` (`ON CONFLICT DO NOTHING`) before
//! anything goes out; a notice whose id was already claimed is acked unsent. A send that failed
//! and may work later gives its claim back and is nak'ed with a delay, so a notice is sent at
//! least once while its claim stands guard against a second. (A process killed between the
//! claim and the send leaves the claim: that notice is then not sent. We prefer that to a
//! double, which the citizen sees.)
//!
//! Errors name the channel and the relay's or gateway's code, never the address or the text.

use std::sync::{Arc, LazyLock};

use async_nats::jetstream::Message;
use hotline_bus::Envelope;
use hotline_bus::consumer::HandleError;
use hotline_config::Settings;
use hotline_domain::{Channel, PhoneNumber};
use hotline_telemetry::prometheus::IntCounterVec;
use sqlx::PgPool;

use super::{Notice, NoticeKind};
use crate::email::EmailConfig;
use crate::email::address::Address;
use crate::email::reply::{AutoReply, Relay};
use crate::sms::{SmsError, SmsProvider, Template};
use crate::wechat::outbound::Outbound;

/// Notices by `channel`, `kind` and `outcome` (`sent`, `duplicate`, `retry`, `refused`,
/// `stopped`).
pub static NOTICES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    hotline_telemetry::counter_vec(
        "hotline_notify_notices_total",
        "Notices to citizens, by channel, kind and outcome",
        &["channel", "kind", "outcome"],
    )
});

/// Why a notice did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The relay or gateway did not answer or asked to try later.
    #[error("temporarily unable to send: {0}")]
    Retry(String),
    /// Refused for good (address, template, the platform's answer).
    #[error("refused: {0}")]
    Refused(String),
    /// The citizen asked for no more messages on this channel (SMS STOP).
    #[error("the citizen asked for no more messages")]
    Stopped,
}

/// One channel's outbound side.
pub enum Sender {
    Email(Relay),
    Sms(Arc<SmsProvider>),
    Wechat(Outbound),
}

/// The senders `settings` configure: email with `email.relay_host`, SMS with
/// `sms.provider_url`, WeChat with `wechat.app_secret`.
pub fn from_settings(settings: &Settings) -> anyhow::Result<Vec<Sender>> {
    let mut senders = Vec::new();
    if let Some(host) = &settings.email.relay_host {
        let config = EmailConfig::from_settings(settings)?;
        senders.push(Sender::Email(Relay::new(
            host,
            settings.email.relay_port,
            &config.from,
            &settings.email.domain,
        )?));
    }
    if settings.sms.provider_url.is_some() {
        senders.push(Sender::Sms(Arc::new(SmsProvider::new(&settings.sms)?)));
    }
    if let Some(secret) = &settings.wechat.app_secret {
        senders.push(Sender::Wechat(Outbound::new(
            &settings.wechat.api_base_url,
            &settings.wechat.app_id,
            Some(secret.clone()),
        )?));
    }
    Ok(senders)
}

impl Sender {
    pub fn channel(&self) -> Channel {
        match self {
            Sender::Email(_) => Channel::Email,
            Sender::Sms(_) => Channel::Sms,
            Sender::Wechat(_) => Channel::Wechat,
        }
    }

    /// The supervised task's name.
    pub fn task_name(&self) -> &'static str {
        match self {
            Sender::Email(_) => "sender-email",
            Sender::Sms(_) => "sender-sms",
            Sender::Wechat(_) => "sender-wechat",
        }
    }

    pub async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        match self {
            Sender::Email(relay) => send_email(relay, notice).await,
            Sender::Sms(provider) => send_sms(provider, notice).await,
            Sender::Wechat(outbound) => send_wechat(outbound, notice).await,
        }
    }
}

async fn send_email(relay: &Relay, notice: &Notice) -> Result<(), SendError> {
    let to = Address::parse(&notice.address)
        .map_err(|_| SendError::Refused("not an e-mail address".into()))?;
    let reply = AutoReply {
        to,
        // The number in the subject: the citizen's answer to it adds to the ticket.
        subject: format!("工单编号 {} {}", notice.ticket_no, notice.kind.chinese()),
        text: notice.text.clone(),
        in_reply_to: None,
    };
    let Err(e) = relay.send(&reply).await else {
        return Ok(());
    };
    // Only the reply code: the relay's text may quote the recipient.
    match e.downcast_ref::<lettre::transport::smtp::Error>() {
        Some(smtp) if smtp.is_permanent() => Err(SendError::Refused(format!(
            "the relay answered {}",
            smtp.status().map(|c| c.to_string()).unwrap_or_default()
        ))),
        Some(smtp) => Err(SendError::Retry(format!(
            "the relay answered {}",
            smtp.status()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "nothing".into())
        ))),
        None => Err(SendError::Refused("the message could not be built".into())),
    }
}

/// The longest status text the Progress template takes (gateways cap variables).
const SMS_STATUS_CHARS: usize = 60;

async fn send_sms(provider: &SmsProvider, notice: &Notice) -> Result<(), SendError> {
    let to = PhoneNumber::parse_lenient(&notice.address)
        .map_err(|_| SendError::Refused("not a phone number".into()))?;
    let no = notice.ticket_no.to_string();
    let status = sms_status(notice);
    let (template, params): (Template, Vec<(&str, &str)>) = match notice.kind {
        NoticeKind::Receipt => (Template::Receipt, vec![("no", &no)]),
        NoticeKind::SurveyInvitation => {
            let mut params = vec![("no", no.as_str())];
            if let Some(link) = &notice.link {
                params.push(("link", link.as_str()));
            }
            (Template::Survey, params)
        }
        // The Progress template carries the reply too: there is no template of its own.
        NoticeKind::Progress | NoticeKind::Reply => {
            (Template::Progress, vec![("no", &no), ("status", &status)])
        }
    };
    match provider.send(&to, template, &params).await {
        Ok(_) => Ok(()),
        Err(SmsError::Stopped) => Err(SendError::Stopped),
        // The per-number hourly limit passes: later is better than never.
        Err(e @ (SmsError::Provider(_) | SmsError::RateLimited)) => {
            Err(SendError::Retry(e.to_string()))
        }
        Err(e @ SmsError::Refused(_)) => Err(SendError::Refused(e.to_string())),
    }
}

/// The notice's text as one line short enough for a template variable.
fn sms_status(notice: &Notice) -> String {
    let line: String = notice
        .text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    if line.chars().count() <= SMS_STATUS_CHARS {
        return line.to_owned();
    }
    let mut short: String = line.chars().take(SMS_STATUS_CHARS - 1).collect();
    short.push('…');
    short
}

async fn send_wechat(outbound: &Outbound, notice: &Notice) -> Result<(), SendError> {
    let content = format!(
        "工单 {} {}：{}",
        notice.ticket_no,
        notice.kind.chinese(),
        notice.text
    );
    let Err(e) = outbound.send_text(&notice.address, &content).await else {
        return Ok(());
    };
    // The outermost context is ours (never the URL, which carries the access token).
    let shown = e.to_string();
    if e.chain().any(|c| c.is::<reqwest::Error>()) {
        Err(SendError::Retry(shown))
    } else {
        Err(SendError::Refused(shown))
    }
}

/// One notice message: claim, send, and settle the claim by the outcome.
pub async fn handle(pool: &PgPool, sender: &Sender, message: &Message) -> Result<(), HandleError> {
    let notice: Notice = Envelope::from_slice(&message.payload)
        .map_err(|e| HandleError::Reject(anyhow::anyhow!(e)))?
        .data;
    let count = |outcome: &str| {
        NOTICES
            .with_label_values(&[notice.channel.as_str(), notice.kind.as_str(), outcome])
            .inc();
    };
    if notice.channel != sender.channel() {
        return Err(HandleError::Reject(anyhow::anyhow!(
            "a {} notice on the {} sender",
            notice.channel.as_str(),
            sender.channel().as_str()
        )));
    }
    let claimed =
        sqlx::query("INSERT INTO notify.sent (notice_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(&notice.id)
            .execute(pool)
            .await
            .map_err(|e| HandleError::Retry(anyhow::anyhow!("claiming notice {}: {e}", notice.id)))?
            .rows_affected()
            == 1;
    if !claimed {
        count("duplicate");
        return Ok(());
    }
    match sender.send(&notice).await {
        Ok(()) => {
            count("sent");
            Ok(())
        }
        Err(SendError::Stopped) => {
            count("stopped");
            Ok(())
        }
        Err(SendError::Refused(reason)) => {
            count("refused");
            Err(HandleError::Reject(anyhow::anyhow!(
                "notice {} refused: {reason}",
                notice.id
            )))
        }
        Err(SendError::Retry(reason)) => {
            count("retry");
            let released = sqlx::query("DELETE FROM notify.sent WHERE notice_id = $1")
                .bind(&notice.id)
                .execute(pool)
                .await;
            if let Err(e) = released {
                // The claim stays: the redelivery will find it and this notice is lost.
                tracing::error!(notice = %notice.id, error = %e, "notice claim not released");
            }
            Err(HandleError::Retry(anyhow::anyhow!(
                "notice {} not sent: {reason}",
                notice.id
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_domain::TicketNo;

    fn notice(text: &str) -> Notice {
        Notice {
            id: "x".into(),
            ticket_no: TicketNo::compose(261203, 11).expect("no"),
            kind: NoticeKind::Reply,
            channel: Channel::Sms,
            address: "13800138000".into(),
            text: text.into(),
            link: None,
        }
    }

    #[test]
    fn sms_status_is_one_short_line() {
        assert_eq!(sms_status(&notice(" 已处理\n完毕 ")), "已处理 完毕");
        let long = sms_status(&notice(&"字".repeat(100)));
        assert_eq!(long.chars().count(), SMS_STATUS_CHARS);
        assert!(long.ends_with('…'));
    }
}
