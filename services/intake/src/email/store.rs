//! Postgres, schema `email`: the messages taken and their attachments (`bytea`).
//!
//! Attachments are written before the ticket's command (their ids go into the ticket's
//! attributes) under the message's key, so a message sent again reuses the same rows and ids;
//! a message the ledger refuses has its rows removed again.

use anyhow::Context as _;
use hotline_domain::TicketNo;
use sha2::{Digest as _, Sha256};
use sqlx::{PgPool, Row as _};
use uuid::Uuid;

use super::mime::Attachment;

pub const SCHEMA: &str = "email";

/// What a message became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ticket,
    Supplement,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Supplement => "supplement",
        }
    }
}

/// An attachment as stored, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
}

/// An attachment with its content, for download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub stored: Stored,
    pub ticket_no: Option<TicketNo>,
    pub content: Vec<u8>,
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    /// Records the message under `key` and stores its attachments, in one transaction; a
    /// message already recorded keeps its rows (the ids answered are the first ones).
    pub async fn put(
        &self,
        key: &str,
        kind: Kind,
        attachments: &[Attachment],
    ) -> anyhow::Result<Vec<Stored>> {
        let mut tx = self.pool.begin().await.context("beginning a transaction")?;
        sqlx::query(
            "INSERT INTO email.message (message_key, kind) VALUES ($1, $2)
             ON CONFLICT (message_key) DO NOTHING",
        )
        .bind(key)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await
        .context("recording the message")?;
        let mut stored = Vec::with_capacity(attachments.len());
        for (position, a) in attachments.iter().enumerate() {
            let position = i32::try_from(position + 1).context("attachment position")?;
            let size = i64::try_from(a.content.len()).context("attachment size")?;
            let digest = hex::encode(Sha256::digest(&a.content));
            // DO UPDATE (to the same value) so that RETURNING gives the existing row's id.
            let row = sqlx::query(
                "INSERT INTO email.attachment
                     (id, message_key, position, file_name, content_type, size_bytes, sha256, content)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (message_key, position)
                 DO UPDATE SET message_key = EXCLUDED.message_key
                 RETURNING id, file_name, content_type, size_bytes",
            )
            .bind(Uuid::now_v7())
            .bind(key)
            .bind(position)
            .bind(&a.name)
            .bind(&a.content_type)
            .bind(size)
            .bind(digest)
            .bind(&a.content)
            .fetch_one(&mut *tx)
            .await
            .context("storing an attachment")?;
            stored.push(Stored {
                id: row.try_get("id")?,
                file_name: row.try_get("file_name")?,
                content_type: row.try_get("content_type")?,
                size_bytes: row.try_get("size_bytes")?,
            });
        }
        tx.commit().await.context("committing the attachments")?;
        Ok(stored)
    }

    /// The ledger took the message: it went to `ticket_no`.
    pub async fn settle(&self, key: &str, ticket_no: TicketNo) -> anyhow::Result<()> {
        let no = i64::try_from(ticket_no.as_u64()).context("ticket number")?;
        sqlx::query(
            "UPDATE email.message SET ticket_no = $2, settled_at = now() WHERE message_key = $1",
        )
        .bind(key)
        .bind(no)
        .execute(&self.pool)
        .await
        .context("settling the message")?;
        Ok(())
    }

    /// The ledger refused the message: nothing of it stays.
    pub async fn forget(&self, key: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM email.message WHERE message_key = $1 AND ticket_no IS NULL")
            .bind(key)
            .execute(&self.pool)
            .await
            .context("removing a refused message")?;
        Ok(())
    }

    /// One attachment with its content and the ticket its message went to.
    pub async fn download(&self, id: Uuid) -> anyhow::Result<Option<Download>> {
        let row = sqlx::query(
            "SELECT a.id, a.file_name, a.content_type, a.size_bytes, a.content, m.ticket_no
             FROM email.attachment a JOIN email.message m USING (message_key)
             WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading an attachment")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let ticket_no: Option<i64> = row.try_get("ticket_no")?;
        Ok(Some(Download {
            stored: Stored {
                id: row.try_get("id")?,
                file_name: row.try_get("file_name")?,
                content_type: row.try_get("content_type")?,
                size_bytes: row.try_get("size_bytes")?,
            },
            ticket_no: ticket_no.and_then(|n| TicketNo::parse(&format!("{n:016}")).ok()),
            content: row.try_get("content")?,
        }))
    }
}
