//! `hotline`: one binary for every service.
//!
//! `hotline all` runs the whole platform in one process (the "monolithic" mode); `hotline
//! tickets`, `hotline intake`, ... run one service each (one Deployment per service on
//! Kubernetes, same image). `hotline setup` prepares streams, schemas and demo data, and loads
//! a city's department directory and catalogue from files (`--directory`, `--catalogue`);
//! `hotline bench` measures the platform against raw baselines; `hotline nats-config` writes a
//! nats-server configuration with one NATS user per service.
#![forbid(unsafe_code)]

mod bench;
mod dlq;
mod nats_config;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hotline_config::Settings;
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's malloc: the services allocate many small, short-lived buffers
/// per ticket event on several threads, where glibc's free lists and arena locks showed as
/// ~15% of the process's CPU (docs/performance.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "12345 / 311 public service hotline"
)]
struct Cli {
    /// A TOML file layered over the defaults (then HOTLINE__SECTION__KEY variables).
    #[arg(long, global = true, env = "HOTLINE_CONFIG")]
    config: Option<PathBuf>,
    /// The local demo: demo Open311 key, demo department credentials, demo catalogue.
    #[arg(long, global = true)]
    demo: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create streams, run migrations; with --demo also load the demo catalogue; load the
    /// city's department directory and dispatch catalogue from CSV files (docs/directory.md).
    Setup(SetupArgs),
    /// Run every service in this process.
    All,
    /// The ticket ledger.
    Tickets,
    /// Channel intake (Open311 web adapter).
    Intake,
    /// The WeChat official-account channel (server URL /wechat).
    Wechat,
    /// The phone channel: CTI events from the call platform, agents' calls, figures.
    Phone,
    /// The email channel: an SMTP server for mail to the hotline's address, auto-replies.
    Email,
    /// The mobile app's API: citizen sign-in by SMS code, tickets with photos and GPS.
    App,
    /// The SMS channel: the SMS gateway's callbacks (POST /sms/inbound), receipts by SMS.
    Sms,
    /// Notices to citizens (reply, progress, survey invitation) on the channel they used.
    Notify,
    /// Routing tickets to departments; with a subcommand, smart dispatch's classifier offline
    /// (no servers, no configuration).
    Dispatch(DispatchArgs),
    /// Where departments connect (gRPC and REST).
    Gateway,
    /// The knowledge base: governed decision trees, Chinese search, answer suggestions.
    Knowledge,
    /// SLA supervision: deadlines on the working-day calendar, warnings, 督办, extensions.
    Sla,
    /// The callback survey (回访): links on the citizen's channel, callback tasks, reopens,
    /// supervisors' rulings, satisfaction figures.
    Survey,
    /// Sign-in: the platform's own small OpenID Connect issuer (accounts, tokens, JWKS).
    Identity,
    /// The web console: the department portal and the dispatcher's screens in the browser,
    /// signed in at the issuer, working through the services' APIs as the person.
    Console,
    /// Accounts and signing keys of the identity service: add, list, disable, enable, unlock,
    /// set-password, rotate-key.
    #[command(subcommand)]
    Users(hotline_identity::UsersCommand),
    /// Print a year's exceptions to the working week (China's statutory holidays and make-up
    /// working days): `YYYY-MM-DD holiday|workday`, one per line.
    Calendar { year: i32 },
    /// Benchmarks against raw baselines in the same run: tickets (Open311 POST to the department
    /// stream) or knowledge (search over 100,000 leaves).
    Bench(bench::Args),
    /// Write a nats-server configuration with one NATS user (nkey) per service and its
    /// permissions, plus each service's credentials (docs/operations.md, "NATS users").
    NatsConfig(nats_config::Args),
    /// Dead letters: list them, read one, replay one to the consumer that gave up on it.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
}

/// The city's own reference data for `hotline setup`; either file alone works. Both are read
/// and checked whole before anything is written, so a bad file changes nothing.
#[derive(clap::Args, Default)]
struct SetupArgs {
    /// The department directory (code,name,name_en,level,parent), stored in NATS for every
    /// service; they pick it up when (re)started.
    #[arg(long, value_name = "FILE")]
    directory: Option<PathBuf>,
    /// The dispatch catalogue (code,name,group,subgroup,scope,department,co_handlers,
    /// request_type,keywords), checked against the directory (this run's, else the stored
    /// one) and applied as audited, versioned changes by "setup".
    #[arg(long, value_name = "FILE")]
    catalogue: Option<PathBuf>,
}

/// `hotline dispatch` alone runs the service; `classify`, `eval`, `train`, `assist` and
/// `assist-eval` run the classifier and the seat assistant offline; `corrections` exports the
/// platform's own labels.
#[derive(clap::Args)]
struct DispatchArgs {
    #[command(subcommand)]
    command: Option<DispatchCommand>,
}

#[derive(clap::Subcommand)]
enum DispatchCommand {
    #[command(flatten)]
    Offline(hotline_dispatch::classifier::cli::ClassifierCommand),
    /// Write the platform's own labels (manual dispatches, returns the centre ruled on) as
    /// JSON lines for `hotline dispatch train --extra FILE` (needs the database).
    Corrections {
        /// Where to write them [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The classifier needs no servers and no configuration either.
    if let Command::Dispatch(DispatchArgs {
        command: Some(DispatchCommand::Offline(command)),
    }) = &cli.command
    {
        return hotline_dispatch::classifier::cli::run(command);
    }
    // Needs no servers and no configuration.
    if let Command::Calendar { year } = cli.command {
        print!("{}", hotline_sla::print_calendar(year));
        if hotline_sla::WorkCalendar::notice(year).is_none() {
            eprintln!(
                "no State Council holiday notice for {year} in the calendar: plain weekends apply"
            );
        }
        return Ok(());
    }
    let mut settings = Settings::load(cli.config.as_deref()).context("loading configuration")?;
    if cli.demo {
        settings.demo = true;
    }
    // Writes files only: no servers, no runtime.
    if let Command::NatsConfig(args) = &cli.command {
        return nats_config::run(&settings, args);
    }
    let service = match &cli.command {
        Command::Setup(_) => "hotline-setup",
        Command::All => "hotline",
        Command::Tickets => "hotline-tickets",
        Command::Intake => "hotline-intake",
        Command::Wechat => "hotline-wechat",
        Command::Phone => "hotline-phone",
        Command::Email => "hotline-email",
        Command::App => "hotline-app",
        Command::Sms => "hotline-sms",
        Command::Notify => "hotline-notify",
        Command::Dispatch(_) => "hotline-dispatch",
        Command::Gateway => "hotline-gateway",
        Command::Knowledge => "hotline-knowledge",
        Command::Sla => "hotline-sla",
        Command::Survey => "hotline-survey",
        Command::Identity => "hotline-identity",
        Command::Console => "hotline-console",
        Command::Users(_) => "hotline-users",
        Command::Bench(_) => "hotline-bench",
        Command::Calendar { .. } => "hotline-calendar",
        Command::NatsConfig(_) => "hotline-nats-config",
        Command::Dlq(_) => "hotline-dlq",
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let mut telemetry = hotline_telemetry::init(
            service,
            &settings.telemetry.log_filter,
            settings.telemetry.log_format == "json",
            settings.telemetry.otlp_endpoint.as_deref(),
        )?;
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        let result = match cli.command {
            Command::Setup(files) => setup(&settings, &files).await,
            Command::All => all(settings, shutdown).await,
            Command::Tickets => hotline_tickets::run(settings, shutdown).await,
            Command::Intake => hotline_intake::run(settings, shutdown).await,
            Command::Wechat => hotline_intake::wechat::run(settings, shutdown).await,
            Command::Phone => hotline_intake::phone::run(settings, shutdown).await,
            Command::Email => hotline_intake::email::run(settings, shutdown).await,
            Command::App => hotline_intake::app::run(settings, shutdown).await,
            Command::Sms => hotline_intake::sms::run(settings, shutdown).await,
            Command::Notify => hotline_intake::notify::run(settings, shutdown).await,
            Command::Dispatch(DispatchArgs {
                command: Some(DispatchCommand::Corrections { out }),
            }) => corrections(&settings, out.as_deref()).await,
            Command::Dispatch(_) => hotline_dispatch::run(settings, shutdown).await,
            Command::Gateway => hotline_gateway::run(settings, shutdown).await,
            Command::Knowledge => hotline_knowledge::run(settings, shutdown).await,
            Command::Sla => hotline_sla::run(settings, shutdown).await,
            Command::Survey => hotline_survey::run(settings, shutdown).await,
            Command::Identity => hotline_identity::run(settings, shutdown).await,
            Command::Console => hotline_console::run(settings, shutdown).await,
            Command::Users(command) => hotline_identity::cli::run(&settings, command).await,
            Command::Bench(args) => bench::run(settings, args).await,
            Command::Dlq(command) => dlq::run(&settings, &command).await,
            Command::Calendar { .. } | Command::NatsConfig(_) => Ok(()),
        };
        telemetry.shutdown();
        result
    })
}

/// Cancels `shutdown` on SIGINT or SIGTERM (Kubernetes sends SIGTERM, then waits).
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: draining in-flight work");
    shutdown.cancel();
}

/// Streams, schemas, (with --demo) the demo catalogue, and the city's directory and catalogue
/// files when given. Idempotent: the same files again change nothing.
async fn setup(settings: &Settings, files: &SetupArgs) -> anyhow::Result<()> {
    // A bad directory file stops setup before it connects anywhere.
    let directory_file = match &files.directory {
        Some(path) => Some((path, read_directory(path)?)),
        None => None,
    };
    // The NATS setup user: the only one that may create and update streams, and the only one
    // that may write the directory.
    let bus = hotline_bus::Bus::connect_with(&settings.nats, &settings.namespace, "setup").await?;
    hotline_bus::streams::apply(
        &bus,
        hotline_bus::streams::StreamOptions::from_config(&settings.nats),
    )
    .await?;
    // The directory the catalogue must fit: this run's file, else the one the services run on.
    let directory = match &directory_file {
        Some((_, d)) => Some(d.clone()),
        None if files.catalogue.is_some() => Some(
            hotline_bus::directory::load(&bus, settings.demo)
                .await
                .context("the directory the catalogue file is checked against")?,
        ),
        None => None,
    };
    let catalogue_file = match (&files.catalogue, &directory) {
        (Some(path), Some(directory)) => Some((path, read_catalogue(path, directory)?)),
        _ => None,
    };
    let pool = hotline_tickets::connect_db(settings).await?;
    hotline_tickets::migrate(&pool).await?;
    hotline_dispatch::migrate(&pool).await?;
    hotline_knowledge::store::Store::new(pool.clone(), bus.subjects.clone())
        .migrate()
        .await?;
    hotline_sla::migrate(&pool).await?;
    hotline_survey::migrate(&pool).await?;
    hotline_intake::phone::migrate(&pool).await?;
    hotline_intake::email::migrate(&pool).await?;
    hotline_intake::app::migrate(&pool).await?;
    hotline_intake::sms::migrate(&pool).await?;
    hotline_intake::web::migrate(&pool).await?;
    hotline_intake::notify::migrate(&pool).await?;
    // Schema, first signing key, and with --demo the demo accounts.
    hotline_identity::prepare(&pool, settings).await?;
    if settings.demo {
        let added = hotline_dispatch::seed_demo(&pool).await?;
        tracing::info!(added, "demo catalogue loaded");
    }
    // Both files read and checked: now write them.
    if let Some((path, directory)) = &directory_file {
        store_directory(&bus, path, directory).await?;
    } else if settings.demo {
        store_demo_directory(&bus).await?;
    }
    if let Some(directory) = directory
        && (files.directory.is_some() || files.catalogue.is_some())
    {
        let catalogue =
            hotline_dispatch::catalogue::Catalogue::load(pool.clone(), Arc::new(directory)).await?;
        if let Some((path, entries)) = catalogue_file {
            let count = entries.len();
            let report = catalogue
                .load_file_entries(entries, "setup", &format!("loaded from {}", path.display()))
                .await
                .with_context(|| format!("loading catalogue file {}", path.display()))?;
            println!(
                "catalogue from {}: {count} matters: {} added, {} changed, {} unchanged",
                path.display(),
                report.added.len(),
                report.changed.len(),
                report.unchanged
            );
            if !report.not_in_file.is_empty() {
                println!(
                    "  {} matters in the catalogue are not in the file: left as they are",
                    report.not_in_file.len()
                );
            }
        }
        // A new directory may have dropped a department that matters still name.
        for (matter, department) in catalogue.dangling().await {
            eprintln!(
                "warning: matter {matter} names department {department}, which is not in the \
                 directory: tickets on it cannot be dispatched until it is changed"
            );
        }
    }
    tracing::info!(namespace = %settings.namespace, "setup done");
    Ok(())
}

/// The demo loads the demo city's directory like any city's, unless one is stored already (a
/// city's is never replaced by the demo's), so services without `demo` on see it too.
async fn store_demo_directory(bus: &hotline_bus::Bus) -> anyhow::Result<()> {
    if hotline_bus::directory::current(bus).await?.is_some() {
        return Ok(());
    }
    match hotline_bus::directory::store(bus, &hotline_domain::Directory::demo(), "demo").await {
        // Another setup stored one meanwhile: it stays.
        Ok(_) | Err(hotline_bus::directory::StoreError::Concurrent { .. }) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context("storing the demo directory")),
    }
}

/// Reads and checks a directory file; the error names the file and the line.
fn read_directory(path: &Path) -> anyhow::Result<hotline_domain::Directory> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("reading directory file {}", path.display()))?;
    hotline_domain::Directory::from_csv(std::io::BufReader::new(file))
        .map_err(|e| anyhow::anyhow!("directory file {}: {e}", path.display()))
}

/// Reads and checks a catalogue file against `directory`; the error names the file and the line.
fn read_catalogue(
    path: &Path,
    directory: &hotline_domain::Directory,
) -> anyhow::Result<Vec<hotline_dispatch::catalogue::Entry>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("reading catalogue file {}", path.display()))?;
    hotline_dispatch::catalogue::from_csv(std::io::BufReader::new(file), directory)
        .map_err(|e| anyhow::anyhow!("catalogue file {}: {e}", path.display()))
}

async fn store_directory(
    bus: &hotline_bus::Bus,
    path: &Path,
    directory: &hotline_domain::Directory,
) -> anyhow::Result<()> {
    use hotline_bus::directory::Stored;
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let stored = hotline_bus::directory::store(bus, directory, &source)
        .await
        .with_context(|| format!("storing directory file {}", path.display()))?;
    let levels: Vec<String> = directory
        .count_by_level()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(level, n)| format!("{level} {n}"))
        .collect();
    let what = match stored {
        Stored::Written { revision } => {
            format!("stored as revision {revision} (running services pick it up when restarted)")
        }
        Stored::Unchanged { revision } => format!("unchanged (revision {revision})"),
    };
    println!(
        "department directory from {}: {} departments ({}), {what}",
        path.display(),
        directory.len(),
        levels.join(", ")
    );
    Ok(())
}

/// Every service in one process, sharing one shutdown.
async fn all(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    setup(&settings, &SetupArgs::default()).await?;
    // The services live and die together: the first to fail or stop stops the rest, and the
    // process exits non-zero with its error.
    let mut services = hotline_runtime::Supervisor::new("all", &shutdown);
    let stop = services.stop_token();
    // Each service lingers unready on its own failure; the whole need not wait again.
    services.linger_on_failure(std::time::Duration::ZERO);
    services.spawn(
        "tickets",
        hotline_tickets::run(settings.clone(), stop.clone()),
    );
    services.spawn(
        "dispatch",
        hotline_dispatch::run(settings.clone(), stop.clone()),
    );
    services.spawn(
        "gateway",
        hotline_gateway::run(settings.clone(), stop.clone()),
    );
    services.spawn(
        "knowledge",
        hotline_knowledge::run(settings.clone(), stop.clone()),
    );
    services.spawn("sla", hotline_sla::run(settings.clone(), stop.clone()));
    services.spawn(
        "survey",
        hotline_survey::run(settings.clone(), stop.clone()),
    );
    services.spawn(
        "intake",
        hotline_intake::run(settings.clone(), stop.clone()),
    );
    services.spawn(
        "identity",
        hotline_identity::run(settings.clone(), stop.clone()),
    );
    services.spawn(
        "console",
        hotline_console::run(settings.clone(), stop.clone()),
    );
    // WeChat needs an account (the demo has one); without one the rest runs without it.
    if wechat_configured(&settings) {
        services.spawn(
            "wechat",
            hotline_intake::wechat::run(settings.clone(), stop.clone()),
        );
    }
    // The phone channel needs a CTI token (the demo has one), as WeChat needs an account.
    if phone_configured(&settings) {
        services.spawn(
            "phone",
            hotline_intake::phone::run(settings.clone(), stop.clone()),
        );
    }
    // Email needs no credentials: mail to the mailbox is what it takes.
    services.spawn(
        "email",
        hotline_intake::email::run(settings.clone(), stop.clone()),
    );
    // The app API runs without an SMS gateway too; it then answers code requests with 503.
    services.spawn(
        "app",
        hotline_intake::app::run(settings.clone(), stop.clone()),
    );
    // SMS needs a gateway, which the local demo does not have: without one it is not run (and
    // nothing on the platform sends SMS).
    if sms_configured(&settings) {
        services.spawn(
            "sms",
            hotline_intake::sms::run(settings.clone(), stop.clone()),
        );
    }
    // Notices wait in their stream for a channel whose outbound side is not configured.
    services.spawn(
        "notify",
        hotline_intake::notify::run(settings.clone(), stop.clone()),
    );
    print_urls(&settings);
    services.run().await
}

fn phone_configured(s: &Settings) -> bool {
    s.demo || s.phone.cti_token.is_some()
}

fn sms_configured(s: &Settings) -> bool {
    s.sms.provider_url.is_some()
}

fn wechat_configured(s: &Settings) -> bool {
    s.demo || s.wechat.token.is_some()
}

fn print_urls(s: &Settings) {
    let h = if s.listen.host == "0.0.0.0" {
        "127.0.0.1"
    } else {
        s.listen.host.as_str()
    };
    println!();
    let services = 12
        + usize::from(wechat_configured(s))
        + usize::from(phone_configured(s))
        + usize::from(sms_configured(s));
    println!("12345 hotline is up ({services} services in one process)");
    println!(
        "  citizen web page       http://{h}:{}/   progress: /progress",
        s.intake.port
    );
    println!(
        "  Open311 GeoReport v2   http://{h}:{}/open311/v2/discovery.json",
        s.intake.port
    );
    println!(
        "  tickets (agents)       http://{h}:{}/v1/tickets",
        s.tickets.port
    );
    println!(
        "  dispatch (catalogue)   http://{h}:{}/v1/catalogue   manual queue: /v1/manual-queue",
        s.dispatch.port
    );
    println!(
        "  gateway REST           http://{h}:{}/v1/tickets",
        s.gateway.port
    );
    println!(
        "  gateway gRPC           {h}:{} (hotline.gateway.v1.DepartmentGateway, reflection on)",
        s.gateway.grpc_port
    );
    println!(
        "  knowledge              http://{h}:{}/v1/search?q=新生儿医保   suggestions: POST /v1/suggest",
        s.knowledge.port
    );
    println!(
        "  SLA supervision        http://{h}:{}/v1/figures   report: /v1/report   deadlines: /v1/tickets/{{no}}/deadlines",
        s.sla.port
    );
    println!(
        "  callback survey        http://{h}:{}/v1/figures   callbacks: /v1/calls   reviews: /v1/reviews   citizens: /s/{{token}}",
        s.survey.port
    );
    println!(
        "  sign-in (OIDC issuer)  {}/.well-known/openid-configuration",
        s.identity.issuer
    );
    println!(
        "  web console            {}/   department portal: /dept   dispatcher: /dispatch/queue",
        s.console_public_url()
    );
    if wechat_configured(s) {
        println!(
            "  WeChat official acct   http://{h}:{}/wechat",
            s.wechat.port
        );
    }
    if phone_configured(s) {
        println!(
            "  phone (CTI, agents)    http://{h}:{}/cti   calls: /v1/calls/active   figures: /v1/figures",
            s.phone.port
        );
    }
    println!(
        "  email (SMTP)           {h}:{} for {}@{}   health: http://{h}:{}/readyz{}",
        s.email.port,
        s.email.mailbox,
        s.email.domain,
        s.email.http_port,
        match &s.email.relay_host {
            Some(relay) => format!("   auto-replies via {relay}:{}", s.email.relay_port),
            None => "   (no relay: no auto-replies)".to_owned(),
        }
    );
    println!(
        "  mobile app API         http://{h}:{}/v1/   contract: /openapi.json{}",
        s.app.port,
        if sms_configured(s) {
            ""
        } else {
            "   (no SMS gateway: no sign-in codes)"
        }
    );
    if sms_configured(s) {
        println!(
            "  SMS gateway callback   http://{h}:{}/sms/inbound",
            s.sms.port
        );
    } else {
        println!("  SMS                    (no sms.provider_url: no SMS channel, no SMS sent)");
    }
    println!(
        "  notices (notify)       health: http://{h}:{}/readyz (no API: ops routes only)",
        s.notify.port
    );
    println!("  health / metrics       /healthz /readyz /metrics on each HTTP port");
    if s.demo {
        println!("  demo Open311 api_key   demo-open311-key");
        println!(
            "  demo department token  demo-<code in lower case>, e.g. demo-gz-th for Tianhe (GZ-TH)"
        );
        println!(
            "  demo sign-in           agent1 dispatcher1 supervisor1 admin1 th-staff1 hz-staff1 kb-centre1, password demo-<name>"
        );
        println!(
            "  demo WeChat account    token {}, AppID {}, EncodingAESKey {}",
            hotline_intake::wechat::DEMO_TOKEN,
            hotline_intake::wechat::DEMO_APP_ID,
            hotline_intake::wechat::DEMO_AES_KEY
        );
        println!(
            "  demo CTI token         {} (POST /cti/<token> or header X-CTI-Token)",
            hotline_intake::phone::DEMO_CTI_TOKEN
        );
    }
    println!();
}

/// `hotline dispatch corrections`: the labels people gave, for retraining.
async fn corrections(settings: &Settings, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let pool = hotline_bus::db::connect(&settings.database.url, 1).await?;
    let written = match out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            hotline_dispatch::corrections::export(&pool, &mut std::io::BufWriter::new(file)).await?
        }
        None => {
            let stdout = std::io::stdout();
            hotline_dispatch::corrections::export(&pool, &mut stdout.lock()).await?
        }
    };
    eprintln!("{written} labels written; retrain with: hotline dispatch train --extra FILE");
    Ok(())
}
