//! The `orderflow` executable itself, as a user runs it.
use std::process::{Command, Stdio};
use std::time::Duration;

use orderflow_testkit::services::free_port;

use crate::helpers::{BINARY, Http, terminate_and_expect_clean_exit};

#[tokio::test]
async fn openapi_command_prints_the_served_document() {
    let output = Command::new(BINARY).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let app = crate::helpers::spawn_app().await;
    let served = app.get("/api/openapi.json", None).await.expect(200).json();
    assert_eq!(printed, served);
}

#[test]
fn bad_configuration_is_reported_all_at_once_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", "http")
        .env("JWT_SECRET", "too-short")
        .env("LOG_FORMAT", "xml")
        .env("REDIS_URL", "cache.internal:6379")
        .env("SQS_QUEUE_URL", "orders")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in [
        "PORT",
        "JWT_SECRET",
        "LOG_FORMAT",
        "REDIS_URL",
        "SQS_QUEUE_URL",
    ] {
        assert!(
            stderr.contains(&format!("  - {variable}: ")),
            "{variable} not named in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("too-short"), "the secret is not echoed");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created on a bad configuration"
    );
}

#[tokio::test]
async fn serve_runs_with_no_configuration_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(BINARY)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;
    let inventory = http.get("/api/inventory", None).await.expect(200).json();
    assert!(
        !inventory["items"].as_array().unwrap().is_empty(),
        "demo catalog seeded"
    );

    let data = dir.path().join("data");
    assert!(data.join("orderflow.sqlite3").is_file());
    let secret = data.join("jwt-secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let kept = std::fs::read_to_string(&secret).unwrap();
    assert!(kept.trim().len() >= 32);

    terminate_and_expect_clean_exit(child, Duration::from_secs(10));
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        kept,
        "the secret is kept, not regenerated"
    );
}

#[test]
fn crd_command_prints_the_inventory_seed_definition() {
    let output = Command::new(BINARY).arg("crd").output().unwrap();
    assert!(output.status.success());
    let yaml = String::from_utf8(output.stdout).unwrap();
    assert!(
        yaml.starts_with(
            "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        )
    );
    for expected in [
        "name: inventoryseeds.orderflow.dev",
        "kind: InventorySeed",
        "scope: Namespaced",
        "status: {}",
        "openAPIV3Schema:",
    ] {
        assert!(yaml.contains(expected), "{expected} missing from:\n{yaml}");
    }
}

/// The controller with an API server that does not answer: it keeps campaigning for the
/// lease as a standby, its probes and metrics answer, and SIGTERM stops it cleanly.
#[tokio::test]
async fn controller_serves_probes_and_metrics_while_it_waits_for_the_api_server() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let unreachable = free_port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
             clusters:\n- name: test\n  cluster:\n    server: http://127.0.0.1:{unreachable}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: orderflow\n\
             users:\n- name: test\n  user:\n    token: test\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("controller.log")).unwrap();
    let child = Command::new(BINARY)
        .arg("controller")
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("CONTROLLER_PORT", port.to_string())
        .env("POD_NAME", "controller-test")
        .env("POD_NAMESPACE", "orderflow")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;
    let health = http.get("/healthz", None).await.expect(200);
    assert_eq!(health.text, "ok");
    let ready = http.get("/readyz", None).await.expect(200).json();
    assert_eq!(ready["role"], "standby", "no lease without an API server");
    let metrics = http.get("/metrics", None).await.expect(200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "Prometheus text format"
    );
    assert!(
        metrics
            .text
            .contains("orderflow_controller_reconciliations_total{outcome=\"success\"} 0"),
        "{}",
        metrics.text
    );
    terminate_and_expect_clean_exit(child, Duration::from_secs(10));
}
