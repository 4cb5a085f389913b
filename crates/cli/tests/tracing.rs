//! One trace across processes' worth of work: the HTTP request that places an order, the
//! relay's publish and the worker's processing, exported to the SDK's in-memory exporter.
//! Its own test binary: the OpenTelemetry subscriber it installs is process-wide.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::Arc;

use opentelemetry::trace::SpanKind;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use orderflow_core::ports::AcceptAll;
use reqwest::Method;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_request_the_publish_and_the_processing_of_an_order_are_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("orderflow-test")))
        .init();

    let app = helpers::spawn_serve(Arc::new(AcceptAll), |_| {}).await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("traced@example.com").await;
    let placed = app
        .send(
            app.request(Method::POST, "/api/orders")
                .bearer_auth(&token)
                .header("traceparent", CALLER)
                .json(&json!({ "items": [{ "productId": "sku-a", "quantity": 1 }] })),
        )
        .await
        .expect(201);
    assert!(
        placed
            .header("traceresponse")
            .is_some_and(|t| t.contains(TRACE_ID)),
        "the response names the trace"
    );
    let id = placed.json()["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&token, &id, "PROCESSED").await;
    app.wait_until_drained().await;

    // The email is sent after the order is final, by the email sender: wait for its span too.
    let spans = helpers::eventually(
        std::time::Duration::from_secs(10),
        "the worker's and the email sender's spans",
        || {
            let spans = exporter.get_finished_spans().unwrap();
            async move {
                let done = ["orders process", "send mail"]
                    .iter()
                    .all(|name| spans.iter().any(|s| s.name == *name));
                done.then_some(spans)
            }
        },
    )
    .await;
    let in_trace: Vec<_> = spans
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == TRACE_ID)
        .collect();
    let named = |name: &str| {
        in_trace.iter().find(|s| s.name == name).unwrap_or_else(|| {
            let names: Vec<_> = in_trace.iter().map(|s| s.name.to_string()).collect();
            panic!("no {name:?} span in the caller's trace; it has {names:?}")
        })
    };
    let request = named("POST /api/orders");
    let publish = named("orders publish");
    let process = named("orders process");
    assert_eq!(
        request.parent_span_id.to_string(),
        "b7ad6b7169203331",
        "the request continues the caller's span"
    );
    assert_eq!(publish.parent_span_id, request.span_context.span_id());
    assert_eq!(process.parent_span_id, publish.span_context.span_id());

    // Each dependency call is a client span of the work it serves, with the attributes the
    // OpenTelemetry semantic conventions give it.
    let child_of = |parent: &SpanData, name: &str| {
        in_trace
            .iter()
            .find(|s| s.name == name && s.parent_span_id == parent.span_context.span_id())
            .unwrap_or_else(|| panic!("no {name:?} span under {:?}", parent.name))
    };
    let placement = child_of(request, "place_order");
    assert_eq!(placement.span_kind, SpanKind::Client);
    assert_eq!(attribute(placement, "db.system.name"), "sqlite");
    assert_eq!(attribute(placement, "db.operation.name"), "place_order");
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(attribute(publish, "messaging.operation.type"), "create");
    // The relay sends messages in batches: the batch's send span links to each message's
    // publish span, and the queue call is its child.
    let batch = spans
        .iter()
        .find(|s| {
            s.name == "orders send"
                && s.links
                    .iter()
                    .any(|link| link.span_context.span_id() == publish.span_context.span_id())
        })
        .expect("a batch send span linked to the order's publish span");
    assert_eq!(batch.span_kind, SpanKind::Client);
    assert_eq!(attribute(batch, "messaging.operation.type"), "send");
    let send = spans
        .iter()
        .find(|s| s.name == "send_batch orders" && s.parent_span_id == batch.span_context.span_id())
        .expect("the queue call under the batch span");
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(attribute(send, "messaging.system"), "sqlite");
    assert_eq!(attribute(send, "messaging.operation.type"), "send");
    assert_eq!(attribute(send, "messaging.destination.name"), "orders");
    assert_eq!(attribute(send, "messaging.batch.message_count"), "1");
    let transition = child_of(process, "transition_order");
    assert_eq!(
        attribute(transition, "db.operation.name"),
        "transition_order"
    );
    let mail = in_trace
        .iter()
        .find(|s| s.name == "send mail")
        .expect("the email is sent in the order's trace");
    assert_eq!(mail.span_kind, SpanKind::Client);
    assert_eq!(attribute(mail, "mail.system"), "file");
    provider.shutdown().unwrap();
}

/// The string value of a span attribute, or a panic naming the ones it has.
fn attribute(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
        .unwrap_or_else(|| panic!("{:?} has no {key}: {:?}", span.name, span.attributes))
}
