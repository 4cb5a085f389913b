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

#[test]
fn api_and_worker_on_mongodb_refuse_to_start_without_a_shared_jwt_secret() {
    for command in ["api", "worker"] {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(BINARY)
            .arg(command)
            .current_dir(dir.path())
            .env_clear()
            .env("MONGO_URI", "mongodb://127.0.0.1:1/orderflow")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("  - JWT_SECRET: required by `orderflow "),
            "{command}: {stderr}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "{command} generated a secret of its own"
        );
    }
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

/// A whole session through `orderflow serve` with debug logging as JSON lines: no password,
/// token, secret or email address appears in what it logs.
#[tokio::test]
async fn logs_are_json_lines_without_secrets_tokens_or_email_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = dir.path().join("serve.log");
    let secret = "a-jwt-secret-that-must-never-be-logged-0123456789";
    let child = Command::new(BINARY)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", port.to_string())
        .env("JWT_SECRET", secret)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;

    let email = "Secret.Person@Example.com";
    let token = http.user(email).await;
    let session = http
        .login(email, crate::helpers::PASSWORD)
        .await
        .expect(200)
        .json();
    let refresh_token = session["refreshToken"].as_str().unwrap().to_owned();
    let rotated = http
        .post(
            "/api/auth/refresh",
            None,
            &serde_json::json!({ "refreshToken": refresh_token }),
        )
        .await
        .expect(200)
        .json();
    // A failed login and a reused refresh token are logged too: still without the values.
    http.login(email, "wrong password 123").await.expect(401);
    http.post(
        "/api/auth/refresh",
        None,
        &serde_json::json!({ "refreshToken": refresh_token }),
    )
    .await
    .expect(401);
    let id = http.place_one(&token, "sku-mug", 1).await;
    http.wait_for_status(&token, &id, "PROCESSED").await;
    terminate_and_expect_clean_exit(child, Duration::from_secs(10));

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().count() > 10, "the session was logged:\n{log}");
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }
    assert!(log.contains(&id), "orders are named by id");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let hex = |value: &serde_json::Value, digits: usize| {
        value
            .as_str()
            .is_some_and(|s| s.len() == digits && s.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let in_spans: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line.get("span").is_some())
        .collect();
    assert!(!in_spans.is_empty(), "some lines are written inside spans");
    for line in &in_spans {
        assert!(
            hex(&line["trace_id"], 32) && hex(&line["span_id"], 16),
            "a line inside a span names its trace and span: {line}"
        );
    }
    // The API's lines about the order and the worker's are in the same trace.
    let trace_of_lines_in = |span_name: &str| -> Vec<String> {
        in_spans
            .iter()
            .filter(|line| line.to_string().contains(&id))
            .filter(|line| {
                line["spans"]
                    .as_array()
                    .is_some_and(|spans| spans.iter().any(|s| s["name"] == span_name))
            })
            .map(|line| line["trace_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let api_traces = trace_of_lines_in("request");
    let worker_traces = trace_of_lines_in("process_message");
    assert!(
        worker_traces.iter().any(|t| api_traces.contains(t)),
        "the worker's lines about the order share the request's trace: {api_traces:?} {worker_traces:?}"
    );
    let access_tokens = [
        token.as_str(),
        session["accessToken"].as_str().unwrap(),
        rotated["accessToken"].as_str().unwrap(),
    ];
    let forbidden = [
        ("the password", crate::helpers::PASSWORD),
        ("the wrong password", "wrong password 123"),
        ("the JWT secret", secret),
        ("the refresh token", refresh_token.as_str()),
        (
            "the rotated refresh token",
            rotated["refreshToken"].as_str().unwrap(),
        ),
        ("the email address", "secret.person@example.com"),
        ("the email address", email),
        ("the email's local part", "Secret.Person"),
    ];
    for (what, value) in forbidden {
        assert!(!log.contains(value), "{what} was logged");
    }
    for access in access_tokens {
        // A JWT's signature is what makes it usable; its header is the same for every token.
        let signature = access.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "an access token was logged");
    }
}
