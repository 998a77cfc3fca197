//! Ticket numbers without a central counter on the hot path.
//!
//! Each replica reserves a block of sequence numbers for the day with a compare-and-set on a KV
//! key (`seq-YYMMDD`), then hands numbers out of memory. The next block is reserved in the
//! background when half of the current one is used, so a request only waits when a replica
//! issues a whole block faster than one KV round trip. Blocks lost in a crash leave gaps, never
//! duplicates.
//!
//! The KV counter is the fast path, not the record: when a day's counter is missing (a new day,
//! or a NATS whose state was lost), the first block starts above the highest number the ledger
//! already holds for that day, so a lost counter can never hand out a number twice.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use async_nats::jetstream::kv;
use chrono::{Datelike as _, Utc};
use hotline_domain::TicketNo;
use tokio::sync::Mutex;

#[derive(Debug, Clone, Copy)]
struct Block {
    yymmdd: u32,
    next: u64,
    end: u64,
}

pub struct TicketNumbers {
    store: kv::Store,
    bus: crate::Bus,
    block_size: u64,
    /// Offset of the city's local time from UTC (the number's date is the local date).
    utc_offset: chrono::FixedOffset,
    state: Mutex<(Option<Block>, Option<Block>)>,
}

impl TicketNumbers {
    pub async fn new(
        bus: &crate::Bus,
        utc_offset: chrono::FixedOffset,
    ) -> anyhow::Result<Arc<TicketNumbers>> {
        let bucket = bus.subjects.ticket_numbers_bucket();
        let store = bus
            .js
            .get_key_value(&bucket)
            .await
            .with_context(|| format!("KV bucket {bucket}"))?;
        Ok(Arc::new(TicketNumbers {
            store,
            bus: bus.clone(),
            block_size: 1000,
            utc_offset,
            state: Mutex::new((None, None)),
        }))
    }

    fn today(&self) -> u32 {
        let d = Utc::now().with_timezone(&self.utc_offset).date_naive();
        (d.year() as u32 % 100) * 10_000 + d.month() * 100 + d.day()
    }

    /// The next number.
    pub async fn next(self: &Arc<Self>) -> anyhow::Result<TicketNo> {
        let today = self.today();
        let mut state = self.state.lock().await;
        loop {
            let mut issued = None;
            if let Some(block) = state.0.as_mut()
                && block.yymmdd == today
                && block.next < block.end
            {
                issued = Some((block.next, block.end - block.next - 1));
                block.next += 1;
            }
            if let Some((seq, remaining)) = issued {
                if remaining == self.block_size / 2 && state.1.is_none() {
                    let this = self.clone();
                    tokio::spawn(async move {
                        match this.reserve(today).await {
                            Ok(b) => this.state.lock().await.1 = Some(b),
                            Err(e) => {
                                tracing::warn!(error = %format!("{e:#}"), "reserving the next ticket-number block")
                            }
                        }
                    });
                }
                return TicketNo::compose(today, seq)
                    .context("ticket sequence exhausted for today");
            }
            // Current block used up (or a new day): take the prefetched one, or reserve now.
            state.0 = match state.1.take() {
                Some(b) if b.yymmdd == today => Some(b),
                _ => Some(self.reserve(today).await?),
            };
        }
    }

    /// One above the highest sequence the ledger holds for the day.
    async fn ledger_floor(&self, yymmdd: u32) -> anyhow::Result<u64> {
        let max: u64 = crate::rpc::call(
            &self.bus,
            self.bus.subjects.ticket_max_sequence(),
            &yymmdd,
            crate::rpc::DEFAULT_TIMEOUT,
        )
        .await
        .context("asking the ledger for the day's highest ticket number")?;
        Ok(max + 1)
    }

    async fn reserve(&self, yymmdd: u32) -> anyhow::Result<Block> {
        let key = format!("seq-{yymmdd:06}");
        for _ in 0..64 {
            let entry = self
                .store
                .entry(&key)
                .await
                .context("reading the day's counter")?;
            let (start, revision) = match &entry {
                Some(e) if e.operation == kv::Operation::Put => {
                    let text = std::str::from_utf8(&e.value).context("counter is not text")?;
                    (
                        text.parse::<u64>().context("counter is not a number")?,
                        Some(e.revision),
                    )
                }
                _ => (self.ledger_floor(yymmdd).await?, None),
            };
            let end = start + self.block_size;
            if end > TicketNo::MAX_SEQUENCE {
                bail!("no ticket numbers left for {yymmdd}");
            }
            let value = end.to_string().into_bytes().into();
            let written = match revision {
                Some(r) => self.store.update(&key, value, r).await.is_ok(),
                None => self.store.create(&key, value).await.is_ok(),
            };
            if written {
                return Ok(Block {
                    yymmdd,
                    next: start,
                    end,
                });
            }
            // Another replica won the race: read again.
        }
        bail!("could not reserve a ticket-number block after 64 attempts")
    }
}
