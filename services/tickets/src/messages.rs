//! The contacts that arrive by message (WeChat, the web form and Open311, email, the app, SMS),
//! newest first, for the agent desk's live messages panel (`GET /v1/messages`):
//!
//! - every ticket created from a channel other than the phone (`created`);
//! - every addition a citizen sent by message to a ticket of theirs: the ledger's `supplement`
//!   (市民补充) and `provide_information` (补充材料) steps recorded on the citizen's behalf, by a
//!   service (intake: a WeChat follow-up, an email reply) or by the citizen through a channel.
//!   An agent's supplement is left out: it was typed during a call, not sent by message.
//!
//! The ledger does not record which channel an addition came by when intake records it, so an
//! addition shows the ticket's channel unless the citizen's own actor names one.
//!
//! Each part is read from an index's end: new tickets on `created_at` (stepping over the newest
//! calls among them), the citizens' additions on a partial index of history holding exactly
//! those steps (migration `*_messages.sql`), so the read stays small however many tickets and
//! steps there are: one open desk asks every few seconds. Contacts leave this module masked.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_domain::contract::Citizen;
use hotline_domain::{Channel, RequestType, ServiceCode, Status, TicketNo};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row as _};

/// How many a request gets when it names no limit: the desk shows twenty.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most a request may ask for.
pub const MAX_LIMIT: u32 = 50;
/// The longest text sent: a panel line shows less, and twenty full descriptions every few
/// seconds per open desk would be most of the answer.
pub const TEXT_CHARS: i32 = 200;

/// What arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A new ticket.
    Created,
    /// 市民补充: the citizen added to their ticket unasked.
    Supplement,
    /// 补充材料: the citizen answered the department's question.
    ProvideInformation,
}

/// One contact by message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub kind: Kind,
    pub ticket_no: TicketNo,
    /// The step's place in the ticket's history (1 for a new ticket): with the number, the
    /// message's identity.
    pub seq: i32,
    pub at: DateTime<Utc>,
    pub channel: Channel,
    pub request_type: RequestType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_code: Option<ServiceCode>,
    /// The ticket's status now.
    pub status: Status,
    /// The ticket's description, or the addition's note, cut at [`TEXT_CHARS`].
    pub text: String,
    /// Masked.
    pub citizen: Citizen,
    pub confidential: bool,
}

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .with_context(|| format!("unknown value {text:?}"))
}

/// The newest `limit` contacts by message (at most [`MAX_LIMIT`]), newest first.
pub async fn newest(pool: &PgPool, limit: u32) -> anyhow::Result<Vec<Message>> {
    let limit = i64::from(limit.clamp(1, MAX_LIMIT));
    // Each part is ordered and cut on an index read backwards: new tickets on created_at
    // (stepping over the newest calls), the citizens' additions on their partial index of
    // history (the WHERE clause repeats its predicate word for word so the planner uses it);
    // then the two are merged. A partial index of the tickets that are not calls would be one
    // more entry written at every such ticket and step for a read of twenty rows.
    let rows = sqlx::query(
        "SELECT * FROM ( \
           (SELECT t.ticket_no, 1 AS seq, t.created_at AS at, 'created' AS kind, t.channel, \
              t.request_type, t.service_code, t.status, left(t.description, $2) AS text, \
              t.citizen, t.confidential \
            FROM tickets.ticket t WHERE t.channel <> 'phone' \
            ORDER BY t.created_at DESC LIMIT $1) \
           UNION ALL \
           (SELECT h.ticket_no, h.seq, h.at, h.step AS kind, \
              COALESCE(h.actor->>'channel', t.channel) AS channel, t.request_type, \
              t.service_code, t.status, left(COALESCE(h.action->>'note', ''), $2) AS text, \
              t.citizen, t.confidential \
            FROM tickets.history h JOIN tickets.ticket t ON t.ticket_no = h.ticket_no \
            WHERE h.step IN ('supplement', 'provide_information') \
              AND h.actor->>'kind' IN ('system', 'citizen') \
            ORDER BY h.at DESC LIMIT $1) \
         ) m ORDER BY at DESC, ticket_no DESC, seq DESC LIMIT $1",
    )
    .bind(limit)
    .bind(TEXT_CHARS)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let no: i64 = r.try_get("ticket_no")?;
            let kind: String = r.try_get("kind")?;
            let channel: String = r.try_get("channel")?;
            let request_type: String = r.try_get("request_type")?;
            let service_code: Option<String> = r.try_get("service_code")?;
            let status: String = r.try_get("status")?;
            let citizen: serde_json::Value = r.try_get("citizen")?;
            Ok(Message {
                kind: parse_enum(&kind)?,
                ticket_no: TicketNo::parse(&format!("{no:016}")).context("stored ticket number")?,
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                channel: parse_enum(&channel)?,
                request_type: parse_enum(&request_type)?,
                service_code: service_code.map(|c| ServiceCode::parse(&c)).transpose()?,
                status: Status::parse(&status)
                    .with_context(|| format!("unknown status {status}"))?,
                text: r.try_get("text")?,
                citizen: serde_json::from_value::<Citizen>(citizen)?.masked(),
                confidential: r.try_get("confidential")?,
            })
        })
        .collect()
}
