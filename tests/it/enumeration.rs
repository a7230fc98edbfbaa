//! User enumeration at the second step: a user id with no active enrolment (unknown, or not
//! enrolled) gets the same answer as any other such id, and a recovery-code attempt for it pays
//! the key derivation an enrolled user's attempt pays. See `docs/assurance.md` for what the
//! application must do for the rest.

use std::time::{Duration, Instant};

use twofactor::{
    Clock, EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KdfParams, KeyRing, ManualClock,
    MemoryStore,
};

const T0: u64 = 1_700_000_010;

type Flow = EnrollmentFlow<MemoryStore, ManualClock>;

fn flow(kdf: KdfParams) -> (Flow, ManualClock) {
    let clock = ManualClock::new(T0);
    let mut config = FlowConfig::new("Example Co");
    config.kdf = kdf;
    let flow = EnrollmentFlow::new(
        MemoryStore::new(),
        KeyRing::new(EncryptionKey::generate(1).unwrap()),
        config,
    )
    .unwrap()
    .with_clock(clock.clone());
    (flow, clock)
}

/// Enrols `user` and returns its authenticator app.
async fn enrol(flow: &Flow, clock: &ManualClock, user: &str) -> twofactor::Totp {
    let e = flow.begin(user, user).await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let code = app.generate_at(clock.now()).unwrap();
    flow.confirm(user, e.ticket(), code.as_str()).await.unwrap();
    app
}

#[tokio::test]
async fn ids_without_an_enrolment_get_one_answer() {
    let (flow, clock) = flow(KdfParams::argon2id(64, 1, 1).unwrap());
    enrol(&flow, &clock, "enrolled").await;
    // A pending enrolment is not an enrolment.
    flow.begin("pending", "pending").await.unwrap();
    let inputs = [
        "123456",
        "12 34 56",
        "1234567",
        "ABCD-EFGH-JKMN-PQRS",
        "abcd efgh jkmn pqrs",
        "ABCD",
        "",
        "not a code",
    ];
    for user in ["unknown", "pending"] {
        for input in inputs {
            for result in [
                flow.verify(user, input).await,
                flow.verify_code(user, input).await,
                flow.verify_recovery_code(user, input).await,
            ] {
                assert!(
                    matches!(result, Err(FlowError::NotEnrolled)),
                    "{user} {input:?}: {result:?}"
                );
            }
        }
        // Nothing was recorded for the id: it is still as it was.
        let status = flow.status(user).await.unwrap();
        assert!(!status.is_active(), "{user}");
    }
}

/// The fastest of `runs` timings of `attempt`.
async fn fastest<F: std::future::Future<Output = ()>>(
    runs: usize,
    mut attempt: impl FnMut() -> F,
) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        attempt().await;
        best = best.min(start.elapsed());
    }
    best
}

#[tokio::test]
async fn a_recovery_attempt_for_an_unknown_id_pays_the_key_derivation() {
    // A cost that dwarfs everything else an attempt does (a store read, a few allocations).
    let (flow, clock) = flow(KdfParams::argon2id(8 * 1024, 2, 1).unwrap());
    enrol(&flow, &clock, "enrolled").await;
    let wrong = "ABCD-EFGH-JKMN-PQRS";
    let known = fastest(3, || async {
        let result = flow.verify("enrolled", wrong).await;
        assert!(
            matches!(result, Err(FlowError::InvalidCode { .. })),
            "{result:?}"
        );
    })
    .await;
    let unknown = fastest(3, || async {
        let result = flow.verify("unknown", wrong).await;
        assert!(matches!(result, Err(FlowError::NotEnrolled)), "{result:?}");
    })
    .await;
    // Without the derivation the unknown id answers in microseconds against milliseconds; with
    // it the two are alike. A third leaves room for a loaded machine.
    assert!(
        unknown * 3 >= known,
        "unknown id {unknown:?}, enrolled user's wrong code {known:?}"
    );
    // A malformed recovery code costs no derivation for either.
    let malformed = fastest(3, || async {
        let result = flow.verify("unknown", "ABCD-EFGH").await;
        assert!(matches!(result, Err(FlowError::NotEnrolled)), "{result:?}");
    })
    .await;
    assert!(
        malformed * 3 < known,
        "malformed {malformed:?}, known {known:?}"
    );
}
