//! A code login through each server-database store, end to end, against the same login's SQL
//! written by hand on the raw driver, in the same run. Goal: each store at most 1.15x its
//! baseline, one task and eight at once.
//!
//! ```text
//! TWOFACTOR_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//! TWOFACTOR_BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo bench -p twofactor-benches --bench login_server -- --warm-up-time 1 --measurement-time 3
//! python3 benches/summarize.py
//! ```
//!
//! A backend runs when its URL is set (`TWOFACTOR_BENCH_POSTGRES_URL` or
//! `TWOFACTOR_TEST_POSTGRES_URL`; `TWOFACTOR_BENCH_MYSQL_URL` or `TWOFACTOR_TEST_MYSQL_URL`).
//! Groups (each `store/…` beside its `raw/…`; `single` is one login at a time on a task of a
//! 2-worker runtime, `concurrent_8` eight users at once, a task each, time per round):
//!
//! - `login_postgres`: `PostgresStore` (tokio-postgres on a deadpool pool of 16, as
//!   `connect_with_schema` builds it) against raw tokio-postgres on a deadpool pool of 16 built
//!   the same way;
//! - `login_sqlx_postgres`: `SqlxPostgresStore` on a `PgPool` of 16 against raw sqlx on a
//!   `PgPool` of 16; `login_sqlx_postgres_noping`: the same with `test_before_acquire(false)`
//!   on both pools (sqlx's default pings every connection it hands out: one more round trip
//!   per acquisition);
//! - `login_mysql`, `login_mysql_noping`: `MySqlStore` against raw sqlx MySQL, likewise.
//!
//! Each store logs in with one connection from its pool (`SecretStore::read_and_settle`: the
//! read and the conditional write on the connection it acquired), as the baseline does. In the
//! sqlx groups a diagnostic, `raw_per_statement`, runs the same baseline with each statement on
//! the pool (`fetch_one(&pool)`, `execute(&pool)`): a connection acquired per statement, as a
//! store's separate `get` and `settle_attempt` would each acquire one. In `login_postgres` a
//! diagnostic, `raw_gap`, runs the tokio-postgres baseline with [`FLOW_WORK`] of CPU spent
//! between its `SELECT` and its `UPDATE`, where a store login does the flow's work (opening the
//! secret, checking the code): what that work alone costs a login on this driver, in time
//! beyond its own, is the store's ratio less the SQL's.
//!
//! The baseline is the login's SQL with nothing around it: one connection from the pool,
//! `SELECT` the row (the stores' 13 columns, decoded to owned values as the stores decode them),
//! then the store's own conditional `UPDATE` of an accepted step, each a statement prepared once
//! per connection (the driver's statement cache), in autocommit. Same table (the store's, in a
//! schema or table name of its own, dropped afterwards), same columns, rows of the same size
//! (the baseline's users are enrolled through the flow); every `UPDATE` writes the row.
//!
//! Before timing, an audit counts per login, on pools of one connection reached through a TCP
//! proxy that counts round trips (the times the client speaks after the server did: a pipelined
//! burst is one), and from the server's statistics: round trips, transactions, durable commits
//! (PostgreSQL's WAL syncs; InnoDB's redo log writes and fsyncs), rows updated and the index
//! scans or statements that reached the server. sqlx pings a connection when the pool hands it
//! out (unless `test_before_acquire(false)`) and, in the background, when it comes back; those
//! pings are round trips too. The audit is printed and written to
//! `target/criterion/twofactor/login_server_audit.txt`.
//!
//! After criterion, each store and its baseline run once more alternated login by login
//! (medians per login or round, `target/criterion/twofactor/login_server_paired.txt`), which a
//! noisy machine cannot tilt towards one side.
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection as _, Row as _};
use tokio::runtime::Runtime;
use twofactor::store::PostgresOptions;
use twofactor::{ManualClock, MySqlStore, PostgresStore, SqlxPostgresStore};
use twofactor_benches::{
    COLUMNS, CONCURRENT, Login, PAIRED_HEADER, RawRow, StoreLogin, T0, TurnProxy, bench_concurrent,
    bench_single, cheap_kdf, env_url, flow_over, logins_in_sequence, paired, paired_line, report,
    runtime, steps, url_addr, url_via,
};

/// Connections per pool: `PostgresOptions`' default, and what the sqlx pools get.
const POOL: usize = 16;
/// Logins counted per audit.
const AUDITED: u64 = 100;

/// The stores' accepted-step statement for PostgreSQL (`postgres_sql.rs`), on `table`.
fn pg_update(table: &str) -> String {
    format!(
        "UPDATE {table} SET last_step = $2, drift = $3, last_used_at = $4,
                    failures = 0, last_failure_at = NULL
                 WHERE user_id = $1 AND failures = $5 AND version = $6
                   AND recovery_generation = $7 AND (last_step IS NULL OR last_step < $2)"
    )
}

/// `MySqlStore::accept_step`'s statement, on `table`.
fn mysql_update(table: &str) -> String {
    format!(
        "UPDATE `{table}` SET last_step = ?, drift = ?, last_used_at = ?,
                failures = 0, last_failure_at = NULL
             WHERE user_id = ? AND failures = ? AND version = ? AND recovery_generation = ?
               AND (last_step IS NULL OR last_step < ?)"
    )
}

/// About the CPU time of a code login's work beyond its SQL, through `MemoryStore` on this
/// machine (`login_memory/store/single`, 3.1 µs: state decoded, secret opened, code checked,
/// proof sealed).
const FLOW_WORK: Duration = Duration::from_micros(3);

/// Raw tokio-postgres on a deadpool pool.
struct RawTokioPg {
    pool: deadpool_postgres::Pool,
    select: String,
    update: String,
    users: Vec<String>,
    /// CPU spent between the `SELECT` and the `UPDATE` (zero but in `raw_gap`).
    gap: Duration,
}

impl RawTokioPg {
    fn new(url: &str, schema: &str, users: &[String], size: usize) -> RawTokioPg {
        // As `PostgresStore::connect_with` builds its pool.
        let mut config = deadpool_postgres::Config {
            url: Some(url.to_owned()),
            ..deadpool_postgres::Config::default()
        };
        config.pool = Some(deadpool_postgres::PoolConfig::new(size));
        let pool = config
            .create_pool(
                Some(deadpool_postgres::Runtime::Tokio1),
                tokio_postgres::NoTls,
            )
            .unwrap();
        let table = format!("{schema}.twofactor_users");
        RawTokioPg {
            pool,
            select: format!("SELECT {COLUMNS} FROM {table} WHERE user_id = $1"),
            update: pg_update(&table),
            users: users.to_vec(),
            gap: Duration::ZERO,
        }
    }
}

fn pg_row(row: &tokio_postgres::Row) -> RawRow {
    RawRow {
        user_id: row.try_get(0).unwrap(),
        version: row.try_get(1).unwrap(),
        status: row.try_get(2).unwrap(),
        state: row.try_get(3).unwrap(),
        required: row.try_get(4).unwrap(),
        recovery_generation: row.try_get(5).unwrap(),
        recovery: row.try_get(6).unwrap(),
        last_step: row.try_get(7).unwrap(),
        drift: row.try_get(8).unwrap(),
        last_used_at: row.try_get(9).unwrap(),
        recovery_used: row.try_get(10).unwrap(),
        failures: row.try_get(11).unwrap(),
        last_failure_at: row.try_get(12).unwrap(),
    }
}

impl Login for RawTokioPg {
    type Input = i64;

    fn inputs(&self, users: usize, rounds: u64) -> Vec<Vec<i64>> {
        steps(users, rounds)
    }

    async fn login(&self, user: usize, step: i64) {
        let user = self.users[user].as_str();
        let client = self.pool.get().await.unwrap();
        let select = client.prepare_cached(&self.select).await.unwrap();
        let rows = client.query(&select, &[&user]).await.unwrap();
        let row = black_box(pg_row(&rows[0]));
        let start = Instant::now();
        while start.elapsed() < self.gap {
            std::hint::spin_loop();
        }
        let update = client.prepare_cached(&self.update).await.unwrap();
        let n = client
            .execute(
                &update,
                &[
                    &user,
                    &step,
                    &0i64,
                    &step,
                    &row.failures,
                    &row.version,
                    &row.recovery_generation,
                ],
            )
            .await
            .unwrap();
        assert_eq!(n, 1, "the baseline's update must write the row");
    }
}

/// Raw sqlx on a `PgPool`.
#[derive(Clone)]
struct RawSqlxPg {
    pool: PgPool,
    select: String,
    update: String,
    users: Vec<String>,
    /// Each statement on the pool (`&pool`, a connection acquired for each, as the store's two
    /// calls do) rather than both on one acquired connection.
    per_statement: bool,
}

fn sqlx_pg_row(row: &sqlx::postgres::PgRow) -> RawRow {
    RawRow {
        user_id: row.try_get(0).unwrap(),
        version: row.try_get(1).unwrap(),
        status: row.try_get(2).unwrap(),
        state: row.try_get(3).unwrap(),
        required: row.try_get(4).unwrap(),
        recovery_generation: row.try_get(5).unwrap(),
        recovery: row.try_get(6).unwrap(),
        last_step: row.try_get(7).unwrap(),
        drift: row.try_get(8).unwrap(),
        last_used_at: row.try_get(9).unwrap(),
        recovery_used: row.try_get(10).unwrap(),
        failures: row.try_get(11).unwrap(),
        last_failure_at: row.try_get(12).unwrap(),
    }
}

impl Login for RawSqlxPg {
    type Input = i64;

    fn inputs(&self, users: usize, rounds: u64) -> Vec<Vec<i64>> {
        steps(users, rounds)
    }

    async fn login(&self, user: usize, step: i64) {
        let user = self.users[user].as_str();
        let select = sqlx::query(&self.select).bind(user);
        let update = |row: RawRow| {
            sqlx::query(&self.update)
                .bind(user)
                .bind(step)
                .bind(0i64)
                .bind(step)
                .bind(row.failures)
                .bind(row.version)
                .bind(row.recovery_generation)
        };
        let n = if self.per_statement {
            let row = select.fetch_one(&self.pool).await.unwrap();
            let row = black_box(sqlx_pg_row(&row));
            update(row).execute(&self.pool).await
        } else {
            let mut conn = self.pool.acquire().await.unwrap();
            let row = select.fetch_one(&mut *conn).await.unwrap();
            let row = black_box(sqlx_pg_row(&row));
            update(row).execute(&mut *conn).await
        }
        .unwrap()
        .rows_affected();
        assert_eq!(n, 1, "the baseline's update must write the row");
    }
}

/// A MySQL row decoded as `MySqlStore` decodes it (text columns as bytes, checked as UTF-8).
#[derive(Debug)]
#[allow(dead_code)]
struct MyRow {
    user_id: String,
    version: u64,
    status: String,
    state: String,
    required: bool,
    recovery_generation: u64,
    recovery: Option<String>,
    last_step: Option<u64>,
    drift: i64,
    last_used_at: Option<u64>,
    recovery_used: u64,
    failures: u64,
    last_failure_at: Option<u64>,
}

fn my_row(row: &sqlx::mysql::MySqlRow) -> MyRow {
    let text = |i: usize| String::from_utf8(row.try_get::<Vec<u8>, _>(i).unwrap()).unwrap();
    MyRow {
        user_id: text(0),
        version: row.try_get(1).unwrap(),
        status: text(2),
        state: text(3),
        required: row.try_get(4).unwrap(),
        recovery_generation: row.try_get(5).unwrap(),
        recovery: row
            .try_get::<Option<Vec<u8>>, _>(6)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap()),
        last_step: row.try_get(7).unwrap(),
        drift: row.try_get(8).unwrap(),
        last_used_at: row.try_get(9).unwrap(),
        recovery_used: row.try_get(10).unwrap(),
        failures: row.try_get(11).unwrap(),
        last_failure_at: row.try_get(12).unwrap(),
    }
}

/// Raw sqlx on a `MySqlPool`.
#[derive(Clone)]
struct RawSqlxMySql {
    pool: MySqlPool,
    select: String,
    update: String,
    users: Vec<String>,
    /// As for [`RawSqlxPg`].
    per_statement: bool,
}

impl Login for RawSqlxMySql {
    type Input = i64;

    fn inputs(&self, users: usize, rounds: u64) -> Vec<Vec<i64>> {
        steps(users, rounds)
    }

    async fn login(&self, user: usize, step: i64) {
        // MySQL stores the plain step (unsigned columns), not the order-preserving mapping.
        let step = u64::from_ne_bytes(step.to_ne_bytes()) ^ (1 << 63);
        let user = self.users[user].as_bytes();
        let select = sqlx::query(&self.select).bind(user);
        let update = |row: MyRow| {
            sqlx::query(&self.update)
                .bind(step)
                .bind(0i64)
                .bind(step)
                .bind(user)
                .bind(row.failures)
                .bind(row.version)
                .bind(row.recovery_generation)
                .bind(step)
        };
        let n = if self.per_statement {
            let row = select.fetch_one(&self.pool).await.unwrap();
            let row = black_box(my_row(&row));
            update(row).execute(&self.pool).await
        } else {
            let mut conn = self.pool.acquire().await.unwrap();
            let row = select.fetch_one(&mut *conn).await.unwrap();
            let row = black_box(my_row(&row));
            update(row).execute(&mut *conn).await
        }
        .unwrap()
        .rows_affected();
        assert_eq!(n, 1, "the baseline's update must write the row");
    }
}

async fn pg_pool(url: &str, ping: bool, size: usize) -> PgPool {
    PgPoolOptions::new()
        .max_connections(u32::try_from(size).unwrap())
        .test_before_acquire(ping)
        .connect(url)
        .await
        .unwrap()
}

async fn mysql_pool(url: &str, ping: bool, size: usize) -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(u32::try_from(size).unwrap())
        .test_before_acquire(ping)
        .connect(url)
        .await
        .unwrap()
}

/// Counters read from the server before and after an audit.
trait Counters {
    /// Names and values.
    fn read(&self) -> impl std::future::Future<Output = Vec<(&'static str, i64)>> + Send;
}

struct PgCounters {
    client: tokio_postgres::Client,
    schema: String,
}

impl PgCounters {
    async fn connect(url: &str, schema: &str) -> PgCounters {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        PgCounters {
            client,
            schema: schema.to_owned(),
        }
    }
}

impl Counters for PgCounters {
    async fn read(&self) -> Vec<(&'static str, i64)> {
        let row = self
            .client
            .query_one(
                "SELECT (SELECT xact_commit FROM pg_stat_database
                          WHERE datname = current_database()),
                        (SELECT wal_sync FROM pg_stat_wal),
                        (SELECT n_tup_upd FROM pg_stat_user_tables
                          WHERE schemaname = $1 AND relname = 'twofactor_users'),
                        (SELECT idx_scan FROM pg_stat_user_tables
                          WHERE schemaname = $1 AND relname = 'twofactor_users')",
                &[&self.schema],
            )
            .await
            .unwrap();
        vec![
            ("transactions", row.get(0)),
            ("WAL syncs", row.get(1)),
            ("rows updated", row.get(2)),
            ("index scans", row.get(3)),
        ]
    }
}

struct MyCounters {
    pool: MySqlPool,
}

impl Counters for MyCounters {
    async fn read(&self) -> Vec<(&'static str, i64)> {
        // Text protocol (`raw_sql`), so reading counts no prepared execution itself.
        let rows = sqlx::raw_sql(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_execute', 'Com_admin_commands',
               'Handler_commit', 'Innodb_log_writes', 'Innodb_data_fsyncs', 'Handler_update')",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap();
        let value = |name: &str| -> i64 {
            rows.iter()
                .find(|r| String::from_utf8(r.try_get::<Vec<u8>, _>(0).unwrap()).unwrap() == name)
                .map(|r| {
                    String::from_utf8(r.try_get::<Vec<u8>, _>(1).unwrap())
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .unwrap_or(-1)
        };
        vec![
            ("statements executed", value("Com_stmt_execute")),
            ("pings", value("Com_admin_commands")),
            ("commits", value("Handler_commit")),
            ("redo log writes", value("Innodb_log_writes")),
            ("fsyncs", value("Innodb_data_fsyncs")),
            ("rows updated", value("Handler_update")),
        ]
    }
}

/// Counts one subject's round trips and server counters per login, on a pool of one
/// connection.
///
/// A PostgreSQL backend publishes its statistics at the end of a statement only if it last did
/// a second or more before (otherwise after ten idle seconds), so each reading follows a second
/// of quiet and then one login, whose first statement publishes everything before it. Between
/// the two readings lie the rest of that login, the measured logins and the first part of the
/// next such login: `AUDITED + 1` logins exactly.
async fn audit<L: Login>(
    name: &str,
    subject: &L,
    proxy: &TurnProxy,
    counters: &impl Counters,
) -> String {
    let quiet = || tokio::time::sleep(Duration::from_millis(1_100));
    logins_in_sequence(subject, 5).await;
    quiet().await;
    logins_in_sequence(subject, 1).await;
    let before = counters.read().await;
    let turns = proxy.turns();
    logins_in_sequence(subject, AUDITED).await;
    quiet().await;
    logins_in_sequence(subject, 1).await;
    let after = counters.read().await;
    let turns = proxy.turns() - turns;
    let per = |n: i64| n as f64 / (AUDITED + 1) as f64;
    let mut line = format!(
        "{name:<38} round trips {:5.2}",
        per(i64::try_from(turns).unwrap())
    );
    for ((label, b), (_, a)) in before.iter().zip(&after) {
        write!(line, " | {label} {:5.2}", per(a - b)).unwrap();
    }
    line
}

/// Drops what a run created, even if it panicked.
#[derive(Default)]
struct Cleanup {
    pg: Option<(String, Vec<String>)>,
    mysql: Option<(String, Vec<String>)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Some((url, schemas)) = &self.pg
                && let Ok((client, conn)) =
                    tokio_postgres::connect(url, tokio_postgres::NoTls).await
            {
                tokio::spawn(conn);
                for s in schemas {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
                        .await;
                }
            }
            if let Some((url, tables)) = &self.mysql
                && let Ok(mut conn) = sqlx::MySqlConnection::connect(url).await
            {
                for t in tables {
                    let _ = sqlx::raw_sql(&format!("DROP TABLE IF EXISTS `{t}`, `{t}_schema`"))
                        .execute(&mut conn)
                        .await;
                }
            }
        });
    }
}

/// Times the store beside its baseline (and a second baseline, if any): single, then
/// concurrent.
fn pair<S: Login, R: Login, R2: Login>(
    c: &mut Criterion,
    rt: &Runtime,
    group: &str,
    store: &Arc<S>,
    raw: &Arc<R>,
    second: Option<(&str, &Arc<R2>)>,
) {
    let mut group = c.benchmark_group(group);
    bench_single(&mut group, rt, "store/single", store);
    bench_single(&mut group, rt, "raw/single", raw);
    if let Some((name, second)) = second {
        bench_single(&mut group, rt, &format!("{name}/single"), second);
    }
    let concurrent = format!("concurrent_{CONCURRENT}");
    bench_concurrent(
        &mut group,
        rt,
        &format!("store/{concurrent}"),
        store,
        CONCURRENT,
    );
    bench_concurrent(
        &mut group,
        rt,
        &format!("raw/{concurrent}"),
        raw,
        CONCURRENT,
    );
    if let Some((name, second)) = second {
        bench_concurrent(
            &mut group,
            rt,
            &format!("{name}/{concurrent}"),
            second,
            CONCURRENT,
        );
    }
    group.finish();
}

fn servers(c: &mut Criterion) {
    let pg_url = env_url(&[
        "TWOFACTOR_BENCH_POSTGRES_URL",
        "TWOFACTOR_TEST_POSTGRES_URL",
    ]);
    let mysql_url = env_url(&["TWOFACTOR_BENCH_MYSQL_URL", "TWOFACTOR_TEST_MYSQL_URL"]);
    if pg_url.is_none() {
        eprintln!("SKIPPED PostgreSQL: set TWOFACTOR_BENCH_POSTGRES_URL");
    }
    if mysql_url.is_none() {
        eprintln!("SKIPPED MySQL: set TWOFACTOR_BENCH_MYSQL_URL");
    }
    let pid = std::process::id();
    let pg_schema = format!("twofactor_bench_pg_{pid}");
    let sqlx_schema = format!("twofactor_bench_sqlx_{pid}");
    let mysql_table = format!("twofactor_bench_{pid}");
    let mut cleanup = Cleanup::default();
    if let Some(url) = &pg_url {
        cleanup.pg = Some((url.clone(), vec![pg_schema.clone(), sqlx_schema.clone()]));
    }
    if let Some(url) = &mysql_url {
        cleanup.mysql = Some((url.clone(), vec![mysql_table.clone()]));
    }
    let rt = runtime();
    let mut audit_lines = vec![format!(
        "Per login: {} sequential logins of one user on a pool of one connection (after 5 \
         unmeasured); round trips counted by a TCP proxy (pool pings included), the rest from \
         the server's statistics (transactions, WAL syncs and the MySQL counters are \
         server-wide: run with the server otherwise idle).",
        AUDITED + 1
    )];

    let pg = pg_url.as_ref().map(|url| {
        rt.block_on(async {
            let clock = ManualClock::new(T0);
            let flow = flow_over(
                PostgresStore::connect_with_schema(url, &pg_schema)
                    .await
                    .unwrap(),
                &clock,
                cheap_kdf(),
            );
            let raw_users = StoreLogin::enrol(flow, clock.clone(), "raw-user", CONCURRENT).await;
            let store = StoreLogin::enrol(raw_users.flow, clock, "pg-user", CONCURRENT).await;
            let raw = RawTokioPg::new(url, &pg_schema, &raw_users.users, POOL);
            let raw_gap = RawTokioPg {
                gap: FLOW_WORK,
                ..RawTokioPg::new(url, &pg_schema, &raw_users.users, POOL)
            };

            let sqlx_store = |ping: bool, prefix: &'static str| {
                let schema = sqlx_schema.clone();
                async move {
                    let store = SqlxPostgresStore::new(pg_pool(url, ping, POOL).await)
                        .with_schema(&schema)
                        .unwrap();
                    store.migrate().await.unwrap();
                    let clock = ManualClock::new(T0);
                    StoreLogin::enrol(
                        flow_over(store, &clock, cheap_kdf()),
                        clock,
                        prefix,
                        CONCURRENT,
                    )
                    .await
                }
            };
            let sqlx_raw = |ping: bool, users: Vec<String>| {
                let table = format!("{sqlx_schema}.twofactor_users");
                async move {
                    RawSqlxPg {
                        pool: pg_pool(url, ping, POOL).await,
                        select: format!("SELECT {COLUMNS} FROM {table} WHERE user_id = $1"),
                        update: pg_update(&table),
                        users,
                        per_statement: false,
                    }
                }
            };
            let raw_users = sqlx_store(true, "sqlx-raw-user").await.users;
            let s1 = sqlx_store(true, "sqlx-user").await;
            let r1 = sqlx_raw(true, raw_users.clone()).await;
            let s2 = sqlx_store(false, "sqlx-noping-user").await;
            let r2 = sqlx_raw(false, raw_users).await;

            // The audits, through the proxy, on pools of their own.
            let proxy = TurnProxy::start(url_addr(url)).await;
            let via = url_via(url, proxy.addr);
            let counters = PgCounters::connect(url, &pg_schema).await;
            let clock = ManualClock::new(T0);
            let options = PostgresOptions::default()
                .with_schema(&pg_schema)
                .with_max_size(1);
            let audited = StoreLogin::enrol(
                flow_over(
                    PostgresStore::connect_with(&via, options, tokio_postgres::NoTls)
                        .await
                        .unwrap(),
                    &clock,
                    cheap_kdf(),
                ),
                clock,
                "audit-pg-user",
                1,
            )
            .await;
            audit_lines.push(audit("PostgresStore", &audited, &proxy, &counters).await);
            let audited = RawTokioPg::new(&via, &pg_schema, &raw.users, 1);
            audit_lines.push(audit("raw tokio-postgres", &audited, &proxy, &counters).await);
            drop(audited);
            let counters = PgCounters::connect(url, &sqlx_schema).await;
            for (ping, label) in [(true, "default PgPool"), (false, "PgPool, no ping")] {
                let store = SqlxPostgresStore::new(pg_pool(&via, ping, 1).await)
                    .with_schema(&sqlx_schema)
                    .unwrap();
                let clock = ManualClock::new(T0);
                let audited = StoreLogin::enrol(
                    flow_over(store, &clock, cheap_kdf()),
                    clock,
                    if ping {
                        "audit-sqlx-user"
                    } else {
                        "audit-sqlx-np-user"
                    },
                    1,
                )
                .await;
                let name = format!("SqlxPostgresStore ({label})");
                audit_lines.push(audit(&name, &audited, &proxy, &counters).await);
                let mut raw = RawSqlxPg {
                    pool: pg_pool(&via, ping, 1).await,
                    ..r1.clone()
                };
                let name = format!("raw sqlx ({label})");
                audit_lines.push(audit(&name, &raw, &proxy, &counters).await);
                raw.per_statement = true;
                let name = format!("raw sqlx per statement ({label})");
                audit_lines.push(audit(&name, &raw, &proxy, &counters).await);
            }
            let per_statement = |r: &RawSqlxPg| {
                Arc::new(RawSqlxPg {
                    per_statement: true,
                    ..r.clone()
                })
            };
            (
                Arc::new(store),
                (Arc::new(raw), Arc::new(raw_gap)),
                (Arc::new(s1), per_statement(&r1), Arc::new(r1)),
                (Arc::new(s2), per_statement(&r2), Arc::new(r2)),
            )
        })
    });

    let mysql = mysql_url.as_ref().map(|url| {
        rt.block_on(async {
            let make_store = |ping: bool, prefix: &'static str, via: String| {
                let table = mysql_table.clone();
                let size = if prefix.starts_with("audit") { 1 } else { POOL };
                async move {
                    let store = MySqlStore::new(mysql_pool(&via, ping, size).await)
                        .with_table_name(&table)
                        .unwrap();
                    store.migrate().await.unwrap();
                    let clock = ManualClock::new(T0);
                    StoreLogin::enrol(
                        flow_over(store, &clock, cheap_kdf()),
                        clock,
                        prefix,
                        if prefix.starts_with("audit") {
                            1
                        } else {
                            CONCURRENT
                        },
                    )
                    .await
                }
            };
            let make_raw = |ping: bool, users: Vec<String>, via: String, size: usize| {
                let table = mysql_table.clone();
                async move {
                    RawSqlxMySql {
                        pool: mysql_pool(&via, ping, size).await,
                        select: format!("SELECT {COLUMNS} FROM `{table}` WHERE user_id = ?"),
                        update: mysql_update(&table),
                        users,
                        per_statement: false,
                    }
                }
            };
            let raw_users = make_store(true, "raw-user", url.clone()).await.users;
            let s1 = make_store(true, "mysql-user", url.clone()).await;
            let r1 = make_raw(true, raw_users.clone(), url.clone(), POOL).await;
            let s2 = make_store(false, "mysql-noping-user", url.clone()).await;
            let r2 = make_raw(false, raw_users.clone(), url.clone(), POOL).await;

            let proxy = TurnProxy::start(url_addr(url)).await;
            let via = url_via(url, proxy.addr);
            let counters = MyCounters {
                pool: MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .unwrap(),
            };
            for (ping, label) in [(true, "default MySqlPool"), (false, "MySqlPool, no ping")] {
                let prefix = if ping { "audit-user" } else { "audit-np-user" };
                let audited = make_store(ping, prefix, via.clone()).await;
                let name = format!("MySqlStore ({label})");
                audit_lines.push(audit(&name, &audited, &proxy, &counters).await);
                let mut audited = make_raw(ping, raw_users.clone(), via.clone(), 1).await;
                let name = format!("raw sqlx MySQL ({label})");
                audit_lines.push(audit(&name, &audited, &proxy, &counters).await);
                audited.per_statement = true;
                let name = format!("raw sqlx MySQL per statement ({label})");
                audit_lines.push(audit(&name, &audited, &proxy, &counters).await);
            }
            let per_statement = |r: &RawSqlxMySql| {
                Arc::new(RawSqlxMySql {
                    per_statement: true,
                    ..r.clone()
                })
            };
            (
                (Arc::new(s1), per_statement(&r1), Arc::new(r1)),
                (Arc::new(s2), per_statement(&r2), Arc::new(r2)),
            )
        })
    });

    report("login_server_audit", &audit_lines.join("\n"));
    if let Some((store, (raw, raw_gap), sqlx, sqlx_noping)) = &pg {
        pair(
            c,
            &rt,
            "login_postgres",
            store,
            raw,
            Some(("raw_gap", raw_gap)),
        );
        for (group, (store, per_statement, raw)) in [
            ("login_sqlx_postgres", sqlx),
            ("login_sqlx_postgres_noping", sqlx_noping),
        ] {
            let second = Some(("raw_per_statement", per_statement));
            pair(c, &rt, group, store, raw, second);
        }
    }
    if let Some((mysql, mysql_noping)) = &mysql {
        for (group, (store, per_statement, raw)) in
            [("login_mysql", mysql), ("login_mysql_noping", mysql_noping)]
        {
            let second = Some(("raw_per_statement", per_statement));
            pair(c, &rt, group, store, raw, second);
        }
    }
    // Each store and its baseline once more, alternated login by login.
    let mut text = vec![PAIRED_HEADER.to_owned()];
    let mut diagnostics = Vec::new();
    let mut both = |group: &str, single: (Vec<f64>, Vec<f64>), concurrent: (Vec<f64>, Vec<f64>)| {
        text.push(paired_line(
            &format!("{group} single: store / raw"),
            &single,
        ));
        text.push(paired_line(
            &format!("{group} concurrent_{CONCURRENT}: store / raw"),
            &concurrent,
        ));
    };
    if let Some((store, (raw, raw_gap), sqlx, sqlx_noping)) = &pg {
        both(
            "login_postgres",
            paired(&rt, store, raw, 1, 2000),
            paired(&rt, store, raw, CONCURRENT, 500),
        );
        // Diagnostic: the baseline with the flow's CPU time between its statements.
        diagnostics.push(paired_line(
            "login_postgres single: raw_gap / raw",
            &paired(&rt, raw_gap, raw, 1, 2000),
        ));
        for (group, (store, _, raw)) in [
            ("login_sqlx_postgres", sqlx),
            ("login_sqlx_postgres_noping", sqlx_noping),
        ] {
            both(
                group,
                paired(&rt, store, raw, 1, 2000),
                paired(&rt, store, raw, CONCURRENT, 500),
            );
        }
    }
    if let Some((mysql, mysql_noping)) = &mysql {
        for (group, (store, _, raw)) in
            [("login_mysql", mysql), ("login_mysql_noping", mysql_noping)]
        {
            both(
                group,
                paired(&rt, store, raw, 1, 2000),
                paired(&rt, store, raw, CONCURRENT, 500),
            );
        }
    }
    text.extend(diagnostics);
    report("login_server_paired", &text.join("\n"));
    drop((pg, mysql));
    drop(rt);
    drop(cleanup);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = servers
}
criterion_main!(benches);
