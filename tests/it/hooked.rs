//! A `MemoryStore` with hooks a test runs just before a read or a conditional write: another
//! request's change landing in that gap, or a read held back for as long as the test wants.
//! Shared by the `it` binary and `tests/kdf_queue.rs`.

use twofactor::MemoryStore;
use twofactor::store::{
    Attempt, ColdFields, ListFilter, ReplaceEffects, SecretStore, StoreError, StoredUser,
};

/// What runs before the store's operations; each hook does nothing unless overridden.
pub trait Hooks: Send + Sync {
    /// Before `get` of `user`.
    fn before_get(
        &self,
        _store: &MemoryStore,
        _user: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// Before `replace` of `user`.
    fn before_replace(
        &self,
        _store: &MemoryStore,
        _user: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }

    /// Before `settle_attempt` of `user` (each login's read and write go through `get` and
    /// `settle_attempt`: the trait's provided `read_and_settle`).
    fn before_settle(
        &self,
        _store: &MemoryStore,
        _user: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }
}

/// A `MemoryStore` that runs `hooks`.
#[derive(Default)]
pub struct Hooked<H> {
    /// The records.
    pub inner: MemoryStore,
    /// What runs before the operations.
    pub hooks: H,
}

impl<H: Hooks> SecretStore for Hooked<H> {
    async fn get(&self, user: &str) -> Result<Option<StoredUser>, StoreError> {
        self.hooks.before_get(&self.inner, user).await?;
        self.inner.get(user).await
    }
    async fn insert(&self, user: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        self.inner.insert(user, cold).await
    }
    async fn replace(
        &self,
        user: &str,
        version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        self.hooks.before_replace(&self.inner, user).await?;
        self.inner.replace(user, version, cold, effects).await
    }
    async fn settle_attempt(
        &self,
        user: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.hooks.before_settle(&self.inner, user).await?;
        self.inner
            .settle_attempt(user, expected_failures, attempt, at)
            .await
    }
    async fn reset_failures(&self, user: &str) -> Result<(), StoreError> {
        self.inner.reset_failures(user).await
    }
    async fn delete(&self, user: &str) -> Result<bool, StoreError> {
        self.inner.delete(user).await
    }
    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        self.inner.list(filter, after, limit).await
    }
}
