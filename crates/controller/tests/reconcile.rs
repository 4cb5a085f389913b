//! Reconcile against kube's mock API service (tower-test): each test plays the API server,
//! expecting the controller's requests in order and answering them; no cluster.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::{EnvFromSource, SecretEnvSource};
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, Resource};
use orderflow_controller::crd::{CatalogItem, ConfigMapCatalog, InventorySeedSpec, SeedMode};
use orderflow_controller::job::{RUN_ANNOTATION, job_name};
use orderflow_controller::reconcile::{Context, error_policy, reconcile};
use orderflow_controller::{InventorySeed, InventorySeedStatus, Metrics, Phase, SeedDefaults};
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type Responder = tower_test::mock::SendResponse<Response<Body>>;

const NAMESPACE: &str = "shop";
const IMAGE: &str = "ghcr.io/orderflow/orderflow:test";
/// The ConfigMap and Secret of the release the controller belongs to.
const RELEASE: &str = "orderflow";

fn context() -> (Arc<Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NAMESPACE);
    let reporter = Reporter {
        controller: "orderflow-controller".into(),
        instance: Some("test".into()),
    };
    let context = Context::new(
        client.clone(),
        Recorder::new(client, reporter),
        Metrics::new().unwrap(),
        SeedDefaults {
            image: Some(IMAGE.to_owned()),
            config_map: Some(RELEASE.to_owned()),
            secret: Some(RELEASE.to_owned()),
        },
    );
    (Arc::new(context), handle)
}

fn inline_spec() -> InventorySeedSpec {
    InventorySeedSpec {
        items: Some(vec![
            CatalogItem {
                product_id: "sku-mug".into(),
                name: "Mug".into(),
                unit_price: 1299,
                currency: "USD".into(),
                stock: 50,
            },
            CatalogItem {
                product_id: "sku-tee".into(),
                name: "T-shirt".into(),
                unit_price: 1999,
                currency: "USD".into(),
                stock: 20,
            },
        ]),
        config_map_ref: None,
        mode: SeedMode::Upsert,
        image: None,
        env_from: vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: "orderflow-db".into(),
                optional: None,
            }),
            ..EnvFromSource::default()
        }],
        backoff_limit: None,
        ttl_seconds_after_finished: None,
    }
}

fn seed(spec: InventorySeedSpec, generation: i64) -> InventorySeed {
    let mut seed = InventorySeed::new("spring-catalog", spec);
    let meta = seed.meta_mut();
    meta.namespace = Some(NAMESPACE.into());
    meta.uid = Some("0b9c3e2a-1111-4c3b-9a55-2f0e5d7c8a01".into());
    meta.generation = Some(generation);
    seed
}

/// The next request, which must be `method` on `path`; its JSON body and its responder.
async fn expect(handle: &mut Handle, method: Method, path: &str) -> (Value, Responder) {
    let (request, respond) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .unwrap_or_else(|_| panic!("expected {method} {path}, got no request"))
        .expect("the client is alive");
    assert_eq!(request.method(), method, "{}", request.uri());
    assert_eq!(request.uri().path(), path);
    if method == Method::PATCH {
        let query = request.uri().query().unwrap_or_default();
        assert!(
            query.contains("fieldManager=orderflow-controller") && query.contains("force=true"),
            "server-side apply with the field manager: {query}"
        );
    }
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (body, respond)
}

fn reply(respond: Responder, status: u16, body: &Value) {
    respond.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

fn not_found(name: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("jobs.batch \"{name}\" not found"), "reason": "NotFound", "code": 404 })
}

fn jobs_path(name: &str) -> String {
    format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}")
}

fn status_path() -> String {
    format!(
        "/apis/orderflow.dev/v1alpha1/namespaces/{NAMESPACE}/inventoryseeds/spring-catalog/status"
    )
}

const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";

/// The end of every reconcile that changes something: an Event, then the status patch.
/// Returns both as sent.
async fn serve_event_and_status(handle: &mut Handle, seed: &InventorySeed) -> (Value, Value) {
    let (event, respond) = expect(handle, Method::POST, EVENTS_PATH).await;
    reply(respond, 201, &event);
    let (status, respond) = expect(handle, Method::PATCH, &status_path()).await;
    reply(respond, 200, &serde_json::to_value(seed).unwrap());
    (event, status)
}

/// A catalog kept in the ConfigMap `spring` under `catalog.yaml`.
fn config_map_spec(mode: SeedMode) -> InventorySeedSpec {
    let mut spec = inline_spec();
    spec.items = None;
    spec.config_map_ref = Some(ConfigMapCatalog {
        name: "spring".into(),
        key: "catalog.yaml".into(),
    });
    spec.mode = mode;
    spec
}

/// The API server's side of a reconcile that creates the Job of `seed`; returns what was
/// applied: (config map, job, event, status).
async fn serve_creation(handle: &mut Handle, seed: &InventorySeed) -> (Value, Value, Value, Value) {
    let name = job_name(seed);
    let (_, respond) = expect(handle, Method::GET, &jobs_path(&name)).await;
    reply(respond, 404, &not_found(&name));
    let (config_map, respond) = expect(
        handle,
        Method::PATCH,
        &format!("/api/v1/namespaces/{NAMESPACE}/configmaps/{name}"),
    )
    .await;
    reply(respond, 200, &config_map);
    let (job, respond) = expect(handle, Method::PATCH, &jobs_path(&name)).await;
    reply(respond, 201, &job);
    let (event, status) = serve_event_and_status(handle, seed).await;
    (config_map, job, event, status)
}

#[tokio::test]
async fn a_new_resource_gets_its_job_owned_with_the_command_mounts_and_env() {
    let (ctx, mut handle) = context();
    let seed = seed(inline_spec(), 1);
    let name = job_name(&seed);
    let (result, (config_map, job, event, status)) = tokio::join!(
        reconcile(Arc::new(seed.clone()), Arc::clone(&ctx)),
        serve_creation(&mut handle, &seed)
    );
    assert_eq!(result.unwrap(), Action::requeue(Duration::from_secs(30)));

    for object in [&config_map, &job] {
        let owner = &object["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "InventorySeed");
        assert_eq!(owner["apiVersion"], "orderflow.dev/v1alpha1");
        assert_eq!(owner["name"], "spring-catalog");
        assert_eq!(owner["uid"], "0b9c3e2a-1111-4c3b-9a55-2f0e5d7c8a01");
        assert_eq!(owner["controller"], true, "deleting the seed deletes it");
    }
    let catalog: Value =
        serde_json::from_str(config_map["data"]["catalog.json"].as_str().unwrap()).unwrap();
    assert_eq!(catalog.as_array().unwrap().len(), 2);
    assert_eq!(catalog[0]["productId"], "sku-mug");

    assert_eq!(job["kind"], "Job");
    assert!(name.starts_with("spring-catalog-") && name.len() <= 63);
    let pod = &job["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], IMAGE);
    assert_eq!(container["command"], json!(["orderflow"]));
    assert_eq!(
        container["args"],
        json!([
            "seed",
            "--file",
            "/catalog/catalog.json",
            "--mode",
            "upsert"
        ])
    );
    // The release's store settings first (optional: absent in other namespaces), then the
    // seed's own, which win where they name the same variable.
    assert_eq!(
        container["envFrom"],
        json!([
            {"configMapRef": {"name": RELEASE, "optional": true}},
            {"secretRef": {"name": RELEASE, "optional": true}},
            {"secretRef": {"name": "orderflow-db"}},
        ])
    );
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/catalog");
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["volumes"][0]["configMap"]["name"], name.as_str());
    assert_eq!(job["spec"]["backoffLimit"], 3);

    assert_eq!(event["reason"], "JobCreated");
    assert_eq!(event["regarding"]["name"], "spring-catalog");
    assert_eq!(status["status"]["phase"], "Pending");
    assert_eq!(status["status"]["jobName"], name.as_str());
    assert_eq!(status["status"]["observedGeneration"], 1);
}

#[tokio::test]
async fn a_catalog_in_a_config_map_is_mounted_from_it() {
    let (ctx, mut handle) = context();
    let seed = seed(config_map_spec(SeedMode::SetStock), 1);
    let name = job_name(&seed);
    let serve = async {
        let (_, respond) = expect(&mut handle, Method::GET, &jobs_path(&name)).await;
        reply(respond, 404, &not_found(&name));
        let (job, respond) = expect(&mut handle, Method::PATCH, &jobs_path(&name)).await;
        reply(respond, 201, &job);
        serve_event_and_status(&mut handle, &seed).await;
        job
    };
    let (result, job) = tokio::join!(reconcile(Arc::new(seed.clone()), ctx), serve);
    result.unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "spring");
    assert_eq!(
        pod["containers"][0]["args"],
        json!([
            "seed",
            "--file",
            "/catalog/catalog.yaml",
            "--mode",
            "set-stock"
        ])
    );
}

fn existing_job(name: &str, status: Value) -> Value {
    json!({ "apiVersion": "batch/v1", "kind": "Job",
            "metadata": { "name": name, "namespace": NAMESPACE }, "status": status })
}

/// Serves a reconcile that finds the Job in `job_status`; returns the event and status sent.
async fn serve_existing(
    handle: &mut Handle,
    seed: &InventorySeed,
    job_status: Value,
) -> (Value, Value) {
    let name = job_name(seed);
    let (_, respond) = expect(handle, Method::GET, &jobs_path(&name)).await;
    reply(respond, 200, &existing_job(&name, job_status));
    serve_event_and_status(handle, seed).await
}

#[tokio::test]
async fn a_succeeded_job_makes_the_status_succeeded_with_the_items_seeded() {
    let (ctx, mut handle) = context();
    let seed = seed(inline_spec(), 1);
    let (result, (event, status)) = tokio::join!(
        reconcile(Arc::new(seed.clone()), ctx),
        serve_existing(&mut handle, &seed, json!({ "succeeded": 1 }))
    );
    assert_eq!(result.unwrap(), Action::await_change());
    assert_eq!(event["reason"], "Seeded");
    assert_eq!(event["type"], "Normal");
    let status = &status["status"];
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(status["itemsSeeded"], 2);
    assert!(status["lastSeededAt"].is_string());
    assert_eq!(status["conditions"][0]["type"], "Seeded");
    assert_eq!(status["conditions"][0]["status"], "True");
}

#[tokio::test]
async fn a_failed_job_makes_the_status_failed_with_a_condition_and_reason() {
    let (ctx, mut handle) = context();
    let seed = seed(inline_spec(), 1);
    let failed = json!({ "failed": 4, "conditions": [{
        "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit" }] });
    let (result, (event, status)) = tokio::join!(
        reconcile(Arc::new(seed.clone()), ctx),
        serve_existing(&mut handle, &seed, failed)
    );
    assert_eq!(result.unwrap(), Action::await_change());
    assert_eq!(event["reason"], "SeedFailed");
    assert_eq!(event["type"], "Warning");
    let status = &status["status"];
    assert_eq!(status["phase"], "Failed");
    let condition = &status["conditions"][0];
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "JobFailed");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("BackoffLimitExceeded"),
        "{condition}"
    );
}

#[tokio::test]
async fn a_changed_spec_gets_a_new_job_and_the_old_one_is_left_alone() {
    let (ctx, mut handle) = context();
    let first = seed(inline_spec(), 1);
    let old_job = job_name(&first);
    let mut spec = inline_spec();
    if let Some(items) = spec.items.as_mut() {
        items[0].stock = 75;
    }
    let mut second = seed(spec, 2);
    second.status = Some(orderflow_controller::InventorySeedStatus {
        phase: Some(orderflow_controller::Phase::Succeeded),
        observed_generation: Some(1),
        job_name: Some(old_job.clone()),
        items_seeded: Some(2),
        ..Default::default()
    });
    let new_job = job_name(&second);
    assert_ne!(new_job, old_job);
    // Only the new Job is read and applied: the mock fails on any request to the old one.
    let (result, (_, job, _, status)) = tokio::join!(
        reconcile(Arc::new(second.clone()), ctx),
        serve_creation(&mut handle, &second)
    );
    result.unwrap();
    assert_eq!(job["metadata"]["name"], new_job.as_str());
    assert_eq!(status["status"]["jobName"], new_job.as_str());
    assert_eq!(status["status"]["observedGeneration"], 2);
    assert!(status["status"]["itemsSeeded"].is_null(), "not yet seeded");
    nothing_more(&mut handle).await;
}

#[tokio::test]
async fn a_deleted_resource_is_left_to_garbage_collection() {
    let (ctx, mut handle) = context();
    let mut seed = seed(inline_spec(), 1);
    seed.meta_mut().deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    let result = reconcile(Arc::new(seed), ctx).await;
    assert_eq!(result.unwrap(), Action::await_change());
    // Its Job and ConfigMap name it as controlling owner (see the creation test), so
    // Kubernetes deletes them with it; the controller itself has nothing to do.
    nothing_more(&mut handle).await;
}

#[tokio::test]
async fn api_errors_are_requeued_with_growing_delays_not_crashes() {
    let (ctx, mut handle) = context();
    let seed = Arc::new(seed(inline_spec(), 1));
    let name = job_name(&seed);
    let mut delays = Vec::new();
    for _ in 0..2 {
        let serve = async {
            let (_, respond) = expect(&mut handle, Method::GET, &jobs_path(&name)).await;
            reply(
                respond,
                500,
                &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": "etcd timeout", "reason": "InternalError", "code": 500 }),
            );
        };
        let (result, ()) = tokio::join!(reconcile(Arc::clone(&seed), Arc::clone(&ctx)), serve);
        let error = result.expect_err("the API failed");
        assert!(error.to_string().contains("etcd timeout"), "{error}");
        delays.push(error_policy(Arc::clone(&seed), &error, Arc::clone(&ctx)));
    }
    assert_eq!(
        delays,
        [
            Action::requeue(Duration::from_secs(5)),
            Action::requeue(Duration::from_secs(10))
        ]
    );
    let scraped = prometheus::TextEncoder::new()
        .encode_to_string(&ctx.metrics.registry.gather())
        .unwrap();
    assert!(
        scraped.contains("orderflow_controller_reconcile_errors_total{error=\"api\"} 2"),
        "{scraped}"
    );
}

#[tokio::test]
async fn a_spec_without_a_catalog_is_reported_invalid_without_a_job() {
    let (ctx, mut handle) = context();
    let mut spec = inline_spec();
    spec.items = None;
    let seed = seed(spec, 1);
    let serve = serve_event_and_status(&mut handle, &seed);
    let (result, (event, status)) = tokio::join!(reconcile(Arc::new(seed.clone()), ctx), serve);
    assert_eq!(result.unwrap(), Action::await_change());
    assert_eq!(event["reason"], "InvalidSpec");
    assert_eq!(status["status"]["phase"], "Failed");
    assert_eq!(status["status"]["conditions"][0]["reason"], "InvalidSpec");
}

/// The controller made no further request.
async fn nothing_more(handle: &mut Handle) {
    let next = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
    assert!(
        next.is_err() || next.is_ok_and(|r| r.is_none()),
        "no further request"
    );
}

#[tokio::test]
async fn items_seeded_from_a_config_map_are_counted_as_the_seed_command_reads_them() {
    let (ctx, mut handle) = context();
    let seed = seed(config_map_spec(SeedMode::Upsert), 1);
    let name = job_name(&seed);
    let catalog = "- productId: a\n  name: A\n  unitPrice: 100\n  currency: USD\n  stock: 1\n\
                   - productId: b\n  name: B\n  unitPrice: 200\n  currency: USD\n  stock: 2\n\
                   - productId: c\n  name: C\n  unitPrice: 300\n  currency: USD\n  stock: 3\n";
    let serve = async {
        let (_, respond) = expect(&mut handle, Method::GET, &jobs_path(&name)).await;
        reply(
            respond,
            200,
            &existing_job(&name, json!({ "succeeded": 1 })),
        );
        let (_, respond) = expect(
            &mut handle,
            Method::GET,
            &format!("/api/v1/namespaces/{NAMESPACE}/configmaps/spring"),
        )
        .await;
        reply(
            respond,
            200,
            &json!({ "apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": { "name": "spring", "namespace": NAMESPACE },
                     "data": { "catalog.yaml": catalog } }),
        );
        serve_event_and_status(&mut handle, &seed).await.1
    };
    let (result, status) = tokio::join!(reconcile(Arc::new(seed.clone()), ctx), serve);
    result.unwrap();
    assert_eq!(status["status"]["itemsSeeded"], 3);
}

/// `seed` as the controller left it: this spec's Job created, in `phase`.
fn seeded(phase: Phase) -> InventorySeed {
    let mut seed = seed(inline_spec(), 1);
    seed.status = Some(InventorySeedStatus {
        phase: Some(phase),
        observed_generation: Some(1),
        job_name: Some(job_name(&seed)),
        ..InventorySeedStatus::default()
    });
    seed
}

#[tokio::test]
async fn a_finished_seed_whose_job_is_gone_is_not_run_again() {
    for phase in [Phase::Succeeded, Phase::Failed] {
        let (ctx, mut handle) = context();
        let seed = seeded(phase);
        let name = job_name(&seed);
        let serve = async {
            let (_, respond) = expect(&mut handle, Method::GET, &jobs_path(&name)).await;
            reply(respond, 404, &not_found(&name));
            nothing_more(&mut handle).await;
        };
        let (result, ()) = tokio::join!(reconcile(Arc::new(seed), ctx), serve);
        assert_eq!(result.unwrap(), Action::await_change(), "{phase:?}");
    }
}

#[tokio::test]
async fn a_job_deleted_before_it_finished_fails_the_seed_without_a_new_job() {
    let (ctx, mut handle) = context();
    let seed = seeded(Phase::Running);
    let name = job_name(&seed);
    let serve = async {
        let (_, respond) = expect(&mut handle, Method::GET, &jobs_path(&name)).await;
        reply(respond, 404, &not_found(&name));
        serve_event_and_status(&mut handle, &seed).await
    };
    let (result, (event, status)) = tokio::join!(reconcile(Arc::new(seed.clone()), ctx), serve);
    result.unwrap();
    assert_eq!(event["reason"], "SeedFailed");
    assert_eq!(status["status"]["phase"], "Failed");
    assert_eq!(status["status"]["conditions"][0]["reason"], "JobDeleted");
    let message = status["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains(RUN_ANNOTATION), "{message}");
}

#[tokio::test]
async fn the_run_annotation_runs_a_finished_seed_again_in_a_new_job() {
    let mut again = seeded(Phase::Succeeded);
    let before = job_name(&again);
    again
        .meta_mut()
        .annotations
        .get_or_insert_default()
        .insert(RUN_ANNOTATION.into(), "2026-12-07".into());
    assert_ne!(job_name(&again), before);
    let (ctx, mut handle) = context();
    let (result, (_, job, event, _)) = tokio::join!(
        reconcile(Arc::new(again.clone()), ctx),
        serve_creation(&mut handle, &again)
    );
    result.unwrap();
    assert_eq!(job["metadata"]["name"], job_name(&again).as_str());
    assert_eq!(event["reason"], "JobCreated");
}

fn pod_list(status: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {},
            "items": [{ "metadata": { "name": "spring-catalog-pod", "namespace": NAMESPACE },
                        "status": status }] })
}

/// Serves a reconcile that finds the Job active and its pods as `pods`; returns the status.
async fn serve_active(handle: &mut Handle, seed: &InventorySeed, pods: Value) -> Value {
    let name = job_name(seed);
    let (_, respond) = expect(handle, Method::GET, &jobs_path(&name)).await;
    reply(respond, 200, &existing_job(&name, json!({ "active": 1 })));
    let (request, respond) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        request.uri().path(),
        format!("/api/v1/namespaces/{NAMESPACE}/pods")
    );
    let query = request.uri().query().unwrap_or_default().to_owned();
    assert!(query.contains(&format!("job-name%3D{name}")), "{query}");
    reply(respond, 200, &pods);
    let (status, respond) = expect(handle, Method::PATCH, &status_path()).await;
    reply(respond, 200, &serde_json::to_value(seed).unwrap());
    status
}

#[tokio::test]
async fn an_active_job_whose_pod_waits_is_pending_with_the_pod_s_reason() {
    let waiting_for_image = json!({ "phase": "Pending", "containerStatuses": [{
        "name": "seed", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
        "state": { "waiting": { "reason": "ImagePullBackOff",
                                "message": "Back-off pulling image \"x\"" } } }] });
    let unschedulable = json!({ "phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/1 nodes are available: 1 Insufficient memory." }] });
    for (pods, reason) in [
        (waiting_for_image, "ImagePullBackOff"),
        (unschedulable, "Unschedulable"),
    ] {
        let (ctx, mut handle) = context();
        let seed = seeded(Phase::Pending);
        let (result, status) = tokio::join!(
            reconcile(Arc::new(seed.clone()), ctx),
            serve_active(&mut handle, &seed, pod_list(pods))
        );
        result.unwrap();
        assert_eq!(status["status"]["phase"], "Pending");
        let condition = &status["status"]["conditions"][0];
        assert_eq!(condition["reason"], reason);
        assert_eq!(condition["status"], "Unknown");
        assert!(
            condition["message"]
                .as_str()
                .unwrap()
                .contains("spring-catalog-pod")
        );
    }
}

#[tokio::test]
async fn an_active_job_is_running_only_while_its_pod_runs() {
    let (ctx, mut handle) = context();
    let seed = seeded(Phase::Pending);
    let (result, status) = tokio::join!(
        reconcile(Arc::new(seed.clone()), ctx),
        serve_active(&mut handle, &seed, pod_list(json!({ "phase": "Running" })))
    );
    result.unwrap();
    assert_eq!(status["status"]["phase"], "Running");
    assert_eq!(status["status"]["conditions"][0]["reason"], "JobRunning");
}
