//! Reading the ledger: one ticket with its history, lists by filter, and the steps taken in a
//! period. Writes happen only in [`crate::ledger`].

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hotline_bus::rpc::RemoteError;
use hotline_domain::contract::{
    Citizen, GetTicket, HistoryEntry, Location, TicketQuery, TicketUpdate, TicketView,
    TicketWithHistory, UpdatesQuery,
};
use hotline_domain::{
    Action, Actor, Channel, DeptCode, RequestType, ServiceCode, Status, Ticket, TicketNo,
};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row as _};

pub(crate) const COLUMNS: &str = "ticket_no, status, channel, request_type, service_code, description, location, citizen, confidential, \
    attributes, media_url, lead, co, handlers, extension_pending, satisfied, held, last_seq, traceparent, created_at, updated_at";

pub(crate) const SELECT_FOR_UPDATE: &str = "SELECT ticket_no, status, channel, request_type, service_code, description, location, \
    citizen, confidential, attributes, media_url, lead, co, handlers, extension_pending, satisfied, held, last_seq, \
    traceparent, created_at, updated_at, merged_from FROM tickets.ticket WHERE ticket_no = ANY($1) ORDER BY ticket_no FOR UPDATE";

const MAX_LIST: u32 = 1000;

/// A ticket loaded for update by the ledger, with what the state machine needs and what events
/// carry. Defined here, with the reading of rows, so the ledger imports the store and never the
/// other way round.
#[derive(Clone)]
pub(crate) struct TicketRow {
    pub view: TicketView,
    pub machine: Ticket,
    pub last_seq: i32,
    pub handlers: Vec<String>,
    pub traceparent: Option<String>,
    /// The tickets merged into this one (并单), carried on its events.
    pub merged_from: Vec<TicketNo>,
}

/// A ticket's latest `return` step: what the department said when it handed the ticket back,
/// which the dispatcher's review rules on. Listed with returned tickets so a review page needs
/// no read of each ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReturn {
    pub at: DateTime<Utc>,
    /// The department that returned it (a return is always a department's step; absent only
    /// if the ledger ever recorded one from another actor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DeptCode>,
    pub reason: String,
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .with_context(|| format!("unknown value {text:?}"))
}

pub(crate) fn row_to_view(row: &PgRow) -> anyhow::Result<TicketView> {
    let no: i64 = row.try_get("ticket_no")?;
    let ticket_no = TicketNo::parse(&format!("{no:016}")).context("stored ticket number")?;
    let status: String = row.try_get("status")?;
    let channel: String = row.try_get("channel")?;
    let request_type: String = row.try_get("request_type")?;
    let service_code: Option<String> = row.try_get("service_code")?;
    let lead: Option<String> = row.try_get("lead")?;
    let co: Vec<String> = row.try_get("co")?;
    let location: serde_json::Value = row.try_get("location")?;
    let citizen: serde_json::Value = row.try_get("citizen")?;
    let attributes: serde_json::Value = row.try_get("attributes")?;
    Ok(TicketView {
        ticket_no,
        status: Status::parse(&status).with_context(|| format!("unknown status {status}"))?,
        channel: parse_enum::<Channel>(&channel)?,
        request_type: parse_enum::<RequestType>(&request_type)?,
        service_code: service_code.map(|c| ServiceCode::parse(&c)).transpose()?,
        description: row.try_get("description")?,
        location: serde_json::from_value::<Location>(location)?,
        citizen: serde_json::from_value::<Citizen>(citizen)?,
        confidential: row.try_get("confidential")?,
        lead: lead.map(|d| DeptCode::parse(&d)).transpose()?,
        co: co
            .iter()
            .map(|d| DeptCode::parse(d))
            .collect::<Result<_, _>>()?,
        attributes: serde_json::from_value(attributes)?,
        media_url: row.try_get("media_url")?,
        held: row.try_get("held")?,
        extension_pending: row.try_get("extension_pending")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) fn row_to_ticket_row(row: &PgRow) -> anyhow::Result<TicketRow> {
    let view = row_to_view(row)?;
    let machine = Ticket {
        no: view.ticket_no,
        status: view.status,
        lead: view.lead.clone(),
        co: view.co.clone(),
        extension_pending: view.extension_pending,
        satisfied: row.try_get("satisfied")?,
        held: view.held,
    };
    Ok(TicketRow {
        view,
        machine,
        last_seq: row.try_get("last_seq")?,
        handlers: row.try_get("handlers")?,
        traceparent: row.try_get("traceparent")?,
        merged_from: row
            .try_get::<Vec<i64>, _>("merged_from")?
            .into_iter()
            .map(|n| TicketNo::parse(&format!("{n:016}")))
            .collect::<Result<_, _>>()
            .context("stored merged ticket number")?,
    })
}

fn row_to_entry(row: &PgRow) -> anyhow::Result<HistoryEntry> {
    let actor: serde_json::Value = row.try_get("actor")?;
    let action: Option<serde_json::Value> = row.try_get("action")?;
    let from: Option<String> = row.try_get("from_status")?;
    let to: String = row.try_get("to_status")?;
    Ok(HistoryEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: serde_json::from_value(actor)?,
        step: row.try_get("step")?,
        action: action.map(serde_json::from_value).transpose()?,
        from: from
            .map(|s| Status::parse(&s).context("unknown status"))
            .transpose()?,
        to: Status::parse(&to).context("unknown status")?,
    })
}

impl Store {
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    /// One ticket and its whole history. A department sees only tickets it holds or held.
    #[tracing::instrument(skip_all, fields(ticket = %q.ticket_no))]
    pub async fn get(&self, q: &GetTicket) -> Result<TicketWithHistory, RemoteError> {
        self.get_inner(q)
            .await
            .map_err(|e| match e.downcast::<RemoteError>() {
                Ok(remote) => remote,
                Err(e) => RemoteError::internal(&e),
            })
    }

    async fn get_inner(&self, q: &GetTicket) -> anyhow::Result<TicketWithHistory> {
        let no = q.ticket_no.as_u64() as i64;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tickets.ticket WHERE ticket_no = $1"
        )))
        .bind(no)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(
                RemoteError::not_found(format!("ticket {} does not exist", q.ticket_no)).into(),
            );
        };
        if let Some(dept) = &q.as_department {
            let handlers: Vec<String> = row.try_get("handlers")?;
            if !handlers.iter().any(|h| h == dept.as_str()) {
                tracing::warn!(ticket = %q.ticket_no, department = %dept, "department refused: not its ticket");
                return Err(RemoteError::forbidden(
                    "this ticket is not assigned to your department",
                )
                .into());
            }
        }
        let mut ticket = row_to_view(&row)?;
        if q.as_department.is_some() {
            ticket = ticket.for_department();
        }
        let history = sqlx::query("SELECT seq, at, actor, step, action, from_status, to_status FROM tickets.history WHERE ticket_no = $1 ORDER BY seq")
            .bind(no)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_entry)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(TicketWithHistory { ticket, history })
    }

    /// Tickets matching every filter given, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, q: &TicketQuery) -> Result<Vec<TicketView>, RemoteError> {
        let nos: Vec<i64> = q.ticket_nos.iter().map(|n| n.as_u64() as i64).collect();
        let statuses: Vec<&str> = q.statuses.iter().map(|s| s.as_str()).collect();
        let codes: Option<Vec<String>> = q
            .service_code
            .as_ref()
            .map(|v| v.iter().map(|c| c.to_string()).collect());
        let limit = i64::from(q.limit.unwrap_or(MAX_LIST).min(MAX_LIST));
        let inbox = q.department.is_some()
            && !q.statuses.is_empty()
            && q.statuses.iter().all(|s| s.is_open_for_citizen());
        let rows = sqlx::query(sqlx::AssertSqlSafe(list_sql(inbox)))
            .bind(&nos)
            .bind(&statuses)
            .bind(&codes)
            .bind(q.department.as_ref().map(|d| d.to_string()))
            .bind(&q.citizen_phone)
            .bind(q.created_from)
            .bind(q.created_to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| RemoteError::internal(&e.into()))?;
        rows.iter()
            .map(|r| {
                row_to_view(r).map(|v| {
                    if q.department.is_some() {
                        v.for_department()
                    } else {
                        v
                    }
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(|e| RemoteError::internal(&e))
    }

    /// The latest `return` step of each ticket of `nos` that has one, in one statement: each
    /// ticket's history is read backwards on its primary key `(ticket_no, seq)` and stops at
    /// the first `return` (a history is a few dozen steps at most, so no index on `step`).
    #[tracing::instrument(skip_all, fields(tickets = nos.len()))]
    pub async fn last_returns(
        &self,
        nos: &[TicketNo],
    ) -> anyhow::Result<HashMap<TicketNo, LastReturn>> {
        let mut out = HashMap::with_capacity(nos.len());
        if nos.is_empty() {
            return Ok(out);
        }
        let nos: Vec<i64> = nos.iter().map(|n| n.as_u64() as i64).collect();
        let rows = sqlx::query(
            "SELECT n.ticket_no, h.at, h.actor, h.action \
             FROM unnest($1::bigint[]) AS n(ticket_no) \
             CROSS JOIN LATERAL ( \
                 SELECT at, actor, action FROM tickets.history \
                 WHERE ticket_no = n.ticket_no AND step = 'return' \
                 ORDER BY seq DESC LIMIT 1 \
             ) h",
        )
        .bind(&nos)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let no: i64 = row.try_get("ticket_no")?;
            let no = TicketNo::parse(&format!("{no:016}")).context("stored ticket number")?;
            let actor: Actor = serde_json::from_value(row.try_get("actor")?)
                .with_context(|| format!("the actor of ticket {no}'s return"))?;
            let action: Option<serde_json::Value> = row.try_get("action")?;
            let action: Option<Action> = action
                .map(serde_json::from_value)
                .transpose()
                .with_context(|| format!("the action of ticket {no}'s return"))?;
            // The step's name says `return`; its action carries the reason. A row whose action
            // says otherwise is left out rather than shown with a reason it never had.
            let Some(Action::Return { reason }) = action else {
                tracing::warn!(ticket = %no, "a return step without a return action");
                continue;
            };
            let department = match actor {
                Actor::Department { code } => Some(code),
                _ => None,
            };
            out.insert(
                no,
                LastReturn {
                    at: row.try_get("at")?,
                    department,
                    reason,
                },
            );
        }
        Ok(out)
    }

    /// Tickets created in `[from, to)` counted by matter class and district (社情民意).
    pub async fn hotspots(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<crate::hotspots::Cell>> {
        crate::hotspots::count(&self.pool, from, to).await
    }

    /// The pool, for the read-only counts of [`crate::hotspots`].
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Every step taken in `[from, to]`, oldest first (FixMyStreet `servicerequestupdates`).
    pub async fn updates(&self, q: &UpdatesQuery) -> anyhow::Result<Vec<TicketUpdate>> {
        let limit = i64::from(q.limit.unwrap_or(MAX_LIST).min(MAX_LIST));
        let rows = sqlx::query(
            "SELECT h.ticket_no, h.seq, h.at, h.actor, h.step, h.action, h.from_status, h.to_status \
             FROM tickets.history h WHERE h.at BETWEEN $1 AND $2 \
             ORDER BY h.at, h.ticket_no, h.seq LIMIT $3",
        )
        .bind(q.from)
        .bind(q.to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let no: i64 = r.try_get("ticket_no")?;
                let entry = row_to_entry(r)?;
                Ok(TicketUpdate {
                    ticket_no: TicketNo::parse(&format!("{no:016}"))?,
                    status_after: entry.to,
                    entry,
                })
            })
            .collect()
    }

    /// The highest sequence of the day's ticket numbers (0 when none): ticket numbers are
    /// `YYMMDD` + 9-digit sequence + check digit.
    pub async fn max_sequence(&self, yymmdd: u32) -> anyhow::Result<u64> {
        let low = i64::from(yymmdd) * 10_000_000_000;
        let high = low + 9_999_999_999;
        let max: Option<i64> = sqlx::query_scalar(
            "SELECT max(ticket_no) FROM tickets.ticket WHERE ticket_no BETWEEN $1 AND $2",
        )
        .bind(low)
        .bind(high)
        .fetch_one(&self.pool)
        .await?;
        Ok(max.map(|n| ((n / 10) % 1_000_000_000) as u64).unwrap_or(0))
    }

    /// Created tickets per day, for the HTTP summary.
    pub async fn count_since(&self, since: DateTime<Utc>) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM tickets.ticket WHERE created_at >= $1")
                .bind(since)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// The ledger's list ($1 numbers, $2 statuses, $3 matters, $4 a handling department, $5 a
/// phone, $6 and $7 the creation period, $8 the limit), newest first.
///
/// `inbox`: a department's tickets in open statuses only (its inbox in the console and the
/// gateway). The open statuses' predicate is then written out, which lets the planner read
/// `ticket_open_handlers` (the handlers of open tickets) alone; the statuses asked for are
/// checked on its rows as an expression no index serves (`status || ''`). Written as a plain
/// `status = ANY($2)`, the planner ANDed the bitmap of every open ticket of every department to
/// the department's few (100,000 tickets stored: 20 ms of the inbox's ~30, docs/performance.md
/// "The console's pages", 12-05; test: tests/list_plan.rs).
pub fn list_sql(inbox: bool) -> String {
    let statuses = if inbox {
        format!(
            "{} AND (status || '') = ANY($2)",
            crate::duplicates::OPEN_STATUSES
        )
    } else {
        "(cardinality($2::text[]) = 0 OR status = ANY($2))".to_owned()
    };
    format!(
        "SELECT {COLUMNS} FROM tickets.ticket WHERE \
         (cardinality($1::bigint[]) = 0 OR ticket_no = ANY($1)) AND {statuses} AND \
         ($3::text[] IS NULL OR service_code = ANY($3)) AND \
         ($4::text IS NULL OR handlers @> ARRAY[$4::text]) AND \
         ($5::text IS NULL OR citizen_phone = $5) AND \
         ($6::timestamptz IS NULL OR created_at >= $6) AND \
         ($7::timestamptz IS NULL OR created_at <= $7) \
         ORDER BY created_at DESC LIMIT $8"
    )
}
