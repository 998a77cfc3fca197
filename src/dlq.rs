//! `hotline dlq list | show | replay`: working the dead letters (`<NS>_DLQ`).
//!
//! A consumer that gives up on a message (it never decodes, or it kept failing for its
//! `retry_for`, three days) stores it in the dead-letter stream under `<ns>.dlq.<consumer>`, one letter per consumer, with
//! the reason, the original subject and stream sequence. An operator lists them, reads one, fixes
//! the cause, and replays it: the original message goes back to its subject marked for the
//! consumer that gave up on it (`Hotline-Replay-For`; every other consumer acks it unread), and
//! the letter is deleted once the replay is stored. Runs as the `setup` NATS user.

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::message::StreamMessage;
use hotline_bus::Bus;
use hotline_bus::consumer::{DLQ_CONSUMER, DLQ_REASON, DLQ_STREAM_SEQ, DLQ_SUBJECT, REPLAY_FOR};
use hotline_config::Settings;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum DlqCommand {
    /// The dead letters, oldest first: sequence, time, consumer, original subject, reason.
    List {
        /// Only this consumer's (its durable name, e.g. sla, dispatch, notify-email).
        #[arg(long)]
        consumer: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One dead letter: its headers and payload.
    Show { seq: u64 },
    /// Sends a dead letter's message again, to the consumer that gave up on it, and deletes the
    /// letter once the replay is stored.
    Replay { seq: u64 },
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.as_str())
}

pub async fn run(settings: &Settings, command: &DlqCommand) -> anyhow::Result<()> {
    let bus = Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    let stream = bus
        .js
        .get_stream(bus.subjects.dead_letter_stream())
        .await
        .context("the dead-letter stream (run hotline setup first)")?;
    match command {
        DlqCommand::List { consumer, limit } => {
            let info = stream.get_info().await?;
            println!(
                "{} dead letters (sequences {}-{})",
                info.state.messages, info.state.first_sequence, info.state.last_sequence
            );
            let mut shown = 0;
            for seq in info.state.first_sequence..=info.state.last_sequence {
                if shown >= *limit {
                    break;
                }
                // Deleted letters leave gaps.
                let Ok(letter) = stream.get_raw_message(seq).await else {
                    continue;
                };
                let who = header(&letter.headers, DLQ_CONSUMER);
                if consumer.as_deref().is_some_and(|c| c != who) {
                    continue;
                }
                println!(
                    "{seq:>8}  {}  {who:<16}  {}  {}",
                    letter.time,
                    header(&letter.headers, DLQ_SUBJECT),
                    header(&letter.headers, DLQ_REASON)
                );
                shown += 1;
            }
            Ok(())
        }
        DlqCommand::Show { seq } => {
            let letter = stream
                .get_raw_message(*seq)
                .await
                .with_context(|| format!("dead letter {seq}"))?;
            println!("sequence  {seq}");
            println!("stored    {}", letter.time);
            println!("subject   {}", letter.subject);
            for (name, values) in letter.headers.iter() {
                for v in values {
                    println!("{name}: {}", v.as_str());
                }
            }
            println!();
            println!("{}", String::from_utf8_lossy(&letter.payload));
            Ok(())
        }
        DlqCommand::Replay { seq } => {
            let letter = stream
                .get_raw_message(*seq)
                .await
                .with_context(|| format!("dead letter {seq}"))?;
            let (subject, msg_id, headers) = replay_of(&letter)?;
            hotline_bus::publish::publish_acked(
                &bus,
                subject.clone(),
                &msg_id,
                headers,
                letter.payload.clone(),
            )
            .await
            .context("publishing the replay")?;
            stream
                .delete_message(*seq)
                .await
                .with_context(|| format!("deleting dead letter {seq}"))?;
            println!(
                "replayed dead letter {seq} to {subject} for {}",
                header(&letter.headers, DLQ_CONSUMER)
            );
            Ok(())
        }
    }
}

/// Where a dead letter's message goes again, under which id, with which headers: the original
/// ones (trace context, message id's meaning) minus the dead letter's, plus who it is for.
fn replay_of(letter: &StreamMessage) -> anyhow::Result<(String, String, HeaderMap)> {
    let subject = header(&letter.headers, DLQ_SUBJECT).to_owned();
    let consumer = header(&letter.headers, DLQ_CONSUMER).to_owned();
    anyhow::ensure!(
        !subject.is_empty() && !consumer.is_empty(),
        "dead letter {} does not say where it came from or whose it is",
        letter.sequence
    );
    let mut headers = HeaderMap::new();
    for (name, values) in letter.headers.iter() {
        let name = name.to_string();
        if name.starts_with("Hotline-Dlq-") || name == hotline_bus::publish::MSG_ID {
            continue;
        }
        for v in values {
            headers.append(name.as_str(), v.as_str());
        }
    }
    headers.insert(REPLAY_FOR, consumer.as_str());
    // A new id: the original one may still be in the stream's duplicate window.
    let original = header(&letter.headers, DLQ_STREAM_SEQ);
    let msg_id = format!("replay-{consumer}-{original}-{}", letter.sequence);
    Ok((subject, msg_id, headers))
}
