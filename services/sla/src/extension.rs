//! Extensions (延期): a department's request, checked against its deadline before the ledger
//! sees it, and the centre's decision.
//!
//! Request (NATS request/reply on `<ns>.sla.extensions.request`, from the gateway): refused with
//! a typed error when the ticket has no running deadline (conflict), the deadline runs against
//! another department (forbidden), the stage is not handling or the clock is paused (conflict),
//! the deadline has passed (conflict), the date asked for is not after the deadline (invalid),
//! the cap is reached or a request is pending (conflict); otherwise forwarded to the ledger as
//! the department (`Action::RequestExtension`) and recorded as pending.
//!
//! Decision (`POST /v1/extensions/{ticket_no}/decision`): sent to the ledger as the agent
//! (`Action::DecideExtension`); the deadline moves when the consumer applies the ledger's
//! `decide_extension` event, so the ledger's history and the clock never disagree.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_domain::contract::{CommandAccepted, ExtensionRequest, TicketCommand};
use hotline_domain::{Action, Actor, TicketNo};
use serde::Serialize;
use sqlx::{PgPool, Row as _};
use tracing::instrument;

use crate::consumer;
use crate::error::SlaError;
use crate::ladder::{self, RunningClock};
use crate::store::{self, Engine, ticket_from_key, ticket_key};

/// How long the SLA service waits for the ledger.
pub const LEDGER_TIMEOUT: Duration = rpc::DEFAULT_TIMEOUT;

/// Handles a department's extension request; the reply is the ledger's.
#[instrument(skip_all, fields(ticket = %req.ticket_no, department = %req.department))]
pub async fn request(
    engine: &Engine,
    pool: &PgPool,
    bus: &Bus,
    req: ExtensionRequest,
) -> Result<CommandAccepted, SlaError> {
    if req.idempotency_key.trim().is_empty() {
        return Err(SlaError::invalid("idempotency_key must not be empty"));
    }
    let command = TicketCommand::Act {
        idempotency_key: req.idempotency_key.clone(),
        actor: Actor::Department {
            code: req.department.clone(),
        },
        ticket_no: req.ticket_no,
        action: Action::RequestExtension {
            reason: req.reason.trim().to_owned(),
            until: req.until,
        },
    };
    // A retry of a request already recorded: the ledger answers with its first reply.
    let known: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM sla.extension WHERE ticket_no = $1 AND idempotency_key = $2",
    )
    .bind(ticket_key(req.ticket_no))
    .bind(&req.idempotency_key)
    .fetch_optional(pool)
    .await?;
    if known.is_some() {
        return send(bus, &command).await;
    }
    let mut conn = pool.acquire().await?;
    let running: Vec<RunningClock> = store::running_clocks(&mut conn, req.ticket_no, false)
        .await?
        .into_iter()
        .filter_map(|c| {
            Some(RunningClock {
                id: c.id,
                stage: c.stage()?,
                department: c.department_code(),
                paused: c.is_paused(),
                due_at: c.due_at,
            })
        })
        .collect();
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'approved') AS granted, \
         count(*) FILTER (WHERE status = 'pending') AS pending \
         FROM sla.extension WHERE ticket_no = $1",
    )
    .bind(ticket_key(req.ticket_no))
    .fetch_one(&mut *conn)
    .await?;
    drop(conn);
    let granted: i64 = row.try_get("granted")?;
    let pending: i64 = row.try_get("pending")?;
    ladder::check_extension(
        Utc::now(),
        &running,
        &req.department,
        &req.reason,
        req.until,
        u32::try_from(granted).unwrap_or(u32::MAX),
        engine.policy.extension_cap(),
        pending > 0,
    )?;
    let accepted = send(bus, &command).await?;
    let mut tx = pool.begin().await?;
    consumer::record_request(
        &mut tx,
        req.ticket_no,
        &req.department,
        req.reason.trim(),
        req.until,
        accepted.seq,
        Utc::now(),
        Some(&req.idempotency_key),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        seq = accepted.seq,
        "extension request forwarded to the ledger"
    );
    Ok(accepted)
}

async fn send(bus: &Bus, command: &TicketCommand) -> Result<CommandAccepted, SlaError> {
    Ok(rpc::call(
        bus,
        bus.subjects.ticket_commands_from(hotline_bus::Service::Sla),
        command,
        LEDGER_TIMEOUT,
    )
    .await?)
}

/// An extension request as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Extension {
    pub id: i64,
    pub ticket_no: TicketNo,
    pub department: String,
    pub reason: String,
    pub until: DateTime<Utc>,
    pub previous_due: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

const EXTENSION_COLUMNS: &str = "id, ticket_no, department, reason, until, previous_due, \
    requested_at, status, decided_at, decided_by, note";

fn extension_from_row(row: &sqlx::postgres::PgRow) -> Result<Extension, SlaError> {
    Ok(Extension {
        id: row.try_get("id")?,
        ticket_no: ticket_from_key(row.try_get("ticket_no")?)?,
        department: row.try_get("department")?,
        reason: row.try_get("reason")?,
        until: row.try_get("until")?,
        previous_due: row.try_get("previous_due")?,
        requested_at: row.try_get("requested_at")?,
        status: row.try_get("status")?,
        decided_at: row.try_get("decided_at")?,
        decided_by: row.try_get("decided_by")?,
        note: row.try_get("note")?,
    })
}

pub const STATUSES: [&str; 4] = ["pending", "approved", "denied", "lapsed"];

/// Extension requests by status (`None`: all), oldest first, at most `limit`.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Extension>, SlaError> {
    let sql = format!(
        "SELECT {EXTENSION_COLUMNS} FROM sla.extension WHERE ($1::text IS NULL OR status = $1) \
         ORDER BY requested_at, id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(extension_from_row).collect()
}

/// A ticket's extension requests.
pub async fn for_ticket(pool: &PgPool, no: TicketNo) -> Result<Vec<Extension>, SlaError> {
    let sql =
        format!("SELECT {EXTENSION_COLUMNS} FROM sla.extension WHERE ticket_no = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket_key(no))
        .fetch_all(pool)
        .await?;
    rows.iter().map(extension_from_row).collect()
}

/// The extension requests of every ticket of `tickets`, each ticket's oldest first.
pub async fn for_tickets(pool: &PgPool, tickets: &[TicketNo]) -> Result<Vec<Extension>, SlaError> {
    let keys: Vec<i64> = tickets.iter().map(|&no| ticket_key(no)).collect();
    let sql = format!(
        "SELECT {EXTENSION_COLUMNS} FROM sla.extension WHERE ticket_no = ANY($1) \
         ORDER BY ticket_no, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&keys)
        .fetch_all(pool)
        .await?;
    rows.iter().map(extension_from_row).collect()
}

/// What the decision endpoint answers.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub extension_id: i64,
    pub approved: bool,
    /// The ledger's reply; the deadline moves once its `decide_extension` event is applied.
    pub ledger: CommandAccepted,
}

/// The centre decides the pending request of `no`, as agent `agent`.
#[instrument(skip_all, fields(ticket = %no))]
pub async fn decide(
    pool: &PgPool,
    bus: &Bus,
    no: TicketNo,
    agent: &str,
    approved: bool,
    note: &str,
) -> Result<Decision, SlaError> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM sla.extension WHERE ticket_no = $1 AND status = 'pending'",
    )
    .bind(ticket_key(no))
    .fetch_optional(pool)
    .await?;
    let Some(id) = id else {
        return Err(SlaError::NotFound(
            "no extension request of this ticket is waiting for a decision".to_owned(),
        ));
    };
    // Keyed by the request: a retried (or conflicting second) decision gets the first answer.
    let command = TicketCommand::Act {
        idempotency_key: format!("sla:decide:{id}"),
        actor: Actor::Agent {
            id: agent.to_owned(),
        },
        ticket_no: no,
        action: Action::DecideExtension {
            approved,
            note: note.trim().to_owned(),
        },
    };
    let ledger = send(bus, &command).await?;
    tracing::info!(approved, "extension decided");
    Ok(Decision {
        extension_id: id,
        approved,
        ledger,
    })
}
