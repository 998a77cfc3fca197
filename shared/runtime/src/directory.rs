//! The department directory a service runs on, and noticing a newer one.
//!
//! Tickets, sla and dispatch take the directory once at start ([`Service::directory`]): the
//! ledger, the SLA engine and the router hold it by value, so a change applies when a replica
//! restarts. Until then each replica checks the bucket's revision every [`CHECK_EVERY`] and,
//! when a directory other than its own was stored, says so once in the log and sets
//! `hotline_directory_outdated{service}` to 1, so an operator (or an alert) knows a rolling
//! restart is due (docs/directory.md). The same directory stored again (the demo's, by
//! `hotline setup --demo` after a service fell back on it) is no reason to restart.
//!
//! [`Service::directory`]: crate::Service::directory

use std::sync::LazyLock;
use std::time::Duration;

use hotline_bus::Bus;
use hotline_domain::Directory;
use hotline_telemetry::prometheus;
use tokio_util::sync::CancellationToken;

/// How often a replica looks at the directory's revision: one small read, and a restart is
/// a planned step anyway.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

static OUTDATED: LazyLock<prometheus::GaugeVec> = LazyLock::new(|| {
    hotline_telemetry::gauge_vec(
        "hotline_directory_outdated",
        "1 when a newer department directory was stored than this service runs on: restart it",
        &["service"],
    )
});

/// Runs until `stop`: compares the stored directory with `running`, stored as `revision`
/// (None: the demo's, nothing stored when the service started). Only a new revision is read
/// whole.
pub async fn watch(
    bus: Bus,
    service: &'static str,
    running: Directory,
    revision: Option<u64>,
    every: Duration,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let gauge = OUTDATED.with_label_values(&[service]);
    gauge.set(0.0);
    let mut seen = revision;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
        match hotline_bus::directory::revision(&bus).await {
            // A failed look is no reason to stop a service that has its directory.
            Err(e) => tracing::debug!(error = %e, "checking the department directory's revision"),
            // Revisions only grow: another one than the last seen is a newer store.
            Ok(Some(stored)) if Some(stored) != seen => {
                let differs = match hotline_bus::directory::current(&bus).await {
                    Ok(Some(c)) => c.directory != running,
                    // Read again at the next check.
                    Ok(None) | Err(_) => continue,
                };
                seen = Some(stored);
                if differs && gauge.get() == 0.0 {
                    tracing::warn!(
                        running = ?revision,
                        stored,
                        "another department directory was stored: this replica uses the one it \
                         started with until it is restarted"
                    );
                }
                gauge.set(if differs { 1.0 } else { 0.0 });
            }
            Ok(_) => {}
        }
    }
}
