//! Test doubles for the unit tests: an in-memory ledger, catalogue, numbers and cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{TimeZone as _, Utc};
use futures::future::BoxFuture;
use hotline_bus::rpc::{CallError, RemoteError};
use hotline_domain::contract::{
    AttributeType, AttributeValue, CatalogueService, Citizen, CommandAccepted, CreateTicket,
    HistoryEntry, Location, ServiceAttribute, TicketCommand, TicketQuery, TicketUpdate, TicketView,
    TicketWithHistory, UpdatesQuery,
};
use hotline_domain::{
    Action, Actor, Channel, DeptCode, RequestType, ServiceCode, Status, TicketNo,
};

use crate::catalogue::Catalogue;
use crate::idempotency::{IdempotencyCache, Remembered};
use crate::upstream::{CatalogueSource, Ledger, NumberIssuer};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn service(code: &str) -> CatalogueService {
    CatalogueService {
        code: ServiceCode::parse(code).expect("code"),
        name: format!("Service {code}"),
        description: format!("About {code}"),
        group: "环境保护".into(),
        keywords: vec!["noise".into(), "噪音".into()],
        default_request_type: RequestType::HelpRequest,
        attributes: vec![],
    }
}

pub fn service_with_attributes(code: &str) -> CatalogueService {
    let attribute = |code: &str, datatype, required, order, values: &[&str]| ServiceAttribute {
        code: code.into(),
        variable: true,
        datatype,
        required,
        description: format!("Question {code}"),
        order,
        values: values
            .iter()
            .map(|v| AttributeValue {
                key: (*v).into(),
                name: v.to_uppercase(),
            })
            .collect(),
    };
    CatalogueService {
        attributes: vec![
            attribute(
                "when",
                AttributeType::Singlevaluelist,
                true,
                1,
                &["day", "night"],
            ),
            attribute("floor", AttributeType::Number, false, 2, &[]),
            attribute("since", AttributeType::Datetime, false, 3, &[]),
            attribute(
                "kinds",
                AttributeType::Multivaluelist,
                false,
                4,
                &["music", "dogs"],
            ),
            ServiceAttribute {
                variable: false,
                ..attribute("notice", AttributeType::Text, false, 0, &[])
            },
        ],
        ..service(code)
    }
}

pub fn ticket_view(seq: u64, status: Status) -> TicketView {
    TicketView {
        ticket_no: TicketNo::compose(261129, seq).expect("no"),
        status,
        channel: Channel::Web,
        request_type: RequestType::Complaint,
        service_code: Some(ServiceCode::parse("S1").expect("code")),
        description: "loud music at night".into(),
        location: Location {
            address: Some("天河路1号".into()),
            lat: Some(23.13),
            long: Some(113.26),
            ..Location::default()
        },
        citizen: Citizen {
            name: Some("Zhang San".into()),
            phone: Some("13800138000".into()),
            email: Some("li@example.org".into()),
            ..Citizen::default()
        },
        confidential: false,
        lead: Some(DeptCode::parse("GZ-TH").expect("code")),
        co: vec![],
        attributes: BTreeMap::new(),
        media_url: Some("https://img.example/1.jpg".into()),
        created_at: Utc
            .with_ymd_and_hms(2026, 11, 29, 2, 0, 0)
            .single()
            .expect("time"),
        updated_at: Utc
            .with_ymd_and_hms(2026, 11, 29, 3, 0, 0)
            .single()
            .expect("time"),
        held: false,
        extension_pending: false,
    }
}

pub fn entry(seq: i32, actor: Actor, action: Action, to: Status) -> HistoryEntry {
    HistoryEntry {
        seq,
        at: Utc
            .with_ymd_and_hms(2026, 11, 29, 4, 0, seq as u32)
            .single()
            .expect("time"),
        actor,
        step: action.name().to_owned(),
        action: Some(action),
        from: None,
        to,
    }
}

/// A catalogue source that can be switched down and up.
pub struct FakeCatalogue {
    services: Mutex<Option<Vec<CatalogueService>>>,
    calls: AtomicUsize,
}

impl FakeCatalogue {
    pub fn down() -> FakeCatalogue {
        FakeCatalogue {
            services: Mutex::new(None),
            calls: AtomicUsize::new(0),
        }
    }
    pub fn with(services: Vec<CatalogueService>) -> FakeCatalogue {
        let c = FakeCatalogue::down();
        c.set(services);
        c
    }
    pub fn set(&self, services: Vec<CatalogueService>) {
        *lock(&self.services) = Some(services);
    }
    pub fn go_down(&self) {
        *lock(&self.services) = None;
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl CatalogueSource for FakeCatalogue {
    fn services(&self) -> BoxFuture<'_, Result<Vec<CatalogueService>, CallError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let services = lock(&self.services).clone();
        Box::pin(async move {
            services.ok_or_else(|| CallError::Unavailable("dispatch: no responders".into()))
        })
    }
}

/// A stored ticket: what was created, its history, its status now.
type Stored = (CreateTicket, Vec<HistoryEntry>, Status);

/// A ledger in memory: idempotent on the key like the real one.
#[derive(Default)]
pub struct FakeLedger {
    pub tickets: Mutex<BTreeMap<TicketNo, Stored>>,
    pub keys: Mutex<HashMap<String, TicketNo>>,
    pub commands: Mutex<Vec<TicketCommand>>,
    pub updates: Mutex<Vec<TicketUpdate>>,
    pub down: std::sync::atomic::AtomicBool,
    pub confidential: Mutex<Vec<TicketNo>>,
}

impl FakeLedger {
    fn unavailable(&self) -> Option<CallError> {
        self.down
            .load(Ordering::SeqCst)
            .then(|| CallError::Unavailable("tickets: no responders".into()))
    }

    pub fn view(&self, no: TicketNo) -> Option<TicketView> {
        let tickets = lock(&self.tickets);
        let (create, _, status) = tickets.get(&no)?;
        let mut view = ticket_view(1, *status);
        view.ticket_no = no;
        view.description = create.description.clone();
        view.location = create.location.clone();
        view.citizen = create.citizen.clone();
        view.service_code = create.service_code.clone();
        view.confidential = create.confidential || lock(&self.confidential).contains(&no);
        view.media_url = create.media_url.clone();
        Some(view)
    }

    /// Adds a history step to a stored ticket.
    pub fn act(&self, no: TicketNo, action: Action, to: Status) {
        let mut tickets = lock(&self.tickets);
        if let Some((_, history, status)) = tickets.get_mut(&no) {
            let seq = history.len() as i32 + 1;
            history.push(entry(seq, Actor::system("test"), action, to));
            *status = to;
        }
    }
}

impl Ledger for FakeLedger {
    fn submit(&self, command: TicketCommand) -> BoxFuture<'_, Result<CommandAccepted, CallError>> {
        Box::pin(async move {
            if let Some(e) = self.unavailable() {
                return Err(e);
            }
            lock(&self.commands).push(command.clone());
            let TicketCommand::Create {
                idempotency_key,
                ticket,
                ..
            } = command
            else {
                return Err(RemoteError::invalid("only create").into());
            };
            if let Some(no) = lock(&self.keys).get(&idempotency_key) {
                return Ok(CommandAccepted {
                    ticket_no: *no,
                    status: Status::Received,
                    seq: 1,
                    replayed: true,
                });
            }
            let no = ticket.ticket_no;
            lock(&self.keys).insert(idempotency_key, no);
            lock(&self.tickets).insert(no, (*ticket, Vec::new(), Status::Received));
            Ok(CommandAccepted {
                ticket_no: no,
                status: Status::Received,
                seq: 1,
                replayed: false,
            })
        })
    }

    fn get(&self, ticket_no: TicketNo) -> BoxFuture<'_, Result<TicketWithHistory, CallError>> {
        Box::pin(async move {
            if let Some(e) = self.unavailable() {
                return Err(e);
            }
            let ticket = self
                .view(ticket_no)
                .ok_or_else(|| CallError::from(RemoteError::not_found("no such ticket")))?;
            let history = lock(&self.tickets)
                .get(&ticket_no)
                .map(|t| t.1.clone())
                .unwrap_or_default();
            Ok(TicketWithHistory { ticket, history })
        })
    }

    fn list(&self, query: TicketQuery) -> BoxFuture<'_, Result<Vec<TicketView>, CallError>> {
        Box::pin(async move {
            if let Some(e) = self.unavailable() {
                return Err(e);
            }
            let nos: Vec<TicketNo> = lock(&self.tickets).keys().copied().collect();
            Ok(nos
                .into_iter()
                .filter_map(|no| self.view(no))
                .filter(|v| query.ticket_nos.is_empty() || query.ticket_nos.contains(&v.ticket_no))
                .filter(|v| query.statuses.is_empty() || query.statuses.contains(&v.status))
                .filter(|v| {
                    query.service_code.as_ref().is_none_or(|codes| {
                        v.service_code.as_ref().is_some_and(|c| codes.contains(c))
                    })
                })
                .collect())
        })
    }

    fn updates(&self, _query: UpdatesQuery) -> BoxFuture<'_, Result<Vec<TicketUpdate>, CallError>> {
        Box::pin(async move {
            if let Some(e) = self.unavailable() {
                return Err(e);
            }
            Ok(lock(&self.updates).clone())
        })
    }
}

/// Numbers 261129-1, -2, ... or none at all.
#[derive(Default)]
pub struct FakeNumbers {
    next: AtomicU64,
    pub broken: std::sync::atomic::AtomicBool,
}

impl NumberIssuer for FakeNumbers {
    fn next(&self) -> BoxFuture<'_, anyhow::Result<TicketNo>> {
        Box::pin(async move {
            if self.broken.load(Ordering::SeqCst) {
                anyhow::bail!("KV bucket unavailable");
            }
            let seq = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            TicketNo::compose(261129, seq).ok_or_else(|| anyhow::anyhow!("range"))
        })
    }
}

/// Redis in memory; `flush` loses everything, as a Redis restart would.
#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Remembered>>,
    pub down: std::sync::atomic::AtomicBool,
}

impl MemoryCache {
    pub fn flush(&self) {
        lock(&self.entries).clear();
    }
    fn check(&self) -> anyhow::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            anyhow::bail!("connection refused");
        }
        Ok(())
    }
}

impl IdempotencyCache for MemoryCache {
    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<Remembered>>> {
        Box::pin(async move {
            self.check()?;
            Ok(lock(&self.entries).get(key).copied())
        })
    }
    fn reserve<'a>(
        &'a self,
        key: &'a str,
        ticket_no: TicketNo,
    ) -> BoxFuture<'a, anyhow::Result<Option<Remembered>>> {
        Box::pin(async move {
            self.check()?;
            let mut entries = lock(&self.entries);
            if let Some(existing) = entries.get(key) {
                return Ok(Some(*existing));
            }
            entries.insert(key.to_owned(), Remembered::Reserved(ticket_no));
            Ok(None)
        })
    }
    fn confirm<'a>(
        &'a self,
        key: &'a str,
        ticket_no: TicketNo,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.check()?;
            lock(&self.entries).insert(key.to_owned(), Remembered::Created(ticket_no));
            Ok(())
        })
    }
}

/// A full intake over fakes, with the demo key and a 50-character description limit.
pub struct Harness {
    pub ledger: Arc<FakeLedger>,
    pub catalogue: Arc<FakeCatalogue>,
    pub numbers: Arc<FakeNumbers>,
    pub cache: Arc<MemoryCache>,
    pub state: crate::AppState,
}

pub const API_KEY: &str = "test-api-key-1";

impl Harness {
    pub fn new() -> Harness {
        let ledger = Arc::new(FakeLedger::default());
        let catalogue = Arc::new(FakeCatalogue::with(vec![
            service_with_attributes("S1"),
            service("S2"),
        ]));
        let numbers = Arc::new(FakeNumbers::default());
        let cache = Arc::new(MemoryCache::default());
        let config = crate::IntakeConfig {
            namespace: "test".into(),
            api_keys: Arc::new([API_KEY.to_owned()].into_iter().collect()),
            jurisdiction_id: "gz.12345.gov.cn".into(),
            max_description_chars: 50,
            utc_offset: chrono::FixedOffset::east_opt(8 * 3600).expect("offset"),
            city: "Guangzhou".into(),
            body_limit: crate::config::BODY_LIMIT,
            posts_per_key_per_minute: 0,
        };
        let state = crate::AppState::new(crate::Parts {
            config,
            ledger: ledger.clone(),
            catalogue: Arc::new(Catalogue::new(catalogue.clone())),
            numbers: numbers.clone(),
            idempotency: Some(cache.clone()),
            limiter: None,
            readiness: hotline_telemetry::Readiness::default(),
        });
        Harness {
            ledger,
            catalogue,
            numbers,
            cache,
            state,
        }
    }
}
