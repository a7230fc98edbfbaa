//! Key derivations in flight are bounded (`FlowConfig::kdf_queue_max`): an operation that would
//! need one more is refused at once with `FlowError::Busy`, before it checks, counts, consumes
//! or writes anything; and one that has proven a factor is never refused afterwards.
//!
//! A binary of its own: the bound counts the process's derivations, so the test's own must be
//! the only ones in flight.
// Tests report by panicking: unwrap and expect are how they say what they expected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hooked::{Hooked, Hooks};
use tokio::sync::{Notify, Semaphore};
use twofactor::{
    EncryptionKey, EnrollmentFlow, EnrollmentImport, FlowConfig, FlowError, KdfParams, KeyRing,
    LoginFactor, ManualClock, MemoryStore, Reauth, SecretStore, StoreError, Totp, TotpParams,
};

const T0: u64 = 1_700_000_000;
const B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

#[path = "it/hooked.rs"]
mod hooked;

/// Reads of user `held`, and writes over user `parked`, wait until the gate opens (a write
/// says first that it has arrived): an operation that takes its place for a derivation before
/// it reads (regenerating recovery codes) then holds that place for as long as the test wants,
/// whatever the speed of the machine; and one parked at its write shows what it holds then.
/// Each passage takes one of the permits the test adds; writes wait only once `park` is set.
#[derive(Clone)]
struct Gate {
    open: Arc<Semaphore>,
    arrived: Arc<Notify>,
    park: Arc<AtomicBool>,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            open: Arc::new(Semaphore::new(0)),
            arrived: Arc::default(),
            park: Arc::default(),
        }
    }
}

impl Hooks for Gate {
    async fn before_get(&self, _: &MemoryStore, user: &str) -> Result<(), StoreError> {
        if user == "held" {
            self.open.acquire().await.unwrap().forget();
        }
        Ok(())
    }

    async fn before_replace(&self, _: &MemoryStore, user: &str) -> Result<(), StoreError> {
        if user == "parked" && self.park.load(Ordering::SeqCst) {
            self.arrived.notify_one();
            self.open.acquire().await.unwrap().forget();
        }
        Ok(())
    }
}

fn flow<S: SecretStore>(
    store: S,
    clock: &ManualClock,
    kdf_queue_max: usize,
) -> EnrollmentFlow<S, ManualClock> {
    let mut config = FlowConfig::new("Example");
    config.kdf = KdfParams::FLOOR;
    config.kdf_queue_max = kdf_queue_max;
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    EnrollmentFlow::new(store, keys, config)
        .unwrap()
        .with_clock(clock.clone())
}

fn code(app: &Totp, clock: &ManualClock) -> String {
    use twofactor::Clock;
    app.generate_at(clock.now()).unwrap().to_string()
}

/// Polls `future` once: it must be waiting.
async fn poll_once<F: Future>(future: Pin<&mut F>)
where
    F::Output: std::fmt::Debug,
{
    tokio::select! {
        biased;
        done = future => panic!("expected to wait, answered {done:?}"),
        () = std::future::ready(()) => {}
    }
}

#[track_caller]
fn busy<T: std::fmt::Debug>(result: Result<T, FlowError>) {
    match result {
        Err(e @ FlowError::Busy) => {
            assert_eq!(e.http_status(), 503);
            assert_eq!(e.message_key(), "busy");
            assert!(e.retry_after(T0).is_some());
        }
        other => panic!("expected Busy, got {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_key_derivation_queue_refuses_before_anything_changes() {
    let clock = ManualClock::new(T0);
    // One derivation in flight at a time; a second flow, with room for many, holds it.
    let tight = flow(MemoryStore::new(), &clock, 1);
    let gate = Gate::default();
    let other = flow(
        Hooked {
            inner: MemoryStore::new(),
            hooks: gate.clone(),
        },
        &clock,
        64,
    );

    let begun = tight.begin("alice", "alice@example.com").await.unwrap();
    let app = begun.uri().to_totp().unwrap();
    let codes = tight
        .confirm("alice", begun.ticket(), &code(&app, &clock))
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    let total = codes.codes().len();
    let first = codes.codes()[0].expose().to_string();
    let second = codes.codes()[1].expose().to_string();
    clock.advance(30);
    let proof = tight
        .verify("alice", &code(&app, &clock))
        .await
        .unwrap()
        .proof;
    // Bob's enrolment is begun, not confirmed: confirming hashes his first set.
    let bobs = tight.begin("bob", "bob@example.com").await.unwrap();
    let bobs_app = bobs.uri().to_totp().unwrap();
    // Carol was imported without recovery codes.
    let import = EnrollmentImport::from_base32(B32, TotpParams::default()).unwrap();
    tight.import("carol", import).await.unwrap();

    // Regenerating takes its place, then waits at the gate, holding it.
    let mut holder = pin!(other.regenerate_recovery_codes("held", "000000"));
    poll_once(holder.as_mut()).await;

    // Every operation that needs a derivation is refused, before it changes anything.
    busy(tight.verify("alice", &first).await);
    busy(tight.verify_recovery_code("alice", &second).await);
    busy(tight.verify("nobody", &first).await);
    busy(tight.verify("bob", &first).await);
    busy(tight.verify("carol", &first).await);
    busy(tight.disable("alice", first.as_str()).await);
    busy(
        tight
            .begin_new_device("alice", "alice@example.com", first.as_str())
            .await,
    );
    busy(
        tight
            .regenerate_recovery_codes("alice", second.as_str())
            .await,
    );
    busy(
        tight
            .regenerate_recovery_codes("alice", Reauth::recent(&proof))
            .await,
    );
    let bobs_code = code(&bobs_app, &clock);
    busy(tight.confirm("bob", bobs.ticket(), &bobs_code).await);
    let plain = EnrollmentImport::from_base32(B32, TotpParams::default())
        .unwrap()
        .with_recovery_codes(&[first.as_str(), second.as_str()])
        .unwrap();
    busy(tight.import("dave", plain.clone()).await);
    // A regeneration typed with a code is refused before the code is checked: its step is not
    // taken, and the same code still logs in (code logins need no derivation).
    clock.advance(30);
    let fresh = code(&app, &clock);
    busy(
        tight
            .regenerate_recovery_codes("alice", fresh.as_str())
            .await,
    );
    tight.verify("alice", &fresh).await.unwrap();
    let alice = tight.status("alice").await.unwrap();
    assert_eq!(
        (alice.failures, alice.recovery_codes_left),
        (0, Some(total))
    );
    assert!(alice.is_active());
    assert!(!tight.status("bob").await.unwrap().is_active());
    assert_eq!(tight.status("carol").await.unwrap().failures, 0);
    assert!(!tight.status("dave").await.unwrap().is_active());

    // The place is given back with the operation that took it.
    gate.open.add_permits(1);
    assert!(matches!(holder.await, Err(FlowError::NotEnrolled)));
    let login = tight.verify("alice", &first).await.unwrap();
    assert_eq!(
        login.factor,
        LoginFactor::RecoveryCode {
            remaining: total - 1
        }
    );
    let carol = tight.verify("carol", &first).await;
    assert!(
        matches!(carol, Err(FlowError::InvalidCode { .. })),
        "{carol:?}"
    );
    // Bob confirms with the very code refused above: nothing of it was recorded.
    tight
        .confirm("bob", bobs.ticket(), &bobs_code)
        .await
        .unwrap();
    assert!(tight.status("bob").await.unwrap().is_active());
    assert_eq!(tight.import("dave", plain).await.unwrap().recovery_codes, 2);
    // A regeneration proven by a recovery code: the place for hashing the new set was taken
    // before the code was consumed, and the code checked in it, so one place is enough.
    let regenerated = tight
        .regenerate_recovery_codes("alice", second.as_str())
        .await
        .unwrap();
    assert_eq!(regenerated.codes.codes().len(), total);

    // Regenerating gives its place back once the new set is hashed, before it writes: parked
    // at its write, it holds none, and the flow with a bound of one derives meanwhile.
    let begun = other.begin("parked", "parked@example.com").await.unwrap();
    let parkeds_app = begun.uri().to_totp().unwrap();
    other
        .confirm("parked", begun.ticket(), &code(&parkeds_app, &clock))
        .await
        .unwrap();
    clock.advance(30);
    let parkeds_proof = other
        .verify("parked", &code(&parkeds_app, &clock))
        .await
        .unwrap()
        .proof;
    gate.park.store(true, Ordering::SeqCst);
    let mut parked =
        pin!(other.regenerate_recovery_codes("parked", Reauth::recent(&parkeds_proof)));
    tokio::select! {
        biased;
        done = parked.as_mut() => panic!("expected to wait at the write, answered {done:?}"),
        () = gate.arrived.notified() => {}
    }
    let new_code = regenerated.codes.codes()[0].expose().to_string();
    tight.verify("alice", &new_code).await.unwrap();
    gate.open.add_permits(1);
    parked.await.unwrap();
}

#[test]
fn a_flow_needs_room_for_one_derivation() {
    let mut config = FlowConfig::new("Example");
    config.kdf_queue_max = 0;
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    assert!(matches!(
        EnrollmentFlow::new(MemoryStore::new(), keys, config),
        Err(FlowError::Config(_))
    ));
}
