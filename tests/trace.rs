//! One trace per ticket: the services, each in its own process, export their spans over OTLP to
//! a collector run by this test; the spans of the whole trip, from the Open311 POST to the
//! department's Complete, share one trace id.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Platform, authed};
use futures::StreamExt as _;
use hotline_gateway::proto::{
    AcceptRequest, CompleteRequest, ReplyRequest, SubscribeRequest, subscribe_request,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::sync::Mutex;
use tokio_stream::wrappers::ReceiverStream;

/// (trace id hex, service.name, span name) of every span received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, String, String)>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().await;
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((hex(&span.trace_id), service.clone(), span.name));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_open311_post_to_department_complete() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    {
        let collector = collector.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
        });
    }
    let mut p = Platform::new(vec![
        (
            "HOTLINE__TELEMETRY__OTLP_ENDPOINT".into(),
            format!("http://127.0.0.1:{port}"),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()),
    ])
    .await;
    p.spawn(&["setup", "--demo"]);
    for s in ["tickets", "dispatch", "gateway", "intake"] {
        p.spawn(&[s, "--demo"]);
    }
    p.wait_ready(&p.all_ports()).await;
    let code = p.district_service().await;
    let (status, created) = p
        .post(
            &[
                ("api_key", "demo-open311-key"),
                ("service_code", code.as_str()),
                ("address_string", "天河区体育西路"),
                ("description", "井盖缺失"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let no = created[0]["service_request_id"]
        .as_str()
        .expect("number")
        .to_owned();

    let mut th = p.department().await;
    let (acks, rx) = tokio::sync::mpsc::channel(4);
    acks.send(SubscribeRequest {
        kind: Some(subscribe_request::Kind::Options(Default::default())),
    })
    .await
    .expect("options");
    let mut stream = th
        .subscribe(authed(ReceiverStream::new(rx), "demo-gz-th", None))
        .await
        .expect("subscribe")
        .into_inner();
    let assignment = tokio::time::timeout(Duration::from_secs(15), stream.next())
        .await
        .expect("in time")
        .expect("one")
        .expect("ok");
    assert_eq!(
        assignment.ticket.as_ref().map(|t| t.ticket_no.as_str()),
        Some(no.as_str())
    );
    let tp = assignment.traceparent.clone();
    let trace_id = tp.split('-').nth(1).expect("a W3C traceparent").to_owned();
    assert_eq!(trace_id.len(), 32);
    let tp = Some(tp.as_str());
    th.accept(authed(
        AcceptRequest {
            ticket_no: no.clone(),
            request_id: "a".into(),
        },
        "demo-gz-th",
        tp,
    ))
    .await
    .expect("accept");
    th.reply(authed(
        ReplyRequest {
            ticket_no: no.clone(),
            request_id: "r".into(),
            text: "已补装井盖".into(),
        },
        "demo-gz-th",
        tp,
    ))
    .await
    .expect("reply");
    th.complete(authed(
        CompleteRequest {
            ticket_no: no.clone(),
            request_id: "c".into(),
            note: String::new(),
        },
        "demo-gz-th",
        tp,
    ))
    .await
    .expect("complete");

    // Spans arrive in batches; wait until every service has reported into this trace.
    let wanted: BTreeSet<&str> = [
        "hotline-intake",
        "hotline-tickets",
        "hotline-dispatch",
        "hotline-gateway",
    ]
    .into();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (services, per_service) = loop {
        let spans = collector.0.lock().await.clone();
        let in_trace: Vec<_> = spans.iter().filter(|(t, _, _)| *t == trace_id).collect();
        let mut per_service: HashMap<String, Vec<String>> = HashMap::new();
        for (_, service, name) in &in_trace {
            per_service
                .entry(service.clone())
                .or_default()
                .push(name.clone());
        }
        let services: BTreeSet<String> = per_service.keys().cloned().collect();
        let tickets_spans = per_service.get("hotline-tickets").map_or(0, Vec::len);
        if wanted.iter().all(|w| services.contains(*w)) && tickets_spans >= 5 {
            break (services, per_service);
        }
        if Instant::now() > deadline {
            panic!(
                "trace {trace_id} has only {per_service:?}; all spans: {}",
                spans.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(wanted.iter().all(|w| services.contains(*w)));
    // Created, dispatch, accept, reply and complete all ran in the ledger inside this trace.
    assert!(per_service["hotline-tickets"].len() >= 5, "{per_service:?}");
}
