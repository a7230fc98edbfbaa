//! A login whose record is replaced between its read and its write: a new device confirmed (or
//! the account reset) by another request at that moment. The code was checked against the old
//! secret, so it must not be accepted on the new record, and a recovery code must not be used
//! up. A code login checks the code again against the new record; a recovery-code login (whose
//! check was a key derivation) ends with `Conflict`.
//!
//! The store below plays the other request: just before the flow's next conditional write, it
//! writes the cold fields of another enrolment of the same user (a new secret, new recovery
//! codes) over the record, as a concurrent `replace` landing in that gap would.

use std::sync::Mutex;

use twofactor::store::{ColdFields, ReplaceEffects, SecretStore, StoreError, StoredUser};

use crate::hooked::{Hooked, Hooks};
use twofactor::{
    EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KdfParams, KeyRing, ManualClock,
    MemoryStore, RecoveryCodeSet, Totp,
};

const T0: u64 = 1_700_000_010;

/// What another request does to the record between a login's read and its write.
enum Change {
    /// Writes these cold fields over it (`replace`).
    Replace(ColdFields),
    /// Erases it and creates it again with these cold fields (an erasure request, then a new
    /// enrolment or an import).
    Recreate(ColdFields),
}

/// Makes the `pending` change just before the next `settle_attempt`.
#[derive(Default)]
struct ReplaceMidLogin {
    pending: Mutex<Option<Change>>,
}

impl Hooks for ReplaceMidLogin {
    async fn before_settle(&self, store: &MemoryStore, user: &str) -> Result<(), StoreError> {
        let pending = self.pending.lock().unwrap().take();
        let current = store.get(user).await?.ok_or(StoreError::NotFound)?;
        match pending {
            Some(Change::Replace(cold)) => {
                store
                    .replace(user, current.version, &cold, ReplaceEffects::default())
                    .await?;
            }
            Some(Change::Recreate(cold)) => {
                store.delete(user).await?;
                store.insert(user, &cold).await?;
            }
            None => {}
        }
        Ok(())
    }
}

/// A `MemoryStore` whose records another request replaces mid-login.
type ReplacedMidLogin = Hooked<ReplaceMidLogin>;

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Example Co");
    c.kdf = KdfParams::argon2id(64, 1, 1).unwrap(); // fast for tests
    c
}

fn code(app: &Totp, clock: &ManualClock) -> String {
    use twofactor::Clock;
    let step = app.step_at(clock.now()).unwrap();
    app.generate_step(step).to_string()
}

/// The old app's code, the clock moved on a step at a time until no code the new app gives near
/// now (its window and the skew diagnosis) is the same: otherwise the old device's code would be
/// right, or a skew, on the new secret (about one chance in twenty thousand).
fn old_device_code(old: &Totp, new: &Totp, clock: &ManualClock) -> String {
    use twofactor::Clock;
    loop {
        let code = code(old, clock);
        let step = new.step_at(clock.now()).unwrap();
        let near = step.saturating_sub(25)..=step.saturating_add(25);
        if near
            .into_iter()
            .all(|s| new.generate_step(s).to_string() != code)
        {
            return code;
        }
        clock.advance(30);
    }
}

async fn enrol<S: SecretStore>(
    flow: &EnrollmentFlow<S, ManualClock>,
    clock: &ManualClock,
) -> (Totp, RecoveryCodeSet) {
    let begun = flow.begin("alice", "alice@example.com").await.unwrap();
    let app = begun.uri().to_totp().unwrap();
    let confirmed = flow
        .confirm("alice", begun.ticket(), &code(&app, clock))
        .await
        .unwrap();
    (app, confirmed.into_recovery_codes().unwrap())
}

/// Alice enrolled through a flow on [`ReplacedMidLogin`], and the cold fields of a second
/// enrolment of hers (another secret and recovery set, sealed under the same keys), ready to be
/// written over the first mid-login.
struct Setup {
    flow: EnrollmentFlow<ReplacedMidLogin, ManualClock>,
    clock: ManualClock,
    old: (Totp, RecoveryCodeSet),
    new: (Totp, RecoveryCodeSet),
    new_cold: ColdFields,
}

async fn setup() -> Setup {
    let clock = ManualClock::new(T0);
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let flow = EnrollmentFlow::new(ReplacedMidLogin::default(), keys.clone(), config())
        .unwrap()
        .with_clock(clock.clone());
    let other = EnrollmentFlow::new(MemoryStore::new(), keys, config())
        .unwrap()
        .with_clock(clock.clone());
    let old = enrol(&flow, &clock).await;
    let new = enrol(&other, &clock).await;
    let new_cold = other.store().get("alice").await.unwrap().unwrap().cold;
    clock.advance(30);
    Setup {
        flow,
        clock,
        old,
        new,
        new_cold,
    }
}

/// Alice logs in with her old device's code while `change` (of the second enrolment's cold
/// fields) lands between the login's read and its write. The acceptance decided on the old
/// record loses; the login reads the new one and checks the code against the secret it holds,
/// where it is wrong. Returns the setup, the record before and after.
async fn old_code_during(change: fn(ColdFields) -> Change) -> (Setup, StoredUser, StoredUser) {
    let s = setup().await;
    let old_code = old_device_code(&s.old.0, &s.new.0, &s.clock);
    let before = s.flow.store().get("alice").await.unwrap().unwrap();
    *s.flow.store().hooks.pending.lock().unwrap() = Some(change(s.new_cold.clone()));
    let refused = s.flow.verify_code("alice", &old_code).await;
    assert!(
        matches!(refused, Err(FlowError::InvalidCode { .. })),
        "checked again against the new record's secret: {refused:?}"
    );
    let after = s.flow.store().get("alice").await.unwrap().unwrap();
    assert_eq!(after.cold, s.new_cold, "the other request's write stands");
    (s, before, after)
}

#[tokio::test]
async fn a_code_of_the_replaced_secret_is_not_accepted() {
    let (s, before, record) = old_code_during(Change::Replace).await;
    assert_eq!(
        (record.version, record.last_step, record.failures),
        (before.version + 1, before.last_step, 1),
        "no step accepted on the new record, one failure counted"
    );
    // The new secret's code logs in.
    s.clock.advance(30);
    let new_code = code(&s.new.0, &s.clock);
    s.flow.verify_code("alice", &new_code).await.unwrap();
}

/// Alice logs in with her first old recovery code while `change` (of the second enrolment's
/// cold fields) lands between the login's read and its write: checked against the old set, it
/// ends with `Conflict`, and the new record stands with nothing used up. Returns the setup, the
/// old code, and the record before and after.
async fn old_recovery_code_during(
    change: fn(ColdFields) -> Change,
) -> (Setup, String, StoredUser, StoredUser) {
    let s = setup().await;
    let before = s.flow.store().get("alice").await.unwrap().unwrap();
    let old_code = s.old.1.codes().first().unwrap().expose().to_string();
    *s.flow.store().hooks.pending.lock().unwrap() = Some(change(s.new_cold.clone()));
    let refused = s.flow.verify_recovery_code("alice", &old_code).await;
    assert!(
        matches!(refused, Err(FlowError::Conflict)),
        "checked against the old set, settled on the new record: {refused:?}"
    );
    let after = s.flow.store().get("alice").await.unwrap().unwrap();
    assert_eq!(after.cold, s.new_cold, "the new record stands");
    assert_eq!(after.recovery_used, 0, "no code of the new set used up");
    (s, old_code, before, after)
}

/// The new set's first code (the same index as the old one refused, so the same bit) works.
async fn the_new_set_works(s: &Setup) {
    let new_code = s.new.1.codes().first().unwrap().expose();
    s.flow
        .verify_recovery_code("alice", &new_code)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_recovery_code_of_the_replaced_set_is_not_used_up() {
    let (s, old_code, _, record) = old_recovery_code_during(Change::Replace).await;
    assert_eq!(record.failures, 0);
    // The old set's code is refused from now on; the new set's is still unused and works.
    assert!(matches!(
        s.flow.verify_recovery_code("alice", &old_code).await,
        Err(FlowError::InvalidCode { .. })
    ));
    the_new_set_works(&s).await;
}

#[tokio::test]
async fn a_record_rewritten_with_the_same_secret_still_logs_in() {
    // A change that keeps the secret (a trusted browser's use records its time with a
    // compare-and-swap) lands mid-login: the login is decided again on the new version and
    // succeeds, rather than failing the user.
    let s = setup().await;
    let before = s.flow.store().get("alice").await.unwrap().unwrap();
    *s.flow.store().hooks.pending.lock().unwrap() = Some(Change::Replace(before.cold.clone()));
    s.flow
        .verify_code("alice", &code(&s.old.0, &s.clock))
        .await
        .unwrap();
    let record = s.flow.store().get("alice").await.unwrap().unwrap();
    assert_eq!(record.version, before.version + 1);
    assert_eq!(record.failures, 0);
    assert!(record.last_step > before.last_step, "the step was accepted");
}

#[tokio::test]
async fn a_recovery_code_of_an_erased_record_does_not_count_on_its_successor() {
    // Erased and enrolled again between the login's read and its write. The new record starts at
    // a version the erased one never had, and at another recovery generation (random for every
    // record the flow creates): either keeps the erased set's code off it.
    let (s, _, before, record) = old_recovery_code_during(Change::Recreate).await;
    assert_ne!(
        before.cold.recovery_generation, s.new_cold.recovery_generation,
        "two records' generations differ"
    );
    assert_ne!(record.version, before.version, "versions do not repeat");
    the_new_set_works(&s).await;
}

#[tokio::test]
async fn a_code_of_an_erased_record_does_not_count_on_its_successor() {
    // The same for a code: the new record has no step accepted yet, so only the record's
    // identity (its version, and its generation) keeps the old secret's code off it.
    let (_, before, record) = old_code_during(Change::Recreate).await;
    assert_ne!(record.version, before.version);
    assert_eq!(
        (record.last_step, record.failures),
        (None, 1),
        "no step accepted on the new record, one failure counted"
    );
}
