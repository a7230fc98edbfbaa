//! `SqlxSqliteStore` passes the store conformance suite on the application's `SqlitePool` (a
//! fresh file per store, WAL, a busy timeout), races correctly across two separate pools on one
//! file (two processes), and shares its tables with `SqliteStore`: the two drivers race
//! correctly on one file and read each other's records exactly. `check_schema` refuses a missing
//! or newer schema, `migrate` is idempotent, and a busy database is reported without effect.
#![cfg(feature = "sqlx-sqlite")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use twofactor::SqlxSqliteStore;
use twofactor::store::{
    Attempt, ReplaceEffects, SecretStore, StoreError, StoredStatus, conformance,
};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A new database file's path (not created yet).
fn fresh_path() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twofactor-sqlx-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!(
        "db-{}.sqlite3",
        NEXT.fetch_add(1, Ordering::SeqCst)
    ))
}

/// The application's connection options, as a service sets them: WAL and a busy timeout.
fn options(path: &Path, busy_timeout: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(busy_timeout)
}

/// The application's own pool on `path`.
async fn application_pool(path: &Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options(path, Duration::from_secs(10)))
        .await
        .unwrap()
}

/// A store on `pool` with migrated tables.
async fn store_on(pool: &SqlitePool) -> SqlxSqliteStore {
    let store = SqlxSqliteStore::new(pool.clone());
    store.migrate().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlx_sqlite_store_conformance() {
    conformance::run_all(|| async { store_on(&application_pool(&fresh_path()).await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_its_own_table_name_the_store_conforms() {
    conformance::run_all(|| async {
        let store = SqlxSqliteStore::new(application_pool(&fresh_path()).await)
            .with_table_name("auth_second_factor")
            .unwrap();
        store.migrate().await.unwrap();
        store
    })
    .await;
}

/// One racer: each of its requests races every other racer's on user `u` (at `version`, recovery
/// generation 1). Returns whether it won the step, the recovery code and the compare-and-swap,
/// and the failure count its counted failure produced.
async fn racer<S: SecretStore + 'static>(
    store: Arc<S>,
    barrier: Arc<tokio::sync::Barrier>,
    version: u64,
) -> (bool, bool, bool, u32) {
    barrier.wait().await;
    (
        conformance::advance_step(&*store, "u", 77, 0, 1)
            .await
            .unwrap(),
        conformance::consume_recovery_code(&*store, "u", 1, 9, 1)
            .await
            .unwrap(),
        store
            .replace(
                "u",
                version,
                &conformance::cold(StoredStatus::Active, 1),
                ReplaceEffects::default(),
            )
            .await
            .is_ok(),
        loop {
            let current = store.get("u").await.unwrap().unwrap().failures;
            if conformance::reserve_attempt(&*store, "u", current, 1)
                .await
                .unwrap()
            {
                break current + 1;
            }
        },
    )
}

/// Racers alternately on `a` and `b`: exactly one wins each race, and the failure count rises
/// once per racer.
async fn race_across<A, B>(a: Arc<A>, b: Arc<B>)
where
    A: SecretStore + 'static,
    B: SecretStore + 'static,
{
    let version = a
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(conformance::RACERS));
    let mut handles = Vec::new();
    for i in 0..conformance::RACERS {
        let barrier = barrier.clone();
        handles.push(if i % 2 == 0 {
            tokio::spawn(racer(a.clone(), barrier, version))
        } else {
            tokio::spawn(racer(b.clone(), barrier, version))
        });
    }
    let mut wins = (0, 0, 0);
    let mut counts = Vec::new();
    for h in handles {
        let (s, r, c, f) = h.await.unwrap();
        wins.0 += usize::from(s);
        wins.1 += usize::from(r);
        wins.2 += usize::from(c);
        counts.push(f);
    }
    assert_eq!(wins, (1, 1, 1), "one winner per race across both stores");
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=u32::try_from(conformance::RACERS).unwrap()).collect::<Vec<_>>()
    );
}

/// Two stores with separate pools on one file, as two processes would have: SQLite's lock
/// arbitrates between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_one_file_race_correctly() {
    let path = fresh_path();
    let (pool_a, pool_b) = (application_pool(&path).await, application_pool(&path).await);
    let (a, b) = tokio::join!(store_on(&pool_a), store_on(&pool_b));
    race_across(Arc::new(a), Arc::new(b)).await;
}

/// A `SqliteStore` and a `SqlxSqliteStore` on one file: the drivers share the schema and its
/// statements, so they race as two stores of one driver do.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_two_drivers_race_correctly_on_one_file() {
    let path = fresh_path();
    let rusqlite_side = Arc::new(twofactor::SqliteStore::open(&path).await.unwrap());
    let sqlx_side = SqlxSqliteStore::new(application_pool(&path).await);
    // The file is migrated: the sqlx side only checks.
    sqlx_side.check_schema().await.unwrap();
    race_across(rusqlite_side, Arc::new(sqlx_side)).await;
}

/// Each driver reads exactly what the other wrote, including values past `i64::MAX` (the
/// order-preserving mapping of steps and times, the bits of generations and the used-code
/// mask), and applies "only if greater" to the other's step; with another table name too.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_drivers_read_each_others_records_exactly() {
    for table in [None, Some("auth_second_factor")] {
        let path = fresh_path();
        let pool = application_pool(&path).await;
        let mut sqlx_side = SqlxSqliteStore::new(pool);
        if let Some(table) = table {
            sqlx_side = sqlx_side.with_table_name(table).unwrap();
        }
        // Migrating at once, one store on each driver: the immediate transactions let one
        // create the tables.
        let (migrated, rusqlite_side) = tokio::join!(sqlx_side.migrate(), async {
            match table {
                Some(table) => twofactor::SqliteStore::open_with_table_name(&path, table).await,
                None => twofactor::SqliteStore::open(&path).await,
            }
        });
        migrated.unwrap();
        let rusqlite_side = rusqlite_side.unwrap();
        sqlx_side.check_schema().await.unwrap();
        exchange_records(&sqlx_side, &rusqlite_side).await;
        exchange_records(&rusqlite_side, &sqlx_side).await;
    }
}

/// `a` and `b` on the same tables: each reads exactly what the other wrote.
#[cfg(feature = "sqlite")]
async fn exchange_records<A: SecretStore, B: SecretStore>(a: &A, b: &B) {
    let user = format!("é-user-{}", NEXT.fetch_add(1, Ordering::SeqCst));
    let user = user.as_str();
    let mut cold = conformance::cold(StoredStatus::Pending, u64::MAX);
    cold.required = true;
    cold.recovery = None;
    let v = a.insert(user, &cold).await.unwrap();
    assert!(matches!(
        b.insert(user, &cold).await,
        Err(StoreError::Conflict)
    ));
    let step = Attempt::AcceptStep {
        step: u64::MAX - 1,
        drift: -2,
        version: v,
        generation: u64::MAX,
    };
    assert!(b.settle_attempt(user, 0, step, u64::MAX).await.unwrap());
    let lower = Attempt::AcceptStep {
        step: (1 << 63) + 1,
        drift: 1,
        version: v,
        generation: u64::MAX,
    };
    assert!(!a.settle_attempt(user, 0, lower, 5).await.unwrap());
    assert!(
        a.settle_attempt(user, 0, Attempt::Failed, 1 << 63)
            .await
            .unwrap()
    );
    let code = Attempt::ConsumeRecoveryCode {
        generation: u64::MAX,
        index: 63,
        version: v,
    };
    assert!(b.settle_attempt(user, 1, code, 7).await.unwrap());
    assert!(!a.settle_attempt(user, 0, code, 8).await.unwrap());
    assert!(a.settle_attempt(user, 0, Attempt::Failed, 9).await.unwrap());

    let read = a.get(user).await.unwrap().unwrap();
    assert_eq!(b.get(user).await.unwrap(), Some(read.clone()));
    assert_eq!(read.version, v);
    assert_eq!(read.cold, cold);
    assert_eq!(read.last_step, Some(u64::MAX - 1));
    assert_eq!(read.drift, -2);
    assert_eq!(read.last_used_at, Some(7));
    assert_eq!(read.recovery_used, 1 << 63);
    assert_eq!(read.failures, 1);
    assert_eq!(read.last_failure_at, Some(9));

    // A compare-and-swap through one driver, read through the other.
    let mut active = conformance::cold(StoredStatus::Active, 3);
    active.recovery = Some("new set".to_owned());
    let mut effects = ReplaceEffects::default();
    effects.reset_failures = true;
    assert_eq!(b.replace(user, v, &active, effects).await.unwrap(), v + 1);
    assert!(matches!(
        a.replace(user, v, &active, effects).await,
        Err(StoreError::Conflict)
    ));
    let read = a.get(user).await.unwrap().unwrap();
    assert_eq!((read.version, read.failures), (v + 1, 0));
    assert_eq!(
        (read.recovery_used, read.last_step),
        (0, Some(u64::MAX - 1))
    );
    assert_eq!(read.cold, active);
    assert_eq!(b.get(user).await.unwrap(), Some(read));

    // Pages agree, in bytewise order, and either driver deletes.
    let ids = |users: Vec<twofactor::store::StoredUser>| {
        users.into_iter().map(|u| u.user_id).collect::<Vec<_>>()
    };
    // Zero-padded, so that earlier prefixes sort before this one.
    let prefix = format!("p{:08}-", NEXT.fetch_add(1, Ordering::SeqCst));
    let (upper, lower, accented) = (
        format!("{prefix}Z"),
        format!("{prefix}z"),
        format!("{prefix}é"),
    );
    for id in [&lower, &accented, &upper] {
        b.insert(id, &conformance::cold(StoredStatus::Active, 1))
            .await
            .unwrap();
    }
    let page = ids(a
        .list(twofactor::store::ListFilter::Active, Some(&prefix), 3)
        .await
        .unwrap());
    assert_eq!(page, [upper.as_str(), &lower, &accented]);
    assert_eq!(
        ids(b
            .list(twofactor::store::ListFilter::Active, Some(&prefix), 3)
            .await
            .unwrap()),
        page
    );
    assert!(b.delete(&lower).await.unwrap());
    assert!(!a.delete(&lower).await.unwrap());
    assert_eq!(a.get(&lower).await.unwrap(), None);
}

/// `check_schema` refuses missing and newer schemas with a typed error, `migrate` refuses to
/// touch a newer one, and the shipped migration applied by the application's own tool is
/// accepted.
#[tokio::test]
async fn check_schema_refuses_a_mismatch() {
    let pool = application_pool(&fresh_path()).await;
    let store = SqlxSqliteStore::new(pool.clone());
    // Nothing there yet.
    let err = store.check_schema().await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Schema {
                found: None,
                expected: 1
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("migrate()"), "{err}");
    // The application's migration tool applies the shipped text.
    sqlx::raw_sql(twofactor::store::SQLITE_MIGRATION_0001)
        .execute(&pool)
        .await
        .unwrap();
    store.check_schema().await.unwrap();
    // Another table name has no schema in this file.
    let other = SqlxSqliteStore::new(pool.clone())
        .with_table_name("other")
        .unwrap();
    assert!(matches!(
        other.check_schema().await,
        Err(StoreError::Schema { found: None, .. })
    ));
    // migrate() on a migrated schema changes nothing, and the store works.
    store.migrate().await.unwrap();
    store
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    // A later version of this crate migrated it.
    sqlx::raw_sql("INSERT INTO twofactor_schema (version) VALUES (99)")
        .execute(&pool)
        .await
        .unwrap();
    let err = store.check_schema().await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Schema {
                found: Some(99),
                expected: 1
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    assert!(matches!(
        store.migrate().await,
        Err(StoreError::Schema {
            found: Some(99),
            ..
        })
    ));
    // The refused migration rolled back: the pool's connections are usable and the data kept.
    assert!(store.get("u").await.unwrap().is_some());
    // No version recorded (an interrupted hand-made setup): refused as missing.
    sqlx::raw_sql("DELETE FROM twofactor_schema")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        store.check_schema().await,
        Err(StoreError::Schema { found: None, .. })
    ));
}

/// `SqliteStore` refuses to open a file whose schema a later version migrated, like
/// `SqlxSqliteStore::migrate`.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_store_refuses_a_newer_schema() {
    let path = fresh_path();
    let pool = application_pool(&path).await;
    store_on(&pool).await;
    sqlx::raw_sql("INSERT INTO twofactor_schema (version) VALUES (2)")
        .execute(&pool)
        .await
        .unwrap();
    let err = twofactor::SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Schema {
                found: Some(2),
                expected: 1
            }
        ),
        "{err:?}"
    );
}

/// `migrate` any number of times, from either driver, keeps the tables and their records.
#[tokio::test]
async fn migrate_is_idempotent() {
    let path = fresh_path();
    let pool = application_pool(&path).await;
    let store = store_on(&pool).await;
    store.migrate().await.unwrap();
    store
        .insert("u", &conformance::cold(StoredStatus::Active, 4))
        .await
        .unwrap();
    assert!(
        conformance::advance_step(&store, "u", 9, 1, 2)
            .await
            .unwrap()
    );
    store.migrate().await.unwrap();
    // Another pool on the file (a restarted server) migrates again and finds the record.
    let again = store_on(&application_pool(&path).await).await;
    let got = again.get("u").await.unwrap().unwrap();
    assert_eq!((got.last_step, got.cold.recovery_generation), (Some(9), 4));
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM twofactor_schema")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(versions, [1], "the version is recorded once");
    #[cfg(feature = "sqlite")]
    {
        let rusqlite_side = twofactor::SqliteStore::open(&path).await.unwrap();
        assert_eq!(rusqlite_side.get("u").await.unwrap(), Some(got));
        store.migrate().await.unwrap();
    }
}

/// With no busy timeout on the pool and another connection holding the write lock, a write
/// fails with SQLITE_BUSY on every run: after its bounded retries the store reports a backend
/// error, and the write had no effect. Once the lock is released, the same write succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_database_is_reported_without_effect() {
    let path = fresh_path();
    let holder = application_pool(&path).await;
    let impatient = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options(&path, Duration::ZERO))
        .await
        .unwrap();
    let store = store_on(&impatient).await;
    store
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let lock = holder.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let started = std::time::Instant::now();
    let err = store
        .settle_attempt("u", 0, Attempt::Failed, 5)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("database is locked"), "{err}");
    // Three backoffs (2, 4 and 8 ms) between four runs, and no more.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(14), "{took:?}: no retries");
    assert!(
        took < Duration::from_secs(5),
        "{took:?}: retries are bounded"
    );
    // WAL: reads go on beside the held lock, and show that nothing was written.
    assert_eq!(store.get("u").await.unwrap().unwrap().failures, 0);
    lock.rollback().await.unwrap();
    assert!(
        store
            .settle_attempt("u", 0, Attempt::Failed, 5)
            .await
            .unwrap()
    );
    assert_eq!(store.get("u").await.unwrap().unwrap().failures, 1);
}

#[tokio::test]
async fn invalid_names_are_refused() {
    // No database needed: names are checked before any statement runs.
    let pool = SqlitePool::connect_lazy("sqlite::memory:").unwrap();
    let store = || SqlxSqliteStore::new(pool.clone());
    let long = "a".repeat(57);
    let bad = [
        "",
        "1abc",
        "Robert'); DROP TABLE x;--",
        "UPPER",
        "a-b",
        "sqlite_users",
        long.as_str(),
    ];
    for name in bad {
        assert!(store().with_table_name(name).is_err(), "{name}");
    }
    assert!(store().with_table_name(&"a".repeat(56)).is_ok());
    #[cfg(feature = "sqlite")]
    for name in bad {
        // Refused before the file is touched.
        let path = fresh_path();
        assert!(matches!(
            twofactor::SqliteStore::open_with_table_name(&path, name).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(!path.exists());
    }
    // Setting up can run in a spawned task (never polled here: this only has to compile).
    fn send<T: Send>(_: T) {}
    let unpolled = store();
    send(unpolled.migrate());
    send(unpolled.check_schema());
}
