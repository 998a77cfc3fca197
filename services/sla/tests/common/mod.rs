//! What the SLA integration tests share: a fresh database (and namespace), the engine, clocks.
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use hotline_bus::Subjects;
use hotline_domain::{DeptCode, Directory, RequestType, TicketNo};
use hotline_sla::{Engine, Limit, NewClock, Policy, Stage, Urgency, WorkCalendar};
use sqlx::PgPool;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Db {
    pub env: hotline_testkit::TestEnv,
    pub pool: PgPool,
}

pub async fn db() -> Db {
    let env = hotline_testkit::env().await.expect("test servers");
    let pool = hotline_bus::db::connect(&env.database_url, 8)
        .await
        .expect("postgres");
    hotline_sla::migrate(&pool).await.expect("migrations");
    Db { env, pool }
}

pub fn engine(namespace: &str) -> Engine {
    Engine::new(
        Policy::default(),
        WorkCalendar::china(),
        Directory::demo(),
        Subjects::new(namespace),
    )
}

pub fn code(raw: &str) -> DeptCode {
    DeptCode::parse(raw).expect("code")
}

pub fn ticket(sequence: u64) -> TicketNo {
    TicketNo::compose(261129, sequence).expect("ticket number")
}

/// A clock with explicit times (as the benchmark schedules them).
pub fn clock(
    no: TicketNo,
    stage: Stage,
    department: Option<&str>,
    started: DateTime<Utc>,
    warn: DateTime<Utc>,
    due: DateTime<Utc>,
) -> NewClock {
    NewClock {
        ticket_no: no,
        stage,
        department: department.map(code),
        request_type: RequestType::Complaint,
        urgency: Urgency::Normal,
        limit: Limit::CalendarHours(1),
        started_at: started,
        due_at: due,
        warn_at: warn,
        opened_seq: None,
    }
}

/// Polls `check` until it returns `Some`, failing after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
