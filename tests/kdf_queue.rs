//! The key-derivation thread's queue is bounded: past it, work is refused at once with
//! `FlowError::Busy`, unrun, and nothing is counted or consumed.
//!
//! A binary of its own: the test fills the process-wide queue, which would refuse the
//! recovery-code checks of tests running beside it in the `it` binary.
#![cfg(feature = "tokio")]
// Tests report by panicking: unwrap and expect are how they say what they expected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use twofactor::{
    EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KdfParams, KeyRing, LoginFactor,
    ManualClock, MemoryStore,
};

const T0: u64 = 1_700_000_000;
/// The queue's capacity (`kdf_worker::QUEUE` in `src/flow/mod.rs`).
const QUEUE: usize = 32;
/// Attempts in the flood: far more than the queue holds.
const FLOOD: usize = 200;

#[tokio::test(flavor = "current_thread")]
async fn a_full_key_derivation_queue_refuses_at_once_and_counts_nothing() {
    let clock = ManualClock::new(T0);
    let mut config = FlowConfig::new("Example");
    // Several milliseconds a derivation: the thread cannot drain the queue while the flood is
    // submitted (the first poll of every task below takes well under a millisecond).
    config.kdf = KdfParams::argon2id(8 * 1024, 1, 1).unwrap();
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let flow = Arc::new(
        EnrollmentFlow::new(MemoryStore::new(), keys, config)
            .unwrap()
            .with_clock(clock.clone()),
    );
    let begun = flow.begin("alice", "alice@example.com").await.unwrap();
    let app = begun.uri().to_totp().unwrap();
    let code = app.generate_at(T0).unwrap().to_string();
    let codes = flow
        .confirm("alice", begun.ticket(), &code)
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    let total = codes.codes().len();
    let alices = codes.codes()[0].expose().to_string();

    // Recovery-code-shaped attempts at user ids that do not exist (no per-user throttle counts
    // them), then Alice's own: on a current-thread runtime each task runs up to its wait for
    // the key-derivation thread before the next one starts, so all are queued or refused
    // before any is answered.
    let mut flood = Vec::new();
    for i in 0..FLOOD {
        let (flow, typed) = (flow.clone(), alices.clone());
        flood.push(tokio::spawn(async move {
            flow.verify(&format!("ghost-{i}"), &typed).await
        }));
    }
    let alice = {
        let (flow, typed) = (flow.clone(), alices.clone());
        tokio::spawn(async move { flow.verify("alice", &typed).await })
    };
    let (mut answered, mut busy) = (0, 0);
    for task in flood {
        match task.await.unwrap() {
            Err(FlowError::NotEnrolled) => answered += 1,
            Err(FlowError::Busy) => busy += 1,
            other => panic!("a flood attempt answered {other:?}"),
        }
    }
    // The thread takes one job and the queue holds `QUEUE` more: those are answered as an
    // unknown user is; the rest are refused, as they would be for an enrolled user.
    assert!(answered > QUEUE, "{answered} answered");
    assert!(busy > 0 && answered + busy == FLOOD, "{busy} refused");
    let refused = alice.await.unwrap();
    assert!(matches!(refused, Err(FlowError::Busy)), "{refused:?}");
    let e = refused.unwrap_err();
    assert_eq!(e.http_status(), 503);
    assert_eq!(e.message_key(), "busy");
    assert!(e.retry_after(T0).is_some());

    // The refused attempt counted nothing and consumed nothing: with the queue drained, the
    // same recovery code logs in, every other code still unused.
    let status = flow.status("alice").await.unwrap();
    assert_eq!(
        (status.failures, status.recovery_codes_left),
        (0, Some(total))
    );
    let login = flow.verify("alice", &alices).await.unwrap();
    assert_eq!(
        login.factor,
        LoginFactor::RecoveryCode {
            remaining: total - 1
        }
    );
}
