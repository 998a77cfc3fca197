//! The gRPC edge: `hotline.gateway.v1.DepartmentGateway`, with server reflection and optional
//! mTLS.
//!
//! Every call is authenticated from `authorization: Bearer <token>` metadata before anything
//! else is read; a `traceparent` metadata entry makes the call's span (and so the ledger's)
//! its child.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::Batch;
use futures::{FutureExt as _, StreamExt as _};
use hotline_bus::Bus;
use hotline_domain::{Action, DeptCode};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument as _;

use crate::auth::Authenticator;
use crate::delivery::{self, Deliveries};
use crate::error::ApiError;
use crate::ledger::{Ledger, Protocol, client_traceparent, observe};
use crate::proto::department_gateway_server::{DepartmentGateway, DepartmentGatewayServer};
use crate::proto::subscribe_request::Kind;
use crate::{metrics, proto, wire};

/// Assignments out and not acked on one stream, unless the client asks otherwise.
pub const DEFAULT_WINDOW: usize = 64;
/// The most a client may ask for: the consumer's own limit over all connections.
pub const MAX_WINDOW: usize = delivery::MAX_ACK_PENDING as usize;
/// How long one pull request waits on the server for new assignments.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// How long a burst of pulled messages is gathered to be sent in stream order.
const GATHER: Duration = Duration::from_millis(20);
/// Pause after a failed pull before the next one.
const PULL_RETRY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct GatewayService {
    ledger: Ledger,
    deliveries: Deliveries,
    auth: Arc<Authenticator>,
    shutdown: CancellationToken,
}

impl GatewayService {
    pub fn new(
        ledger: Ledger,
        deliveries: Deliveries,
        auth: Arc<Authenticator>,
        shutdown: CancellationToken,
    ) -> GatewayService {
        GatewayService {
            ledger,
            deliveries,
            auth,
            shutdown,
        }
    }

    fn department(&self, rpc: &str, metadata: &MetadataMap) -> Result<DeptCode, ApiError> {
        let header = metadata.get("authorization").and_then(|v| v.to_str().ok());
        self.auth.department_for_header(header).ok_or_else(|| {
            tracing::warn!(rpc, "unauthenticated gRPC call refused");
            ApiError::unauthenticated()
        })
    }

    async fn act<R: ActionRequest>(
        &self,
        rpc: &'static str,
        request: Request<R>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        let started = Instant::now();
        let result = async {
            let dept = self.department(rpc, request.metadata())?;
            let traceparent = traceparent(request.metadata());
            let body = request.get_ref();
            let ticket = wire::ticket_no(body.ticket_no())?;
            let key = wire::request_key(&dept, body.request_id())?;
            let action = body.action()?;
            let accepted = self
                .ledger
                .act(&dept, ticket, key, action, traceparent.as_deref())
                .await?;
            Ok(wire::action_reply(&accepted))
        }
        .await;
        observe(Protocol::Grpc, rpc, started, &result);
        result.map(Response::new).map_err(Status::from)
    }
}

fn traceparent(metadata: &MetadataMap) -> Option<String> {
    client_traceparent(metadata.get("traceparent").and_then(|v| v.to_str().ok())).map(str::to_owned)
}

/// The parts every action request has, and its action parsed from the rest.
trait ActionRequest {
    fn ticket_no(&self) -> &str;
    fn request_id(&self) -> &str;
    fn action(&self) -> Result<Action, ApiError>;
}

macro_rules! action_request {
    ($ty:ty, |$r:ident| $action:expr) => {
        impl ActionRequest for $ty {
            fn ticket_no(&self) -> &str {
                &self.ticket_no
            }
            fn request_id(&self) -> &str {
                &self.request_id
            }
            fn action(&self) -> Result<Action, ApiError> {
                let $r = self;
                $action
            }
        }
    };
}

action_request!(proto::AcceptRequest, |_r| Ok(Action::Accept));
action_request!(proto::ReturnRequest, |r| wire::return_action(&r.reason));
action_request!(proto::AddProgressRequest, |r| wire::progress_action(
    &r.note
));
action_request!(proto::ReplyRequest, |r| wire::reply_action(&r.text));
action_request!(proto::CompleteRequest, |r| wire::complete_action(&r.note));
action_request!(proto::RequestExtensionRequest, |r| {
    let until = wire::from_timestamp("until", r.until.as_ref())?;
    wire::extension_action(&r.reason, until)
});
action_request!(proto::RequestInformationRequest, |r| {
    wire::information_action(&r.question)
});
action_request!(proto::RedispatchRequest, |r| wire::redispatch_action(
    &r.to, &r.note
));

type AssignmentStream = ReceiverStream<Result<proto::Assignment, Status>>;

#[tonic::async_trait]
impl DepartmentGateway for GatewayService {
    type SubscribeStream = AssignmentStream;

    async fn subscribe(
        &self,
        request: Request<Streaming<proto::SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let started = Instant::now();
        let setup = async {
            let dept = self.department("subscribe", request.metadata())?;
            let consumer = self.deliveries.consumer(&dept).await.map_err(|e| {
                tracing::warn!(department = %dept, error = %format!("{e:#}"), "department consumer unavailable");
                ApiError::unavailable("delivery is temporarily unavailable, please reconnect")
            })?;
            Ok((dept, consumer))
        }
        .await;
        observe(Protocol::Grpc, "subscribe", started, &setup);
        let (dept, consumer) = setup.map_err(Status::from)?;
        // Room for a full window plus the closing status, so sending never waits (see
        // `Session::deliver`).
        let (tx, rx) = mpsc::channel(MAX_WINDOW + 1);
        let session = Session {
            bus: self.deliveries.bus().clone(),
            dept: dept.clone(),
            consumer,
            inbound: request.into_inner(),
            tx,
            inflight: Vec::new(),
            window: DEFAULT_WINDOW,
        };
        let span = tracing::info_span!("gateway.subscribe", department = %dept);
        tokio::spawn(session.run(self.shutdown.clone()).instrument(span));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn accept(
        &self,
        request: Request<proto::AcceptRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("accept", request).await
    }

    async fn r#return(
        &self,
        request: Request<proto::ReturnRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("return", request).await
    }

    async fn add_progress(
        &self,
        request: Request<proto::AddProgressRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("add_progress", request).await
    }

    async fn reply(
        &self,
        request: Request<proto::ReplyRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("reply", request).await
    }

    async fn complete(
        &self,
        request: Request<proto::CompleteRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("complete", request).await
    }

    async fn request_extension(
        &self,
        request: Request<proto::RequestExtensionRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("request_extension", request).await
    }

    async fn request_information(
        &self,
        request: Request<proto::RequestInformationRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("request_information", request).await
    }

    async fn redispatch(
        &self,
        request: Request<proto::RedispatchRequest>,
    ) -> Result<Response<proto::ActionReply>, Status> {
        self.act("redispatch", request).await
    }

    async fn get_ticket(
        &self,
        request: Request<proto::GetTicketRequest>,
    ) -> Result<Response<proto::TicketDetail>, Status> {
        let started = Instant::now();
        let result = async {
            let dept = self.department("get_ticket", request.metadata())?;
            let traceparent = traceparent(request.metadata());
            let ticket = wire::ticket_no(&request.get_ref().ticket_no)?;
            let found = self
                .ledger
                .get(&dept, ticket, traceparent.as_deref())
                .await?;
            Ok(proto::TicketDetail {
                ticket: Some(wire::ticket(&found.ticket)),
                history: found.history.iter().map(wire::history_entry).collect(),
            })
        }
        .await;
        observe(Protocol::Grpc, "get_ticket", started, &result);
        result.map(Response::new).map_err(Status::from)
    }

    async fn list_tickets(
        &self,
        request: Request<proto::ListTicketsRequest>,
    ) -> Result<Response<proto::ListTicketsReply>, Status> {
        let started = Instant::now();
        let result = async {
            let dept = self.department("list_tickets", request.metadata())?;
            let traceparent = traceparent(request.metadata());
            let body = request.get_ref();
            let statuses = wire::statuses(&body.statuses)?;
            let views = self
                .ledger
                .list(
                    &dept,
                    statuses,
                    wire::limit(body.limit),
                    traceparent.as_deref(),
                )
                .await?;
            Ok(proto::ListTicketsReply {
                tickets: views.iter().map(wire::ticket).collect(),
            })
        }
        .await;
        observe(Protocol::Grpc, "list_tickets", started, &result);
        result.map(Response::new).map_err(Status::from)
    }
}

/// Why a subscription ended.
#[derive(Debug)]
enum End {
    Shutdown,
    ClientGone,
    ClientClosed,
    ClientError(Status),
}

/// One `Subscribe` stream: pulls from the department's consumer while fewer than `window`
/// assignments are out, sends them, and acks what the client acks. On any end, everything not
/// acked is given back in stream order, so that the next connection gets it first and in order.
struct Session {
    bus: Bus,
    dept: DeptCode,
    consumer: PullConsumer,
    inbound: Streaming<proto::SubscribeRequest>,
    tx: mpsc::Sender<Result<proto::Assignment, Status>>,
    /// Sent and not acked, in the order sent.
    inflight: Vec<(String, Message)>,
    window: usize,
}

impl Session {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut batch: Option<Batch> = None;
        let mut pause: Option<tokio::time::Instant> = None;
        tracing::info!("department subscribed");
        let end = loop {
            if batch.is_none() && pause.is_none() && self.inflight.len() < self.window {
                let want = self.window - self.inflight.len();
                match self
                    .consumer
                    .batch()
                    .max_messages(want)
                    .expires(PULL_EXPIRES)
                    .messages()
                    .await
                {
                    Ok(b) => batch = Some(b),
                    Err(e) => {
                        tracing::warn!(error = %e, "pull failed; retrying");
                        pause = Some(tokio::time::Instant::now() + PULL_RETRY);
                    }
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break End::Shutdown,
                _ = self.tx.closed() => break End::ClientGone,
                request = self.inbound.next() => match request {
                    Some(Ok(r)) => self.on_request(r).await,
                    Some(Err(status)) => break End::ClientError(status),
                    None => break End::ClientClosed,
                },
                item = next_in(&mut batch), if batch.is_some() => match item {
                    Some(Ok(first)) => {
                        let (burst, pull_ended) = gather(first, &mut batch).await;
                        if let Some(error) = pull_ended {
                            tracing::warn!(error = %error, "pull interrupted; retrying");
                            pause = Some(tokio::time::Instant::now() + PULL_RETRY);
                        }
                        let mut gone = false;
                        for message in burst {
                            if gone {
                                // Not sent: give it back with the rest at the end.
                                self.inflight.push((String::new(), message));
                            } else if !self.deliver(message).await {
                                gone = true;
                            }
                        }
                        if gone {
                            break End::ClientGone;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "pull interrupted; retrying");
                        batch = None;
                        pause = Some(tokio::time::Instant::now() + PULL_RETRY);
                    }
                    None => batch = None,
                },
                _ = sleep_until(pause), if pause.is_some() => pause = None,
            }
        };
        match &end {
            End::Shutdown => {
                // Tell the client to come back (to this replica's successor or another one).
                let _ = self.tx.try_send(Err(Status::unavailable(
                    "the gateway is shutting down; reconnect to receive the rest",
                )));
                tracing::info!("subscription ended: gateway shutting down");
            }
            End::ClientError(status) => {
                tracing::info!(code = ?status.code(), "subscription ended by a client error");
            }
            other => tracing::info!(end = ?other, "subscription ended"),
        }
        let Session { tx, inflight, .. } = self;
        // End the response stream first, then give back what the client did not ack.
        drop(tx);
        give_back(inflight, batch).await;
    }

    async fn on_request(&mut self, request: proto::SubscribeRequest) {
        match request.kind {
            Some(Kind::Options(o)) => {
                self.window = match o.max_in_flight {
                    0 => DEFAULT_WINDOW,
                    n => usize::try_from(n).unwrap_or(MAX_WINDOW).min(MAX_WINDOW),
                };
            }
            Some(Kind::Ack(a)) => match self.remove(&a.delivery_id) {
                Some(message) => match delivery::ack(&message).await {
                    Ok(()) => metrics::ACKS.with_label_values(&["grpc", "ack"]).inc(),
                    Err(e) => {
                        // The assignment comes back after the ack wait; the client dedupes by seq.
                        tracing::warn!(error = %format!("{e:#}"), "ack not confirmed");
                        metrics::ACKS.with_label_values(&["grpc", "failed"]).inc();
                    }
                },
                None => {
                    tracing::debug!(delivery_id = %a.delivery_id, "ack for an unknown delivery");
                    metrics::ACKS.with_label_values(&["grpc", "unknown"]).inc();
                }
            },
            Some(Kind::Nak(n)) => match self.remove(&n.delivery_id) {
                Some(message) => {
                    let delay = (n.delay_ms > 0).then(|| Duration::from_millis(n.delay_ms.into()));
                    delivery::nak(&message, delay).await;
                    metrics::ACKS.with_label_values(&["grpc", "nak"]).inc();
                }
                None => metrics::ACKS.with_label_values(&["grpc", "unknown"]).inc(),
            },
            None => {}
        }
    }

    fn remove(&mut self, delivery_id: &str) -> Option<Message> {
        let at = self.inflight.iter().position(|(id, _)| id == delivery_id)?;
        Some(self.inflight.remove(at).1)
    }

    /// Sends one pulled message. False when the client is gone.
    async fn deliver(&mut self, message: Message) -> bool {
        let Some(pulled) = delivery::take(&self.bus, &self.dept, message).await else {
            return true;
        };
        let span = tracing::info_span!(
            "gateway.deliver",
            otel.kind = "producer",
            ticket = %pulled.assignment.ticket_no(),
            seq = pulled.assignment.seq,
            attempt = pulled.attempt,
        );
        hotline_bus::trace::adopt(&span, pulled.message.headers.as_ref());
        let _entered = span.enter();
        tracing::debug!(id = %pulled.delivery_id, "delivering");
        let wire = wire::assignment(&pulled.assignment, &pulled.delivery_id, pulled.attempt);
        // The channel has room for a full window, so this only fails when the client is gone.
        match self.tx.try_send(Ok(wire)) {
            Ok(()) => {
                metrics::SENT.with_label_values(&["grpc"]).inc();
                self.inflight.push((pulled.delivery_id, pulled.message));
                true
            }
            Err(_) => {
                self.inflight.push((pulled.delivery_id, pulled.message));
                false
            }
        }
    }
}

/// Collects what arrives with `first` (JetStream sends a pull's messages back to back) and
/// sorts it by stream sequence. JetStream may hand out redeliveries in another order than they
/// were given back; sorting each burst restores per-ticket order in the usual case (a
/// reconnect after a disconnect). Returns the error if the pull failed meanwhile; the batch is
/// `None` afterwards when it ended.
async fn gather(first: Message, batch: &mut Option<Batch>) -> (Vec<Message>, Option<String>) {
    let mut burst = vec![first];
    let mut failed = None;
    let until = tokio::time::Instant::now() + GATHER;
    while batch.is_some() {
        match tokio::time::timeout_at(until, next_in(batch)).await {
            Ok(Some(Ok(m))) => burst.push(m),
            Ok(Some(Err(e))) => {
                failed = Some(e.to_string());
                *batch = None;
            }
            Ok(None) => *batch = None,
            Err(_) => break,
        }
    }
    burst.sort_by_key(stream_sequence);
    (burst, failed)
}

fn stream_sequence(m: &Message) -> u64 {
    m.info().map(|i| i.stream_sequence).unwrap_or(u64::MAX)
}

async fn next_in(batch: &mut Option<Batch>) -> Option<Result<Message, async_nats::Error>> {
    match batch {
        Some(b) => b.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Naks everything the client did not ack, in stream order: JetStream redelivers nak'ed
/// messages first and in the order they were nak'ed, so the next connection sees each ticket's
/// assignments in order.
///
/// The open pull is dropped first (keeping what it already brought): its inbox is unsubscribed
/// before the naks go out on the same connection, so the server does not hand the given-back
/// messages straight to this dead pull. A message in flight at that very moment comes back
/// after the ack wait instead.
async fn give_back(inflight: Vec<(String, Message)>, batch: Option<Batch>) {
    let mut messages: Vec<Message> = inflight.into_iter().map(|(_, m)| m).collect();
    if let Some(mut batch) = batch {
        while let Some(Some(item)) = batch.next().now_or_never() {
            if let Ok(m) = item {
                messages.push(m);
            }
        }
        drop(batch);
    }
    delivery::nak_in_order(messages).await;
}

/// The server's TLS: our certificate, and the CA that signs departments' client certificates.
/// Each value is a PEM file path, or the PEM itself.
pub fn tls_config(tls: &hotline_config::GatewayTls) -> anyhow::Result<ServerTlsConfig> {
    let pem = |field: &str, value: &str| -> anyhow::Result<String> {
        if value.trim_start().starts_with("-----BEGIN") {
            Ok(value.to_owned())
        } else {
            std::fs::read_to_string(value).with_context(|| format!("gateway.tls.{field}: {value}"))
        }
    };
    Ok(ServerTlsConfig::new()
        .identity(Identity::from_pem(
            pem("cert", &tls.cert)?,
            pem("key", &tls.key)?,
        ))
        // A client certificate signed by this CA is required (not optional) on every
        // connection; the bearer token still names the department.
        .client_ca_root(Certificate::from_pem(pem("client_ca", &tls.client_ca)?)))
}

/// Serves gRPC on `listener` until `shutdown`; open `Subscribe` streams end with UNAVAILABLE
/// and give their unacked assignments back.
pub async fn serve(
    service: GatewayService,
    listener: tokio::net::TcpListener,
    tls: Option<ServerTlsConfig>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Both reflection versions: grpcurl and newer clients speak v1, grpcio's own reflection
    // client (Python) still speaks only v1alpha.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building gRPC reflection (v1)")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building gRPC reflection (v1alpha)")?;
    let mut builder = Server::builder()
        // Finds departments whose connection died without a FIN, so their stream ends and its
        // assignments are given back promptly.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).context("gRPC TLS configuration")?;
    }
    builder
        .add_service(DepartmentGatewayServer::new(service))
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown.cancelled_owned())
        .await
        .context("gRPC server")
}
