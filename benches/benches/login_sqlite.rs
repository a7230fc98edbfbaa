//! A code login through `SqliteStore`, end to end, against raw rusqlite doing one read and one
//! write transaction on the same table, in the same run. Goal: the store at most 1.3x the
//! baseline.
//!
//! ```text
//! cargo bench -p twofactor-benches --bench login_sqlite -- --warm-up-time 1 --measurement-time 3
//! python3 benches/summarize.py
//! ```
//!
//! The baseline (`raw`) is what an async application writing the SQL itself on rusqlite must
//! do: SQLite calls block, so each of the two statements leaves the executor for tokio's
//! blocking pool (`spawn_blocking`), as the store's separate `get` and `settle_attempt` each do.
//! The store's login (`SecretStore::read_and_settle`) takes one hop, for its write: it reads on
//! the calling task when the read cannot wait (a connection kept for it, busy timeout zero), so
//! `raw_one_hop` and `raw_no_hop` bracket it. The baseline reads
//! the row (all 13 columns, decoded) on a pooled read connection with a cached prepared
//! `SELECT`, then runs the store's own conditional `UPDATE` (the accepted step: one write
//! transaction, autocommit) on a single writer connection behind a mutex with a cached prepared
//! statement. Its connections use the store's settings (`src/store/sqlite.rs`,
//! `SqliteStore::connect`): WAL journal, `synchronous = NORMAL`, a 10 s busy timeout. The
//! file and table are the store's; the baseline's users are enrolled through the flow, so their
//! rows are the same size.
//!
//! Diagnostics beside it, to place any difference: `raw_gap` is the baseline with 2.6 us of
//! work on the task between its two hops (what a `MemoryStore` login costs: the flow's own work
//! between `get` and `settle_attempt`, so the blocking thread may have gone to sleep when the
//! second hop comes); `raw_uncached` prepares both statements on every call (as
//! `Connection::query_row` and `Connection::execute` do); `raw_one_hop` runs both statements
//! in one `spawn_blocking`; `raw_no_hop` runs them on the async task itself (blocking the
//! executor: what the hops cost).
//!
//! Logins run on a task of a 2-worker runtime; `concurrent_8` is eight users at once, a task
//! each, time per round. After criterion, the store and the baseline run once more alternated
//! login by login (medians per login or round, written to
//! `target/criterion/twofactor/login_sqlite_paired.txt`), which a noisy machine cannot tilt
//! towards one side.
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use twofactor::{ManualClock, SqliteStore};
use twofactor_benches::{
    COLUMNS, CONCURRENT, Login, PAIRED_HEADER, RawRow, StoreLogin, T0, bench_concurrent,
    bench_single, cheap_kdf, flow_over, paired, paired_line, report, runtime, steps,
};

/// The store's accepted-step statement, verbatim (`SqliteStore::accept_step`).
const UPDATE: &str = "UPDATE twofactor_users SET last_step = ?2, drift = ?3, last_used_at = ?4,
                        failures = 0, last_failure_at = NULL
                     WHERE user_id = ?1 AND failures = ?5 AND version = ?6
                       AND recovery_generation = ?7 AND (last_step IS NULL OR last_step < ?2)";

fn select() -> String {
    format!("SELECT {COLUMNS} FROM twofactor_users WHERE user_id = ?1")
}

/// A connection with the store's settings.
fn connect(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn
}

fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        user_id: row.get(0)?,
        version: row.get(1)?,
        status: row.get(2)?,
        state: row.get(3)?,
        required: row.get(4)?,
        recovery_generation: row.get(5)?,
        recovery: row.get(6)?,
        last_step: row.get(7)?,
        drift: row.get(8)?,
        last_used_at: row.get(9)?,
        recovery_used: row.get(10)?,
        failures: row.get(11)?,
        last_failure_at: row.get(12)?,
    })
}

struct Shared {
    path: PathBuf,
    select: String,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Connection>,
    cached: bool,
}

impl Shared {
    fn read(&self, user: &str) -> RawRow {
        let pooled = self.readers.lock().unwrap().pop();
        let conn = pooled.unwrap_or_else(|| connect(&self.path));
        let row = if self.cached {
            conn.prepare_cached(&self.select)
                .unwrap()
                .query_row([user], decode)
        } else {
            conn.query_row(&self.select, [user], decode)
        }
        .unwrap();
        self.readers.lock().unwrap().push(conn);
        row
    }

    fn write(&self, user: &str, step: i64, (failures, version, generation): (i64, i64, i64)) {
        let conn = self.writer.lock().unwrap();
        let values = params![user, step, 0i64, step, failures, version, generation];
        let n = if self.cached {
            conn.prepare_cached(UPDATE).unwrap().execute(values)
        } else {
            conn.execute(UPDATE, values)
        }
        .unwrap();
        assert_eq!(n, 1, "the baseline's update must write the row");
    }
}

#[derive(Clone, Copy)]
enum Hops {
    /// One `spawn_blocking` per statement.
    Two,
    /// As `Two`, with the time the flow spends between its two calls (a login through
    /// `MemoryStore`) spent on the task between the hops.
    TwoWithGap(Duration),
    /// One `spawn_blocking` for both.
    One,
    /// Both on the async task.
    Zero,
}

struct RawSqlite {
    shared: Arc<Shared>,
    users: Vec<String>,
    hops: Hops,
}

impl RawSqlite {
    fn new(path: &Path, users: &[String], hops: Hops, cached: bool) -> RawSqlite {
        RawSqlite {
            shared: Arc::new(Shared {
                path: path.to_owned(),
                select: select(),
                readers: Mutex::new(Vec::new()),
                writer: Mutex::new(connect(path)),
                cached,
            }),
            users: users.to_vec(),
            hops,
        }
    }
}

impl Login for RawSqlite {
    type Input = i64;

    fn inputs(&self, users: usize, rounds: u64) -> Vec<Vec<i64>> {
        steps(users, rounds)
    }

    async fn login(&self, user: usize, step: i64) {
        let shared = self.shared.clone();
        let name = self.users[user].clone();
        match self.hops {
            Hops::Two => {
                let (s, n) = (shared.clone(), name.clone());
                let row = tokio::task::spawn_blocking(move || s.read(&n))
                    .await
                    .unwrap();
                let row = black_box(row);
                let failures = (row.failures, row.version, row.recovery_generation);
                tokio::task::spawn_blocking(move || shared.write(&name, step, failures))
                    .await
                    .unwrap();
            }
            Hops::TwoWithGap(gap) => {
                let (s, n) = (shared.clone(), name.clone());
                let row = tokio::task::spawn_blocking(move || s.read(&n))
                    .await
                    .unwrap();
                let row = black_box(row);
                let failures = (row.failures, row.version, row.recovery_generation);
                let start = Instant::now();
                while start.elapsed() < gap {
                    std::hint::spin_loop();
                }
                tokio::task::spawn_blocking(move || shared.write(&name, step, failures))
                    .await
                    .unwrap();
            }
            Hops::One => tokio::task::spawn_blocking(move || {
                let row = black_box(shared.read(&name));
                let failures = (row.failures, row.version, row.recovery_generation);
                shared.write(&name, step, failures);
            })
            .await
            .unwrap(),
            Hops::Zero => {
                let row = black_box(shared.read(&name));
                let failures = (row.failures, row.version, row.recovery_generation);
                shared.write(&name, step, failures);
            }
        }
    }
}

fn sqlite(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("twofactor-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _remove = Remove(dir.clone());
    let path = dir.join("login.sqlite3");
    let rt = runtime();
    let clock = ManualClock::new(T0);
    let (store, raw_users) = rt.block_on(async {
        let flow = flow_over(SqliteStore::open(&path).await.unwrap(), &clock, cheap_kdf());
        let raw = StoreLogin::enrol(flow, clock.clone(), "raw-user", CONCURRENT).await;
        let raw_users = raw.users.clone();
        let flow = raw.flow;
        let store = StoreLogin::enrol(flow, clock.clone(), "sqlite-user", CONCURRENT).await;
        (Arc::new(store), raw_users)
    });
    let raw = Arc::new(RawSqlite::new(&path, &raw_users, Hops::Two, true));
    let uncached = Arc::new(RawSqlite::new(&path, &raw_users, Hops::Two, false));
    let one_hop = Arc::new(RawSqlite::new(&path, &raw_users, Hops::One, true));
    let no_hop = Arc::new(RawSqlite::new(&path, &raw_users, Hops::Zero, true));
    let gap = Hops::TwoWithGap(Duration::from_nanos(2_600));
    let with_gap = Arc::new(RawSqlite::new(&path, &raw_users, gap, true));

    let mut group = c.benchmark_group("login_sqlite");
    bench_single(&mut group, &rt, "store/single", &store);
    bench_single(&mut group, &rt, "raw/single", &raw);
    bench_single(&mut group, &rt, "raw_gap/single", &with_gap);
    bench_single(&mut group, &rt, "raw_uncached/single", &uncached);
    bench_single(&mut group, &rt, "raw_one_hop/single", &one_hop);
    bench_single(&mut group, &rt, "raw_no_hop/single", &no_hop);
    let concurrent = format!("concurrent_{CONCURRENT}");
    bench_concurrent(
        &mut group,
        &rt,
        &format!("store/{concurrent}"),
        &store,
        CONCURRENT,
    );
    bench_concurrent(
        &mut group,
        &rt,
        &format!("raw/{concurrent}"),
        &raw,
        CONCURRENT,
    );
    group.finish();

    // The same comparison with the two alternated login by login.
    let text = [
        PAIRED_HEADER.to_owned(),
        paired_line(
            "login_sqlite single: store / raw",
            &paired(&rt, &store, &raw, 1, 4000),
        ),
        paired_line(
            &format!("login_sqlite {concurrent}: store / raw"),
            &paired(&rt, &store, &raw, CONCURRENT, 1000),
        ),
    ];
    report("login_sqlite_paired", &text.join("\n"));
    drop((store, raw, with_gap, uncached, one_hop, no_hop));
    drop(rt);
}

/// Removes the bench's directory when dropped, even after a panic.
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = sqlite
}
criterion_main!(benches);
