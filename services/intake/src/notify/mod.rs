//! Notices to the citizen (`hotline notify`): what the department answered, progress and the
//! survey invitation reach the citizen on the channel they used, at least once and never
//! twice.
//!
//! Map, in the order a notice travels:
//! - [`route`]: a ticket event the citizen should hear about becomes a [`Notice`]. The router
//!   is the durable consumer `notify` on the tickets stream ([`STEPS`]: `reply`,
//!   `add_progress`, `merge`, and for merged tickets' citizens a few more); each
//!   notice is published to `<ns>.notify.<channel>` with `Nats-Msg-Id`
//!   `<ticket_no>:<seq>:<kind>`, so a redelivered event inside the stream's duplicate window
//!   adds nothing. The survey service publishes its invitations (with the link) on the same
//!   subjects when a callback is due (ids `survey:<id>:<attempt>`).
//! - [`send`]: one durable consumer per channel (`notify-email`, `notify-sms`,
//!   `notify-wechat`) claims the notice id in `notify.sent` before sending; a claimed id is
//!   acked unsent, so a notice redelivered after the duplicate window is not sent twice either.
//!
//! No receipts: every channel that has an outbound side already answers with the number as the
//! contact comes in (WeChat's passive reply or its customer-service message, email's
//! auto-reply, SMS's receipt), and Open311, the web page and the app give it in the response.
//! Phone, web and Open311 tickets get no notice (no channel back to the citizen here); app
//! tickets neither (no push provider exists yet).
//!
//! The address comes from the event itself: every ticket event carries the ticket with its
//! unmasked contact (`TicketEvent::ticket`), confidential tickets included (it is the
//! citizen's own ticket), so nothing is copied into a table of our own.
//!
//! 并单 (merged tickets), [`route_merged`]: a merged ticket is finished for the ledger, but its
//! citizen still waits for an answer, which comes on the target. So:
//! - the `merge` itself tells the merged ticket's citizen which ticket now carries their
//!   matter;
//! - every event of a target carries the numbers of the tickets merged into it
//!   (`TicketEvent::merged_from`, kept by the ledger, chains included), and for the steps a
//!   merged citizen should hear about (in [`STEPS`]) the router asks the ledger for those
//!   tickets (`tickets.query.list` by number: the contact stays in the ledger, as for the
//!   ticket's own citizen) and sends each citizen a notice on their own channel, under their
//!   own number, ids `<merged no>:<target no>:<seq>:<kind>`. Besides what the target's citizen
//!   hears (reply, progress), a merged citizen hears the steps that stand in for the callback
//!   they will not get (only the target is surveyed): dispatch, completion, an answer on the
//!   spot, rejection, emergency, reopening, a supervisor's conclusion, a further merge. A
//!   confidential target's texts are not passed on, only what happened (as in Open311's public
//!   updates). Events without merged tickets cost no lookup.
#![forbid(unsafe_code)]

pub mod send;

use std::sync::Arc;

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::Message;
use hotline_bus::consumer::{self, ConsumerSpec, HandleError};
use hotline_bus::subjects::durable;
use hotline_bus::{Bus, Envelope};
use hotline_config::Settings;
use hotline_domain::contract::{TicketEvent, TicketQuery, TicketView};
use hotline_domain::{Action, Channel};
use hotline_runtime::Service;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use send::{SendError, Sender};

/// The schema of the sent-notice claims.
pub const SCHEMA: &str = "notify";

/// Schema `notify`; run by `hotline setup` and by `hotline notify` at start.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations/notify"), SCHEMA).await
}

// The notice is a wire type: the survey service publishes invitations on the same stream.
pub use hotline_domain::contract::{Notice, NoticeKind};

/// The ticket-event steps the router reads: those the ticket's own citizen hears about, the
/// merge, and those only citizens of tickets merged into it hear about ([`route_merged`]).
/// The survey invitation is not among them: the survey service sends it when the callback is
/// due (with its link), on the same stream.
pub const STEPS: [&str; 10] = [
    "reply",
    "add_progress",
    "merge",
    "dispatch",
    "complete",
    "answer",
    "reject",
    "emergency",
    "reopen",
    "conclude",
];

/// How long the router waits for the ledger's list of merged tickets.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The notice `event` should give the citizen, if any.
pub fn route(event: &TicketEvent) -> Option<Notice> {
    let ticket_no = event.ticket.ticket_no;
    let (kind, text) = match event.entry.action.as_ref()? {
        Action::Reply { text } => (NoticeKind::Reply, text.clone()),
        Action::AddProgress { note } => (NoticeKind::Progress, note.clone()),
        Action::Merge { into } => (
            NoticeKind::Progress,
            format!(
                "您反映的问题与工单 {into} 为同一事项，已并入该工单一并办理，办理进展将继续告知您。"
            ),
        ),
        _ => return None,
    };
    let address = address(&event.ticket)?;
    Some(Notice {
        id: format!("{ticket_no}:{}:{}", event.entry.seq, kind.as_str()),
        ticket_no,
        kind,
        channel: event.ticket.channel,
        address,
        text,
        link: None,
    })
}

/// What a citizen whose ticket was merged into `event`'s ticket hears about its step: the
/// notice kind and the words after the target's number; `None` for steps that concern them not
/// (accept, supervision, extensions, the survey and the close that follow a completion they
/// heard about).
fn merged_words(event: &TicketEvent) -> Option<(NoticeKind, String)> {
    // A confidential ticket's texts stay with its citizen: say what happened, not what was
    // written (as Open311's public updates do).
    let open = !event.ticket.confidential;
    let said = |text: &str, instead: &str| {
        if open && !text.trim().is_empty() {
            text.to_owned()
        } else {
            instead.to_owned()
        }
    };
    Some(match event.entry.action.as_ref()? {
        Action::Reply { text } => (NoticeKind::Reply, said(text, "承办单位已答复")),
        Action::Answer { answer, .. } => (NoticeKind::Reply, said(answer, "已答复")),
        Action::AddProgress { note } => (NoticeKind::Progress, said(note, "办理中")),
        Action::Dispatch { .. } => (NoticeKind::Progress, "已转交承办单位办理".to_owned()),
        Action::Complete { .. } => (NoticeKind::Progress, "已办结".to_owned()),
        Action::Reject { .. } => (NoticeKind::Progress, "不予受理".to_owned()),
        Action::Emergency { .. } => (NoticeKind::Progress, "已转紧急服务部门处理".to_owned()),
        Action::Reopen { .. } => (NoticeKind::Progress, "重新办理".to_owned()),
        Action::Conclude { .. } => (NoticeKind::Progress, "已办结".to_owned()),
        Action::Merge { into } => (
            NoticeKind::Progress,
            format!("已与工单 {into} 合并办理，办理进展将继续告知您"),
        ),
        _ => return None,
    })
}

/// The notices for the citizens of `merged` (the tickets merged into `event`'s ticket, as the
/// ledger holds them) about `event`: each on the merged ticket's own channel and number.
pub fn route_merged(event: &TicketEvent, merged: &[TicketView]) -> Vec<Notice> {
    let Some((kind, words)) = merged_words(event) else {
        return Vec::new();
    };
    let target = event.ticket.ticket_no;
    merged
        .iter()
        .filter(|m| event.merged_from.contains(&m.ticket_no))
        .filter_map(|m| {
            Some(Notice {
                id: format!(
                    "{}:{target}:{}:{}",
                    m.ticket_no,
                    event.entry.seq,
                    kind.as_str()
                ),
                ticket_no: m.ticket_no,
                kind,
                channel: m.channel,
                address: address(m)?,
                text: format!("（已并入工单 {target}）{words}"),
                link: None,
            })
        })
        .collect()
}

/// Where the citizen hears back on their own channel; `None` where no sender exists.
fn address(ticket: &TicketView) -> Option<String> {
    let citizen = &ticket.citizen;
    let address = match ticket.channel {
        Channel::Email => citizen.email.clone(),
        Channel::Sms => citizen.phone.clone(),
        // The WeChat channel records the follower as `wechat:<openid>`.
        Channel::Wechat => citizen
            .account_id
            .as_deref()
            .and_then(|a| a.strip_prefix("wechat:"))
            .map(str::to_owned),
        Channel::Phone | Channel::Web | Channel::App => None,
    }?;
    (!address.trim().is_empty()).then_some(address)
}

/// The ticket number of a notice message: keeps one ticket's notices in order.
fn notice_key(payload: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Data {
        ticket_no: String,
    }
    #[derive(Deserialize)]
    struct Partial {
        data: Data,
    }
    serde_json::from_slice::<Partial>(payload)
        .map(|p| p.data.ticket_no)
        .unwrap_or_default()
}

/// The router's step for one ticket event.
async fn route_message(bus: &Bus, message: &Message) -> Result<(), HandleError> {
    let envelope: Envelope<TicketEvent> = Envelope::from_slice(&message.payload)
        .map_err(|e| HandleError::Reject(anyhow::anyhow!(e)))?;
    let event = &envelope.data;
    let mut notices: Vec<Notice> = route(event).into_iter().collect();
    if !event.merged_from.is_empty() && merged_words(event).is_some() {
        let merged: Vec<TicketView> = hotline_bus::rpc::call(
            bus,
            bus.subjects.ticket_list(),
            &TicketQuery {
                ticket_nos: event.merged_from.clone(),
                limit: u32::try_from(event.merged_from.len()).ok(),
                ..TicketQuery::default()
            },
            LOOKUP_TIMEOUT,
        )
        .await
        .map_err(|e| HandleError::Retry(anyhow::anyhow!("looking up merged tickets: {e}")))?;
        notices.extend(route_merged(event, &merged));
    }
    // Each notice has its own id: a retry after a partial failure republishes the ones already
    // in the stream, which its duplicate window (and the senders' claims) drop.
    for notice in &notices {
        publish(bus, notice).await?;
    }
    Ok(())
}

async fn publish(bus: &Bus, notice: &Notice) -> Result<(), HandleError> {
    let payload = Envelope::new(uuid::Uuid::now_v7(), "notice", notice)
        .to_bytes()
        .map_err(|e| HandleError::Reject(anyhow::anyhow!("encoding a notice: {e}")))?;
    let mut headers = HeaderMap::new();
    hotline_bus::trace::inject_current(&mut headers);
    hotline_bus::publish::publish_acked(
        bus,
        bus.subjects.notify(notice.channel.as_str()),
        &notice.id,
        headers,
        payload.into(),
    )
    .await
    .map(|_| ())
    .map_err(|e| HandleError::Retry(anyhow::anyhow!(e)))
}

/// The router's consumer spec.
pub fn router_spec(bus: &Bus) -> ConsumerSpec {
    ConsumerSpec::new(
        bus.subjects.tickets_stream(),
        durable::NOTIFY,
        STEPS.iter().map(|s| bus.subjects.ticket_event(s)).collect(),
    )
}

/// The sender consumer spec of `channel`.
pub fn sender_spec(bus: &Bus, channel: Channel) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(
        bus.subjects.notify_stream(),
        &sender_durable(channel),
        vec![bus.subjects.notify(channel.as_str())],
    );
    // A relay or gateway may take its 30 s timeout; the ack must outlive it.
    spec.ack_wait = std::time::Duration::from_secs(90);
    // Rounds run in parallel per ticket: this caps connections to the relay and gateways.
    spec.batch = 32;
    spec
}

/// `notify-<channel>`.
pub fn sender_durable(channel: Channel) -> String {
    format!("{}{}", durable::NOTIFY_SENDER_PREFIX, channel.as_str())
}

/// Runs the router and the configured senders, with the ops routes on
/// `listen.host:notify.port`, until `shutdown`. A channel without its outbound settings (email
/// relay, SMS gateway, WeChat app secret) gets no sender: its notices wait in the stream until
/// one is configured.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    // The senders' settings are checked before the port is bound.
    send::from_settings(&settings)?;
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.notify.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0). The port has no API of its own:
/// `/healthz`, `/readyz` and `/metrics` only, for the probes and Prometheus as on every
/// other process.
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let senders = send::from_settings(&settings)?;
    let mut service = Service::start("intake", &settings, shutdown).await?;
    service.serve_http("http", listener, axum::Router::new());
    let pool = service.postgres_unmigrated(&settings).await?;
    migrate(&pool).await?;
    if senders.iter().any(|s| s.channel() == Channel::Sms) {
        // The SMS provider checks the STOP list there.
        crate::sms::migrate(&pool).await?;
    }
    let bus = service.bus().clone();
    let stop = service.stop_token();
    {
        let bus2 = bus.clone();
        service.spawn(
            "router",
            consumer::run(
                bus.clone(),
                router_spec(&bus),
                |m| hotline_bus::envelope::ticket_key(&m.payload),
                move |m| {
                    let bus = bus2.clone();
                    async move { route_message(&bus, &m).await }
                },
                stop.clone(),
            ),
        );
    }
    for sender in senders {
        let sender = Arc::new(sender);
        let pool = pool.clone();
        let name = sender.task_name();
        let spec = sender_spec(&bus, sender.channel());
        service.spawn(
            name,
            consumer::run(
                bus.clone(),
                spec,
                |m| notice_key(&m.payload),
                move |m| {
                    let (sender, pool) = (sender.clone(), pool.clone());
                    async move { send::handle(&pool, &sender, &m).await }
                },
                stop.clone(),
            ),
        );
    }
    service
        .run()
        .await
        .context("the notify process (router and senders)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use hotline_domain::contract::{Citizen, HistoryEntry};
    use hotline_domain::{Actor, RequestType, Status, TicketNo};

    fn event(channel: Channel, citizen: Citizen, seq: i32, action: Option<Action>) -> TicketEvent {
        let ticket_no = TicketNo::compose(261203, 11).expect("no");
        TicketEvent {
            event_id: uuid::Uuid::now_v7(),
            entry: HistoryEntry {
                seq,
                at: Utc::now(),
                actor: Actor::system("t"),
                step: action
                    .as_ref()
                    .map(|a| a.name().to_owned())
                    .unwrap_or_else(|| "created".into()),
                action,
                from: None,
                to: Status::Replied,
            },
            ticket: TicketView {
                ticket_no,
                status: Status::Replied,
                channel,
                request_type: RequestType::Complaint,
                service_code: None,
                description: "d".into(),
                location: Default::default(),
                citizen,
                confidential: true,
                lead: None,
                co: vec![],
                attributes: Default::default(),
                media_url: None,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                held: false,
                extension_pending: false,
            },
            merged_from: Vec::new(),
        }
    }

    fn email() -> Citizen {
        Citizen {
            email: Some("citizen@example.cn".into()),
            ..Citizen::default()
        }
    }

    #[test]
    fn replies_progress_and_completion_become_notices_with_stable_ids() {
        let reply = Some(Action::Reply {
            text: "已处理".into(),
        });
        let notice = route(&event(Channel::Email, email(), 5, reply.clone())).expect("notice");
        assert_eq!(notice.kind, NoticeKind::Reply);
        assert_eq!(notice.text, "已处理");
        assert_eq!(notice.address, "citizen@example.cn");
        let no = TicketNo::compose(261203, 11).expect("no");
        assert_eq!(notice.id, format!("{no}:5:reply"));
        let again = route(&event(Channel::Email, email(), 5, reply)).expect("notice");
        assert_eq!(again.id, notice.id, "a redelivered event gives the same id");
        let progress = Some(Action::AddProgress {
            note: "已到场".into(),
        });
        assert_eq!(
            route(&event(Channel::Email, email(), 4, progress)).map(|n| n.kind),
            Some(NoticeKind::Progress)
        );
        let done = Some(Action::Complete {
            note: String::new(),
        });
        // The survey service invites when the callback is due; the completion itself says
        // nothing.
        assert!(route(&event(Channel::Email, email(), 6, done)).is_none());
    }

    #[test]
    fn receipts_other_steps_and_channels_without_a_sender_give_nothing() {
        assert!(
            route(&event(Channel::Email, email(), 1, None)).is_none(),
            "created"
        );
        assert!(route(&event(Channel::Email, email(), 2, Some(Action::Accept))).is_none());
        let reply = || Some(Action::Reply { text: "x".into() });
        let phone = Citizen {
            phone: Some("13800138000".into()),
            ..Citizen::default()
        };
        for channel in [Channel::Web, Channel::App, Channel::Phone] {
            assert!(
                route(&event(channel, phone.clone(), 3, reply())).is_none(),
                "{channel:?}"
            );
        }
        // An SMS ticket without a number has nowhere to go.
        assert!(route(&event(Channel::Sms, Citizen::default(), 3, reply())).is_none());
        let sms = route(&event(Channel::Sms, phone, 3, reply())).expect("sms");
        assert_eq!(sms.address, "13800138000");
        let wechat = Citizen {
            account_id: Some("wechat:oABC123".into()),
            ..Citizen::default()
        };
        assert_eq!(
            route(&event(Channel::Wechat, wechat, 3, reply())).map(|n| n.address),
            Some("oABC123".to_owned())
        );
    }

    /// A ticket merged into the target, as the ledger lists it.
    fn merged(no: u64, channel: Channel, citizen: Citizen) -> TicketView {
        let mut view = event(channel, citizen, 2, None).ticket;
        view.ticket_no = TicketNo::compose(261203, no).expect("no");
        view.status = Status::Merged;
        view
    }

    #[test]
    fn the_merged_citizen_hears_of_the_merge_and_of_the_targets_steps() {
        let target = TicketNo::compose(261203, 11).expect("no");
        let merge = Some(Action::Merge { into: target });
        let own = route(&event(Channel::Email, email(), 2, merge)).expect("merge notice");
        assert_eq!(own.kind, NoticeKind::Progress);
        assert!(own.text.contains(&target.to_string()), "{}", own.text);

        let sms = merged(
            21,
            Channel::Sms,
            Citizen {
                phone: Some("13900139000".into()),
                ..Citizen::default()
            },
        );
        let web = merged(22, Channel::Web, email());
        let mut reply = event(
            Channel::Wechat,
            Citizen::default(),
            7,
            Some(Action::Reply {
                text: "已修复".into(),
            }),
        );
        reply.merged_from = vec![sms.ticket_no, web.ticket_no];
        reply.ticket.confidential = false;
        let notices = route_merged(&reply, &[sms.clone(), web]);
        assert_eq!(notices.len(), 1, "the web citizen has no channel back");
        let n = &notices[0];
        assert_eq!(
            (n.ticket_no, n.channel, n.kind, n.address.as_str()),
            (
                sms.ticket_no,
                Channel::Sms,
                NoticeKind::Reply,
                "13900139000"
            )
        );
        assert_eq!(n.id, format!("{}:{target}:7:reply", sms.ticket_no));
        assert!(n.text.contains(&target.to_string()) && n.text.contains("已修复"));
        // A confidential target's words stay with its citizen.
        reply.ticket.confidential = true;
        let n = &route_merged(&reply, std::slice::from_ref(&sms))[0];
        assert!(!n.text.contains("已修复"), "{}", n.text);
        // The completion: the merged citizen gets no callback, so it is told.
        let mut done = event(
            Channel::Wechat,
            Citizen::default(),
            8,
            Some(Action::Complete {
                note: String::new(),
            }),
        );
        done.merged_from = vec![sms.ticket_no];
        let n = &route_merged(&done, std::slice::from_ref(&sms))[0];
        assert!(n.text.contains("已办结"), "{}", n.text);
        // Steps that concern the department only, and tickets not merged into this one.
        let mut accept = event(Channel::Wechat, Citizen::default(), 4, Some(Action::Accept));
        accept.merged_from = vec![sms.ticket_no];
        assert!(route_merged(&accept, std::slice::from_ref(&sms)).is_empty());
        done.merged_from = Vec::new();
        assert!(route_merged(&done, &[sms]).is_empty());
    }

    #[test]
    fn debug_does_not_print_the_address_or_the_text() {
        let notice = route(&event(
            Channel::Email,
            email(),
            5,
            Some(Action::Reply {
                text: "秘密内容".into(),
            }),
        ))
        .expect("notice");
        let shown = format!("{notice:?}");
        assert!(!shown.contains("citizen@"), "{shown}");
        assert!(!shown.contains("秘密"), "{shown}");
    }

    #[test]
    fn notice_messages_are_keyed_by_ticket() {
        let notice = route(&event(
            Channel::Email,
            email(),
            5,
            Some(Action::Reply { text: "x".into() }),
        ))
        .expect("notice");
        let bytes = Envelope::new(uuid::Uuid::now_v7(), "notice", &notice)
            .to_bytes()
            .expect("json");
        assert_eq!(notice_key(&bytes), notice.ticket_no.to_string());
    }
}
