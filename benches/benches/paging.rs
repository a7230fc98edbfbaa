//! `admin_list` paging over 1,000,000 users: a page of 50 starting after the 900,000th user
//! (in id order) against the first page, on `SqliteStore` and `PostgresStore`, in the same run.
//! Goal: the page at 90 % at most 2x the first page.
//!
//! ```text
//! TWOFACTOR_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench -p twofactor-benches --bench paging -- --warm-up-time 1 --measurement-time 3
//! python3 benches/summarize.py
//! ```
//!
//! PostgreSQL runs when `TWOFACTOR_BENCH_POSTGRES_URL` (or `TWOFACTOR_TEST_POSTGRES_URL`) is set;
//! `TWOFACTOR_BENCH_PAGING_USERS` sets another number of users (for a quick check).
//! Setup, untimed: one user (`user-0000000`) is enrolled through the flow (default `KdfParams`, so
//! the record is a real one: sealed secret, ten hashed recovery codes); its row is then copied to
//! `user-0000001` … `user-0999999` with one bulk `INSERT … SELECT` through the raw driver into the
//! store's own table (a fresh SQLite file; a fresh PostgreSQL schema made by
//! `PostgresStore::connect_with_schema`), and the table is analysed (`ANALYZE`; `VACUUM ANALYZE`
//! on PostgreSQL). The file and the schema are removed afterwards.
//!
//! Timed: `BACKEND/list/{first,at_90pct}` is `SecretStore::list(All, after, 50)` with `after`
//! `None` or `Some("user-0899999")`; `BACKEND/admin_list/{first,at_90pct}` is
//! `EnrollmentFlow::admin_list` on the same pages (the rows decoded into statuses as well).
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::types::Value;
use tokio::runtime::Runtime;
use twofactor::{KdfParams, ListFilter, ManualClock, PostgresStore, SecretStore, SqliteStore};
use twofactor_benches::{Flow, T0, enrol, env_url, flow_over, runtime};

const PAGE: usize = 50;
const TEMPLATE: &str = "user-0000000";

/// Users in the table: 1,000,000, or `TWOFACTOR_BENCH_PAGING_USERS` (for a quick check).
fn users() -> u64 {
    std::env::var("TWOFACTOR_BENCH_PAGING_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The id of the `n`-th user in id order (`user-0000000` is the first).
fn nth(n: u64) -> String {
    format!("user-{:07}", n - 1)
}
/// The columns after `user_id`.
const REST: &str = "version, status, state, required, recovery_generation, recovery, last_step, \
     drift, last_used_at, recovery_used, failures, last_failure_at";

fn pages<S: SecretStore>(c: &mut Criterion, rt: &Runtime, backend: &str, flow: &Flow<S>) {
    // The page after the user at 90 %: the 900,000th of 1,000,000.
    let at_90 = nth(users() / 10 * 9);
    let at_90 = at_90.as_str();
    // The pages are what they claim to be.
    rt.block_on(async {
        let first = flow
            .store()
            .list(ListFilter::All, None, PAGE)
            .await
            .unwrap();
        assert_eq!(first.len(), PAGE);
        assert_eq!(first[0].user_id, TEMPLATE);
        let later = flow
            .store()
            .list(ListFilter::All, Some(at_90), PAGE)
            .await
            .unwrap();
        assert_eq!(later.len(), PAGE);
        assert_eq!(later[0].user_id, nth(users() / 10 * 9 + 1));
        let statuses = flow
            .admin_list(ListFilter::All, Some(at_90), PAGE)
            .await
            .unwrap();
        assert!(
            statuses
                .iter()
                .all(|s| s.is_active() && s.recovery_codes_left == Some(10))
        );
    });
    let mut group = c.benchmark_group(format!("paging_{backend}"));
    for (name, after) in [("first", None), ("at_90pct", Some(at_90))] {
        group.bench_function(format!("list/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(
                            flow.store()
                                .list(ListFilter::All, black_box(after), PAGE)
                                .await
                                .unwrap(),
                        );
                    }
                    start.elapsed()
                })
            })
        });
    }
    for (name, after) in [("first", None), ("at_90pct", Some(at_90))] {
        group.bench_function(format!("admin_list/{name}"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(
                            flow.admin_list(ListFilter::All, black_box(after), PAGE)
                                .await
                                .unwrap(),
                        );
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("twofactor-paging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _remove = Remove(dir.clone());
    let path = dir.join("paging.sqlite3");
    let rt = runtime();
    let clock = ManualClock::new(T0);
    let flow = rt.block_on(async {
        let flow = flow_over(
            SqliteStore::open(&path).await.unwrap(),
            &clock,
            KdfParams::default(),
        );
        enrol(&flow, &clock, TEMPLATE).await;
        flow
    });
    let started = Instant::now();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "synchronous", "OFF").unwrap();
    let template: Vec<Value> = conn
        .query_row(
            &format!("SELECT {REST} FROM twofactor_users WHERE user_id = ?1"),
            [TEMPLATE],
            |row| (0..12).map(|i| row.get::<_, Value>(i)).collect(),
        )
        .unwrap();
    let placeholders: Vec<String> = (1..=12).map(|i| format!("?{i}")).collect();
    let inserted = conn
        .execute(
            &format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {})
                 INSERT INTO twofactor_users (user_id, {REST})
                 SELECT printf('user-%07d', i), {} FROM s",
                users() - 1,
                placeholders.join(", ")
            ),
            rusqlite::params_from_iter(template),
        )
        .unwrap();
    assert_eq!(inserted as u64, users() - 1);
    conn.execute_batch("ANALYZE").unwrap();
    drop(conn);
    eprintln!(
        "SQLite: {} users in {:.1} s, file {} MB",
        users(),
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path).unwrap().len() / 1_000_000
    );
    pages(c, &rt, "sqlite", &flow);
    drop(flow);
    drop(rt);
}

/// Removes a directory when dropped.
struct Remove(std::path::PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Drops a PostgreSQL schema when dropped.
struct DropSchema(String, String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Ok((client, conn)) =
                tokio_postgres::connect(&self.0, tokio_postgres::NoTls).await
            {
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.1))
                    .await;
            }
        });
    }
}

fn postgres(c: &mut Criterion) {
    let Some(url) = env_url(&[
        "TWOFACTOR_BENCH_POSTGRES_URL",
        "TWOFACTOR_TEST_POSTGRES_URL",
    ]) else {
        eprintln!("SKIPPED PostgreSQL: set TWOFACTOR_BENCH_POSTGRES_URL");
        return;
    };
    let schema = format!("twofactor_bench_paging_{}", std::process::id());
    let _drop = DropSchema(url.clone(), schema.clone());
    let rt = runtime();
    let clock = ManualClock::new(T0);
    let flow = rt.block_on(async {
        let flow = flow_over(
            PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap(),
            &clock,
            KdfParams::default(),
        );
        enrol(&flow, &clock, TEMPLATE).await;
        let started = Instant::now();
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let table = format!("{schema}.twofactor_users");
        client
            .batch_execute("SET synchronous_commit TO off")
            .await
            .unwrap();
        let inserted = client
            .execute(
                &format!(
                    "INSERT INTO {table} (user_id, {REST})
                     SELECT 'user-' || lpad(i::TEXT, 7, '0'), {REST}
                     FROM generate_series(1, {}) AS i,
                          (SELECT {REST} FROM {table} WHERE user_id = '{TEMPLATE}') AS t",
                    users() - 1
                ),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(inserted, users() - 1);
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await
            .unwrap();
        let size: i64 = client
            .query_one(&format!("SELECT pg_total_relation_size('{table}')"), &[])
            .await
            .unwrap()
            .get(0);
        eprintln!(
            "PostgreSQL: {} users in {:.1} s, table and indexes {} MB",
            users(),
            started.elapsed().as_secs_f64(),
            size / 1_000_000
        );
        flow
    });
    pages(c, &rt, "postgres", &flow);
    drop(flow);
    drop(rt);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = sqlite, postgres
}
criterion_main!(benches);
