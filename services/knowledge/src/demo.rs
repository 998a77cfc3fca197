//! The demo knowledge base (`--demo`): the medical-insurance mind map shaped like the seed's
//! example and demo answers for the catalogue's matters, from `deploy/seed/knowledge/`. Loaded
//! through the same governance path as any import (written, submitted, published by the centre),
//! once: items that already exist are left as they are.

use std::time::Duration;

use anyhow::Context as _;

use crate::formats::{self, Format};
use crate::governance::Editor;
use crate::service::Knowledge;

pub const MEDICAL_INSURANCE_MM: &[u8] =
    include_bytes!("../../../deploy/seed/knowledge/medical-insurance.mm");
pub const CATALOGUE_ANSWERS_CSV: &[u8] =
    include_bytes!("../../../deploy/seed/knowledge/catalogue-answers.csv");

/// Every demo item, parsed.
pub fn items() -> anyhow::Result<Vec<crate::model::Item>> {
    let mut items =
        formats::import(Format::FreeMind, MEDICAL_INSURANCE_MM).context("medical-insurance.mm")?;
    items.extend(
        formats::import(Format::Csv, CATALOGUE_ANSWERS_CSV).context("catalogue-answers.csv")?,
    );
    Ok(items)
}

/// Session advisory lock taken while loading, so that replicas starting together load once.
const DEMO_LOCK: i64 = 0x6b6e_6f77_6465_6d6f; // "knowdemo"

/// Loads what is missing and publishes it; returns how many items were published (0 when
/// another replica is loading them). Waits (up to a minute) for the dispatch catalogue, which
/// publishing checks every matter code against.
pub async fn load(k: &Knowledge) -> anyhow::Result<usize> {
    let mut conn = k
        .store
        .pool
        .acquire()
        .await
        .context("demo lock connection")?;
    let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(DEMO_LOCK)
        .fetch_one(&mut *conn)
        .await
        .context("demo lock")?;
    if !mine {
        return Ok(0);
    }
    let result = load_missing(k).await;
    // A session lock outlives the checkout: release it before the connection goes back.
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(DEMO_LOCK)
        .execute(&mut *conn)
        .await
        .context("demo unlock")?;
    result
}

async fn load_missing(k: &Knowledge) -> anyhow::Result<usize> {
    let centre = Editor::Centre(k.centre.clone());
    let mut missing = Vec::new();
    for item in items()? {
        if k.store
            .version(&item.code, None)
            .await
            .context("reading the knowledge store")?
            .is_none()
        {
            missing.push(item);
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    let mut known = None;
    for _ in 0..30 {
        match k.catalogue_codes().await {
            Ok(codes) if !codes.is_empty() => {
                known = Some(codes);
                break;
            }
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
    let known = known.context("the dispatch catalogue did not answer")?;
    k.store
        .write_drafts(&centre, &missing, true)
        .await
        .context("writing the demo drafts")?;
    let mut published = 0;
    for item in &missing {
        match k
            .store
            .publish(&centre, &item.code, Some("demo knowledge"), |m| {
                known.contains(m)
            })
            .await
        {
            Ok(_) => published += 1,
            Err(e) => tracing::warn!(item = %item.code, error = %e, "demo item not published"),
        }
    }
    Ok(published)
}
