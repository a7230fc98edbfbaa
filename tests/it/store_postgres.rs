//! `PostgresStore` passes the store conformance suite, and races correctly across two separate
//! connection pools (two "servers"). Reads the server from `TWOFACTOR_TEST_POSTGRES_URL`
//! (`.ci/run` sets it); without it, prints that it skips.
#![cfg(feature = "postgres")]

use twofactor::store::conformance;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use twofactor::PostgresStore;
use twofactor::store::{ReplaceEffects, SecretStore, StoredStatus};

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
        "twofactor_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

async fn drop_schema(url: &str, schema: &str) {
    if let Ok((client, conn)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conformance() {
    let Some(url) = url() else { return };
    let schemas = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (u, s) = (url.clone(), schemas.clone());
    conformance::run_all(move || {
        let (url, schemas) = (u.clone(), s.clone());
        async move {
            let schema = fresh_schema();
            schemas.lock().unwrap().push(schema.clone());
            PostgresStore::connect_with_schema(&url, &schema)
                .await
                .unwrap()
        }
    })
    .await;
    let used: Vec<String> = schemas.lock().unwrap().clone();
    for schema in used {
        drop_schema(&url, &schema).await;
    }
}

/// Two stores with separate pools on the same tables, as two application servers would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_race_correctly() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let a = Arc::new(
        PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    );
    let b = Arc::new(
        PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    );
    a.insert("u", &conformance::cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(conformance::RACERS));
    let mut handles = Vec::new();
    for i in 0..conformance::RACERS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            (
                store.advance_step("u", 77, 0, 1).await.unwrap(),
                store.consume_recovery_code("u", 1, 9, 1).await.unwrap(),
                store
                    .replace(
                        "u",
                        1,
                        &conformance::cold(StoredStatus::Active, 1),
                        ReplaceEffects::default(),
                    )
                    .await
                    .is_ok(),
                loop {
                    let current = store.get("u").await.unwrap().unwrap().failures;
                    if store.reserve_attempt("u", current, 1).await.unwrap() {
                        break current + 1;
                    }
                },
            )
        }));
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
    assert_eq!(wins, (1, 1, 1), "one winner per race across both pools");
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=u32::try_from(conformance::RACERS).unwrap()).collect::<Vec<_>>()
    );
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn invalid_schema_names_are_refused() {
    let Some(url) = url() else { return };
    for bad in [
        "",
        "1abc",
        "Robert'); DROP TABLE x;--",
        "UPPER",
        &"a".repeat(64),
    ] {
        assert!(
            PostgresStore::connect_with_schema(&url, bad).await.is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_backend_error_shows_its_cause() {
    let Some(url) = url() else { return };
    // The same server, a database that does not exist.
    let (base, _) = url.rsplit_once('/').unwrap();
    let err = PostgresStore::connect(&format!("{base}/twofactor_no_such_database"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("twofactor_no_such_database") && text.contains("does not exist"),
        "{text}"
    );
    assert!(std::error::Error::source(&err).is_some());
}
