//! Another city on the platform, against the real NATS and Postgres: its department directory
//! goes into the namespace's KV bucket and its catalogue into `dispatch.catalogue` the way
//! `hotline setup --directory FILE --catalogue FILE` puts them there, loading them again
//! changes nothing, a changed row is a new audited version, and a ticket on one of its matters
//! is dispatched to one of its departments by services that were never told about Guangzhou.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hotline_bus::Bus;
use hotline_bus::directory::{self, LoadError, Stored};
use hotline_bus::rpc::{self, CallError};
use hotline_dispatch::catalogue::{self, Catalogue, Scope};
use hotline_domain::contract::{
    CommandAccepted, CreateTicket, GetTicket, Location, TicketCommand, TicketWithHistory,
};
use hotline_domain::{
    Actor, Channel, DeptCode, Directory, RequestType, ServiceCode, Status, TicketNo,
};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/seed/examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dept(code: &str) -> DeptCode {
    DeptCode::parse(code).expect("code")
}

/// The test's own servers, with the demo off: nothing Guangzhou's to fall back on.
async fn start() -> (
    hotline_testkit::TestEnv,
    hotline_config::Settings,
    Bus,
    sqlx::PgPool,
) {
    let env = hotline_testkit::env().await.expect("test servers");
    let mut settings = env.settings().expect("settings");
    settings.demo = false;
    let bus = Bus::connect(&env.nats_url, &env.namespace, "setup")
        .await
        .expect("nats");
    hotline_bus::streams::apply(&bus, hotline_bus::streams::StreamOptions::default())
        .await
        .expect("streams and buckets");
    let pool = hotline_bus::db::connect(&env.database_url, 4)
        .await
        .expect("postgres");
    hotline_dispatch::migrate(&pool).await.expect("migrate");
    (env, settings, bus, pool)
}

#[tokio::test]
async fn the_directory_bucket_is_the_one_directory_and_storing_it_again_writes_nothing() {
    let (_env, _settings, bus, _pool) = start().await;
    // Nothing stored: only the demo falls back on the demo city.
    let err = directory::load(&bus, false).await.expect_err("none loaded");
    assert!(matches!(err, LoadError::NotLoaded), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no department directory loaded: run hotline setup --directory FILE"
    );
    assert_eq!(
        directory::load(&bus, true).await.expect("demo"),
        Directory::demo()
    );

    let lanhai = Directory::from_csv(example("othercity-departments.csv").as_bytes())
        .expect("the example city");
    let first = directory::store(&bus, &lanhai, "othercity-departments.csv")
        .await
        .expect("stored");
    let Stored::Written { revision } = first else {
        panic!("first store wrote nothing: {first:?}");
    };
    assert_eq!(
        directory::store(&bus, &lanhai, "othercity-departments.csv")
            .await
            .expect("stored again"),
        Stored::Unchanged { revision }
    );
    // Stored, it wins over the demo's even with the demo on.
    assert_eq!(directory::load(&bus, true).await.expect("loaded"), lanhai);
    let current = directory::current(&bus)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(current.revision, revision);
    assert_eq!(current.source, "othercity-departments.csv");
    assert_eq!(
        directory::revision(&bus).await.expect("rev"),
        Some(revision)
    );

    // A changed directory is a new revision.
    let mut text = example("othercity-departments.csv");
    text.push_str("LH-LX-QS-SL,石岭社区居民委员会,Shiling Community,community,LH-LX-QS\n");
    let grown = Directory::from_csv(text.as_bytes()).expect("one more community");
    let Stored::Written { revision: next } = directory::store(&bus, &grown, "v2.csv")
        .await
        .expect("stored")
    else {
        panic!("a changed directory must be written");
    };
    assert!(next > revision);
    assert_eq!(directory::load(&bus, false).await.expect("loaded"), grown);
}

#[tokio::test]
async fn a_catalogue_file_loads_once_and_a_changed_row_is_a_new_audited_version() {
    let (_env, _settings, _bus, pool) = start().await;
    let lanhai = Arc::new(
        Directory::from_csv(example("othercity-departments.csv").as_bytes()).expect("directory"),
    );
    let text = example("othercity-catalogue.csv");
    let entries = catalogue::from_csv(text.as_bytes(), &lanhai).expect("catalogue");
    let count = entries.len();
    let cat = Catalogue::load(pool.clone(), lanhai.clone())
        .await
        .expect("catalogue");
    let reason = "loaded from othercity-catalogue.csv";
    let first = cat
        .load_file_entries(entries.clone(), "setup", reason)
        .await
        .expect("loaded");
    assert_eq!(
        (first.added.len(), first.changed.len(), first.unchanged),
        (count, 0, 0)
    );
    assert!(first.not_in_file.is_empty());
    let water = ServiceCode::parse("01.01.001").expect("code");
    let entry = cat.get(&water).await.expect("in the catalogue");
    assert_eq!(entry.version, 1);
    assert_eq!(
        entry.scope,
        Scope::City {
            department: dept("LH-WATER")
        }
    );

    // The same file again: nothing written, not even history.
    let history_rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dispatch.catalogue_history")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let before = history_rows().await;
    assert_eq!(before, count as i64);
    let again = Catalogue::load(pool.clone(), lanhai.clone())
        .await
        .expect("catalogue")
        .load_file_entries(entries, "setup", reason)
        .await
        .expect("loaded again");
    assert_eq!(
        (again.added.len(), again.changed.len(), again.unchanged),
        (0, 0, count)
    );
    assert_eq!(history_rows().await, before);

    // One row changed (the water company gets the health commission beside the bureau).
    let changed_text = text.replace(
        "01.01.001,停水,公用事业,供水,city,LH-WATER,LH-SW,",
        "01.01.001,停水,公用事业,供水,city,LH-WATER,LH-SW;LH-WJ,",
    );
    assert_ne!(changed_text, text);
    let entries = catalogue::from_csv(changed_text.as_bytes(), &lanhai).expect("catalogue");
    let cat = Catalogue::load(pool.clone(), lanhai.clone())
        .await
        .expect("catalogue");
    let third = cat
        .load_file_entries(entries, "setup", "loaded from othercity-catalogue-v2.csv")
        .await
        .expect("loaded");
    assert_eq!(third.changed, vec![water.clone()]);
    assert_eq!(third.unchanged, count - 1);
    let entry = cat.get(&water).await.expect("still there");
    assert_eq!(entry.version, 2);
    assert_eq!(entry.co_handlers, vec![dept("LH-SW"), dept("LH-WJ")]);
    let history = cat.history(&water).await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["changed_by"], "setup");
    assert_eq!(
        history[1]["reason"],
        "loaded from othercity-catalogue-v2.csv"
    );
    assert_eq!(history[1]["version"], 2);
    assert!(cat.dangling().await.is_empty());
}

/// Sends as intake, the service that speaks for citizens.
async fn create(bus: &Bus, no: TicketNo, code: &str) -> Result<CommandAccepted, CallError> {
    let cmd = TicketCommand::Create {
        idempotency_key: format!("city-files-{no}"),
        actor: Actor::Citizen {
            channel: Channel::Web,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Web,
            request_type: RequestType::HelpRequest,
            service_code: Some(ServiceCode::parse(code).expect("code")),
            description: "整栋楼停水一天了".into(),
            location: Location {
                address: Some("澜海市澜东区海滨路8号".into()),
                ..Location::default()
            },
            citizen: hotline_domain::contract::Citizen {
                phone: Some("13800138000".into()),
                ..Default::default()
            },
            confidential: false,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }),
    };
    rpc::call(
        bus,
        bus.subjects
            .ticket_commands_from(hotline_bus::Service::Intake),
        &cmd,
        Duration::from_secs(5),
    )
    .await
}

/// Waits until the ledger says `no` is dispatched.
async fn dispatched(
    client: &Bus,
    no: TicketNo,
    deadline: tokio::time::Instant,
) -> hotline_domain::contract::TicketView {
    loop {
        let got: Result<TicketWithHistory, CallError> = rpc::call(
            client,
            client.subjects.ticket_get(),
            &GetTicket {
                ticket_no: no,
                as_department: None,
            },
            Duration::from_secs(5),
        )
        .await;
        if let Ok(t) = got
            && t.ticket.status == Status::Dispatched
        {
            return t.ticket;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{no} not dispatched in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn services_of_another_city_dispatch_to_its_departments() {
    let (env, settings, bus, pool) = start().await;

    // Without a directory the ledger refuses to start, naming what to do.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let refused = tokio::time::timeout(
        WAIT,
        hotline_tickets::run_with_listener(settings.clone(), listener, CancellationToken::new()),
    )
    .await
    .expect("fails at once")
    .expect_err("no directory");
    assert!(
        format!("{refused:#}").contains("run hotline setup --directory FILE"),
        "{refused:#}"
    );

    // What `hotline setup --directory ... --catalogue ...` does.
    let lanhai =
        Directory::from_csv(example("othercity-departments.csv").as_bytes()).expect("directory");
    directory::store(&bus, &lanhai, "othercity-departments.csv")
        .await
        .expect("stored");
    let entries = catalogue::from_csv(example("othercity-catalogue.csv").as_bytes(), &lanhai)
        .expect("catalogue");
    Catalogue::load(pool.clone(), Arc::new(lanhai))
        .await
        .expect("catalogue")
        .load_file_entries(entries, "setup", "loaded from othercity-catalogue.csv")
        .await
        .expect("loaded");

    let shutdown = CancellationToken::new();
    let mut running = Vec::new();
    for service in ["tickets", "dispatch"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let (settings, stop) = (settings.clone(), shutdown.clone());
        running.push(tokio::spawn(async move {
            match service {
                "tickets" => hotline_tickets::run_with_listener(settings, listener, stop).await,
                _ => hotline_dispatch::run_with_listener(settings, listener, stop).await,
            }
        }));
    }

    let client = Bus::connect(&env.nats_url, &env.namespace, "test")
        .await
        .expect("nats");
    let no = TicketNo::compose(261205, 1).expect("no");
    let deadline = tokio::time::Instant::now() + WAIT;
    // The ledger may still be starting: retry until it answers.
    loop {
        match create(&client, no, "01.01.001").await {
            Ok(accepted) => {
                assert_eq!(accepted.status, Status::Received);
                break;
            }
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "no ledger: {e}");
                assert!(
                    running.iter().all(|r| !r.is_finished()),
                    "a service stopped"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let ticket = dispatched(&client, no, deadline).await;
    assert_eq!(ticket.lead, Some(dept("LH-WATER")));
    assert_eq!(ticket.co, vec![dept("LH-SW")]);
    // A district matter goes to the district the address names (by its name in the directory).
    let lamp = TicketNo::compose(261205, 2).expect("no");
    create(&client, lamp, "02.01.001").await.expect("created");
    let ticket = dispatched(&client, lamp, deadline).await;
    assert_eq!(ticket.lead, Some(dept("LH-LD")));

    shutdown.cancel();
    for r in running {
        let result = tokio::time::timeout(WAIT, r)
            .await
            .expect("stops")
            .expect("joined");
        assert!(result.is_ok(), "{result:?}");
    }
}
