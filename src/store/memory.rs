//! An in-memory store: for tests and single-process applications.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    Attempt, ColdFields, ListFilter, ReplaceEffects, SecretStore, StoreError, StoredStatus,
    StoredUser,
};

/// A [`SecretStore`] in process memory. Every operation runs under one lock, which makes each
/// atomic. Clones share the same data. Nothing survives the process.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    users: Arc<Mutex<BTreeMap<String, StoredUser>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, BTreeMap<String, StoredUser>>, StoreError> {
        // A panic while holding the lock leaves no half-written record (every update is built
        // before it is stored), so a poisoned lock is still consistent.
        Ok(self.users.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn with_user<T>(
        &self,
        user_id: &str,
        f: impl FnOnce(&mut StoredUser) -> T,
    ) -> Result<T, StoreError> {
        let mut users = self.lock()?;
        let user = users.get_mut(user_id).ok_or(StoreError::NotFound)?;
        Ok(f(user))
    }
}

pub(crate) fn matches_filter(filter: ListFilter, status: StoredStatus) -> bool {
    match filter {
        ListFilter::All => true,
        ListFilter::Active => status == StoredStatus::Active,
        ListFilter::NotActive => status != StoredStatus::Active,
    }
}

impl SecretStore for MemoryStore {
    async fn get(&self, user_id: &str) -> Result<Option<StoredUser>, StoreError> {
        Ok(self.lock()?.get(user_id).cloned())
    }

    async fn insert(&self, user_id: &str, cold: &ColdFields) -> Result<u64, StoreError> {
        let version = super::new_record_version()?;
        let mut users = self.lock()?;
        if users.contains_key(user_id) {
            return Err(StoreError::Conflict);
        }
        users.insert(
            user_id.to_owned(),
            StoredUser {
                user_id: user_id.to_owned(),
                version,
                cold: cold.clone(),
                last_step: None,
                drift: 0,
                last_used_at: None,
                recovery_used: 0,
                failures: 0,
                last_failure_at: None,
            },
        );
        Ok(version)
    }

    async fn replace(
        &self,
        user_id: &str,
        expected_version: u64,
        cold: &ColdFields,
        effects: ReplaceEffects,
    ) -> Result<u64, StoreError> {
        self.with_user(user_id, |user| {
            if user.version != expected_version {
                return Err(StoreError::Conflict);
            }
            if user.cold.recovery_generation != cold.recovery_generation {
                user.recovery_used = 0;
            }
            user.cold = cold.clone();
            if let Some((step, drift)) = effects.accept_step {
                user.last_step = Some(user.last_step.map_or(step, |s| s.max(step)));
                user.drift = drift;
            }
            if effects.reset_failures {
                user.failures = 0;
                user.last_failure_at = None;
            }
            user.version += 1;
            Ok(user.version)
        })?
    }

    async fn settle_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        attempt: Attempt,
        at: u64,
    ) -> Result<bool, StoreError> {
        match attempt {
            Attempt::Failed => self.fail_attempt(user_id, expected_failures, at).await,
            Attempt::AcceptStep {
                step,
                drift,
                version,
                generation,
            } => {
                let expected = (expected_failures, version, generation);
                self.accept_step(user_id, expected, step, drift, at).await
            }
            Attempt::ConsumeRecoveryCode {
                generation,
                index,
                version,
            } => {
                let expected = (expected_failures, version);
                self.consume_code(user_id, expected, generation, index, at)
                    .await
            }
        }
    }

    async fn reset_failures(&self, user_id: &str) -> Result<(), StoreError> {
        self.with_user(user_id, |user| {
            user.failures = 0;
            user.last_failure_at = None;
        })
    }

    async fn delete(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.remove(user_id).is_some())
    }

    async fn list(
        &self,
        filter: ListFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredUser>, StoreError> {
        let users = self.lock()?;
        let range = match after {
            Some(a) => {
                users.range::<str, _>((core::ops::Bound::Excluded(a), core::ops::Bound::Unbounded))
            }
            None => users.range::<str, _>(..),
        };
        Ok(range
            .map(|(_, u)| u)
            .filter(|u| matches_filter(filter, u.cold.status))
            .take(limit)
            .cloned()
            .collect())
    }
}

impl MemoryStore {
    async fn accept_step(
        &self,
        user_id: &str,
        (expected_failures, expected_version, expected_generation): (u32, u64, u64),
        step: u64,
        drift: i64,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.with_user(user_id, |user| {
            if user.failures != expected_failures
                || user.version != expected_version
                || user.cold.recovery_generation != expected_generation
                || user.last_step.is_some_and(|last| last >= step)
            {
                return false;
            }
            user.last_step = Some(step);
            user.drift = drift;
            user.last_used_at = Some(at);
            user.failures = 0;
            user.last_failure_at = None;
            true
        })
    }

    async fn consume_code(
        &self,
        user_id: &str,
        (expected_failures, expected_version): (u32, u64),
        generation: u64,
        index: u32,
        at: u64,
    ) -> Result<bool, StoreError> {
        let Some(bit) = 1u64.checked_shl(index) else {
            return self.with_user(user_id, |_| false);
        };
        self.with_user(user_id, |user| {
            if user.failures != expected_failures
                || user.version != expected_version
                || user.cold.recovery_generation != generation
                || user.recovery_used & bit != 0
            {
                return false;
            }
            user.recovery_used |= bit;
            user.last_used_at = Some(at);
            user.failures = 0;
            user.last_failure_at = None;
            true
        })
    }

    async fn fail_attempt(
        &self,
        user_id: &str,
        expected_failures: u32,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.with_user(user_id, |user| {
            if user.failures != expected_failures {
                return false;
            }
            user.failures = user.failures.saturating_add(1);
            user.last_failure_at = Some(at);
            true
        })
    }
}
