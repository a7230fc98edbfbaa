//! The flow-level test kit (feature `conformance`): what the flow's features built on the
//! store contract must do on a given store, as one call per feature.
//!
//! Trusted browsers, additional authenticators and the requirement to enrol live in the state
//! text that every store writes
//! by compare-and-swap, so a store that passes the store kit
//! ([`crate::store::conformance`]) should pass these too; they prove it end to end, including
//! that a revoked token is never accepted after its revoke returned while other tasks keep
//! presenting it, and that codes of two authenticators at the same step are each accepted once
//! under concurrency. Call each from a multi-threaded tokio test with a fresh, empty store:
//!
//! ```
//! use twofactor::MemoryStore;
//! use twofactor::flow::conformance;
//!
//! # tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build()?.block_on(async {
//! conformance::trust_tokens(MemoryStore::new()).await;
//! conformance::required_enrolment(MemoryStore::new()).await;
//! conformance::several_authenticators(MemoryStore::new()).await;
//! # });
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A check that fails panics with the rule it broke, like `assert!`: that is how a test kit
//! reports, so this module alone (with the store kit) may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{
    Clock, EnrollmentFlow, FlowConfig, FlowError, ManualClock, NextStep, NoAudit, Reauth,
    RecentVerification, Requirement, TrustToken,
};
use crate::otp::{KdfParams, Totp};
use crate::seal::{EncryptionKey, KeyRing};
use crate::store::SecretStore;

/// The time the kit's clock starts at.
const T0: u64 = 1_800_000_000;

type Flow<S> = EnrollmentFlow<S, ManualClock, NoAudit>;

fn flow<S: SecretStore>(store: S, cap: usize) -> (Flow<S>, ManualClock) {
    let clock = ManualClock::new(T0);
    let mut config = FlowConfig::new("Conformance");
    config.kdf = KdfParams::argon2id(64, 1, 1).expect("kdf");
    config.trusted_browsers_max = cap;
    let keys = KeyRing::new(EncryptionKey::generate(1).expect("rng"));
    let flow = EnrollmentFlow::new(store, keys, config)
        .expect("config")
        .with_clock(clock.clone());
    (flow, clock)
}

fn code(app: &Totp, clock: &ManualClock) -> String {
    app.generate_step(app.step_at(clock.now()).expect("step"))
        .to_string()
}

async fn enrol<S: SecretStore>(flow: &Flow<S>, clock: &ManualClock, user: &str) -> Totp {
    let e = flow.begin(user, "conformance").await.expect("begin");
    let app = e.uri().to_totp().expect("totp");
    flow.confirm(user, e.ticket(), &code(&app, clock))
        .await
        .expect("confirm");
    clock.advance(30);
    app
}

async fn login<S: SecretStore>(
    flow: &Flow<S>,
    clock: &ManualClock,
    user: &str,
    app: &Totp,
) -> RecentVerification {
    let proof = flow
        .verify(user, &code(app, clock))
        .await
        .expect("login")
        .proof;
    clock.advance(30);
    proof
}

async fn trusted<S: SecretStore>(flow: &Flow<S>, user: &str, token: &TrustToken) -> bool {
    flow.verify_trusted(user, token)
        .await
        .expect("verify_trusted")
        .is_some()
}

/// Trusted browsers on `store`: issue, use (the last use recorded), revoke one and all, expiry,
/// a stale factor stamp, the cap, and concurrent revoke and use: tasks keep presenting a token
/// while another revokes it, and no use that began after the revoke returned is accepted.
pub async fn trust_tokens<S: SecretStore + 'static>(store: S) {
    let (flow, clock) = flow(store, 2);
    let app = enrol(&flow, &clock, "trust").await;
    let proof = login(&flow, &clock, "trust", &app).await;

    // Issue and use.
    let a = flow
        .trust_browser("trust", &proof, "a", Some(1000))
        .await
        .expect("issue");
    clock.advance(10);
    match flow
        .next_step("trust", None, Some(&a.token))
        .await
        .expect("next_step")
    {
        NextStep::Trusted(login) => assert_eq!(login.browser.id, a.browser.id),
        other => panic!("a fresh trust token must skip the second step, got {other:?}"),
    }
    let listed = flow.trusted_browsers("trust").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].last_used_at,
        Some(clock.now()),
        "the last use is stored"
    );
    assert!(!trusted(&flow, "trust", &TrustToken::from_cookie("guess")).await);

    // The cap drops the oldest.
    let b = flow
        .trust_browser("trust", &proof, "b", None)
        .await
        .expect("issue");
    let c = flow
        .trust_browser("trust", &proof, "c", None)
        .await
        .expect("issue");
    assert!(
        !trusted(&flow, "trust", &a.token).await,
        "dropped by the cap"
    );
    assert!(trusted(&flow, "trust", &b.token).await);

    // Revoke one, then all.
    assert!(
        flow.revoke_trusted_browser("trust", &b.browser.id)
            .await
            .expect("revoke")
    );
    assert!(!trusted(&flow, "trust", &b.token).await, "revoked");
    assert!(trusted(&flow, "trust", &c.token).await);
    assert_eq!(
        flow.revoke_trusted_browsers("trust").await.expect("revoke"),
        1
    );
    assert!(!trusted(&flow, "trust", &c.token).await, "revoked");

    // Expiry.
    let proof = login(&flow, &clock, "trust", &app).await;
    let d = flow
        .trust_browser("trust", &proof, "d", Some(100))
        .await
        .expect("issue");
    clock.advance(100);
    assert!(!trusted(&flow, "trust", &d.token).await, "expired");
    let state = flow
        .store()
        .get("trust")
        .await
        .expect("get")
        .expect("record")
        .cold
        .state;
    assert!(!state.contains("tb="), "an expired token is removed");

    // A factor change (here: regenerated recovery codes) makes every token stale.
    let proof = login(&flow, &clock, "trust", &app).await;
    let e = flow
        .trust_browser("trust", &proof, "e", None)
        .await
        .expect("issue");
    flow.regenerate_recovery_codes("trust", code(&app, &clock).as_str())
        .await
        .expect("regenerate");
    clock.advance(30);
    assert!(!trusted(&flow, "trust", &e.token).await, "stale stamp");
    assert!(
        flow.trusted_browsers("trust")
            .await
            .expect("list")
            .is_empty()
    );

    revoke_races_use(Arc::new(flow), clock, app).await;
}

/// Revoke races use: every task sees the refusal, none after the revoke returned.
async fn revoke_races_use<S: SecretStore + 'static>(
    flow: Arc<Flow<S>>,
    clock: ManualClock,
    app: Totp,
) {
    let user = "trust";
    for round in 0..8 {
        let proof = login(&flow, &clock, user, &app).await;
        let t = flow
            .trust_browser(user, &proof, "race", None)
            .await
            .expect("issue");
        let revoked = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (flow, token, revoked, late) =
                (flow.clone(), t.token.clone(), revoked.clone(), late.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let after_revoke = revoked.load(Ordering::SeqCst);
                    match flow.verify_trusted(user, &token).await {
                        Ok(Some(_)) if after_revoke => {
                            late.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Some(_)) | Err(FlowError::Conflict) => {}
                        Ok(None) => return,
                        Err(e) => panic!("verify_trusted: {e}"),
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::task::yield_now().await;
        let found = loop {
            match flow.revoke_trusted_browser(user, &t.browser.id).await {
                Ok(found) => break found,
                Err(FlowError::Conflict) => continue,
                Err(e) => panic!("revoke: {e}"),
            }
        };
        revoked.store(true, Ordering::SeqCst);
        assert!(found, "round {round}: the revoke found the browser");
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(
            late.load(Ordering::SeqCst),
            0,
            "round {round}: a token was accepted after its revoke returned"
        );
    }
}

/// The requirement to enrol on `store`: a deadline offers enrolment until it passes and
/// requires it from then on, the application's policy combines with it (the stricter wins), and
/// it survives turning 2FA off.
pub async fn required_enrolment<S: SecretStore>(store: S) {
    let (flow, clock) = flow(store, 10);
    let deadline = T0 + 3600;
    flow.admin_require("req", Requirement::By(deadline))
        .await
        .expect("require");
    let step = flow.next_step("req", None, None).await.expect("next_step");
    assert!(
        matches!(step, NextStep::OfferEnrollment { deadline: d } if d == deadline),
        "{step:?}"
    );
    let step = flow
        .next_step("req", Some(Requirement::Now), None)
        .await
        .expect("next_step");
    assert!(matches!(step, NextStep::RequireEnrollment), "{step:?}");
    let step = flow
        .next_step("req", Some(Requirement::Off), None)
        .await
        .expect("next_step");
    assert!(
        matches!(step, NextStep::OfferEnrollment { .. }),
        "a policy cannot relax the stored requirement: {step:?}"
    );
    let app = enrol(&flow, &clock, "req").await;
    let step = flow.next_step("req", None, None).await.expect("next_step");
    assert!(matches!(step, NextStep::SecondFactor), "{step:?}");
    flow.disable("req", code(&app, &clock).as_str())
        .await
        .expect("disable");
    clock.set(deadline);
    let step = flow.next_step("req", None, None).await.expect("next_step");
    assert!(matches!(step, NextStep::RequireEnrollment), "{step:?}");
    let status = flow.status("req").await.expect("status");
    assert_eq!(status.requirement(), Requirement::By(deadline));
    flow.admin_require("req", Requirement::Off)
        .await
        .expect("require");
    let step = flow.next_step("req", None, None).await.expect("next_step");
    assert!(matches!(step, NextStep::Continue), "{step:?}");
}

/// Several authenticators on `store`: concurrent logins with the codes of two authenticators at
/// the same time step (the primary's and an added one's, then two added ones') each succeed
/// exactly once, every further try of either code is refused as a replay; and one failure count
/// is shared by all authenticators and recovery codes (a wrong code counts, a right code of any
/// authenticator resets it).
pub async fn several_authenticators<S: SecretStore + 'static>(store: S) {
    let clock = ManualClock::new(T0);
    let mut config = FlowConfig::new("Conformance");
    config.kdf = KdfParams::argon2id(64, 1, 1).expect("kdf");
    // Room for the refusals of the races' losers: no delay before the last check.
    config.throttle = super::ThrottlePolicy::new(50, 1, 1, 100, 1).expect("policy");
    let keys = KeyRing::new(EncryptionKey::generate(1).expect("rng"));
    let flow = EnrollmentFlow::new(store, keys, config)
        .expect("config")
        .with_clock(clock.clone());
    let user = "multi";
    let primary = enrol(&flow, &clock, user).await;
    let mut apps = vec![primary];
    for name in ["second", "third"] {
        let proof = login(&flow, &clock, user, &apps[0]).await;
        let e = flow
            .begin_add_authenticator(user, "conformance", name, Reauth::recent(&proof))
            .await
            .expect("begin_add_authenticator");
        let app = e.uri().to_totp().expect("totp");
        let confirmed = flow
            .confirm(user, e.ticket(), &code(&app, &clock))
            .await
            .expect("confirm an addition");
        assert_eq!(
            confirmed.added_authenticator().map(|a| a.name.as_str()),
            Some(name)
        );
        clock.advance(30);
        apps.push(app);
    }
    let listed = flow.authenticators(user).await.expect("list");
    assert_eq!(listed.len(), 3, "three authenticators listed");
    let flow = Arc::new(flow);

    // Primary and second, then second and third, at the same step: each code once.
    for (a, b) in [(0usize, 1usize), (1, 2)] {
        let codes = [code(&apps[a], &clock), code(&apps[b], &clock)];
        if codes[0] == codes[1] {
            // One chance in a million: the same code cannot tell two authenticators apart.
            clock.advance(30);
            continue;
        }
        let accepted = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (flow, code, accepted) = (flow.clone(), codes[i % 2].clone(), accepted.clone());
            let expect = listed[if i % 2 == 0 { a } else { b }].id.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match flow.verify(user, &code).await {
                        Ok(v) => {
                            let id = v.authenticator.map(|m| m.id);
                            assert_eq!(id.as_deref(), Some(expect.as_str()), "the match named");
                            accepted.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        Err(FlowError::Conflict) => tokio::task::yield_now().await,
                        Err(FlowError::InvalidCode { .. }) => return,
                        Err(e) => panic!("verify: {e}"),
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "each of two authenticators' codes at one step is accepted exactly once"
        );
        for c in &codes {
            assert!(
                matches!(
                    flow.verify(user, c).await,
                    Err(FlowError::InvalidCode { .. })
                ),
                "a replay is refused"
            );
        }
        // The replays were counted, in the one count; a right code resets it.
        assert!(flow.status(user).await.expect("status").failures >= 2);
        clock.advance(30);
        flow.verify(user, &code(&apps[b], &clock))
            .await
            .expect("a right code of any authenticator");
        assert_eq!(flow.status(user).await.expect("status").failures, 0);
        clock.advance(30);
    }

    // One count for all: wrong codes and a wrong recovery code add up.
    for wrong in ["000000", "999999"] {
        if apps.iter().any(|app| code(app, &clock) == wrong) {
            continue;
        }
        assert!(flow.verify(user, wrong).await.is_err());
    }
    let _ = flow.verify(user, "AAAA-BBBB-CCCC-DDDD").await;
    let failures = flow.status(user).await.expect("status").failures;
    assert!(failures >= 2, "failures shared: {failures}");
    flow.verify(user, &code(&apps[2], &clock))
        .await
        .expect("an added authenticator logs in");
    assert_eq!(flow.status(user).await.expect("status").failures, 0);
}
