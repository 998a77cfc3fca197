//! One command Postgres refuses fails alone: its batch-mates commit (issue 8).
//!
//! The poisoned commands are built directly, past every edge check (a NUL in a text column,
//! `\u0000` in a jsonb one), because the ledger must defend itself whatever reaches it. The
//! ledger runs against real Postgres and NATS; commands are handed to it concurrently so they
//! share group-commit batches.

use std::sync::Arc;

use hotline_bus::Bus;
use hotline_bus::rpc::RemoteError;
use hotline_domain::contract::{CommandAccepted, CreateTicket, ErrorKind, Location, TicketCommand};
use hotline_domain::{Action, Actor, Channel, Directory, RequestType, TicketNo};
use hotline_tickets::ledger::Ledger;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

async fn ledger() -> (Ledger, PgPool) {
    let env = hotline_testkit::env().await.expect("test env");
    let pool = hotline_bus::db::connect(&env.database_url, 8)
        .await
        .expect("postgres");
    hotline_tickets::migrate(&pool).await.expect("migrations");
    let bus = Bus::connect(&env.nats_url, &env.namespace, "test")
        .await
        .expect("nats");
    let ledger = Ledger::start(
        pool.clone(),
        bus,
        Arc::new(Directory::demo()),
        64,
        CancellationToken::new(),
    );
    (ledger, pool)
}

fn create(no: TicketNo, key: &str, description: &str, name: &str) -> TicketCommand {
    TicketCommand::Create {
        idempotency_key: key.to_owned(),
        actor: Actor::Citizen {
            channel: Channel::Web,
        },
        ticket: Box::new(CreateTicket {
            ticket_no: no,
            channel: Channel::Web,
            request_type: RequestType::Complaint,
            service_code: None,
            description: description.to_owned(),
            location: Location {
                address: Some("天河区天河路1号".into()),
                ..Location::default()
            },
            citizen: hotline_domain::contract::Citizen {
                name: Some(name.to_owned()),
                phone: Some("13800138000".into()),
                ..Default::default()
            },
            confidential: false,
            attributes: Default::default(),
            media_url: None,
            hold: false,
        }),
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .expect("count")
}

fn no(seq: u64) -> TicketNo {
    TicketNo::compose(261129, seq).expect("no")
}

#[tokio::test]
async fn forty_concurrent_creates_one_poisoned_leave_39_tickets() {
    let (ledger, pool) = ledger().await;
    for (poisoned_at, poison) in [(17usize, "text"), (3, "jsonb")] {
        let base = if poison == "text" { 100 } else { 200 };
        let commands: Vec<TicketCommand> = (0..40)
            .map(|i| {
                let n = no(base + i as u64);
                let key = format!("{poison}-{i}");
                match (i == poisoned_at, poison) {
                    (true, "text") => create(n, &key, "loud music\0at night", "李四"),
                    (true, _) => create(n, &key, "loud music", "李\0四"),
                    _ => create(n, &key, "loud music", "李四"),
                }
            })
            .collect();
        let replies: Vec<Result<CommandAccepted, RemoteError>> =
            futures::future::join_all(commands.iter().cloned().map(|c| ledger.execute(c))).await;

        for (i, reply) in replies.iter().enumerate() {
            if i == poisoned_at {
                let e = reply.as_ref().expect_err("the poisoned command is refused");
                assert_eq!(e.kind, ErrorKind::Invalid, "{poison}: {e:?}");
            } else {
                let ok = reply
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{poison} {i}: {e:?}"));
                assert_eq!(ok.ticket_no, no(base + i as u64));
                assert!(!ok.replayed);
            }
        }
        let range = format!(
            "BETWEEN {} AND {}",
            no(base).as_u64(),
            no(base + 39).as_u64()
        );
        assert_eq!(
            count(
                &pool,
                &format!("SELECT count(*) FROM tickets.ticket WHERE ticket_no {range}")
            )
            .await,
            39,
            "{poison}: exactly the good tickets exist"
        );
        assert_eq!(
            count(
                &pool,
                &format!("SELECT count(*) FROM tickets.history WHERE ticket_no {range}")
            )
            .await,
            39
        );
        assert_eq!(
            count(
                &pool,
                &format!("SELECT count(*) FROM tickets.command_log WHERE idempotency_key LIKE '{poison}-%'")
            )
            .await,
            39,
            "{poison}: the refused command is not logged, so nothing of it is stored"
        );
    }
    // One event per created ticket waits in the outbox (acked means its event is durable too).
    assert_eq!(
        count(&pool, "SELECT count(*) FROM tickets.outbox").await,
        78
    );

    // The refused key was not burnt: the same key with clean data goes through.
    let fixed = ledger
        .execute(create(no(117), "text-17", "loud music at night", "李四"))
        .await
        .expect("the corrected command commits");
    assert!(!fixed.replayed);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM tickets.ticket").await,
        79
    );
}

#[tokio::test]
async fn a_refused_action_leaves_its_batch_mates_in_order() {
    let (ledger, pool) = ledger().await;
    let ticket = no(300);
    ledger
        .execute(create(ticket, "create", "lamp out", "王五"))
        .await
        .expect("created");
    // Twelve supervision orders on one ticket at once, the fifth with a NUL (jsonb history).
    let commands: Vec<TicketCommand> = (0..12)
        .map(|i| TicketCommand::Act {
            idempotency_key: format!("sup-{i}"),
            actor: Actor::Agent {
                id: "agent1".into(),
            },
            ticket_no: ticket,
            action: Action::Supervise {
                note: if i == 4 {
                    "hurry\0".into()
                } else {
                    format!("order {i}")
                },
            },
        })
        .collect();
    let replies =
        futures::future::join_all(commands.iter().cloned().map(|c| ledger.execute(c))).await;
    let mut seqs = Vec::new();
    for (i, reply) in replies.iter().enumerate() {
        if i == 4 {
            assert_eq!(
                reply.as_ref().expect_err("refused").kind,
                ErrorKind::Invalid
            );
        } else {
            seqs.push(reply.as_ref().expect("committed").seq);
        }
    }
    // Every good order got the next history entry, in the order they were sent.
    assert_eq!(seqs, (2..=12).collect::<Vec<i32>>());
    let notes: Vec<String> = sqlx::query_scalar(
        "SELECT action->>'note' FROM tickets.history WHERE ticket_no = $1 AND seq > 1 ORDER BY seq",
    )
    .bind(ticket.as_u64() as i64)
    .fetch_all(&pool)
    .await
    .expect("history");
    let expected: Vec<String> = (0..12)
        .filter(|i| *i != 4)
        .map(|i| format!("order {i}"))
        .collect();
    assert_eq!(notes, expected);
}
