//! The cost of the client-key check on the hot path, against 1,000 stored keys: the
//! middleware's work (SHA-256 of the presented key, one map lookup, the RPM limit) and the
//! chat handler's (TPM take, budget hold, settle).
//!
//! ```sh
//! cargo run --release -p gateway --example auth_cost -- [ITERATIONS]
//! ```
//!
//! Prints nanoseconds per check as the minimum over 7 runs (the machine may be shared). The
//! checks are async for the sake of `[redis]`; without it they never wait, so `block_on`
//! measures only their work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant;

use futures::executor::block_on;
use gateway::auth::{Auth, AuthClock, Budget, KeyStore, KeyUse, NewKey, Period};

fn min_ns_per_iter(iterations: u32, mut f: impl FnMut()) -> f64 {
    (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.sqlite");
    let mut store = KeyStore::open(&db).unwrap();
    let mut keys = Vec::new();
    for i in 0..1000 {
        let new = NewKey {
            name: format!("k{i}"),
            rpm: NonZeroU32::new(u32::MAX),
            tpm: NonZeroU32::new(u32::MAX),
            budget: Some(Budget {
                limit_usd: 1e9,
                period: Period::Month,
            }),
            models: None,
            guardrails: None,
        };
        keys.push(store.create(&new, 0).unwrap().1.expose().clone());
    }
    let auth = Auth::open(&db, AuthClock::system()).unwrap();
    let key = keys[500].clone();
    let wrong = "sy-this-key-does-not-exist-0000000000000000000";

    let lookup = min_ns_per_iter(iterations, || {
        black_box(auth.lookup(black_box(&key)));
    });
    let miss = min_ns_per_iter(iterations, || {
        black_box(auth.lookup(black_box(wrong)));
    });
    let middleware = min_ns_per_iter(iterations, || {
        black_box(block_on(auth.authenticate(black_box(&key))).is_ok());
    });
    let full = min_ns_per_iter(iterations, || {
        let caller = block_on(auth.authenticate(black_box(&key))).unwrap();
        let charge = KeyUse::new(caller);
        block_on(charge.take_tokens(100)).unwrap();
        block_on(charge.reserve(0.001)).unwrap();
        charge.settle(Some(0.0005), Some((50, 50)));
    });
    println!("| Check (1,000 keys stored) | ns per request (min of 7 runs of {iterations}) |");
    println!("|---|---|");
    println!("| lookup: SHA-256 + map, valid key | {lookup:.0} |");
    println!("| lookup: SHA-256 + map, unknown key | {miss:.0} |");
    println!("| middleware: lookup + RPM (governor) | {middleware:.0} |");
    println!("| whole request: middleware + TPM + budget hold + settle | {full:.0} |");
}
