//! The firing loop: surveys that came due become invitations (a link on the citizen's channel,
//! or a callback task in the agents' work list); links left unanswered are sent again after
//! the back-off; after the last, the citizen counts as unreachable.
//!
//! Every replica runs it: rows are taken `FOR UPDATE SKIP LOCKED`, so two replicas never fire
//! the same survey, and the notices are published (and acknowledged by JetStream) before the
//! transaction commits. A crash between the two republishes the same `Nats-Msg-Id`
//! (`survey:<id>:<attempt>`), which the stream drops inside its duplicate window and the
//! sender's `notify.sent` claim drops after it: at least once, never twice.

use std::time::Duration;

use async_nats::HeaderMap;
use chrono::Utc;
use hotline_bus::{Bus, Envelope};
use hotline_domain::contract::{Notice, NoticeKind};
use sqlx::{PgPool, Row as _};
use tokio_util::sync::CancellationToken;

use crate::error::SurveyError;
use crate::link::{Link, Signer};
use crate::policy::{Method, Policy};
use crate::store::{self, ticket_from_key};

/// What the loop needs.
#[derive(Clone)]
pub struct Firing {
    pub pool: PgPool,
    pub bus: Bus,
    pub policy: Policy,
    pub signer: Signer,
    /// `<public_url>/s/`.
    pub link_base: String,
    pub batch: i64,
}

/// Fires what is due now; returns how many surveys were handled.
pub async fn fire_due(f: &Firing) -> Result<usize, SurveyError> {
    let mut tx = f.pool.begin().await?;
    let rows = sqlx::query(
        "SELECT id, ticket_no, kind, method, address, attempts, state FROM survey.survey \
         WHERE state IN ('scheduled', 'invited') AND next_attempt_at <= now() \
         ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(f.batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let mut publishes = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let ticket_no = ticket_from_key(row.try_get("ticket_no")?)?;
        let method = Method::parse(&row.try_get::<String, _>("method")?).unwrap_or(Method::None);
        let attempts = u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0);
        let address: Option<String> = row.try_get("address")?;
        let kind: String = row.try_get("kind")?;
        match (method, method.notify_channel(), address) {
            // A callback task: on the list now (again after a call that did not reach them).
            (Method::Phone, _, _) => {
                sqlx::query(
                    "UPDATE survey.survey SET state = 'invited', next_attempt_at = NULL \
                     WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                crate::metrics::INVITATIONS
                    .with_label_values(&["phone"])
                    .inc();
            }
            (_, Some(channel), Some(address)) if attempts < f.policy.max_attempts => {
                let attempt = attempts + 1;
                let nonce = Signer::nonce();
                let expires = now + f.policy.link_valid;
                let token = f.signer.token(&Link {
                    survey_id: id,
                    expires,
                    nonce: nonce.clone(),
                });
                let url = format!("{}{token}", f.link_base);
                let text = if kind == "on_the_spot" {
                    format!("您咨询的问题（工单 {ticket_no}）已答复，请告诉我们是否解决：{url}")
                } else {
                    format!("您的工单 {ticket_no} 已办结，请对办理结果作出评价：{url}")
                };
                let notice = Notice {
                    id: format!("survey:{id}:{attempt}"),
                    ticket_no,
                    kind: NoticeKind::SurveyInvitation,
                    channel,
                    address,
                    text,
                    link: Some(url),
                };
                sqlx::query(
                    "UPDATE survey.survey SET state = 'invited', attempts = $2, \
                     next_attempt_at = $3, link_nonce = $4, link_expires_at = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
                .bind(now + f.policy.backoff(attempt))
                .bind(&nonce)
                .bind(expires)
                .execute(&mut *tx)
                .await?;
                publishes.push(notice);
            }
            // No answer after the last invitation, or no way to ask at all.
            _ => {
                store::unreachable(&mut tx, id, ticket_no, attempts).await?;
            }
        }
    }
    let sent = futures::future::join_all(publishes.iter().map(|n| publish(&f.bus, n))).await;
    for (notice, result) in publishes.iter().zip(sent) {
        result?;
        crate::metrics::INVITATIONS
            .with_label_values(&[notice.channel.as_str()])
            .inc();
    }
    // When the first invitation was out (acknowledged by the stream) or the task listed: the
    // firing's lateness is this minus `due_at`.
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    sqlx::query(
        "UPDATE survey.survey SET fired_at = clock_timestamp() WHERE id = ANY($1) AND fired_at IS NULL",
    )
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

async fn publish(bus: &Bus, notice: &Notice) -> Result<(), SurveyError> {
    let payload = Envelope::new(uuid::Uuid::now_v7(), "notice", notice)
        .to_bytes()
        .map_err(|e| SurveyError::Other(anyhow::anyhow!("encoding a notice: {e}")))?;
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
    .map_err(|e| SurveyError::Other(anyhow::anyhow!(e)))?;
    Ok(())
}

/// When the earliest pending survey is next due (the partial index `survey_next` answers it).
async fn earliest(pool: &PgPool) -> Result<Option<chrono::DateTime<Utc>>, SurveyError> {
    Ok(sqlx::query_scalar(
        "SELECT next_attempt_at FROM survey.survey WHERE state IN ('scheduled', 'invited') \
         AND next_attempt_at IS NOT NULL ORDER BY next_attempt_at LIMIT 1",
    )
    .fetch_optional(pool)
    .await?)
}

/// Fires due surveys until `shutdown`: at once again after a full batch, else it sleeps until the
/// earliest next due time, at most `poll` (other replicas may schedule earlier ones meanwhile).
pub async fn run(f: Firing, poll: Duration, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        let wait = match fire_due(&f).await {
            Ok(n) if n as i64 >= f.batch => Duration::ZERO,
            Ok(_) => match earliest(&f.pool).await {
                Ok(Some(at)) => (at - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .clamp(Duration::from_millis(1), poll),
                Ok(None) => poll,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "reading the next due survey failed");
                    poll
                }
            },
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "firing surveys failed; retrying");
                poll.max(Duration::from_secs(1))
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
