//! `SqliteStore` passes the store conformance suite, also with two stores (as two processes
//! would) on one file, and keeps its data across reopening.
#![cfg(feature = "sqlite")]

use twofactor::store::conformance;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use twofactor::SqliteStore;
use twofactor::store::{ReplaceEffects, SecretStore, StoredStatus};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn fresh_path() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("twofactor-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!(
        "db-{}.sqlite3",
        NEXT.fetch_add(1, Ordering::SeqCst)
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conformance() {
    conformance::run_all(|| async { SqliteStore::open(fresh_path()).await.unwrap() }).await;
}

/// Two independent stores (separate connection pools, as two servers or processes would have)
/// on the same file: the races still have exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_race_correctly() {
    let path = fresh_path();
    let a = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b = Arc::new(SqliteStore::open(&path).await.unwrap());
    let version = a
        .insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..conformance::RACERS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        handles.push(tokio::spawn(async move {
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
            )
        }));
    }
    let mut wins = (0, 0, 0);
    for h in handles {
        let (s, r, c) = h.await.unwrap();
        wins.0 += usize::from(s);
        wins.1 += usize::from(r);
        wins.2 += usize::from(c);
    }
    assert_eq!(wins, (1, 1, 1));
}

#[tokio::test]
async fn data_survives_reopening_and_the_schema_is_not_recreated() {
    let path = fresh_path();
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .insert("u", &conformance::cold(StoredStatus::Active, 4))
            .await
            .unwrap();
        assert!(
            conformance::advance_step(&store, "u", 9, 1, 2)
                .await
                .unwrap()
        );
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!((got.last_step, got.cold.recovery_generation), (Some(9), 4));
}
