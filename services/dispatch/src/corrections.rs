//! The platform's own training labels (`dispatch.correction`): a ticket's text and the class of
//! the department people chose for it — a manual dispatch from the queue, or a return the
//! centre ruled belonged elsewhere. `hotline dispatch corrections` writes them as the labeled
//! JSON lines `hotline dispatch train --extra FILE` reads.

use std::io::Write;

use anyhow::Context as _;
use sqlx::{PgPool, Row as _};

/// Writes every label (oldest first; a ticket taught twice keeps its latest label) as
/// `{"id","subject","detail","category"}` lines. Returns how many.
pub async fn export(pool: &PgPool, out: &mut impl Write) -> anyhow::Result<usize> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (ticket_no) ticket_no, source, text, category FROM dispatch.correction \
         ORDER BY ticket_no, at DESC",
    )
    .fetch_all(pool)
    .await
    .context("reading dispatch.correction")?;
    for row in &rows {
        let no: i64 = row.try_get("ticket_no")?;
        let source: String = row.try_get("source")?;
        let line = serde_json::json!({
            "id": format!("platform-{source}-{no:016}"),
            "subject": "",
            "detail": row.try_get::<String, _>("text")?,
            "category": row.try_get::<String, _>("category")?,
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(rows.len())
}
