//! A code login through `MemoryStore`, end to end (`EnrollmentFlow::verify`: read the record,
//! decode the state, open the sealed secret, verify, settle the attempt, issue the
//! recent-verification proof), against the core's verification from the raw secret
//! (`Totp::new` + `verify` of the current step's code), in the same run. Goal: the login at most
//! 2x the core.
//!
//! ```text
//! cargo bench -p twofactor-benches --bench login_memory -- --warm-up-time 1 --measurement-time 3
//! python3 benches/summarize.py
//! ```
//!
//! - `login_memory/store/single`: one login at a time (on a task of a 2-worker runtime);
//! - `login_memory/store/concurrent_8`: eight users at once, a task each, time per round;
//! - `login_memory/core/totp_new_and_verify`: the baseline;
//! - `login_memory/core/totp_verify_prepared`: verification alone, the `Totp` built once;
//! - `login_memory/parts/*`: what a login does beyond the baseline, each alone through the
//!   public API: the two store operations, opening a sealed secret, sealing (as the proof is
//!   sealed: AES-256-GCM-SIV under a fresh nonce from the OS).
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use twofactor::store::Attempt;
use twofactor::{
    EncryptionKey, KeyRing, ManualClock, MemoryStore, Secret, SecretStore, Totp, TotpParams,
    TotpState,
};
use twofactor_benches::{
    CONCURRENT, StoreLogin, T0, bench_concurrent, bench_single, cheap_kdf, flow_over, runtime,
};

fn logins(c: &mut Criterion) {
    let rt = runtime();
    let clock = ManualClock::new(T0);
    let subject = Arc::new(rt.block_on(StoreLogin::enrol(
        flow_over(MemoryStore::new(), &clock, cheap_kdf()),
        clock.clone(),
        "memory-user",
        CONCURRENT,
    )));

    let mut group = c.benchmark_group("login_memory");
    bench_single(&mut group, &rt, "store/single", &subject);

    let secret = Secret::generate(twofactor::Algorithm::Sha1).unwrap();
    let totp = Totp::new(&secret, TotpParams::default());
    let code = totp.generate_at(T0).unwrap().to_string();
    let fresh = TotpState::default();
    group.bench_function("core/totp_new_and_verify", |b| {
        b.iter(|| {
            Totp::new(black_box(&secret), TotpParams::default()).verify(
                black_box(&code),
                black_box(T0),
                black_box(&fresh),
            )
        })
    });
    group.bench_function("core/totp_verify_prepared", |b| {
        b.iter(|| totp.verify(black_box(&code), black_box(T0), black_box(&fresh)))
    });
    bench_concurrent(
        &mut group,
        &rt,
        &format!("store/concurrent_{CONCURRENT}"),
        &subject,
        CONCURRENT,
    );

    // The parts, through the public API.
    let store = subject.flow.store().clone();
    let user = subject.users[1].clone();
    group.bench_function("parts/store_get", |b| {
        b.iter_custom(|iters| {
            let (store, user) = (store.clone(), user.clone());
            rt.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(store.get(&user).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("parts/store_settle_accept", |b| {
        b.iter_custom(|iters| {
            let (store, user) = (store.clone(), user.clone());
            rt.block_on(async move {
                let read = store.get(&user).await.unwrap().unwrap();
                let (first, version) = (read.last_step.unwrap(), read.version);
                let generation = read.cold.recovery_generation;
                let start = Instant::now();
                for i in 1..=iters {
                    let attempt = Attempt::AcceptStep {
                        step: first + i,
                        drift: 0,
                        version,
                        generation,
                    };
                    assert!(store.settle_attempt(&user, 0, attempt, T0).await.unwrap());
                }
                start.elapsed()
            })
        })
    });
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let user_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let sealed = keys.seal(user_id, &secret).unwrap();
    group.bench_function("parts/keyring_open", |b| {
        b.iter(|| keys.open(black_box(user_id), black_box(&sealed)).unwrap())
    });
    group.bench_function("parts/keyring_seal", |b| {
        b.iter(|| keys.seal(black_box(user_id), black_box(&secret)).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = logins
}
criterion_main!(benches);
