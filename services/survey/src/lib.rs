//! # hotline-survey: the callback survey (回访)
//!
//! Every completed ticket (办结) and every answer on the spot (直接答复) is called back: a link
//! on the citizen's own channel, or a phone callback in the agents' work list. The answer rates
//! the case (承办, 一事一评) and the call (话务, 一次一评) apart; unsatisfied reopens the ticket
//! (重办) to the same department with a supervision order, until a supervisor rules.
//!
//! ```text
//!  ledger ──tickets.events.>──▶ consumer (durable "survey") ──▶ survey.survey (due on the calendar)
//!  firing loop (every replica, FOR UPDATE SKIP LOCKED) ──▶ <ns>.notify.<channel> (a signed link)
//!                                                     └─▶ /v1/calls (phone callback tasks)
//!  citizen ──/s/{token}──▶ answer ─┬─▶ survey.command ──▶ ledger: Survey, then Close | Reopen
//!  agent ──/v1/surveys/{id}/answer─┘                 └─▶ survey.review (past the reopen limit)
//!  supervisor ──/v1/reviews/{no}/decision──▶ ledger: Reopen | Conclude (解释办结, 无理重复诉求)
//! ```
//!
//! - [`policy`]: when a callback is due (working calendar), how (the citizen's channel), retries.
//! - [`link`]: signed, expiring, single-use survey links.
//! - [`answer`]: the questions, the keypresses, what an answer leads to.
//! - [`store`]: the schema's transactions; [`consumer`]: ticket events → surveys.
//! - [`firing`]: due surveys → invitations, retries, unreachable.
//! - [`page`]: the citizens' page; [`http`]: the staff API; [`figures`]: rates and CSV.
//! - [`metrics`]: Prometheus counters and gauges.
//! - Commands reach the ledger through `hotline_bus::command_outbox`.
#![forbid(unsafe_code)]

pub mod answer;
pub mod consumer;
pub mod error;
pub mod figures;
pub mod firing;
pub mod http;
pub mod link;
pub mod metrics;
pub mod page;
pub mod policy;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use hotline_bus::command_outbox::{CommandOutbox, Sent};
use hotline_bus::consumer::ConsumerSpec;
use hotline_calendar::WorkCalendar;
use hotline_config::Settings;
use hotline_runtime::Service;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::SurveyError;
pub use store::SCHEMA;

/// The demo's link secret (README); production sets `survey.link_secret`.
pub const DEMO_LINK_SECRET: &str = "demo-survey-link-secret";

/// How often each replica recomputes the gauges.
const GAUGE_INTERVAL: Duration = Duration::from_secs(30);

/// Creates the schema and runs the migrations (idempotent; safe with several replicas).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    hotline_bus::db::migrate(pool, sqlx::migrate!("./migrations"), SCHEMA).await
}

/// The link signer: the configured secret, or the demo's in a demo run. None is an error: an
/// unsigned link would let anyone answer for anyone.
pub fn signer(settings: &Settings) -> anyhow::Result<link::Signer> {
    match (&settings.survey.link_secret, settings.demo) {
        (Some(secret), _) => Ok(link::Signer::new(secret.expose().as_bytes())),
        (None, true) => Ok(link::Signer::new(DEMO_LINK_SECRET.as_bytes())),
        (None, false) => bail!("survey.link_secret is not set (or run with --demo)"),
    }
}

/// The calendar the SLA uses: China's with `sla.calendar_file` applied.
fn calendar(settings: &Settings) -> anyhow::Result<WorkCalendar> {
    let mut calendar = WorkCalendar::china();
    if let Some(path) = &settings.sla.calendar_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the calendar file {path}: {e}"))?;
        calendar
            .apply_toml(&text)
            .map_err(|e| anyhow::anyhow!("calendar file {path}: {e}"))?;
    }
    Ok(calendar)
}

/// Runs the survey service on `listen.host:survey.port` until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Configuration first: no port is bound with a missing secret or a bad calendar.
    signer(&settings)?;
    calendar(&settings)?;
    let listener = hotline_telemetry::bind(&settings.listen.host, settings.survey.port).await?;
    run_with_listener(settings, listener, shutdown).await
}

/// [`run`] on a listener the caller bound (tests bind port 0).
pub async fn run_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let signer = signer(&settings)?;
    let calendar = calendar(&settings)?;
    let policy = policy::Policy::from_settings(&settings);
    let mut service = Service::start("survey", &settings, shutdown).await?;
    let stop = service.stop_token();
    let bus = service.bus().clone();
    let pool = service
        .postgres(&settings, sqlx::migrate!("./migrations"), SCHEMA)
        .await?;
    {
        let cx = Arc::new(consumer::Context {
            pool: pool.clone(),
            policy: policy.clone(),
            calendar,
        });
        let spec = ConsumerSpec::new(
            bus.subjects.tickets_stream(),
            consumer::CONSUMER,
            consumer::STEPS
                .iter()
                .map(|step| bus.subjects.ticket_event(step))
                .collect(),
        );
        service.spawn(
            "consumer",
            hotline_bus::consumer::run(
                bus.clone(),
                spec,
                |m| hotline_bus::envelope::ticket_key(&m.payload),
                move |m| {
                    let cx = cx.clone();
                    async move { consumer::handle(cx, &m).await }
                },
                stop.clone(),
            ),
        );
    }
    service.spawn(
        "firing-loop",
        firing::run(
            firing::Firing {
                pool: pool.clone(),
                bus: bus.clone(),
                policy: policy.clone(),
                signer: signer.clone(),
                link_base: format!("{}/s/", settings.survey.public_url.trim_end_matches('/')),
                batch: i64::from(settings.survey.fire_batch),
            },
            Duration::from_millis(settings.survey.poll_interval_ms),
            stop.clone(),
        ),
    );
    service.spawn(
        "commands",
        CommandOutbox {
            pool: pool.clone(),
            bus: bus.clone(),
            schema: SCHEMA,
            caller: hotline_bus::Service::Survey,
            on_sent: |sent: Sent| metrics::COMMANDS.with_label_values(&[sent.as_str()]).inc(),
        }
        .run(stop.clone()),
    );
    {
        let (pool, stop, days) = (pool.clone(), stop.clone(), policy.first_contact_days);
        service.spawn("gauges", async move {
            loop {
                if let Err(e) = metrics::refresh(&pool, days).await {
                    tracing::warn!(error = %format!("{e:#}"), "survey gauges not refreshed");
                }
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(GAUGE_INTERVAL) => {}
                }
            }
        });
    }
    let app = http::router(http::AppState {
        pool,
        policy,
        signer,
        verifier: hotline_auth::Verifier::from_settings(&settings)?,
    });
    service.serve_http("http", listener, app);
    service.run().await
}
