//! The finding of issue 8, re-run: 40 Open311 POSTs at once, one with a NUL (`%00`) in its
//! description. Before, the ledger's group commit failed the whole batch and 37 of 40 answered
//! 500. Now the edge refuses the bad one (400, Open311's error format) and the 39 others are
//! registered by the real ledger. The tickets and dispatch services run here for real,
//! in-process (dispatch with the test's matter in its catalogue, see `support`).
//!
//! Needs `NATS_URL`, `REDIS_URL` and `DATABASE_URL` (or Docker, through hotline-testkit).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hotline_bus::Bus;
use hotline_bus::rpc;
use hotline_config::Settings;
use hotline_domain::TicketNo;
use hotline_domain::contract::{TicketQuery, TicketView};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

mod support;

const API_KEY: &str = "itest-open311-key";

fn settings(env: &hotline_testkit::TestEnv) -> Settings {
    let mut settings = env.settings().expect("settings");
    settings.intake.open311_api_keys = vec![API_KEY.to_owned()];
    settings
}

fn post(i: usize, description: &str, format: &str) -> Request<Body> {
    Request::post(format!("/open311/v2/requests.{format}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("Idempotency-Key", format!("poison-test-{i}"))
        .body(Body::from(format!(
            "api_key={API_KEY}&service_code=ENV.NOISE&address_string=%E5%A4%A9%E6%B2%B3%E8%B7%AF{i}%E5%8F%B7\
             &attribute[when]=night&description={description}&phone=13800138000"
        )))
        .expect("request")
}

async fn list(bus: &Bus) -> Result<Vec<TicketView>, rpc::CallError> {
    rpc::call(
        bus,
        bus.subjects.ticket_list(),
        &TicketQuery {
            limit: Some(500),
            ..TicketQuery::default()
        },
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn forty_posts_at_once_one_with_a_nul_give_39_created_and_one_400() {
    let env = hotline_testkit::env().await.expect("test servers");
    let settings = settings(&env);
    let stop = CancellationToken::new();
    support::start_tickets(&settings, &stop).await;
    support::start_dispatch(&settings, &stop).await;
    let bus = Bus::connect(&env.nats_url, &env.namespace, "intake-itest")
        .await
        .expect("NATS");
    let deadline = Instant::now() + Duration::from_secs(20);
    while list(&bus).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the tickets service never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = hotline_intake::connect(&settings, stop.clone())
        .await
        .expect("intake connects");

    const POISONED: usize = 23;
    let requests = (0..40).map(|i| {
        let (description, format) = if i == POISONED {
            ("loud%00music", "xml")
        } else {
            ("loud+music+%E5%A4%9C%E9%97%B4", "json")
        };
        let router = hotline_intake::router(state.clone());
        let request = post(i, description, format);
        async move {
            let response = router.oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, String::from_utf8(bytes.to_vec()).expect("utf-8"))
        }
    });
    let answers = futures::future::join_all(requests).await;

    let mut created = Vec::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        if i == POISONED {
            assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
            // Open311's error document, in the format asked for.
            assert!(
                body.contains("<errors><error><code>400</code><description>description contains a control character"),
                "{body}"
            );
        } else {
            assert_eq!(*status, StatusCode::CREATED, "{i}: {body}");
            let json: serde_json::Value = serde_json::from_str(body).expect("json");
            let id = json[0]["service_request_id"].as_str().expect("an id");
            created.push(TicketNo::parse(id).expect("a ticket number"));
        }
    }
    assert_eq!(created.len(), 39);

    // The ledger holds exactly the 39, and nothing of the refused one.
    let stored = list(&bus).await.expect("list");
    let mut stored_nos: Vec<TicketNo> = stored.iter().map(|t| t.ticket_no).collect();
    stored_nos.sort();
    created.sort();
    assert_eq!(stored_nos, created);
    assert!(stored.iter().all(|t| !t.description.contains('\0')));
    assert!(
        !stored
            .iter()
            .any(|t| t.location.address.as_deref() == Some(&format!("天河路{POISONED}号"))),
        "the refused request stored nothing"
    );

    stop.cancel();
}
