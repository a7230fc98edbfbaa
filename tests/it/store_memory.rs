//! `MemoryStore` passes the store conformance suite.

use twofactor::store::conformance;

use twofactor::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conformance() {
    conformance::run_all(|| async { MemoryStore::new() }).await;
}

/// A store chosen at run time, behind one type, keeps the whole contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_store_conformance() {
    conformance::run_all(|| async { twofactor::store::AnyStore::new(MemoryStore::new()) }).await;
}
