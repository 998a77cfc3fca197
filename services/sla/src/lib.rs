//! # hotline-sla: SLA supervision (时限监督)
//!
//! Departments are held to statutory time limits (限时办理) counted in working days on China's
//! calendar (holidays and 调休 make-up workdays). This service keeps one durable clock per stage
//! of each ticket, warns, marks overdue, orders supervision (督办), escalates, decides extensions
//! with the centre, and reports timeliness.
//!
//! ```text
//!  ledger ──tickets.events.>──▶ consumer (durable "sla") ──▶ sla.clock (Postgres, schema sla)
//!                                                                 │ next_fire_at
//!  firing loop (every replica, FOR UPDATE SKIP LOCKED) ◀──────────┘
//!     ├─▶ sla.outbox ──relay──▶ <ns>.sla.events.<kind> (stream <NS>_SLA)
//!     └─▶ sla.command ──sender──▶ ledger: Supervise (督办) ──▶ gateway ──▶ department
//!  gateway ──<ns>.sla.extensions.request──▶ extension responder ──▶ ledger: RequestExtension
//!  centre  ──POST /v1/extensions/{no}/decision──▶ ledger: DecideExtension ──event──▶ consumer
//! ```
//!
//! - [`calendar`]: China's working-day calendar (shared crate `hotline-calendar`).
//! - [`policy`]: the limits per request type × urgency × stage, extension cap, warning share and
//!   the ladder's periods (`defaults.toml`, city overrides in the same shape).
//! - [`ladder`]: the pure clock arithmetic: next step, pause/resume, extensions, escalation.
//! - [`store`]: durable clocks: [`store::schedule_batch`], [`store::fire_due`], the firing loop.
//! - [`consumer`]: ticket events → clocks (idempotent by history `seq`).
//! - [`extension`]: the extension responder and the centre's decision.
//! - supervision orders reach the ledger from `sla.command` through
//!   `hotline_bus::command_outbox` (as the survey's commands do).
//! - [`figures`]: on-time rates, overdue counts and ages, the periodic report (通报).
//! - [`http`]: the JSON API (port 8086); [`metrics`]: Prometheus gauges and counters.
//! - [`run`]: wires it all; [`print_calendar`]: what `hotline calendar YEAR` prints.
#![forbid(unsafe_code)]

/// The calendar lives in a shared crate: the knowledge service's 5-working-day rule uses it too.
pub use hotline_calendar as calendar;
pub mod consumer;
pub mod error;
pub mod extension;
pub mod figures;
pub mod http;
pub mod ladder;
pub mod metrics;
pub mod policy;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hotline_bus::consumer::ConsumerSpec;
use hotline_bus::rpc::RemoteError;
use hotline_config::Settings;
use hotline_domain::contract::{CommandAccepted, ExtensionRequest};
use hotline_runtime::Service;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use calendar::{CalendarError, DayKind, WorkCalendar, WorkingHours};
pub use error::SlaError;
pub use policy::{Limit, Policy, PolicyError, Stage, Urgency};
pub use store::{Engine, Fired, NewClock, SCHEMA, fire_due, run_firing_loop, schedule_batch};

/// How often each replica recomputes the Prometheus gauges.
const GAUGE_INTERVAL: Duration = Duration::from_secs(30);

/// What `hotline calendar YEAR` prints: the year's national exceptions, one per line, the ISO
/// date then `holiday` (a weekday off) or `workday` (a weekend day worked). Empty for a year
/// without a notice in the table (see [`WorkCalendar::notice`] to say so); for a city's calendar
/// use [`WorkCalendar::format_exceptions`].
pub fn print_calendar(year: i32) -> String {
    WorkCalendar::china().format_exceptions(year)
}

/// Creates the schema and runs the migrations (idempotent; safe with several replicas).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations"), SCHEMA).await
}

/// The policy in force: the defaults with `settings.sla.policy_file` applied. A bad file is an
/// error naming it; nothing of it is applied.
pub fn load_policy(settings: &Settings) -> anyhow::Result<Policy> {
    let policy = Policy::default();
    match &settings.sla.policy_file {
        None => Ok(policy),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the SLA policy file {path}"))?;
            policy
                .apply_toml(&text)
                .with_context(|| format!("SLA policy file {path}"))
        }
    }
}

/// The calendar in force: China's with `settings.sla.calendar_file` applied (all or nothing).
pub fn load_calendar(settings: &Settings) -> anyhow::Result<WorkCalendar> {
    let mut calendar = WorkCalendar::china();
    if let Some(path) = &settings.sla.calendar_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the SLA calendar file {path}"))?;
        calendar
            .apply_toml(&text)
            .with_context(|| format!("SLA calendar file {path}"))?;
    }
    Ok(calendar)
}

/// Runs the SLA service on `listen.host:sla.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Configuration first: a bad policy or calendar stops the service before any port is bound.
    let policy = load_policy(&settings)?;
    let calendar = load_calendar(&settings)?;
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.sla.port).await?;
    run_with_listener(settings, policy, calendar, listener, shutdown).await
}

/// [`run`] with the policy, calendar and HTTP listener given (tests bind port 0 and shorten the
/// ladder).
pub async fn run_with_listener(
    settings: Settings,
    policy: Policy,
    calendar: WorkCalendar,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut service = Service::start("sla", &settings, shutdown).await?;
    // Every task stops on the service's token: at shutdown, or when another task fails.
    let shutdown = service.stop_token();
    let bus = service.bus().clone();
    let pool = service
        .postgres(&settings, sqlx::migrate!("./migrations"), SCHEMA)
        .await?;
    let engine = Arc::new(Engine::new(
        policy,
        calendar,
        service.directory(&settings).await?,
        bus.subjects.clone(),
    ));

    {
        let spec = ConsumerSpec::new(
            bus.subjects.tickets_stream(),
            consumer::CONSUMER,
            vec![bus.subjects.ticket_events_all()],
        );
        let group = consumer::group(engine.clone(), pool.clone());
        service.spawn(
            "consumer",
            hotline_bus::consumer::run(
                bus.clone(),
                spec,
                |m| hotline_bus::envelope::ticket_key(&m.payload),
                move |m| {
                    let group = group.clone();
                    async move { consumer::handle(&group, &m).await }
                },
                shutdown.clone(),
            ),
        );
    }
    service.spawn(
        "firing-loop",
        store::run_firing_loop(
            engine.clone(),
            pool.clone(),
            i64::from(settings.sla.fire_batch),
            Duration::from_millis(settings.sla.poll_interval_ms.max(1)),
            shutdown.clone(),
        ),
    );
    service.spawn(
        "commands",
        hotline_bus::command_outbox::CommandOutbox {
            pool: pool.clone(),
            bus: bus.clone(),
            schema: SCHEMA,
            caller: hotline_bus::Service::Sla,
            on_sent: |sent| metrics::COMMANDS.with_label_values(&[sent.as_str()]).inc(),
        }
        .run(shutdown.clone()),
    );
    service.outbox_relay(&settings, pool.clone(), SCHEMA);
    service.respond(
        "extension-responder",
        bus.subjects.sla_extension_request(),
        64,
        (engine.clone(), pool.clone(), bus.clone()),
        |(engine, pool, bus), req: ExtensionRequest| async move {
            extension::request(&engine, &pool, &bus, req)
                .await
                .map_err(RemoteError::from) as Result<CommandAccepted, RemoteError>
        },
    );
    {
        let (pool, stop) = (pool.clone(), shutdown.clone());
        service.spawn("gauges", async move {
            loop {
                if let Err(e) = metrics::refresh(&pool).await {
                    tracing::warn!(error = %format!("{e:#}"), "SLA gauges not refreshed");
                }
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(GAUGE_INTERVAL) => {}
                }
            }
        });
    }
    let app = http::router(http::AppState {
        engine,
        pool,
        bus: bus.clone(),
        verifier: hotline_auth::Verifier::from_settings(&settings)?,
    });
    service.serve_http("http", listener, app);
    service.run().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_calendar_2026() {
        let text = print_calendar(2026);
        assert_eq!(text.lines().count(), 25);
        assert_eq!(text.lines().next(), Some("2026-01-01 holiday"));
        assert!(text.contains("\n2026-02-14 workday\n"));
        assert_eq!(print_calendar(2027), "");
    }
}
