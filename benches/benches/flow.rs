//! A login's second-factor verification end to end: read the record, open the sealed secret,
//! verify the code, and the replay write (advance the last step), through each store; one task,
//! and eight users logging in concurrently. The core verification alone runs in the same
//! process for the ratio.
//!
//! PostgreSQL runs when `TWOFACTOR_BENCH_POSTGRES_URL` (or `TWOFACTOR_TEST_POSTGRES_URL`) is
//! set. Run `cargo bench -p twofactor-benches --bench flow`, then `benches/summarize.py`.
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use twofactor::{
    Clock, EncryptionKey, EnrollmentFlow, FlowConfig, KdfParams, KeyRing, LoginFactor, ManualClock,
    MemoryStore, PostgresStore, SecretStore, SqliteStore, Totp, TotpParams, TotpState, Verified,
};

const T0: u64 = 1_800_000_000;
const CONCURRENT: usize = 8;

type Flow<S> = EnrollmentFlow<S, ManualClock>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn flow_over<S: SecretStore>(store: S, clock: &ManualClock) -> Flow<S> {
    let mut config = FlowConfig::new("Bench");
    config.kdf = KdfParams::argon2id(64, 1, 1).unwrap();
    EnrollmentFlow::new(
        store,
        KeyRing::new(EncryptionKey::generate(1).unwrap()),
        config,
    )
    .unwrap()
    .with_clock(clock.clone())
}

async fn enrol<S: SecretStore>(flow: &Flow<S>, clock: &ManualClock, user: &str) -> Totp {
    let e = flow.begin(user, user).await.unwrap();
    let app = e.uri().to_totp().unwrap();
    flow.confirm(
        user,
        e.ticket(),
        app.generate_at(clock.now()).unwrap().as_str(),
    )
    .await
    .unwrap();
    app
}

/// Benchmarks single and concurrent logins over one store.
fn bench_store<S: SecretStore + 'static>(c: &mut Criterion, name: &str, make: impl AsyncMake<S>) {
    let rt = runtime();
    let clock = ManualClock::new(T0);
    let flow = Arc::new(rt.block_on(async { flow_over(make.make().await, &clock).await }));
    let users: Vec<String> = (0..CONCURRENT)
        .map(|i| format!("{name}-user-{i}"))
        .collect();
    let apps: Vec<Totp> = rt.block_on(async {
        let mut apps = Vec::new();
        for u in &users {
            apps.push(enrol(&flow, &clock, u).await);
        }
        apps
    });

    let mut group = c.benchmark_group(format!("login/{name}"));
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("single", |b| {
        b.iter_custom(|iters| {
            // Each login needs a fresh time step; codes are computed before timing starts.
            let start_time = clock.now();
            let codes: Vec<String> = (1..=iters)
                .map(|i| {
                    apps[0]
                        .generate_at(start_time + 30 * i)
                        .unwrap()
                        .to_string()
                })
                .collect();
            let flow = flow.clone();
            let clock = clock.clone();
            let user = users[0].clone();
            rt.block_on(async move {
                let start = Instant::now();
                for (i, code) in codes.iter().enumerate() {
                    clock.advance(30);
                    let r = flow.verify(&user, code).await;
                    check(r, i.checked_sub(1).map(|p| &codes[p]), code);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function(format!("concurrent_{CONCURRENT}_per_round"), |b| {
        b.iter_custom(|iters| {
            let start_time = clock.now();
            // (code, code of the step before) per user and round.
            let codes: Vec<Vec<(String, String)>> = (1..=iters)
                .map(|i| {
                    apps.iter()
                        .map(|a| {
                            let at = start_time + 30 * i;
                            (
                                a.generate_at(at).unwrap().to_string(),
                                a.generate_at(at - 30).unwrap().to_string(),
                            )
                        })
                        .collect()
                })
                .collect();
            let flow = flow.clone();
            let clock = clock.clone();
            let users = users.clone();
            rt.block_on(async move {
                let start = Instant::now();
                for round in codes {
                    clock.advance(30);
                    let tasks: Vec<_> = users
                        .iter()
                        .zip(round)
                        .map(|(user, (code, previous))| {
                            let (flow, user) = (flow.clone(), user.clone());
                            tokio::spawn(async move {
                                (flow.verify(&user, &code).await, code, Some(previous))
                            })
                        })
                        .collect();
                    for t in tasks {
                        let (r, code, previous) = t.await.unwrap();
                        check(r, previous.as_ref(), &code);
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// Every login must succeed, except the one-in-a-million case where this step's code equals
/// the previous step's: that code was already accepted (newest step wins), so it is a replay.
fn check(result: Result<Verified, twofactor::FlowError>, previous: Option<&String>, code: &String) {
    match result {
        Ok(verified) => assert_eq!(verified.factor, LoginFactor::Code),
        Err(e) => assert!(
            previous == Some(code),
            "login refused without a code collision: {e:?}"
        ),
    }
}

/// Builds a store inside the runtime.
trait AsyncMake<S> {
    fn make(&self) -> impl std::future::Future<Output = S>;
}

struct MakeMemory;
impl AsyncMake<MemoryStore> for MakeMemory {
    async fn make(&self) -> MemoryStore {
        MemoryStore::new()
    }
}

struct MakeSqlite(std::path::PathBuf);
impl AsyncMake<SqliteStore> for MakeSqlite {
    async fn make(&self) -> SqliteStore {
        let _ = std::fs::remove_file(&self.0);
        SqliteStore::open(&self.0).await.unwrap()
    }
}

struct MakePostgres(String, String);
impl AsyncMake<PostgresStore> for MakePostgres {
    async fn make(&self) -> PostgresStore {
        PostgresStore::connect_with_schema(&self.0, &self.1)
            .await
            .unwrap()
    }
}

fn core_verify(c: &mut Criterion) {
    let secret = twofactor::Secret::generate(twofactor::Algorithm::Sha1).unwrap();
    let totp = Totp::new(&secret, TotpParams::default());
    let code = totp.generate_at(T0).unwrap().to_string();
    let fresh = TotpState::default();
    c.bench_function("login/core/totp_verify_prepared", |b| {
        b.iter(|| totp.verify(black_box(&code), black_box(T0), black_box(&fresh)))
    });
    c.bench_function("login/core/totp_new_and_verify", |b| {
        b.iter(|| {
            Totp::new(black_box(&secret), TotpParams::default()).verify(
                black_box(&code),
                black_box(T0),
                black_box(&fresh),
            )
        })
    });
}

fn memory(c: &mut Criterion) {
    bench_store(c, "memory", MakeMemory);
}

fn sqlite(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("twofactor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    bench_store(c, "sqlite", MakeSqlite(dir.join("bench.sqlite3")));
    let _ = std::fs::remove_dir_all(&dir);
}

fn postgres(c: &mut Criterion) {
    let url = std::env::var("TWOFACTOR_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TWOFACTOR_TEST_POSTGRES_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        eprintln!("SKIPPED: set TWOFACTOR_BENCH_POSTGRES_URL to benchmark PostgresStore");
        return;
    };
    let schema = format!("twofactor_bench_{}", std::process::id());
    bench_store(c, "postgres", MakePostgres(url.clone(), schema.clone()));
    runtime().block_on(async {
        if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
        }
    });
}

criterion_group!(benches, core_verify, memory, sqlite, postgres);
criterion_main!(benches);
