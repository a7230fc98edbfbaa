//! `MySqlStore` passes the store conformance suite on the application's pool, races correctly
//! across two separate pools (two "servers"), migrates idempotently (several servers at once),
//! and checks a schema applied by the application's own migration tool. Reads the server from
//! `TWOFACTOR_TEST_MYSQL_URL` (`.ci/run` sets it); without it, prints that it skips.
#![cfg(feature = "mysql")]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use twofactor::MySqlStore;
use twofactor::store::{ListFilter, SecretStore, StoreError, StoredStatus};
use twofactor::store::{MYSQL_MIGRATION_0001, conformance};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn url() -> Option<String> {
    crate::support::mysql_url()
}

/// A name of its own for each store's tables (or database), so runs and tests never collide.
fn fresh_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "twofactor_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The application's own pool, as a service builds it.
async fn application_pool(url: &str) -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(8)
        .connect(url)
        .await
        .unwrap()
}

/// A store on `pool` with fresh, migrated tables named `table`.
async fn store_on(pool: &MySqlPool, table: &str) -> MySqlStore {
    let store = MySqlStore::new(pool.clone())
        .with_table_name(table)
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn drop_tables(pool: &MySqlPool, table: &str) {
    sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`, `{table}_schema`"))
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_store_conformance() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url).await;
    let tables = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (p, t) = (pool.clone(), tables.clone());
    conformance::run_all(move || {
        let (pool, tables) = (p.clone(), t.clone());
        async move {
            let table = fresh_name();
            tables.lock().unwrap().push(table.clone());
            store_on(&pool, &table).await
        }
    })
    .await;
    let used: Vec<String> = tables.lock().unwrap().clone();
    for table in used {
        drop_tables(&pool, &table).await;
    }
}

/// Two stores with separate pools on the same tables, as two application servers would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_race_correctly() {
    let Some(url) = url() else { return };
    let table = fresh_name();
    let (pool_a, pool_b) = (application_pool(&url).await, application_pool(&url).await);
    let a = Arc::new(store_on(&pool_a, &table).await);
    let b = Arc::new(store_on(&pool_b, &table).await);
    conformance::race_across(a, b).await;
    drop_tables(&pool_a, &table).await;
}

/// Several servers starting at once all migrate the same fresh tables; running it again changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_is_idempotent_across_servers() {
    let Some(url) = url() else { return };
    let table = fresh_name();
    let mut servers = Vec::new();
    for _ in 0..4 {
        let pool = application_pool(&url).await;
        let store = MySqlStore::new(pool).with_table_name(&table).unwrap();
        servers.push(tokio::spawn(async move {
            store.migrate().await.map(|()| store)
        }));
    }
    let mut stores = Vec::new();
    for server in servers {
        stores.push(server.await.unwrap().unwrap());
    }
    let store = &stores[0];
    store.migrate().await.unwrap();
    store.check_schema().await.unwrap();
    let versions: Vec<u64> = sqlx::query_scalar(&format!("SELECT version FROM `{table}_schema`"))
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(versions, [1]);
    // Migrating again keeps the data.
    store
        .insert("kept", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    stores[1].migrate().await.unwrap();
    assert!(store.get("kept").await.unwrap().is_some());
    drop_tables(store.pool(), &table).await;
}

/// `check_schema` refuses missing, older and newer schemas with a typed error naming both
/// versions, and `migrate` refuses to touch a newer one.
#[tokio::test]
async fn check_schema_refuses_a_mismatch() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url).await;
    let table = fresh_name();
    let store = MySqlStore::new(pool.clone())
        .with_table_name(&table)
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
    store.migrate().await.unwrap();
    store.check_schema().await.unwrap();
    // A later version of this crate migrated it.
    sqlx::query(&format!(
        "INSERT INTO `{table}_schema` (version) VALUES (2)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let err = store.check_schema().await.unwrap_err();
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
    assert!(err.to_string().contains("newer"), "{err}");
    assert!(matches!(
        store.migrate().await,
        Err(StoreError::Schema { found: Some(2), .. })
    ));
    // An older one (here: no version recorded, as an interrupted hand-made setup leaves it).
    sqlx::query(&format!("DELETE FROM `{table}_schema`"))
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        store.check_schema().await,
        Err(StoreError::Schema { found: None, .. })
    ));
    // migrate() completes it.
    store.migrate().await.unwrap();
    store.check_schema().await.unwrap();
    drop_tables(&pool, &table).await;
}

/// The shipped `migrations/mysql/0001_twofactor.sql`, applied by the application's migration
/// tool (here: its text sent as is, as `sqlx migrate` or the `mysql` client would), gives tables
/// that `check_schema` accepts and the store uses; applying it twice is harmless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_migration_applied_by_hand_is_accepted() {
    let Some(url) = url() else { return };
    // A database of its own, since the file uses the default table names.
    let admin = application_pool(&url).await;
    let database = fresh_name();
    sqlx::query(&format!("CREATE DATABASE `{database}`"))
        .execute(&admin)
        .await
        .unwrap();
    let options = MySqlConnectOptions::from_str(&url)
        .unwrap()
        .database(&database);
    let pool = MySqlPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    assert_eq!(
        MYSQL_MIGRATION_0001,
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations/mysql/0001_twofactor.sql")
        )
        .unwrap()
    );
    for _ in 0..2 {
        sqlx::raw_sql(MYSQL_MIGRATION_0001)
            .execute(&pool)
            .await
            .unwrap();
    }
    let store = MySqlStore::new(pool.clone());
    store.check_schema().await.unwrap();
    store.migrate().await.unwrap();
    let version = store
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    assert_eq!(store.get("u").await.unwrap().unwrap().version, version);
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE `{database}`"))
        .execute(&admin)
        .await
        .unwrap();
}

/// User ids are bytes: trailing spaces and case matter, order is bytewise (as `list`'s keyset
/// pages need), and an id longer than the column is refused rather than truncated.
#[tokio::test]
async fn user_ids_are_exact_bytes() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url).await;
    let table = fresh_name();
    let store = store_on(&pool, &table).await;
    let mut ids = ["a", "a ", "A", "é", "z", "a\u{0}"];
    for id in ids {
        store
            .insert(id, &conformance::cold(StoredStatus::Active, 1))
            .await
            .unwrap();
    }
    ids.sort_unstable();
    let listed: Vec<String> = store
        .list(ListFilter::All, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(listed, ids);
    let page: Vec<String> = store
        .list(ListFilter::Active, Some("a"), 2)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(page, ["a\u{0}", "a "]);

    let longest = "x".repeat(255);
    store
        .insert(&longest, &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    assert_eq!(store.get(&longest).await.unwrap().unwrap().user_id, longest);
    let too_long = "x".repeat(256);
    let err = store
        .insert(&too_long, &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 255"), "{err}");
    assert_eq!(store.get(&too_long).await.unwrap(), None);
    drop_tables(&pool, &table).await;
}

/// Resetting a count that is already zero changes no column: MySQL without `CLIENT_FOUND_ROWS`
/// reports 0 affected rows, which must not read as a missing user.
#[tokio::test]
async fn resetting_a_zero_count_finds_the_user() {
    let Some(url) = url() else { return };
    let pool = application_pool(&url).await;
    let table = fresh_name();
    let store = store_on(&pool, &table).await;
    store
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    store.reset_failures("u").await.unwrap();
    store.reset_failures("u").await.unwrap();
    assert!(matches!(
        store.reset_failures("nobody").await,
        Err(StoreError::NotFound)
    ));
    drop_tables(&pool, &table).await;
}

#[tokio::test]
async fn invalid_table_names_are_refused() {
    // No server needed: the name is checked before any statement runs.
    let pool = MySqlPool::connect_lazy("mysql://nobody@127.0.0.1:1/none").unwrap();
    let store = || MySqlStore::new(pool.clone());
    for bad in [
        "",
        "1abc",
        "users`; DROP TABLE x; --",
        "Users",
        "a-b",
        &"a".repeat(58),
    ] {
        assert!(store().with_table_name(bad).is_err(), "{bad}");
    }
    assert!(store().with_table_name(&"a".repeat(57)).is_ok());
    // Setting up can run in a spawned task (never polled here: this only has to compile).
    fn send<T: Send>(_: T) {}
    let unpolled = store();
    send(unpolled.migrate());
    send(unpolled.check_schema());
    assert!(
        store().with_table_name("select").is_ok(),
        "quoted in SQL, so reserved words work"
    );
}

#[tokio::test]
async fn a_backend_error_shows_its_cause() {
    let Some(url) = url() else { return };
    // The same server, a database that does not exist.
    let (base, _) = url.rsplit_once('/').unwrap();
    let err = MySqlStore::connect(&format!("{base}/twofactor_no_such_database"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("twofactor_no_such_database"), "{text}");
    assert!(std::error::Error::source(&err).is_some());
}
