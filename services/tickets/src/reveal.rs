//! The audit of every unmasking of a citizen's contact details (PIPL): a reveal of one ticket's
//! contact, or a search by phone number. Written before the data is returned (no audit, no
//! data), read by supervisors and administrators.

use chrono::{DateTime, Utc};
use hotline_auth::Principal;
use hotline_domain::TicketNo;
use serde::Serialize;
use sqlx::{PgPool, Row as _};

/// Longest accepted reason.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Contact,
    PhoneSearch,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Contact => "contact",
            Kind::PhoneSearch => "phone_search",
        }
    }
}

/// One audited unmasking.
#[derive(Debug, Clone, Serialize)]
pub struct Reveal {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub subject: String,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_no: Option<String>,
    /// The number searched, masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub searched: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<i32>,
    pub reason: String,
}

/// Which reveals to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub ticket_no: Option<TicketNo>,
    pub subject: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
}

#[derive(Clone)]
pub struct RevealLog {
    pool: PgPool,
}

impl RevealLog {
    pub fn new(pool: PgPool) -> RevealLog {
        RevealLog { pool }
    }

    /// Records one unmasking. `searched` is the phone number searched (stored masked).
    pub async fn record(
        &self,
        who: &Principal,
        kind: Kind,
        ticket_no: Option<TicketNo>,
        searched: Option<&str>,
        found: Option<usize>,
        reason: &str,
    ) -> anyhow::Result<()> {
        let roles: Vec<&str> = who.roles.iter().map(|r| r.as_str()).collect();
        sqlx::query(
            "INSERT INTO tickets.reveal (subject, roles, department, kind, ticket_no, searched, found, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&who.subject)
        .bind(&roles)
        .bind(who.department.as_ref().map(|d| d.as_str()))
        .bind(kind.as_str())
        .bind(ticket_no.map(|n| n.as_u64() as i64))
        .bind(searched.map(hotline_domain::mask::phone))
        .bind(found.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Reveals matching `filter`, newest first.
    pub async fn list(&self, filter: &Filter) -> anyhow::Result<Vec<Reveal>> {
        let rows = sqlx::query(
            "SELECT id, at, subject, roles, department, kind, ticket_no, searched, found, reason \
             FROM tickets.reveal WHERE \
             ($1::bigint IS NULL OR ticket_no = $1) AND \
             ($2::text IS NULL OR subject = $2) AND \
             ($3::timestamptz IS NULL OR at >= $3) AND \
             ($4::timestamptz IS NULL OR at <= $4) \
             ORDER BY at DESC, id DESC LIMIT $5",
        )
        .bind(filter.ticket_no.map(|n| n.as_u64() as i64))
        .bind(&filter.subject)
        .bind(filter.from)
        .bind(filter.to)
        .bind(i64::from(filter.limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let no: Option<i64> = r.try_get("ticket_no")?;
                Ok(Reveal {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    subject: r.try_get("subject")?,
                    roles: r.try_get("roles")?,
                    department: r.try_get("department")?,
                    kind: r.try_get("kind")?,
                    ticket_no: no.map(|n| format!("{n:016}")),
                    searched: r.try_get("searched")?,
                    found: r.try_get("found")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }
}
