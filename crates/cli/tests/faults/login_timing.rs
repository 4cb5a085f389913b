//! Enumerating accounts by login time: an unknown email must cost what a wrong password
//! costs (a dummy hash is verified), within 20%.
use std::time::Instant;

use crate::helpers::{PASSWORD, spawn_app_with};

#[tokio::test]
async fn a_login_takes_as_long_for_an_unknown_email_as_for_a_wrong_password() {
    let _serial = crate::serially().await;
    let app = spawn_app_with(|args| {
        args.auth_rate_limit_per_minute = Some("1000".into());
        args.login_failure_limit = Some("1000".into());
    })
    .await;
    app.register("timing@example.com").await.expect(201);
    // Warm up both paths, then alternate so drift affects both alike.
    app.login("timing@example.com", "wrong password 0")
        .await
        .expect(401);
    app.login("nobody@example.com", "wrong password 0")
        .await
        .expect(401);
    // Pairs back to back, so a burst of load elsewhere lands on both halves of a pair;
    // the median of the pairs' ratios decides.
    const PAIRS: u32 = 25;
    let mut ratios = Vec::new();
    let (mut wrong_total, mut unknown_total) = (0.0, 0.0);
    for round in 0..PAIRS {
        let started = Instant::now();
        app.login("timing@example.com", &format!("wrong password {round}"))
            .await
            .expect(401);
        let wrong = started.elapsed().as_secs_f64();
        let started = Instant::now();
        app.login(&format!("nobody{round}@example.com"), PASSWORD)
            .await
            .expect(401);
        let unknown = started.elapsed().as_secs_f64();
        ratios.push(unknown / wrong);
        wrong_total += wrong;
        unknown_total += unknown;
    }
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let (wrong, unknown) = (
        wrong_total / f64::from(PAIRS),
        unknown_total / f64::from(PAIRS),
    );
    println!(
        "login: wrong password {wrong:.4}s, unknown email {unknown:.4}s on average; median ratio {ratio:.2}"
    );
    assert!(
        (0.8..=1.25).contains(&ratio),
        "mean login: wrong password {wrong:.4}s, unknown email {unknown:.4}s; median ratio {ratio:.2}"
    );
}
