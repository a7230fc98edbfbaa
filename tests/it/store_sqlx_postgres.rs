//! `SqlxPostgresStore` passes the store conformance suite on the application's `PgPool`, races
//! correctly across two separate pools (two "servers"), and shares its tables with
//! `PostgresStore`: the two drivers race correctly on one database and read each other's
//! records exactly. Reads the server from `TWOFACTOR_TEST_POSTGRES_URL` (`.ci/run` sets it);
//! without it, prints that it skips.
#![cfg(feature = "sqlx-postgres")]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use twofactor::SqlxPostgresStore;
use twofactor::store::{Attempt, SecretStore, StoreError, StoredStatus, conformance};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn url() -> Option<String> {
    crate::support::postgres_url()
}

/// A schema of its own for each store, so runs and tests never collide.
fn fresh_schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "twofactor_sqlx_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The application's own pool, as a service builds it.
async fn application_pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(8)
        .connect(url)
        .await
        .unwrap()
}

/// A store on `pool` with fresh, migrated tables in `schema`.
async fn store_on(pool: &PgPool, schema: &str) -> SqlxPostgresStore {
    let store = SqlxPostgresStore::new(pool.clone())
        .with_schema(schema)
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn drop_schema(pool: &PgPool, schema: &str) {
    sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlx_postgres_store_conformance() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url).await;
    let schemas = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (p, s) = (pool.clone(), schemas.clone());
    conformance::run_all(move || {
        let (pool, schemas) = (p.clone(), s.clone());
        async move {
            let schema = fresh_schema();
            schemas.lock().unwrap().push(schema.clone());
            store_on(&pool, &schema).await
        }
    })
    .await;
    let used: Vec<String> = schemas.lock().unwrap().clone();
    for schema in used {
        drop_schema(&pool, &schema).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_its_own_table_name_the_store_conforms() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url).await;
    let schemas = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (p, s) = (pool.clone(), schemas.clone());
    conformance::run_all(move || {
        let (pool, schemas) = (p.clone(), s.clone());
        async move {
            let schema = fresh_schema();
            schemas.lock().unwrap().push(schema.clone());
            let store = SqlxPostgresStore::new(pool)
                .with_table_name("auth_second_factor")
                .unwrap()
                .with_schema(&schema)
                .unwrap();
            store.migrate().await.unwrap();
            store
        }
    })
    .await;
    let used: Vec<String> = schemas.lock().unwrap().clone();
    for schema in used {
        drop_schema(&pool, &schema).await;
    }
}

/// Two stores with separate pools on the same tables, as two application servers would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_race_correctly() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let (pool_a, pool_b) = (application_pool(&url).await, application_pool(&url).await);
    let a = Arc::new(store_on(&pool_a, &schema).await);
    let b = Arc::new(store_on(&pool_b, &schema).await);
    conformance::race_across(a, b).await;
    drop_schema(&pool_a, &schema).await;
}

/// A server on `PostgresStore` and one on `SqlxPostgresStore`, on the same tables: the drivers
/// share the schema, its statements and the migration lock, so they race as two servers of one
/// driver do.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_two_drivers_race_correctly_on_one_database() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let pool = application_pool(&url).await;
    let tokio_postgres_side = Arc::new(
        twofactor::PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    );
    let sqlx_side = Arc::new(store_on(&pool, &schema).await);
    sqlx_side.check_schema().await.unwrap();
    conformance::race_across(tokio_postgres_side, sqlx_side).await;
    drop_schema(&pool, &schema).await;
}

/// Each driver reads exactly what the other wrote, including values past `i64::MAX` (the
/// order-preserving mapping of steps and times, the bits of generations and the used-code
/// mask), and applies "only if greater" to the other's step.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_drivers_read_each_others_records_exactly() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let pool = application_pool(&url).await;
    // Migrating at once, one server on each driver: the shared lock lets one create the tables.
    let (sqlx_side, tokio_postgres_side) = tokio::join!(
        store_on(&pool, &schema),
        twofactor::PostgresStore::connect_with_schema(&url, &schema)
    );
    let tokio_postgres_side = tokio_postgres_side.unwrap();
    let (a, b) = (&sqlx_side, &tokio_postgres_side);

    let mut cold = conformance::cold(StoredStatus::Pending, u64::MAX);
    cold.required = true;
    cold.recovery = None;
    let v = a.insert("é-user", &cold).await.unwrap();
    assert!(matches!(
        b.insert("é-user", &cold).await,
        Err(StoreError::Conflict)
    ));
    let step = Attempt::AcceptStep {
        step: u64::MAX - 1,
        drift: -2,
        version: v,
        generation: u64::MAX,
    };
    assert!(b.settle_attempt("é-user", 0, step, u64::MAX).await.unwrap());
    let lower = Attempt::AcceptStep {
        step: (1 << 63) + 1,
        drift: 1,
        version: v,
        generation: u64::MAX,
    };
    assert!(!a.settle_attempt("é-user", 0, lower, 5).await.unwrap());
    assert!(
        a.settle_attempt("é-user", 0, Attempt::Failed, 1 << 63)
            .await
            .unwrap()
    );
    let code = Attempt::ConsumeRecoveryCode {
        generation: u64::MAX,
        index: 63,
        version: v,
    };
    assert!(b.settle_attempt("é-user", 1, code, 7).await.unwrap());
    assert!(!a.settle_attempt("é-user", 0, code, 8).await.unwrap());
    assert!(
        a.settle_attempt("é-user", 0, Attempt::Failed, 9)
            .await
            .unwrap()
    );

    let read = a.get("é-user").await.unwrap().unwrap();
    assert_eq!(b.get("é-user").await.unwrap(), Some(read.clone()));
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
    let mut effects = twofactor::store::ReplaceEffects::default();
    effects.reset_failures = true;
    assert_eq!(
        b.replace("é-user", v, &active, effects).await.unwrap(),
        v + 1
    );
    assert!(matches!(
        a.replace("é-user", v, &active, effects).await,
        Err(StoreError::Conflict)
    ));
    let read = a.get("é-user").await.unwrap().unwrap();
    assert_eq!((read.version, read.failures), (v + 1, 0));
    assert_eq!(
        (read.recovery_used, read.last_step),
        (0, Some(u64::MAX - 1))
    );
    assert_eq!(read.cold, active);

    // Pages agree, in bytewise order, and either driver deletes.
    for id in ["a", "Z", "z"] {
        b.insert(id, &conformance::cold(StoredStatus::Active, 1))
            .await
            .unwrap();
    }
    let ids = |users: Vec<twofactor::store::StoredUser>| {
        users.into_iter().map(|u| u.user_id).collect::<Vec<_>>()
    };
    let page = ids(a
        .list(twofactor::store::ListFilter::Active, Some("Z"), 10)
        .await
        .unwrap());
    assert_eq!(page, ["a", "z", "é-user"]);
    assert_eq!(
        ids(b
            .list(twofactor::store::ListFilter::Active, Some("Z"), 10)
            .await
            .unwrap()),
        page
    );
    assert!(b.delete("a").await.unwrap());
    assert!(!a.delete("a").await.unwrap());
    assert_eq!(a.get("a").await.unwrap(), None);
    drop_schema(&pool, &schema).await;
}

/// Whether some session waits for a row lock in a statement naming `schema`.
async fn waiting_for_a_lock(admin: &PgPool, schema: &str) -> bool {
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
    )
    .bind(format!("%{schema}.twofactor_users %"))
    .fetch_one(admin)
    .await
    .unwrap();
    waiting > 0
}

/// Counts a failure for user `u` (count 0) through `store`, while another transaction holds the
/// row, having raised the count to 1, and commits once `store`'s statement waits for it. At
/// SERIALIZABLE the waiting statement then fails with a serialization failure; the store runs it
/// again on the committed row, where the count it expected is gone: a lost race (`false`), not
/// an error, and the count is 1.
async fn a_lost_race_under_serializable<S: SecretStore + 'static>(
    store: Arc<S>,
    admin: &PgPool,
    schema: &str,
) {
    store
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let mut other = admin.begin().await.unwrap();
    sqlx::raw_sql(&format!(
        "UPDATE {schema}.twofactor_users SET failures = failures + 1 WHERE user_id = 'u'"
    ))
    .execute(&mut *other)
    .await
    .unwrap();
    let settling = {
        let store = store.clone();
        tokio::spawn(async move { store.settle_attempt("u", 0, Attempt::Failed, 5).await })
    };
    let mut waited = 0;
    while !waiting_for_a_lock(admin, schema).await {
        waited += 1;
        assert!(
            waited < 500,
            "the store's statement never waited for the row"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    other.commit().await.unwrap();
    assert!(!settling.await.unwrap().unwrap(), "the race is lost");
    assert_eq!(store.get("u").await.unwrap().unwrap().failures, 1);
}

/// With the pool's sessions at SERIALIZABLE (`default_transaction_isolation`), a statement that
/// loses a race to a concurrent writer fails; both drivers run it again (it had no effect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_failure_is_run_again() {
    let Some(url) = url() else { return };
    let admin = application_pool(&url).await;
    let schema = fresh_schema();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("default_transaction_isolation", "serializable")]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    let isolation: String = sqlx::query_scalar("SHOW default_transaction_isolation")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(isolation, "serializable");
    let store = Arc::new(store_on(&pool, &schema).await);
    a_lost_race_under_serializable(store, &admin, &schema).await;
    drop_schema(&admin, &schema).await;

    #[cfg(feature = "postgres")]
    {
        let schema = fresh_schema();
        let separator = if url.contains('?') { '&' } else { '?' };
        let serializable =
            format!("{url}{separator}options=-c%20default_transaction_isolation%3Dserializable");
        let store = twofactor::PostgresStore::connect_with_schema(&serializable, &schema)
            .await
            .unwrap();
        let isolation: String = store
            .pool()
            .get()
            .await
            .unwrap()
            .query_one("SHOW default_transaction_isolation", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(isolation, "serializable");
        a_lost_race_under_serializable(Arc::new(store), &admin, &schema).await;
        drop_schema(&admin, &schema).await;
    }
}

/// `check_schema` refuses missing and newer schemas with a typed error, `migrate` refuses to
/// touch a newer one, and the shipped migration applied by the application's own tool is
/// accepted.
#[tokio::test]
async fn check_schema_refuses_a_mismatch() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url).await;
    let schema = fresh_schema();
    let store = SqlxPostgresStore::new(pool.clone())
        .with_schema(&schema)
        .unwrap();
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
    // The application's migration tool applies the shipped file in that schema.
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}; {}; RESET search_path",
        twofactor::store::POSTGRES_MIGRATION_0001
    ))
    .execute(&pool)
    .await
    .unwrap();
    store.check_schema().await.unwrap();
    // migrate() on a migrated schema changes nothing, and the store works.
    store.migrate().await.unwrap();
    store
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    // A later version of this crate migrated it.
    sqlx::raw_sql(&format!(
        "INSERT INTO {schema}.twofactor_schema (version) VALUES (99)"
    ))
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
    // No version recorded (an interrupted hand-made setup): refused as missing.
    sqlx::raw_sql(&format!("DELETE FROM {schema}.twofactor_schema"))
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        store.check_schema().await,
        Err(StoreError::Schema { found: None, .. })
    ));
    drop_schema(&pool, &schema).await;
}

#[tokio::test]
async fn invalid_names_are_refused() {
    // No server needed: names are checked before any statement runs.
    let pool = PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
    let store = || SqlxPostgresStore::new(pool.clone());
    for bad in [
        "",
        "1abc",
        "Robert'); DROP TABLE x;--",
        "UPPER",
        "a-b",
        &"a".repeat(64),
    ] {
        assert!(store().with_schema(bad).is_err(), "{bad}");
        assert!(store().with_table_name(bad).is_err(), "{bad}");
    }
    assert!(store().with_table_name(&"a".repeat(57)).is_err());
    assert!(store().with_table_name(&"a".repeat(56)).is_ok());
    assert!(store().with_schema(&"a".repeat(63)).is_ok());
    // Setting up can run in a spawned task (never polled here: this only has to compile).
    fn send<T: Send>(_: T) {}
    let unpolled = store();
    send(unpolled.migrate());
    send(unpolled.check_schema());
    send(SqlxPostgresStore::connect(
        "postgres://nobody@127.0.0.1:1/none",
    ));
}

#[tokio::test]
async fn a_backend_error_shows_its_cause() {
    let Some(url) = url() else { return };
    // The same server, a database that does not exist.
    let (base, _) = url.rsplit_once('/').unwrap();
    let err = SqlxPostgresStore::connect(&format!("{base}/twofactor_no_such_database"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("twofactor_no_such_database") && text.contains("does not exist"),
        "{text}"
    );
    assert!(matches!(err, StoreError::Backend(_)));
    assert!(std::error::Error::source(&err).is_some());
    // A statement the server refuses, on a working pool: here, tables that were never created.
    let store = SqlxPostgresStore::new(application_pool(&url).await)
        .with_schema(&fresh_schema())
        .unwrap();
    let err = store.get("u").await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}
