//! Benches of `twofactor`, each against a peer, a floor or a raw-driver baseline measured in the
//! same run. Every command runs from the workspace root; the flags after `--` keep a run short
//! enough for a 2-core machine (criterion's defaults are 3 s of warm-up and 5 s of measurement
//! per function; the login and paging benches default to 1 s and 3 s, and the flags override).
//!
//! | bench | what | against |
//! |---|---|---|
//! | `verify` | code verification | totp-rs, six SHA-1 compressions |
//! | `seal` | sealing secrets at rest | the RustCrypto AEADs |
//! | `login_memory` | a login through `MemoryStore` | `Totp::new` + `verify` from the raw secret |
//! | `login_sqlite` | a login through `SqliteStore` | raw rusqlite: one read, one write transaction |
//! | `login_server` | a login through `PostgresStore`, `SqlxPostgresStore`, `MySqlStore` | raw tokio-postgres / sqlx: `SELECT`, one conditional `UPDATE` |
//! | `latency` | p50/p99 of code logins while recovery-code attempts run (no criterion) | the same without them |
//! | `paging` | `list` / `admin_list` at 90 % of 1,000,000 users | the first page |
//!
//! ```text
//! cargo bench -p twofactor-benches --no-run
//! cargo bench -p twofactor-benches --bench login_memory -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p twofactor-benches --bench login_sqlite -- --warm-up-time 1 --measurement-time 3
//! TWOFACTOR_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! TWOFACTOR_BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo bench -p twofactor-benches --bench login_server -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p twofactor-benches --bench latency
//! TWOFACTOR_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench -p twofactor-benches --bench paging -- --warm-up-time 1 --measurement-time 3
//! python3 benches/summarize.py
//! ```
//!
//! `summarize.py` prints every median under `target/criterion`, the ratios each goal is judged
//! by (with the verdict), and the tables the benches write beside them
//! (`target/criterion/twofactor/*.txt`: the round trips and commits per login counted by
//! `login_server`, the store-and-baseline comparisons alternated login by login that
//! `login_sqlite` and `login_server` run after criterion, the latency table). Each bench file's
//! header says what exactly is measured, and how the baseline was made fair.
//!
//! On a small machine, run nothing else meanwhile (no compiler): the login benches' ratios move
//! by ±10 % between runs when thread wake-ups are slow; the alternated tables are steadier.
//!
//! This library holds what the benches share: the runtime, enrolment, the login harness (one
//! task, and [`CONCURRENT`] users at once, and [`paired`]) and a proxy that counts a
//! connection's round trips ([`TurnProxy`]).
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use twofactor::{
    Clock, EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KdfParams, KeyRing, LoginFactor,
    ManualClock, RecoveryCodeSet, SecretStore, Totp, Verified,
};

/// The clock's start: a fixed time, so runs are alike.
pub const T0: u64 = 1_800_000_000;

/// Users logging in at once in the concurrent cases.
pub const CONCURRENT: usize = 8;

/// A flow on a manual clock: each login of a user needs a fresh time step.
pub type Flow<S> = EnrollmentFlow<S, ManualClock>;

/// The multi-thread runtime the login benches run on: two workers, one per core.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Argon2id at its least cost, for benches that never check a recovery code (enrolment hashes
/// ten of them; the default cost would only slow the setup).
pub fn cheap_kdf() -> KdfParams {
    KdfParams::argon2id(64, 1, 1).unwrap()
}

/// A flow over `store` on `clock`, recovery codes hashed with `kdf`.
pub fn flow_over<S: SecretStore>(store: S, clock: &ManualClock, kdf: KdfParams) -> Flow<S> {
    let mut config = FlowConfig::new("Bench");
    config.kdf = kdf;
    EnrollmentFlow::new(
        store,
        KeyRing::new(EncryptionKey::generate(1).unwrap()),
        config,
    )
    .unwrap()
    .with_clock(clock.clone())
}

/// Enrols `user` (begin, then confirm with the app's code): the app, and the recovery codes.
pub async fn enrol<S: SecretStore>(
    flow: &Flow<S>,
    clock: &ManualClock,
    user: &str,
) -> (Totp, RecoveryCodeSet) {
    let e = flow.begin(user, user).await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let confirmation = flow
        .confirm(
            user,
            e.ticket(),
            app.generate_at(clock.now()).unwrap().as_str(),
        )
        .await
        .unwrap();
    (app, confirmation.into_recovery_codes().unwrap())
}

/// A `u64` as the SQL stores keep it (order-preserving into `i64`), so the baselines write the
/// values the stores write.
pub fn ordered(x: u64) -> i64 {
    i64::from_ne_bytes((x ^ (1 << 63)).to_ne_bytes())
}

/// Every login must succeed, except in the one-in-a-million case where this step's code equals
/// the previous step's: that code was already accepted (newest step wins), so it is a replay.
pub fn check_login(result: Result<Verified, FlowError>, previous: &str, code: &str) {
    match result {
        Ok(verified) => assert_eq!(verified.factor, LoginFactor::Code),
        Err(e) => assert!(
            previous == code,
            "login refused without a code collision: {e:?}"
        ),
    }
}

/// Something that logs users in: a store behind the flow, or a raw-driver baseline.
pub trait Login: Send + Sync + 'static {
    /// What one login needs, prepared before the clock starts (a code, a step).
    type Input: Send + 'static;
    /// The inputs of `rounds` rounds of `users` users, indexed `[round][user]`, for rounds
    /// starting now.
    fn inputs(&self, users: usize, rounds: u64) -> Vec<Vec<Self::Input>>;
    /// Called once at the start of every round (the stores' clock moves one step).
    fn next_round(&self) {}
    /// One login of user number `user`; panics unless it succeeds.
    fn login(&self, user: usize, input: Self::Input) -> impl Future<Output = ()> + Send;
}

/// Runs `rounds` logins of user 0 one after the other, on the calling task.
pub async fn logins_in_sequence<L: Login>(subject: &L, rounds: u64) {
    for round in subject.inputs(1, rounds) {
        subject.next_round();
        for input in round {
            subject.login(0, input).await;
        }
    }
}

/// Benchmarks one login at a time by one user, timed on a task of `rt` (where a server's
/// handler runs), not on the thread that blocks on the runtime.
pub fn bench_single<L: Login>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    id: &str,
    subject: &Arc<L>,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let inputs = subject.inputs(1, iters);
            let subject = subject.clone();
            rt.block_on(rt.spawn(async move {
                let start = Instant::now();
                for round in inputs {
                    subject.next_round();
                    for input in round {
                        subject.login(0, input).await;
                    }
                }
                start.elapsed()
            }))
            .unwrap()
        })
    });
}

/// Benchmarks rounds of `users` users logging in at once, one task each; the time is per round
/// (divide by `users` for the time per login at that concurrency).
pub fn bench_concurrent<L: Login>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    id: &str,
    subject: &Arc<L>,
    users: usize,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let inputs = subject.inputs(users, iters);
            let subject = subject.clone();
            rt.block_on(rt.spawn(async move {
                let start = Instant::now();
                for round in inputs {
                    subject.next_round();
                    let tasks: Vec<_> = round
                        .into_iter()
                        .enumerate()
                        .map(|(user, input)| {
                            let subject = subject.clone();
                            tokio::spawn(async move { subject.login(user, input).await })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                }
                start.elapsed()
            }))
            .unwrap()
        })
    });
}

/// Logins through the flow and a store: read, open the sealed secret, verify, settle.
pub struct StoreLogin<S> {
    /// The flow.
    pub flow: Flow<S>,
    /// The flow's clock, moved one step per round.
    pub clock: ManualClock,
    /// The enrolled users.
    pub users: Vec<String>,
    /// Their authenticator apps.
    pub apps: Vec<Totp>,
}

impl<S: SecretStore> StoreLogin<S> {
    /// Enrols `users` users named `{prefix}-{i}` through `flow`.
    pub async fn enrol(flow: Flow<S>, clock: ManualClock, prefix: &str, users: usize) -> Self {
        let names: Vec<String> = (0..users).map(|i| format!("{prefix}-{i}")).collect();
        let mut apps = Vec::new();
        for name in &names {
            apps.push(enrol(&flow, &clock, name).await.0);
        }
        StoreLogin {
            flow,
            clock,
            users: names,
            apps,
        }
    }
}

impl<S: SecretStore + 'static> Login for StoreLogin<S> {
    /// The code, and the code of the step before (to tell a collision from a failure).
    type Input = (String, String);

    fn inputs(&self, users: usize, rounds: u64) -> Vec<Vec<(String, String)>> {
        let start = self.clock.now();
        (1..=rounds)
            .map(|i| {
                let at = start + 30 * i;
                self.apps[..users]
                    .iter()
                    .map(|app| {
                        (
                            app.generate_at(at).unwrap().to_string(),
                            app.generate_at(at - 30).unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    fn next_round(&self) {
        self.clock.advance(30);
    }

    async fn login(&self, user: usize, (code, previous): (String, String)) {
        let result = self.flow.verify(&self.users[user], &code).await;
        check_login(result, &previous, &code);
    }
}

static NEXT_STEP: AtomicI64 = AtomicI64::new(i64::MIN + (T0 / 30 + 1_000_000_000) as i64);

/// The steps a raw baseline writes for `rounds` rounds of `users` users: each greater than the
/// last in the process (baselines may share users), and far above any step the flow writes, so
/// the baseline's conditional `UPDATE` always writes the row, as an accepted login does.
pub fn steps(users: usize, rounds: u64) -> Vec<Vec<i64>> {
    (0..rounds)
        .map(|_| {
            (0..users)
                .map(|_| NEXT_STEP.fetch_add(1, Ordering::Relaxed))
                .collect()
        })
        .collect()
}

/// A raw row of the users table, decoded as the stores decode it, so the baselines pay for
/// the same column decoding.
#[derive(Debug)]
pub struct RawRow {
    /// `user_id`.
    pub user_id: String,
    /// `version`.
    pub version: i64,
    /// `status`.
    pub status: String,
    /// `state`.
    pub state: String,
    /// `required`.
    pub required: bool,
    /// `recovery_generation`.
    pub recovery_generation: i64,
    /// `recovery`.
    pub recovery: Option<String>,
    /// `last_step`.
    pub last_step: Option<i64>,
    /// `drift`.
    pub drift: i64,
    /// `last_used_at`.
    pub last_used_at: Option<i64>,
    /// `recovery_used`.
    pub recovery_used: i64,
    /// `failures`.
    pub failures: i64,
    /// `last_failure_at`.
    pub last_failure_at: Option<i64>,
}

/// The columns of a user row, in the stores' order.
pub const COLUMNS: &str = "user_id, version, status, state, required, recovery_generation, \
     recovery, last_step, drift, last_used_at, recovery_used, failures, last_failure_at";

/// A TCP proxy in front of a database server that counts round trips: the times the client
/// speaks after the server last did (a pipelined burst is one round trip, however many
/// messages it holds). For the audits only; the timed runs connect directly.
#[derive(Debug, Clone)]
pub struct TurnProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    turns: Arc<AtomicU64>,
}

impl TurnProxy {
    /// Starts a proxy to `target` on the current runtime.
    pub async fn start(target: SocketAddr) -> TurnProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let turns = Arc::new(AtomicU64::new(0));
        let counter = turns.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                tokio::spawn(relay(client, server, counter.clone()));
            }
        });
        TurnProxy { addr, turns }
    }

    /// Round trips so far, over every connection.
    pub fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, turns: Arc<AtomicU64>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Whether the client spoke last.
    let client_last = Arc::new(AtomicBool::new(false));
    let up = {
        let client_last = client_last.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if !client_last.swap(true, Ordering::SeqCst) {
                    turns.fetch_add(1, Ordering::SeqCst);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            client_last.store(false, Ordering::SeqCst);
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// The `host:port` of a `scheme://user@host:port/db` URL.
pub fn url_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host_port = rest.split(['/', '?']).next().unwrap();
    use std::net::ToSocketAddrs;
    host_port.to_socket_addrs().unwrap().next().unwrap()
}

/// `url` with its `host:port` replaced by `addr`.
pub fn url_via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) => (format!("{user}@"), rest),
        None => (String::new(), rest),
    };
    let tail = rest.find(['/', '?']).map_or("", |i| &rest[i..]);
    format!("{scheme}://{user}{addr}{tail}")
}

/// The first non-empty environment variable of `names`.
pub fn env_url(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.is_empty())
}

/// Where the benches write their tables: `twofactor/` beside criterion's own results (the
/// directory criterion picks: `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`, or the target
/// directory holding this executable).
pub fn report_dir() -> PathBuf {
    let criterion = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("criterion"))
        })
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            // <target>/release/deps/<bench>-<hash>
            exe.ancestors().nth(3).unwrap().join("criterion")
        });
    criterion.join("twofactor")
}

/// Prints `text` and writes it to `report_dir()/{name}.txt`.
pub fn report(name: &str, text: &str) {
    println!("{text}");
    let dir = report_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.txt")), text).unwrap();
}

/// Logins of two subjects alternated one by one (`a b b a a b …`), each timed alone: both see
/// the same machine at the same moments (the thread placement, the server's background work),
/// which criterion's one-function-after-the-other cannot promise on a busy 2-core machine. The
/// first tenth is dropped as warm-up. With `users > 1`, each sample is a round of `users` logins
/// at once (a task each), as in [`bench_concurrent`].
pub fn paired<A: Login, B: Login>(
    rt: &Runtime,
    a: &Arc<A>,
    b: &Arc<B>,
    users: usize,
    samples: usize,
) -> (Vec<f64>, Vec<f64>) {
    async fn round<L: Login>(subject: &Arc<L>, users: usize) -> f64 {
        let inputs = subject.inputs(users, 1).pop().unwrap();
        subject.next_round();
        let start = Instant::now();
        if users == 1 {
            for input in inputs {
                subject.login(0, input).await;
            }
        } else {
            let tasks: Vec<_> = inputs
                .into_iter()
                .enumerate()
                .map(|(user, input)| {
                    let subject = subject.clone();
                    tokio::spawn(async move { subject.login(user, input).await })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        }
        start.elapsed().as_secs_f64() * 1e6
    }
    let (a, b) = (a.clone(), b.clone());
    rt.block_on(rt.spawn(async move {
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for i in 0..samples {
            if i % 2 == 0 {
                ta.push(round(&a, users).await);
                tb.push(round(&b, users).await);
            } else {
                tb.push(round(&b, users).await);
                ta.push(round(&a, users).await);
            }
        }
        let warm = samples / 10;
        (ta.split_off(warm), tb.split_off(warm))
    }))
    .unwrap()
}

/// The heading of a table of [`paired_line`]s.
pub const PAIRED_HEADER: &str = "Store and baseline alternated login by login (a b b a ...), \
     each login (single) or round of 8 (concurrent_8) timed alone; the first tenth dropped.";

/// The median of `values`.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// A line for [`paired`]'s result: each side's median (and mean, which the slow tail moves),
/// the ratio of the medians (and of the means), and the median and interquartile range of the
/// ratios pair by pair (store login over the baseline login timed next to it: what drift of the
/// machine or the server over the run cannot move, since both sides of a pair share it).
pub fn paired_line(name: &str, (a, b): &(Vec<f64>, Vec<f64>)) -> String {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (median(a), median(b));
    let (ea, eb) = (mean(a), mean(b));
    let mut ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    ratios.sort_by(f64::total_cmp);
    let quartile = |q: usize| ratios[(ratios.len() - 1) * q / 4];
    format!(
        "{name:<44} median: store {ma:8.1} us, baseline {mb:8.1} us, ratio {:5.2}x | \
         mean: store {ea:8.1} us, baseline {eb:8.1} us, ratio {:5.2}x | \
         per pair: median {:5.2}x, IQR {:4.2}-{:4.2}x | {} pairs",
        ma / mb,
        ea / eb,
        quartile(2),
        quartile(1),
        quartile(3),
        a.len()
    )
}
