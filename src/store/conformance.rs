//! The store test kit: the behaviour every [`SecretStore`] must have, as one call.
//!
//! A backend written outside this crate (for a database it does not ship) proves itself with
//! exactly the suite the crate's own stores run: every atomicity rule of the
//! [store contract](crate::store), and races of [`RACERS`] concurrent tasks that each require
//! exactly one winner (or an exact count). Enable the `conformance` feature in your
//! `[dev-dependencies]` and call [`run_all`] from a multi-threaded tokio test with a factory that
//! returns a fresh, empty store each time (for a shared server: a fresh schema or table each
//! call):
//!
//! ```
//! use twofactor::store::{
//!     Attempt, ColdFields, ListFilter, MemoryStore, ReplaceEffects, SecretStore, StoreError,
//!     StoredUser, conformance,
//! };
//!
//! /// A store defined in a test: here it delegates to `MemoryStore`; yours talks to a database.
//! struct MyStore(MemoryStore);
//!
//! impl SecretStore for MyStore {
//!     async fn get(&self, user: &str) -> Result<Option<StoredUser>, StoreError> {
//!         self.0.get(user).await
//!     }
//!     async fn insert(&self, user: &str, cold: &ColdFields) -> Result<u64, StoreError> {
//!         self.0.insert(user, cold).await
//!     }
//!     async fn replace(
//!         &self, user: &str, version: u64, cold: &ColdFields, effects: ReplaceEffects,
//!     ) -> Result<u64, StoreError> {
//!         self.0.replace(user, version, cold, effects).await
//!     }
//!     async fn settle_attempt(&self, user: &str, expected_failures: u32, attempt: Attempt, at: u64)
//!         -> Result<bool, StoreError> {
//!         self.0.settle_attempt(user, expected_failures, attempt, at).await
//!     }
//!     async fn reset_failures(&self, user: &str) -> Result<(), StoreError> {
//!         self.0.reset_failures(user).await
//!     }
//!     async fn delete(&self, user: &str) -> Result<bool, StoreError> {
//!         self.0.delete(user).await
//!     }
//!     async fn list(&self, filter: ListFilter, after: Option<&str>, limit: usize)
//!         -> Result<Vec<StoredUser>, StoreError> {
//!         self.0.list(filter, after, limit).await
//!     }
//! }
//!
//! // In your tests:
//! // #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! // async fn my_store_conforms() { conformance::run_all(|| async { ... }).await }
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build()?.block_on(async {
//! conformance::run_all(|| async { MyStore(MemoryStore::new()) }).await;
//! # });
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A check that fails panics with the rule it broke, like `assert!`: that is how a test kit
//! reports, so this module alone may panic. Each check is also public, to run one on its own
//! while debugging a backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;

use super::{
    Attempt, ColdFields, ListFilter, ReadSettled, ReplaceEffects, SecretStore, StoreError,
    StoredStatus, StoredUser,
};

/// Concurrent tasks per race.
pub const RACERS: usize = 32;

/// Cold fields for a test record: `status`, recovery generation `generation`, and recognisable
/// text in the opaque fields.
pub fn cold(status: StoredStatus, generation: u64) -> ColdFields {
    ColdFields {
        status,
        state: format!("state-{}-{generation}", status.as_str()),
        required: false,
        recovery_generation: generation,
        recovery: Some(format!("recovery-{generation}")),
    }
}

/// Runs every conformance check. `make` returns a fresh, empty store each time.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: SecretStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    insert_get_replace(&make().await).await;
    missing_users(&make().await).await;
    advance_step_only_if_greater(&make().await).await;
    replace_never_undoes_hot_fields(&make().await).await;
    recovery_codes_consumed_once(&make().await).await;
    failures_count_and_reset(&make().await).await;
    list_filters_and_pages(&make().await).await;
    delete_erases_everything(&make().await).await;
    settle_is_conditioned_on_the_failure_count(&make().await).await;
    read_and_settle_reads_decides_and_settles(&make().await).await;
    let store = Arc::new(make().await);
    race_same_step(store.clone()).await;
    race_same_recovery_code(store.clone()).await;
    race_compare_and_swap(store.clone()).await;
    race_failure_count(store.clone()).await;
    race_verdicts(store.clone()).await;
    race_read_and_settle(store).await;
}

/// Insert, read back, compare-and-swap: versions, conflicts, values stored exactly.
pub async fn insert_get_replace<S: SecretStore>(store: &S) {
    assert_eq!(store.get("alice").await.unwrap(), None);
    let c1 = cold(StoredStatus::Pending, 0);
    let v1 = store.insert("alice", &c1).await.unwrap();
    assert!(
        (1..=1 << 62).contains(&v1),
        "a new record's version is drawn from 1 to 2^62: {v1}"
    );
    assert!(matches!(
        store.insert("alice", &c1).await,
        Err(StoreError::Conflict)
    ));
    let got = store.get("alice").await.unwrap().unwrap();
    assert_eq!(got.user_id, "alice");
    assert_eq!(got.version, v1);
    assert_eq!(got.cold, c1);
    assert_eq!(
        (
            got.last_step,
            got.drift,
            got.last_used_at,
            got.recovery_used,
            got.failures,
            got.last_failure_at
        ),
        (None, 0, None, 0, 0, None)
    );

    let mut c2 = cold(StoredStatus::Active, 1);
    c2.required = true;
    c2.state = "unicode é ü 中 and | , ; ' \" \\ characters".to_owned();
    assert_eq!(
        store
            .replace("alice", v1, &c2, ReplaceEffects::default())
            .await
            .unwrap(),
        v1 + 1
    );
    assert!(matches!(
        store
            .replace("alice", v1, &c1, ReplaceEffects::default())
            .await,
        Err(StoreError::Conflict)
    ));
    let got = store.get("alice").await.unwrap().unwrap();
    assert_eq!((got.version, &got.cold), (v1 + 1, &c2));

    // No recovery record at all is representable.
    let mut c3 = c2.clone();
    c3.recovery = None;
    store
        .replace("alice", v1 + 1, &c3, ReplaceEffects::default())
        .await
        .unwrap();
    assert_eq!(
        store.get("alice").await.unwrap().unwrap().cold.recovery,
        None
    );
}

/// Every operation on a user without a record: `None`, `NotFound` or `false`, never a panic.
pub async fn missing_users<S: SecretStore>(store: &S) {
    let c = cold(StoredStatus::Active, 1);
    assert!(matches!(
        store
            .replace("nobody", 1, &c, ReplaceEffects::default())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        advance_step(store, "nobody", 1, 0, 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        consume_recovery_code(store, "nobody", 1, 0, 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        reserve_attempt(store, "nobody", 0, 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.reset_failures("nobody").await,
        Err(StoreError::NotFound)
    ));
}

/// The last step only moves forward (RFC 6238 §5.2), with drift and last use written with it.
pub async fn advance_step_only_if_greater<S: SecretStore>(store: &S) {
    let v = store
        .insert("u", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    assert!(advance_step(store, "u", 100, -1, 1_000).await.unwrap());
    assert!(
        !advance_step(store, "u", 100, 0, 1_001).await.unwrap(),
        "same step twice"
    );
    assert!(
        !advance_step(store, "u", 99, 0, 1_002).await.unwrap(),
        "an earlier step"
    );
    assert!(advance_step(store, "u", 101, 2, 1_003).await.unwrap());
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!(
        (got.last_step, got.drift, got.last_used_at),
        (Some(101), 2, Some(1_003))
    );
    assert_eq!(got.version, v, "hot operations do not bump the version");
    // The full u64 range is stored faithfully.
    assert!(
        advance_step(store, "u", u64::MAX, i64::MIN, u64::MAX)
            .await
            .unwrap()
    );
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!(
        (got.last_step, got.drift, got.last_used_at),
        (Some(u64::MAX), i64::MIN, Some(u64::MAX))
    );
    assert!(!advance_step(store, "u", u64::MAX, 0, 1).await.unwrap());
}

/// A compare-and-swap never lowers the step or revives a consumed code.
pub async fn replace_never_undoes_hot_fields<S: SecretStore>(store: &S) {
    let v = store
        .insert("u", &cold(StoredStatus::Pending, 0))
        .await
        .unwrap();
    assert!(advance_step(store, "u", 500, 0, 10).await.unwrap());
    assert!(reserve_attempt(store, "u", 0, 11).await.unwrap());
    // A plain replace leaves every hot field alone.
    let v = store
        .replace(
            "u",
            v,
            &cold(StoredStatus::Pending, 0),
            ReplaceEffects::default(),
        )
        .await
        .unwrap();
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!((got.last_step, got.failures), (Some(500), 1));
    // Accepting an older step through replace never lowers the last step.
    let effects = ReplaceEffects {
        accept_step: Some((400, 3)),
        reset_failures: true,
    };
    let v = store
        .replace("u", v, &cold(StoredStatus::Active, 1), effects)
        .await
        .unwrap();
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!(
        (got.last_step, got.drift, got.failures, got.last_failure_at),
        (Some(500), 3, 0, None)
    );
    // A newer one raises it.
    let effects = ReplaceEffects {
        accept_step: Some((600, -2)),
        reset_failures: false,
    };
    store
        .replace("u", v, &cold(StoredStatus::Active, 1), effects)
        .await
        .unwrap();
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!((got.last_step, got.drift), (Some(600), -2));
}

/// A recovery code is consumed once, only in its current generation.
pub async fn recovery_codes_consumed_once<S: SecretStore>(store: &S) {
    let v = store
        .insert("u", &cold(StoredStatus::Active, 7))
        .await
        .unwrap();
    assert!(consume_recovery_code(store, "u", 7, 0, 5).await.unwrap());
    assert!(
        !consume_recovery_code(store, "u", 7, 0, 6).await.unwrap(),
        "used twice"
    );
    assert!(
        !consume_recovery_code(store, "u", 6, 1, 6).await.unwrap(),
        "old generation"
    );
    assert!(
        consume_recovery_code(store, "u", 7, 63, 7).await.unwrap(),
        "highest index"
    );
    assert!(
        !consume_recovery_code(store, "u", 7, 64, 7).await.unwrap(),
        "out of range"
    );
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!(got.recovery_used, 1 | (1 << 63));
    assert_eq!(got.last_used_at, Some(7));
    // The same generation kept by a replace keeps the mask; a new generation clears it.
    let v = store
        .replace(
            "u",
            v,
            &cold(StoredStatus::Active, 7),
            ReplaceEffects::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get("u").await.unwrap().unwrap().recovery_used,
        1 | (1 << 63)
    );
    store
        .replace(
            "u",
            v,
            &cold(StoredStatus::Active, 8),
            ReplaceEffects::default(),
        )
        .await
        .unwrap();
    assert_eq!(store.get("u").await.unwrap().unwrap().recovery_used, 0);
    assert!(
        !consume_recovery_code(store, "u", 7, 1, 8).await.unwrap(),
        "old set after regeneration"
    );
    assert!(consume_recovery_code(store, "u", 8, 0, 8).await.unwrap());
}

/// Attempts are reserved by compare-and-swap on the count; a success resets it.
pub async fn failures_count_and_reset<S: SecretStore>(store: &S) {
    store
        .insert("u", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    for n in 0..5 {
        assert!(
            reserve_attempt(store, "u", n, 100 + u64::from(n))
                .await
                .unwrap()
        );
        assert!(
            !reserve_attempt(store, "u", n, 999).await.unwrap(),
            "stale count refused"
        );
    }
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!((got.failures, got.last_failure_at), (5, Some(104)));
    store.reset_failures("u").await.unwrap();
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!((got.failures, got.last_failure_at), (0, None));
    // A success resets the count in the same operation: an accepted step...
    assert!(reserve_attempt(store, "u", 0, 200).await.unwrap());
    assert!(advance_step(store, "u", 10, 0, 201).await.unwrap());
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!((got.failures, got.last_failure_at), (0, None));
    // ...but a refused step does not...
    assert!(reserve_attempt(store, "u", 0, 202).await.unwrap());
    assert!(!advance_step(store, "u", 10, 0, 203).await.unwrap());
    assert_eq!(store.get("u").await.unwrap().unwrap().failures, 1);
    // ...and a consumed recovery code does.
    assert!(consume_recovery_code(store, "u", 1, 2, 204).await.unwrap());
    let got = store.get("u").await.unwrap().unwrap();
    assert_eq!((got.failures, got.last_failure_at), (0, None));
}

/// Accepts `step` through [`SecretStore::settle_attempt`] on the failure count read just before,
/// reading again when only the count changed in between: what "advance the step only if
/// greater" means through the one hot operation. The checks use it; so can a backend's own
/// tests.
pub async fn advance_step<S: SecretStore + ?Sized>(
    store: &S,
    user_id: &str,
    step: u64,
    drift: i64,
    at: u64,
) -> Result<bool, StoreError> {
    let attempt = |version, generation| Attempt::AcceptStep {
        step,
        drift,
        version,
        generation,
    };
    settle_on_current_count(store, user_id, attempt, at).await
}

/// Consumes recovery code `index` of set `generation` through [`SecretStore::settle_attempt`],
/// like [`advance_step`].
pub async fn consume_recovery_code<S: SecretStore + ?Sized>(
    store: &S,
    user_id: &str,
    generation: u64,
    index: u32,
    at: u64,
) -> Result<bool, StoreError> {
    let attempt = |version, _| Attempt::ConsumeRecoveryCode {
        generation,
        index,
        version,
    };
    settle_on_current_count(store, user_id, attempt, at).await
}

/// Counts a failure if the count is still `expected_failures`: [`SecretStore::settle_attempt`]
/// with [`Attempt::Failed`].
pub async fn reserve_attempt<S: SecretStore + ?Sized>(
    store: &S,
    user_id: &str,
    expected_failures: u32,
    at: u64,
) -> Result<bool, StoreError> {
    store
        .settle_attempt(user_id, expected_failures, Attempt::Failed, at)
        .await
}

/// Settles `attempt(version, generation)` on the failure count, version and recovery generation
/// read just before, reading again while any changed in between.
async fn settle_on_current_count<S: SecretStore + ?Sized>(
    store: &S,
    user_id: &str,
    attempt: impl Fn(u64, u64) -> Attempt,
    at: u64,
) -> Result<bool, StoreError> {
    let identify = |user: &StoredUser| (user.failures, user.version, user.cold.recovery_generation);
    let mut read = match store.get(user_id).await? {
        Some(user) => identify(&user),
        // Let the store report the missing record itself.
        None => (0, 0, 0),
    };
    loop {
        let (failures, version, generation) = read;
        if store
            .settle_attempt(user_id, failures, attempt(version, generation), at)
            .await?
        {
            return Ok(true);
        }
        let user = store.get(user_id).await?.ok_or(StoreError::NotFound)?;
        let now = identify(&user);
        if now == read {
            return Ok(false); // the attempt's own condition failed
        }
        read = now;
    }
}

/// [`SecretStore::settle_attempt`] writes nothing unless the failure count is the one the
/// caller read, whatever the verdict; each verdict writes exactly its fields.
pub async fn settle_is_conditioned_on_the_failure_count<S: SecretStore>(store: &S) {
    let v = store
        .insert("s", &cold(StoredStatus::Active, 3))
        .await
        .unwrap();
    assert!(matches!(
        store.settle_attempt("nobody", 0, Attempt::Failed, 1).await,
        Err(StoreError::NotFound)
    ));
    // A failure: the count rises and the time is recorded.
    assert!(
        store
            .settle_attempt("s", 0, Attempt::Failed, 10)
            .await
            .unwrap()
    );
    let u = store.get("s").await.unwrap().unwrap();
    assert_eq!((u.failures, u.last_failure_at), (1, Some(10)));
    // On a stale count, no verdict is written.
    for attempt in [
        Attempt::Failed,
        Attempt::AcceptStep {
            step: 5,
            drift: 0,
            version: v,
            generation: 3,
        },
        Attempt::ConsumeRecoveryCode {
            generation: 3,
            index: 0,
            version: v,
        },
    ] {
        assert!(
            !store.settle_attempt("s", 0, attempt, 11).await.unwrap(),
            "{attempt:?}"
        );
    }
    let same = store.get("s").await.unwrap().unwrap();
    assert_eq!(same, u, "nothing changed");
    // Accepting a step resets the count, with the step's drift and time of use.
    let accept = Attempt::AcceptStep {
        step: 5,
        drift: -2,
        version: v,
        generation: 3,
    };
    assert!(store.settle_attempt("s", 1, accept, 12).await.unwrap());
    let u = store.get("s").await.unwrap().unwrap();
    assert_eq!(
        (
            u.last_step,
            u.drift,
            u.last_used_at,
            u.failures,
            u.last_failure_at
        ),
        (Some(5), -2, Some(12), 0, None)
    );
    // The same step again: refused even on the right count.
    assert!(!store.settle_attempt("s", 0, accept, 13).await.unwrap());
    // Consuming a recovery code likewise resets the count.
    assert!(
        store
            .settle_attempt("s", 0, Attempt::Failed, 14)
            .await
            .unwrap()
    );
    let consume = Attempt::ConsumeRecoveryCode {
        generation: 3,
        index: 2,
        version: v,
    };
    assert!(store.settle_attempt("s", 1, consume, 15).await.unwrap());
    let u = store.get("s").await.unwrap().unwrap();
    assert_eq!(
        (
            u.recovery_used,
            u.last_used_at,
            u.failures,
            u.last_failure_at
        ),
        (0b100, Some(15), 0, None)
    );
    assert!(
        !store.settle_attempt("s", 0, consume, 16).await.unwrap(),
        "used once"
    );
    // A code of another generation is refused.
    let other = Attempt::ConsumeRecoveryCode {
        generation: 2,
        index: 3,
        version: v,
    };
    assert!(!store.settle_attempt("s", 0, other, 16).await.unwrap());
    // Only this user changed.
    assert_eq!(u.version, v, "hot fields never bump the version");
    // A record replaced since the read (a new secret, the same recovery set) accepts no code
    // checked against the old one, on the right count and with a later step...
    assert_eq!(
        store
            .replace(
                "s",
                v,
                &cold(StoredStatus::Active, 3),
                ReplaceEffects::default()
            )
            .await
            .unwrap(),
        v + 1
    );
    let replaced = store.get("s").await.unwrap().unwrap();
    let old_step = Attempt::AcceptStep {
        step: 9,
        drift: 0,
        version: v,
        generation: 3,
    };
    let old_code = Attempt::ConsumeRecoveryCode {
        generation: 3,
        index: 5,
        version: v,
    };
    for attempt in [old_step, old_code] {
        assert!(
            !store.settle_attempt("s", 0, attempt, 17).await.unwrap(),
            "{attempt:?} on a replaced record"
        );
    }
    assert_eq!(
        store.get("s").await.unwrap().unwrap(),
        replaced,
        "nothing changed"
    );
    // A step is also refused at the right version with another recovery generation (the
    // record's second identity, for a store whose versions could repeat after an erasure)...
    let other_record = Attempt::AcceptStep {
        step: 9,
        drift: 0,
        version: v + 1,
        generation: 4,
    };
    assert!(
        !store
            .settle_attempt("s", 0, other_record, 17)
            .await
            .unwrap(),
        "a step of another record at the same version"
    );
    // ...while the same attempts decided on the new version are accepted.
    let new_step = Attempt::AcceptStep {
        step: 9,
        drift: 0,
        version: v + 1,
        generation: 3,
    };
    let new_code = Attempt::ConsumeRecoveryCode {
        generation: 3,
        index: 5,
        version: v + 1,
    };
    assert!(store.settle_attempt("s", 0, new_step, 18).await.unwrap());
    assert!(store.settle_attempt("s", 0, new_code, 19).await.unwrap());
    let u = store.get("s").await.unwrap().unwrap();
    assert_eq!(
        (u.last_step, u.recovery_used & 0b10_0000),
        (Some(9), 0b10_0000)
    );
    // A failure still counts on a replaced record: the count is the user's, not the secret's.
    assert!(
        store
            .settle_attempt("s", 0, Attempt::Failed, 20)
            .await
            .unwrap()
    );
}

/// [`SecretStore::read_and_settle`] is the loop it documents: `decide` sees each record read,
/// its attempt is settled exactly as `settle_attempt` settles it on the count read, a write that
/// loses is followed by a read and a decision again, and nothing is written when `decide`
/// declines or the record is missing.
pub async fn read_and_settle_reads_decides_and_settles<S: SecretStore>(store: &S) {
    let mut calls = 0;
    let missing = store
        .read_and_settle("nobody", 1, &mut |_| {
            calls += 1;
            Some(Attempt::Failed)
        })
        .await
        .unwrap();
    assert_eq!(
        (missing, calls),
        (ReadSettled::Missing, 0),
        "no record: nothing to decide"
    );
    let v = store
        .insert("r", &cold(StoredStatus::Active, 2))
        .await
        .unwrap();
    let before = store.get("r").await.unwrap().unwrap();
    // Declined: the record as read comes back, and nothing is written.
    let mut seen = Vec::new();
    let declined = store
        .read_and_settle("r", 10, &mut |user| {
            seen.push(user.clone());
            None
        })
        .await
        .unwrap();
    assert_eq!(declined, ReadSettled::Declined(before.clone()));
    assert_eq!(seen, vec![before.clone()], "decide sees the record read");
    assert_eq!(
        store.get("r").await.unwrap().unwrap(),
        before,
        "nothing written"
    );
    // A failure, on the count read.
    let failed = store
        .read_and_settle("r", 11, &mut |_| Some(Attempt::Failed))
        .await
        .unwrap();
    assert_eq!(failed, ReadSettled::Settled(before, Attempt::Failed));
    let after = store.get("r").await.unwrap().unwrap();
    assert_eq!((after.failures, after.last_failure_at), (1, Some(11)));
    // An accepted step resets the count, with its drift and time of use.
    let accept = Attempt::AcceptStep {
        step: 5,
        drift: -1,
        version: v,
        generation: 2,
    };
    let settled = store
        .read_and_settle("r", 12, &mut |_| Some(accept))
        .await
        .unwrap();
    assert_eq!(settled, ReadSettled::Settled(after, accept));
    let after = store.get("r").await.unwrap().unwrap();
    assert_eq!(
        (
            after.last_step,
            after.drift,
            after.last_used_at,
            after.failures,
            after.last_failure_at
        ),
        (Some(5), -1, Some(12), 0, None)
    );
    // The same step again: its write loses, so the record is read and decided again.
    let mut calls = 0;
    let again = store
        .read_and_settle("r", 13, &mut |_| {
            calls += 1;
            (calls == 1).then_some(accept)
        })
        .await
        .unwrap();
    assert_eq!((again, calls), (ReadSettled::Declined(after.clone()), 2));
    assert_eq!(
        store.get("r").await.unwrap().unwrap(),
        after,
        "nothing written"
    );
    // A recovery code, consumed once.
    let consume = Attempt::ConsumeRecoveryCode {
        generation: 2,
        index: 4,
        version: v,
    };
    let consumed = store
        .read_and_settle("r", 14, &mut |_| Some(consume))
        .await
        .unwrap();
    assert_eq!(consumed, ReadSettled::Settled(after, consume));
    let after = store.get("r").await.unwrap().unwrap();
    assert_eq!(
        (after.recovery_used, after.last_used_at),
        (0b1_0000, Some(14))
    );
    assert_eq!(after.version, v, "hot fields never bump the version");
    // Deleted: missing again.
    assert!(store.delete("r").await.unwrap());
    let gone = store
        .read_and_settle("r", 15, &mut |_| Some(Attempt::Failed))
        .await
        .unwrap();
    assert_eq!(gone, ReadSettled::Missing);
}

/// Deleting a record removes it whole (hot fields too): the user reads as never enrolled, every
/// operation then behaves as for a missing user, and a new record starts from zero.
pub async fn delete_erases_everything<S: SecretStore>(store: &S) {
    assert!(!store.delete("erin").await.unwrap(), "nothing to delete");
    let first = store
        .insert("erin", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let second = store
        .replace(
            "erin",
            first,
            &cold(StoredStatus::Active, 1),
            ReplaceEffects::default(),
        )
        .await
        .unwrap();
    store
        .insert("frank", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    assert!(advance_step(store, "erin", 7, 1, 100).await.unwrap());
    assert!(reserve_attempt(store, "erin", 0, 101).await.unwrap());
    assert!(store.delete("erin").await.unwrap());
    assert_eq!(store.get("erin").await.unwrap(), None);
    assert!(!store.delete("erin").await.unwrap(), "deleted once");
    assert!(matches!(
        advance_step(store, "erin", 8, 0, 102).await,
        Err(StoreError::NotFound)
    ));
    // Only that user.
    assert!(store.get("frank").await.unwrap().is_some());
    // A new record starts from nothing: no step, no failures, and a version the erased record
    // never had, so no compare-and-swap read before the erasure can succeed on it.
    let again = store
        .insert("erin", &cold(StoredStatus::Pending, 2))
        .await
        .unwrap();
    assert!(
        again != first && again != second,
        "a record created again repeats no version of the erased one ({first}, {second})"
    );
    for version in [first, second] {
        assert!(matches!(
            store
                .replace(
                    "erin",
                    version,
                    &cold(StoredStatus::Active, 1),
                    ReplaceEffects::default()
                )
                .await,
            Err(StoreError::Conflict)
        ));
    }
    let fresh = store.get("erin").await.unwrap().unwrap();
    assert_eq!(
        (fresh.last_step, fresh.failures, fresh.recovery_used),
        (None, 0, 0)
    );
}

/// Listing: filters, ascending user id order, keyset pages.
pub async fn list_filters_and_pages<S: SecretStore>(store: &S) {
    let statuses = [
        StoredStatus::Active,
        StoredStatus::NotEnrolled,
        StoredStatus::Pending,
    ];
    for i in 0..25u64 {
        let status = statuses[(i % 3) as usize];
        store
            .insert(&format!("user-{i:02}"), &cold(status, i))
            .await
            .unwrap();
    }
    let ids = |v: Vec<super::StoredUser>| v.into_iter().map(|u| u.user_id).collect::<Vec<_>>();
    let all = ids(store.list(ListFilter::All, None, 100).await.unwrap());
    assert_eq!(all.len(), 25);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "ascending user id order"
    );
    let active = ids(store.list(ListFilter::Active, None, 100).await.unwrap());
    assert_eq!(active.len(), 9);
    let not_active = ids(store.list(ListFilter::NotActive, None, 100).await.unwrap());
    assert_eq!(not_active.len(), 16);
    // Keyset pagination covers everything exactly once.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ids(store
            .list(ListFilter::NotActive, after.as_deref(), 7)
            .await
            .unwrap());
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, not_active);
    assert!(
        store
            .list(ListFilter::All, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Runs `attempt(store, i)` for `i` in `0..RACERS` as concurrent tasks released together by a
/// barrier, and returns their results.
async fn race<S, T, F, Fut>(store: &Arc<S>, attempt: F) -> Vec<T>
where
    S: SecretStore + 'static,
    T: Send + 'static,
    F: Fn(Arc<S>, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let barrier = barrier.clone();
            let work = attempt(store.clone(), i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Many tasks accept the same step at once: exactly one wins.
pub async fn race_same_step<S: SecretStore + 'static>(store: Arc<S>) {
    store
        .insert("race-step", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let results = race(&store, |store, i| async move {
        advance_step(&*store, "race-step", 1_000, i as i64, 1)
            .await
            .unwrap()
    })
    .await;
    let wins = results.into_iter().filter(|&w| w).count();
    assert_eq!(wins, 1, "exactly one request accepts a step");
}

/// Many tasks consume the same recovery code at once: exactly one wins.
pub async fn race_same_recovery_code<S: SecretStore + 'static>(store: Arc<S>) {
    store
        .insert("race-rc", &cold(StoredStatus::Active, 3))
        .await
        .unwrap();
    let results = race(&store, |store, _| async move {
        consume_recovery_code(&*store, "race-rc", 3, 5, 1)
            .await
            .unwrap()
    })
    .await;
    let wins = results.into_iter().filter(|&w| w).count();
    assert_eq!(wins, 1, "exactly one request consumes a recovery code");
}

/// Many tasks compare-and-swap from the same version: one wins, the rest see `Conflict`.
pub async fn race_compare_and_swap<S: SecretStore + 'static>(store: Arc<S>) {
    let v = store
        .insert("race-cas", &cold(StoredStatus::Pending, 0))
        .await
        .unwrap();
    let results = race(&store, move |store, i| async move {
        let cold = cold(StoredStatus::Active, i as u64);
        store
            .replace("race-cas", v, &cold, ReplaceEffects::default())
            .await
    })
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict)))
        .count();
    assert_eq!(
        (wins, conflicts),
        (1, RACERS - 1),
        "one compare-and-swap wins, the rest conflict"
    );
    assert_eq!(store.get("race-cas").await.unwrap().unwrap().version, v + 1);
}

/// The races again, across two stores on the same data: two servers' pools, or two drivers on
/// one database. Half the tasks use `a`, half `b`; each task accepts the same step, consumes the
/// same recovery code, compare-and-swaps the same version, and counts one failure. Exactly one
/// of each wins, and every failure count is handed out once. `a` and `b` must be empty stores on
/// the same tables.
pub async fn race_across<A, B>(a: Arc<A>, b: Arc<B>)
where
    A: SecretStore + 'static,
    B: SecretStore + 'static,
{
    let v = a
        .insert("across", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut handles = Vec::new();
    for i in 0..RACERS {
        let barrier = barrier.clone();
        handles.push(if i % 2 == 0 {
            tokio::spawn(race_across_task(a.clone(), barrier, v))
        } else {
            tokio::spawn(race_across_task(b.clone(), barrier, v))
        });
    }
    let mut wins = (0, 0, 0, 0);
    let mut counts = Vec::new();
    for handle in handles {
        let (step, code, swap, login, count) = handle.await.unwrap();
        wins.0 += usize::from(step);
        wins.1 += usize::from(code);
        wins.2 += usize::from(swap);
        wins.3 += usize::from(login);
        counts.push(count);
    }
    assert_eq!(wins, (1, 1, 1, 1), "one winner per race across both stores");
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=u32::try_from(RACERS).unwrap()).collect::<Vec<_>>(),
        "every failure count handed out once across both stores"
    );
}

async fn race_across_task<S: SecretStore>(
    store: Arc<S>,
    barrier: Arc<tokio::sync::Barrier>,
    version: u64,
) -> (bool, bool, bool, bool, u32) {
    barrier.wait().await;
    let step = advance_step(&*store, "across", 77, 0, 1).await.unwrap();
    // A login's read and write in one call, on a later step.
    let login = store
        .read_and_settle("across", 1, &mut |user| {
            user.last_step
                .is_none_or(|last| last < 78)
                .then_some(Attempt::AcceptStep {
                    step: 78,
                    drift: 0,
                    version: user.version,
                    generation: user.cold.recovery_generation,
                })
        })
        .await
        .unwrap();
    let login = matches!(login, ReadSettled::Settled(..));
    let code = consume_recovery_code(&*store, "across", 1, 9, 1)
        .await
        .unwrap();
    let swap = store
        .replace(
            "across",
            version,
            &cold(StoredStatus::Active, 1),
            ReplaceEffects::default(),
        )
        .await
        .is_ok();
    let count = loop {
        let current = store.get("across").await.unwrap().unwrap().failures;
        if reserve_attempt(&*store, "across", current, 1)
            .await
            .unwrap()
        {
            break current + 1;
        }
    };
    (step, code, swap, login, count)
}

/// Many tasks settle verdicts on the same count at once, right codes and wrong ones mixed, none
/// retrying: the step is accepted at most once, at most one failure is written on that count (a
/// success leaves a zero count at zero, so one failure may still follow it; never two), and at
/// least one verdict is written.
pub async fn race_verdicts<S: SecretStore + 'static>(store: Arc<S>) {
    let v = store
        .insert("race-verdict", &cold(StoredStatus::Active, 4))
        .await
        .unwrap();
    let results = race(&store, move |s, i| async move {
        let attempt = if i % 2 == 0 {
            Attempt::AcceptStep {
                step: 77,
                drift: 0,
                version: v,
                generation: 4,
            }
        } else {
            Attempt::Failed
        };
        let won = s
            .settle_attempt("race-verdict", 0, attempt, 1)
            .await
            .unwrap();
        (attempt, won)
    })
    .await;
    let wins = |failed: bool| {
        results
            .iter()
            .filter(|(a, won)| *won && (*a == Attempt::Failed) == failed)
            .count()
    };
    assert!(wins(false) <= 1, "the step is accepted at most once");
    assert!(wins(true) <= 1, "at most one failure per count");
    assert!(wins(false) + wins(true) >= 1, "some verdict is written");
    let user = store.get("race-verdict").await.unwrap().unwrap();
    assert_eq!(user.last_step.is_some(), wins(false) == 1);
    assert_eq!(usize::try_from(user.failures).unwrap(), wins(true));
}

/// Many tasks log in at once through [`SecretStore::read_and_settle`], each deciding on what it
/// read: of those accepting one step exactly one settles it (the others read it accepted and
/// decline), and failures settled through it hand out every count exactly once.
pub async fn race_read_and_settle<S: SecretStore + 'static>(store: Arc<S>) {
    const EACH: u32 = 3;
    store
        .insert("race-read", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let results = race(&store, |store, _| async move {
        let step = store
            .read_and_settle("race-read", 1, &mut |user| {
                user.last_step
                    .is_none_or(|last| last < 500)
                    .then_some(Attempt::AcceptStep {
                        step: 500,
                        drift: 0,
                        version: user.version,
                        generation: user.cold.recovery_generation,
                    })
            })
            .await
            .unwrap();
        let mut counts = Vec::new();
        for _ in 0..EACH {
            match store
                .read_and_settle("race-read", 2, &mut |_| Some(Attempt::Failed))
                .await
                .unwrap()
            {
                ReadSettled::Settled(user, Attempt::Failed) => counts.push(user.failures + 1),
                other => panic!("a failure always settles, at some count: {other:?}"),
            }
        }
        (matches!(step, ReadSettled::Settled(..)), counts)
    })
    .await;
    let wins = results.iter().filter(|(won, _)| *won).count();
    assert_eq!(wins, 1, "exactly one login settles a step");
    let mut counts: Vec<u32> = results.into_iter().flat_map(|(_, c)| c).collect();
    counts.sort_unstable();
    let total = u32::try_from(RACERS).unwrap() * EACH;
    assert_eq!(
        counts,
        (1..=total).collect::<Vec<_>>(),
        "every failure count settled once, none lost"
    );
}

/// Many tasks reserve attempts at once: every count is handed out exactly once.
pub async fn race_failure_count<S: SecretStore + 'static>(store: Arc<S>) {
    const EACH: u32 = 5;
    store
        .insert("race-fail", &cold(StoredStatus::Active, 1))
        .await
        .unwrap();
    let results = race(&store, |store, _| async move {
        // Each task reserves EACH attempts, re-reading whenever another got in first.
        let mut seen = Vec::new();
        while seen.len() < EACH as usize {
            let current = store.get("race-fail").await.unwrap().unwrap().failures;
            if reserve_attempt(&*store, "race-fail", current, 1)
                .await
                .unwrap()
            {
                seen.push(current + 1);
            }
        }
        seen
    })
    .await;
    let mut counts: Vec<u32> = results.into_iter().flatten().collect();
    counts.sort_unstable();
    let total = u32::try_from(RACERS).unwrap() * EACH;
    assert_eq!(
        counts,
        (1..=total).collect::<Vec<_>>(),
        "every attempt reserved once, none lost"
    );
    assert_eq!(
        store.get("race-fail").await.unwrap().unwrap().failures,
        total
    );
}
