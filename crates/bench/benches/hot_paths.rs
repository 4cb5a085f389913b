//! The pure code on every request's path, so a regression shows up in review:
//! verifying an access token, validating and pricing an order, encoding an order as JSON.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use orderflow_api::auth::{JwtAccessTokens, JwtSecret};
use orderflow_core::ports::AccessTokens;
use orderflow_core::{OrderRequest, UserId, now};
use orderflow_testkit::fixtures::{order_of, product};

fn token_verification(c: &mut Criterion) {
    let secret =
        JwtSecret::new(b"a benchmark secret of at least thirty-two bytes".to_vec()).unwrap();
    let tokens = JwtAccessTokens::new(&secret, Duration::from_secs(900));
    let user = UserId::generate();
    let token = tokens.issue(user, now()).unwrap().token;
    c.bench_function("verify an access token", |b| {
        b.iter(|| tokens.verify(black_box(&token)).unwrap())
    });
}

fn order_validation_and_pricing(c: &mut Criterion) {
    let catalog: Vec<_> = (0..10)
        .map(|i| product(&format!("sku-{i}"), 1_999 + i, 1_000))
        .collect();
    let raw: Vec<(String, i64)> = (0..10).map(|i| (format!("sku-{i}"), 1 + i)).collect();
    let lines: Vec<(&str, i64)> = raw.iter().map(|(id, q)| (id.as_str(), *q)).collect();
    let user = UserId::generate();
    c.bench_function("validate and price a 10-line order", |b| {
        b.iter(|| {
            let request = OrderRequest::parse(black_box(&raw), None).unwrap();
            black_box(request);
            order_of(user, black_box(&catalog), black_box(&lines))
        })
    });
}

fn order_encoding(c: &mut Criterion) {
    let catalog = vec![
        product("sku-mug", 1_999, 100),
        product("sku-tee", 2_499, 100),
    ];
    let order = order_of(
        UserId::generate(),
        &catalog,
        &[("sku-mug", 2), ("sku-tee", 1)],
    );
    c.bench_function("encode an order as JSON", |b| {
        b.iter(|| serde_json::to_vec(black_box(&order)).unwrap())
    });
}

criterion_group!(
    hot_paths,
    token_verification,
    order_validation_and_pricing,
    order_encoding
);
criterion_main!(hot_paths);
