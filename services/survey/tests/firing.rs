//! The firing loop against the real Postgres and NATS: two replicas invite every due survey
//! exactly once, a replica started later catches up, a retry sends a fresh link that voids the
//! old one, and after the last attempt the survey is unreachable with its ledger steps queued.

use std::time::Duration;

use chrono::Utc;
use hotline_domain::TicketNo;
use hotline_survey::firing::{self, Firing};
use hotline_survey::link::Signer;
use hotline_survey::store::{self, Kind, NewSurvey};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

struct Setup {
    pool: PgPool,
    firing: Firing,
    _env: hotline_testkit::TestEnv,
}

async fn setup(max_attempts: u32) -> Setup {
    let env = hotline_testkit::env().await.expect("test env");
    let settings = env.settings().expect("settings");
    let pool = hotline_bus::db::connect(&env.database_url, 8)
        .await
        .expect("postgres");
    hotline_survey::migrate(&pool).await.expect("migrations");
    let bus = hotline_bus::Bus::connect(&env.nats_url, &env.namespace, "survey-firing-test")
        .await
        .expect("nats");
    hotline_bus::streams::apply(&bus, hotline_bus::streams::StreamOptions::default())
        .await
        .expect("streams");
    let mut policy = hotline_survey::policy::Policy::from_settings(&settings);
    policy.max_attempts = max_attempts;
    Setup {
        firing: Firing {
            pool: pool.clone(),
            bus,
            policy,
            signer: Signer::new(b"firing-test-link-secret"),
            link_base: "http://127.0.0.1:8088/s/".into(),
            batch: 50,
        },
        pool,
        _env: env,
    }
}

fn survey(i: u64, due: chrono::DateTime<Utc>) -> NewSurvey {
    NewSurvey {
        ticket_no: TicketNo::compose(261203, i).expect("no"),
        completion_seq: 5,
        kind: Kind::Case,
        channel: "sms".into(),
        method: "sms".into(),
        address: Some(format!("139{i:08}")),
        lead: Some("GZ-TH".into()),
        service_code: None,
        agent: None,
        request_type: "complaint".into(),
        completed_at: due,
        due_at: due,
    }
}

async fn messages(f: &Firing) -> u64 {
    f.bus
        .js
        .get_stream(f.bus.subjects.notify_stream())
        .await
        .expect("stream")
        .get_info()
        .await
        .expect("info")
        .state
        .messages
}

async fn invited(pool: &PgPool) -> (i64, i64) {
    let row: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'invited'), \
         count(*) FILTER (WHERE attempts > 1) FROM survey.survey",
    )
    .fetch_one(pool)
    .await
    .expect("counts");
    row
}

#[tokio::test]
async fn two_replicas_invite_every_due_survey_once_and_a_late_replica_catches_up() {
    let s = setup(3).await;
    let now = Utc::now();
    let due: Vec<NewSurvey> = (1..=300).map(|i| survey(i, now)).collect();
    // A repeat of the same completions adds nothing.
    assert_eq!(
        store::schedule_batch(&s.pool, &due)
            .await
            .expect("scheduled"),
        300
    );
    assert_eq!(
        store::schedule_batch(&s.pool, &due).await.expect("again"),
        0
    );
    // Not due yet: stays.
    store::schedule_batch(&s.pool, &[survey(999, now + chrono::Duration::hours(1))])
        .await
        .expect("later");

    let stop = CancellationToken::new();
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(firing::run(
                s.firing.clone(),
                Duration::from_millis(50),
                stop.clone(),
            ))
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while invited(&s.pool).await.0 < 300 {
        assert!(tokio::time::Instant::now() < deadline, "not all invited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    for r in replicas {
        r.await.expect("joined").expect("stopped cleanly");
    }
    assert_eq!(invited(&s.pool).await, (300, 0), "each once");
    assert_eq!(messages(&s.firing).await, 300, "one invitation each");
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM survey.survey WHERE state = 'scheduled' AND fired_at IS NULL",
    )
    .fetch_one(&s.pool)
    .await
    .expect("pending");
    assert_eq!(pending, 1, "the one not yet due waits");

    // More came due while no replica ran; one started later sends them.
    store::schedule_batch(
        &s.pool,
        &(301..=350).map(|i| survey(i, now)).collect::<Vec<_>>(),
    )
    .await
    .expect("scheduled");
    while firing::fire_due(&s.firing).await.expect("fired") > 0 {}
    assert_eq!(invited(&s.pool).await, (350, 0));
    assert_eq!(messages(&s.firing).await, 350);
}

#[tokio::test]
async fn a_retry_voids_the_old_link_and_the_last_attempt_ends_unreachable() {
    let s = setup(2).await;
    let now = Utc::now();
    store::schedule_batch(&s.pool, &[survey(7, now)])
        .await
        .expect("scheduled");
    firing::fire_due(&s.firing).await.expect("first invitation");
    let (id, first_nonce): (i64, String) =
        sqlx::query_as("SELECT id, link_nonce FROM survey.survey")
            .fetch_one(&s.pool)
            .await
            .expect("row");
    // The back-off passes (the clock moved): the second invitation has a fresh nonce.
    let bring_forward = || async {
        sqlx::query("UPDATE survey.survey SET next_attempt_at = now() WHERE id = $1")
            .bind(id)
            .execute(&s.pool)
            .await
            .expect("moved");
    };
    bring_forward().await;
    firing::fire_due(&s.firing)
        .await
        .expect("second invitation");
    let (attempts, second_nonce): (i32, String) =
        sqlx::query_as("SELECT attempts, link_nonce FROM survey.survey WHERE id = $1")
            .bind(id)
            .fetch_one(&s.pool)
            .await
            .expect("row");
    assert_eq!(attempts, 2);
    assert_ne!(first_nonce, second_nonce);
    let answer = hotline_survey::answer::Answer::from_keypresses("11").expect("answer");
    let old = store::record_answer(
        &s.pool,
        id,
        &answer,
        hotline_survey::answer::Via::Link,
        &hotline_domain::Actor::system("survey"),
        Some(&first_nonce),
        2,
    )
    .await;
    assert!(
        matches!(old, Err(hotline_survey::SurveyError::Conflict(_))),
        "the first link no longer answers"
    );
    // Nobody answers the second either: unreachable, the address gone, the ledger's steps queued.
    bring_forward().await;
    firing::fire_due(&s.firing).await.expect("verdict");
    let (state, address): (String, Option<String>) =
        sqlx::query_as("SELECT state, address FROM survey.survey WHERE id = $1")
            .bind(id)
            .fetch_one(&s.pool)
            .await
            .expect("row");
    assert_eq!((state.as_str(), address), ("unreachable", None));
    let steps: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT command FROM survey.command ORDER BY id")
            .fetch_all(&s.pool)
            .await
            .expect("commands");
    let names: Vec<&str> = steps
        .iter()
        .filter_map(|c| c["action"]["action"].as_str())
        .collect();
    assert_eq!(names, ["survey_unreachable", "close"], "{steps:?}");
    assert_eq!(messages(&s.firing).await, 2, "two invitations, no third");
}
