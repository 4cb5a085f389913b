//! Load that wrk cannot make: `rate` sends orders at a fixed rate (an open model: a slow
//! answer does not slow the sender) and reports latency percentiles; `fill` places a fixed
//! number of orders as fast as `--connections` clients can; `startup` times an `orderflow
//! serve` from exec to its first `/readyz` 200 and reads its resident memory. Each prints
//! one JSON line.
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use orderflow_bench::quantile;
use serde_json::json;
use tokio::task::JoinSet;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Load,
}

#[derive(Subcommand)]
enum Load {
    /// POST /api/orders at a fixed rate.
    Rate {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        product: String,
        #[arg(long)]
        per_second: u32,
        #[arg(long)]
        seconds: u64,
    },
    /// POST /api/orders `count` times from `connections` clients.
    Fill {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        product: String,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 32)]
        connections: usize,
    },
    /// Exec `binary serve` on `data_dir` and wait for `/readyz` 200 on `port`; its resident
    /// memory then, and again after `idle_ms` with no requests.
    Startup {
        #[arg(long)]
        binary: String,
        #[arg(long)]
        data_dir: String,
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        idle_ms: u64,
    },
}

fn order_request(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    product: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("{base}/api/orders"))
        .bearer_auth(token)
        .json(&json!({ "items": [{ "productId": product, "quantity": 1 }] }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Load::Rate {
            base,
            token,
            product,
            per_second,
            seconds,
        } => {
            let client = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut requests = JoinSet::new();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(seconds) {
                tick.tick().await;
                let request = order_request(&client, &base, &token, &product);
                requests.spawn(async move {
                    let sent = Instant::now();
                    let ok = request
                        .send()
                        .await
                        .is_ok_and(|r| r.status().as_u16() == 201);
                    (ok, sent.elapsed())
                });
            }
            let sent_for = started.elapsed();
            let results = requests.join_all().await;
            let ok = results.iter().filter(|(ok, _)| *ok).count();
            let mut latencies: Vec<Duration> = results.iter().map(|(_, took)| *took).collect();
            let p50 = quantile(&mut latencies, 0.5);
            let p99 = quantile(&mut latencies, 0.99);
            println!(
                "{}",
                json!({
                    "sent": results.len(),
                    "ok": ok,
                    "rate": results.len() as f64 / sent_for.as_secs_f64(),
                    "p50_ms": p50.as_secs_f64() * 1e3,
                    "p99_ms": p99.as_secs_f64() * 1e3,
                })
            );
        }
        Load::Fill {
            base,
            token,
            product,
            count,
            connections,
        } => {
            let client = reqwest::Client::new();
            let next = Arc::new(AtomicUsize::new(0));
            let placed = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let mut clients = JoinSet::new();
            for _ in 0..connections {
                let (client, next, placed) =
                    (client.clone(), Arc::clone(&next), Arc::clone(&placed));
                let (base, token, product) = (base.clone(), token.clone(), product.clone());
                clients.spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        let answer = order_request(&client, &base, &token, &product).send().await;
                        if answer.is_ok_and(|r| r.status().as_u16() == 201) {
                            placed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            clients.join_all().await;
            let took = started.elapsed().as_secs_f64();
            let placed = placed.load(Ordering::Relaxed);
            println!(
                "{}",
                json!({ "placed": placed, "seconds": took, "rate": placed as f64 / took })
            );
        }
        Load::Startup {
            binary,
            data_dir,
            port,
            idle_ms,
        } => {
            let client = reqwest::Client::new();
            let url = format!("http://127.0.0.1:{port}/readyz");
            let started = Instant::now();
            let mut child = Command::new(&binary)
                .arg("serve")
                .env("DATA_DIR", &data_dir)
                .env("PORT", port.to_string())
                .env("HOST", "127.0.0.1")
                .env("LOG_FORMAT", "json")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let ready = loop {
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    break started.elapsed();
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(30),
                    "not ready in 30 s"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            let ready_rss = resident_mib(child.id());
            tokio::time::sleep(Duration::from_millis(idle_ms)).await;
            let idle_rss = resident_mib(child.id());
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
            child.wait()?;
            println!(
                "{}",
                json!({
                    "ready_ms": ready.as_secs_f64() * 1e3,
                    "ready_rss_mib": ready_rss,
                    "idle_rss_mib": idle_rss,
                    "idle_ms": idle_ms,
                })
            );
        }
    }
    Ok(())
}

/// A process's resident memory (`VmRSS`) in MiB, or 0 if it cannot be read.
fn resident_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0.0, |kib| kib as f64 / 1024.0)
}
