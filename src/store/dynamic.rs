//! Choosing the store at run time: [`AnyStore`] holds any [`SecretStore`] behind one type.
//!
//! [`SecretStore`] returns `impl Future`, which keeps every call free of allocation but makes the
//! trait unusable as `dyn SecretStore`. [`DynSecretStore`] is its object-safe twin (each call
//! boxes its future), implemented for every `SecretStore`; [`AnyStore`] wraps an
//! `Arc<dyn DynSecretStore>` and is itself a `SecretStore`, so an application that picks SQLite
//! or PostgreSQL from its configuration holds one `EnrollmentFlow<AnyStore>` type.
//!
//! ```
//! use twofactor::store::{AnyStore, MemoryStore};
//! use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing};
//!
//! # fn from_config(in_memory: bool) -> Result<EnrollmentFlow<AnyStore>, Box<dyn std::error::Error>> {
//! let store = if in_memory {
//!     AnyStore::new(MemoryStore::new())
//! } else {
//!     // e.g. AnyStore::new(SqliteStore::open(path).await?) or a PostgresStore
//!     AnyStore::new(MemoryStore::new())
//! };
//! let keys = KeyRing::new(EncryptionKey::generate(1)?);
//! Ok(EnrollmentFlow::new(store, keys, FlowConfig::new("Example Co"))?)
//! # }
//! # from_config(true).map(|_| ()).unwrap();
//! ```

use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;

use super::{
    Attempt, ColdFields, Decide, ListFilter, ReadSettled, ReplaceEffects, SecretStore, StoreError,
    StoredUser,
};

/// A boxed, `Send` future, as [`DynSecretStore`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe form of [`SecretStore`]: the same operations with the same contract, each
/// returning a boxed future. Implemented for every [`SecretStore`]; use it through
/// [`AnyStore`].
pub trait DynSecretStore: Send + Sync {
    /// [`SecretStore::get`].
    fn get<'a>(&'a self, user_id: &'a str)
    -> BoxFuture<'a, Result<Option<StoredUser>, StoreError>>;
    /// [`SecretStore::insert`].
    fn insert<'a>(
        &'a self,
        user_id: &'a str,
        cold: &'a ColdFields,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
    /// [`SecretStore::replace`].
    fn replace<'a>(
        &'a self,
        user_id: &'a str,
        expected_version: u64,
        cold: &'a ColdFields,
        effects: ReplaceEffects,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
    /// [`SecretStore::settle_attempt`].
    fn settle_attempt<'a>(
        &'a self,
        user_id: &'a str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// [`SecretStore::read_and_settle`] (the store's own, if it overrides it).
    fn read_and_settle<'a>(
        &'a self,
        user_id: &'a str,
        at: u64,
        decide: &'a mut Decide<'_>,
    ) -> BoxFuture<'a, Result<ReadSettled, StoreError>>;
    /// [`SecretStore::reset_failures`].
    fn reset_failures<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// [`SecretStore::delete`].
    fn delete<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// [`SecretStore::list`].
    fn list<'a>(
        &'a self,
        filter: ListFilter,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredUser>, StoreError>>;
}

impl<S: SecretStore> DynSecretStore for S {
    fn get<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredUser>, StoreError>> {
        Box::pin(SecretStore::get(self, user_id))
    }

    fn insert<'a>(
        &'a self,
        user_id: &'a str,
        cold: &'a ColdFields,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(SecretStore::insert(self, user_id, cold))
    }

    fn replace<'a>(
        &'a self,
        user_id: &'a str,
        expected_version: u64,
        cold: &'a ColdFields,
        effects: ReplaceEffects,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(SecretStore::replace(
            self,
            user_id,
            expected_version,
            cold,
            effects,
        ))
    }

    fn settle_attempt<'a>(
        &'a self,
        user_id: &'a str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SecretStore::settle_attempt(
            self,
            user_id,
            expected_failures,
            attempt,
            at,
        ))
    }

    fn read_and_settle<'a>(
        &'a self,
        user_id: &'a str,
        at: u64,
        decide: &'a mut Decide<'_>,
    ) -> BoxFuture<'a, Result<ReadSettled, StoreError>> {
        Box::pin(SecretStore::read_and_settle(self, user_id, at, decide))
    }

    fn reset_failures<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(SecretStore::reset_failures(self, user_id))
    }

    fn delete<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SecretStore::delete(self, user_id))
    }

    fn list<'a>(
        &'a self,
        filter: ListFilter,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StoredUser>, StoreError>> {
        Box::pin(SecretStore::list(self, filter, after, limit))
    }
}

/// Any [`SecretStore`], chosen at run time, behind one type. Cloning shares the store. Each call
/// costs one allocation (the boxed future) more than the store itself.
#[derive(Clone)]
pub struct AnyStore(Arc<dyn DynSecretStore>);

impl AnyStore {
    /// Wraps `store`.
    pub fn new(store: impl SecretStore + 'static) -> AnyStore {
        AnyStore(Arc::new(store))
    }

    /// Wraps a store already behind an `Arc`.
    pub fn from_arc(store: Arc<dyn DynSecretStore>) -> AnyStore {
        AnyStore(store)
    }
}

impl core::fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AnyStore(..)")
    }
}

impl SecretStore for AnyStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        self.0.get(user_id).await
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        self.0.insert(user_id, cold).await
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        self.0
            .replace(user_id, expected_version, cold, effects)
            .await
    }

    async fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.0
            .settle_attempt(user_id, expected_failures, attempt, at)
            .await
    }

    async fn read_and_settle(
        &self,
        user_id: &str,
        at: u64,
        decide: &mut Decide<'_>,
    ) -> Result<ReadSettled, StoreError> {
        // The wrapped store's own: one connection, if it holds one.
        self.0.read_and_settle(user_id, at, decide).await
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        self.0.reset_failures(user_id).await
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        self.0.delete(user_id).await
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        self.0.list(filter, after, limit).await
    }
}
