//! `orderflow serve` exporting its traces over OTLP/HTTP to a receiver of the test's own,
//! which decodes the protobuf requests as a collector would: an idle process exports
//! nothing, and one order is one trace under its caller's `traceparent`, whatever the log
//! level.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use reqwest::Method;
use serde_json::json;

use helpers::{
    Http, ShowLogsOnFailure, emails_in, eventually, start_process, terminate_and_expect_clean_exit,
};
use orderflow_testkit::services::free_port;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";
const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// One span as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn export(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut kept = spans.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            kept.extend(scope.spans.into_iter().map(|span| Received {
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
            }));
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// An OTLP/HTTP traces endpoint on a free port; returns its base URL and what it received.
async fn receiver() -> (String, Spans) {
    let spans = Spans::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(Arc::clone(&spans));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), spans)
}

/// `orderflow serve` on a data dir of its own, exporting to `endpoint`, logging at
/// `log_level`.
async fn serve(
    dir: &std::path::Path,
    endpoint: &str,
    log_level: &str,
) -> (std::process::Child, Http) {
    let port = free_port();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_SERVICE_NAME", "orderflow-test"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut env = env.to_vec();
    env.push(("RUST_LOG".to_owned(), log_level.to_owned()));
    let process = start_process("serve", dir, &env, Some(port), "serve.log");
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;
    (process, http)
}

/// Places one order under [`CALLER`] and waits until it is processed and emailed; returns
/// the spans of its trace once the mail span has arrived.
async fn one_order_traced(http: &Http, dir: &std::path::Path, spans: &Spans) -> Vec<Received> {
    let token = http.user("traced@example.com").await;
    let placed = http
        .send(
            http.request(Method::POST, "/api/orders")
                .bearer_auth(&token)
                .header("traceparent", CALLER)
                .json(&json!({ "items": [{ "productId": "sku-mug", "quantity": 1 }] })),
        )
        .await
        .expect(201);
    let id = placed.json()["id"].as_str().unwrap().to_owned();
    http.wait_for_status(&token, &id, "PROCESSED").await;
    let mail = dir.join("mail");
    eventually(Duration::from_secs(30), "the email", || async {
        (emails_in(&mail).len() == 1).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the trace's mail span", || async {
        let trace: Vec<Received> = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|span| span.trace_id == TRACE_ID)
            .cloned()
            .collect();
        trace
            .iter()
            .any(|span| span.name == "send mail")
            .then_some(trace)
    })
    .await
}

/// The order's trace holds the request, the publish, the processing, store calls and the
/// email, each span's parent in the trace, the first under the caller's span.
fn assert_one_trace(trace: &[Received]) {
    let names: Vec<&str> = trace.iter().map(|span| span.name.as_str()).collect();
    for expected in [
        "POST /api/orders",
        "orders publish",
        "orders process",
        "transition_order",
        "orders email",
        "send mail",
        "settle_email",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for span in trace {
        let parent_known = span.parent_span_id == CALLER_SPAN
            || trace
                .iter()
                .any(|other| other.span_id == span.parent_span_id);
        assert!(parent_known, "{span:?} hangs under a span of the trace");
    }
    let request = trace
        .iter()
        .find(|span| span.name == "POST /api/orders")
        .unwrap();
    assert_eq!(
        request.parent_span_id, CALLER_SPAN,
        "under the caller's span"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_serve_exports_nothing_and_an_order_is_one_trace() {
    let (endpoint, spans) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let _logs = ShowLogsOnFailure::of(dir.path());
    let (process, http) = serve(dir.path(), &endpoint, "info").await;
    // What starting did (readiness checks, the first sweep) is exported within moments.
    tokio::time::sleep(Duration::from_secs(2)).await;
    spans.lock().unwrap().clear();

    tokio::time::sleep(Duration::from_secs(30)).await;
    let idle = spans.lock().unwrap().clone();
    assert!(
        idle.is_empty(),
        "30 s idle exported {} spans, the first: {:?}",
        idle.len(),
        &idle[..idle.len().min(5)]
    );

    let trace = one_order_traced(&http, dir.path(), &spans).await;
    assert_one_trace(&trace);
    terminate_and_expect_clean_exit(process, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_level_does_not_decide_what_is_traced() {
    let (endpoint, spans) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let _logs = ShowLogsOnFailure::of(dir.path());
    let (process, http) = serve(dir.path(), &endpoint, "warn").await;
    let trace = one_order_traced(&http, dir.path(), &spans).await;
    assert_one_trace(&trace);
    terminate_and_expect_clean_exit(process, Duration::from_secs(30));
}
