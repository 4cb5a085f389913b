//! Leader election against kube's mock API service.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use orderflow_controller::LeaseSettings;
use orderflow_controller::lease::LeaseLock;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/orderflow/leases/orderflow-controller";

fn lock(identity: &str) -> (LeaseLock, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let settings = LeaseSettings {
        name: "orderflow-controller".into(),
        namespace: "orderflow".into(),
        identity: identity.into(),
        duration: Duration::from_secs(15),
    };
    (
        LeaseLock::new(Client::new(service, "orderflow"), settings),
        handle,
    )
}

async fn answer(
    handle: &mut Handle,
    method: Method,
    path: &str,
    status: u16,
    body: Value,
) -> Value {
    let (request, respond) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.method(), method);
    assert_eq!(request.uri().path(), path);
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let sent = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    respond.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
    sent
}

fn lease(holder: &str, renewed: &str) -> Value {
    json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": { "name": "orderflow-controller", "namespace": "orderflow", "resourceVersion": "7" },
            "spec": { "holderIdentity": holder, "leaseDurationSeconds": 15,
                      "renewTime": renewed, "leaseTransitions": 2 } })
}

fn not_found() -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not found" })
}

#[tokio::test]
async fn a_missing_lease_is_created_and_held() {
    let (lock, mut handle) = lock("pod-a");
    let serve = async {
        answer(&mut handle, Method::GET, PATH, 404, not_found()).await;
        answer(
            &mut handle,
            Method::POST,
            "/apis/coordination.k8s.io/v1/namespaces/orderflow/leases",
            201,
            lease("pod-a", "2026-11-22T05:00:00.000000Z"),
        )
        .await
    };
    let (leading, created) = tokio::join!(lock.try_acquire_or_renew(), serve);
    assert!(leading.unwrap());
    assert_eq!(created["spec"]["holderIdentity"], "pod-a");
}

#[tokio::test]
async fn a_lease_another_replica_renews_is_not_taken() {
    let (lock, mut handle) = lock("pod-b");
    let fresh = k8s_openapi::jiff::Timestamp::now().to_string();
    let serve = answer(&mut handle, Method::GET, PATH, 200, lease("pod-a", &fresh));
    let (leading, _) = tokio::join!(lock.try_acquire_or_renew(), serve);
    assert!(!leading.unwrap(), "pod-a still holds it");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_a_lost_race_is_not_an_error() {
    let (lock, mut handle) = lock("pod-b");
    let serve = async {
        answer(
            &mut handle,
            Method::GET,
            PATH,
            200,
            lease("pod-a", "2020-01-01T00:00:00.000000Z"),
        )
        .await;
        let replaced = answer(
            &mut handle,
            Method::PUT,
            PATH,
            200,
            lease("pod-b", "2026-11-22T05:00:00.000000Z"),
        )
        .await;
        answer(
            &mut handle,
            Method::GET,
            PATH,
            200,
            lease("pod-a", "2020-01-01T00:00:00.000000Z"),
        )
        .await;
        answer(&mut handle, Method::PUT, PATH, 409, json!({ "kind": "Status", "apiVersion": "v1",
            "metadata": {}, "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict" })).await;
        replaced
    };
    let race = async {
        let first = lock.try_acquire_or_renew().await;
        let second = lock.try_acquire_or_renew().await;
        (first, second)
    };
    let ((first, second), replaced) = tokio::join!(race, serve);
    assert!(first.unwrap(), "taken over");
    assert_eq!(replaced["spec"]["holderIdentity"], "pod-b");
    assert_eq!(replaced["spec"]["leaseTransitions"], 3);
    assert_eq!(
        replaced["metadata"]["resourceVersion"], "7",
        "optimistic concurrency"
    );
    assert!(!second.unwrap(), "another replica wrote first");
}

#[tokio::test]
async fn release_gives_up_a_lease_held_and_leaves_another_s_alone() {
    let (holder, mut handle) = lock("pod-a");
    let serve = read_then_write(&mut handle, lease("pod-a", "2026-12-07T01:00:00.000000Z"));
    let (released, sent) = tokio::join!(holder.release(), serve);
    released.unwrap();
    assert!(sent["spec"].get("holderIdentity").is_none(), "{sent}");

    let (standby, mut handle) = lock("pod-a");
    let serve = async {
        answer(
            &mut handle,
            Method::GET,
            PATH,
            200,
            lease("pod-b", "2026-12-07T01:00:00.000000Z"),
        )
        .await;
        let next = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
        assert!(
            next.is_err() || next.is_ok_and(|r| r.is_none()),
            "wrote another's lease"
        );
    };
    let (released, ()) = tokio::join!(standby.release(), serve);
    released.unwrap();
}

#[tokio::test]
async fn a_released_lease_is_free_at_once() {
    let (standby, mut handle) = lock("pod-b");
    let mut released = lease("", "2099-01-01T00:00:00.000000Z");
    released["spec"]
        .as_object_mut()
        .unwrap()
        .remove("holderIdentity");
    let serve = read_then_write(&mut handle, released);
    let (taken, sent) = tokio::join!(standby.try_acquire_or_renew(), serve);
    assert!(
        taken.unwrap(),
        "a lease without a holder is free, however recent its renewal"
    );
    assert_eq!(sent["spec"]["holderIdentity"], "pod-b");
}

/// Serves a read of the Lease as `current`, then the write the lock makes; returns the write.
async fn read_then_write(handle: &mut Handle, current: Value) -> Value {
    answer(handle, Method::GET, PATH, 200, current).await;
    answer(handle, Method::PUT, PATH, 200, json!({})).await
}
