//! A code login through `MemoryStore` (`EnrollmentFlow::verify`, end to end) for a user with one
//! authenticator and for a user with five, in the same run:
//!
//! ```text
//! cargo bench -p twofactor-benches --bench authenticators
//! python3 benches/summarize.py
//! ```
//!
//! - `authenticators/one`: one authenticator (today's path: one read, one `settle_attempt`);
//! - `authenticators/five_last_matches`: five, the code of the last one added: every secret is
//!   opened and every authenticator's window scanned (as on every login of such a user), then
//!   the attempt is reserved on the failure count and accepted by a compare-and-swap;
//! - `authenticators/five_primary_matches`: five, the code of the primary (every window
//!   scanned, then one `settle_attempt`).
//!
//! Each login is a fresh time step (a manual clock moved 30 s per login); the rare code equal to
//! the previous step's is refused as a replay, like any such code.
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use twofactor::{Clock, ManualClock, MemoryStore, Reauth, Totp};
use twofactor_benches::{Flow, T0, cheap_kdf, enrol, flow_over, runtime};

/// A user with `count` authenticators: the flow, its clock, and every app, primary first.
async fn user_with(count: usize) -> (Flow<MemoryStore>, ManualClock, Vec<Totp>) {
    let clock = ManualClock::new(T0);
    let flow = flow_over(MemoryStore::new(), &clock, cheap_kdf());
    let (primary, _) = enrol(&flow, &clock, "u").await;
    let mut apps = vec![primary];
    for i in 1..count {
        clock.advance(30);
        let code = apps[0].generate_at(clock.now()).unwrap();
        let proof = flow.verify("u", code.as_str()).await.unwrap().proof;
        let e = flow
            .begin_add_authenticator("u", "u", &format!("app {i}"), Reauth::recent(&proof))
            .await
            .unwrap();
        let app = e.uri().to_totp().unwrap();
        flow.confirm(
            "u",
            e.ticket(),
            app.generate_at(clock.now()).unwrap().as_str(),
        )
        .await
        .unwrap();
        apps.push(app);
    }
    clock.advance(30);
    (flow, clock, apps)
}

fn logins(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("authenticators");
    for (name, count, which) in [
        ("one", 1usize, 0usize),
        ("five_last_matches", 5, 4),
        ("five_primary_matches", 5, 0),
    ] {
        let (flow, clock, apps) = rt.block_on(user_with(count));
        let app = apps[which].clone();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                // The codes of the next `iters` steps, computed before the clock starts.
                let start_at = clock.now();
                let codes: Vec<String> = (1..=iters)
                    .map(|i| app.generate_at(start_at + 30 * i).unwrap().to_string())
                    .collect();
                rt.block_on(async {
                    let mut spent = Duration::ZERO;
                    let mut refused = 0u64;
                    for code in &codes {
                        clock.advance(30);
                        let start = Instant::now();
                        let v = black_box(flow.verify("u", black_box(code)).await);
                        spent += start.elapsed();
                        // A code equal to the previous step's (one in a million) is a replay.
                        refused += u64::from(v.is_err());
                    }
                    assert!(
                        refused <= 3 + iters / 10_000,
                        "{refused} of {iters} refused"
                    );
                    spent
                })
            })
        });
    }
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
