//! The enrolment flow end to end over `MemoryStore`, with a manual clock and captured audit
//! events.

use std::sync::{Arc, Mutex};

use twofactor::store::{ListFilter, SecretStore};
use twofactor::{
    AuditEvent, EncryptionKey, EnrollmentFlow, EnrollmentStatus, FlowConfig, FlowError, KdfParams,
    KeyRing, LoginFactor, ManualClock, MemoryStore, Reauth, RecoveryCodeSet, ThrottlePolicy, Totp,
};

const T0: u64 = 1_700_000_010;

type Events = Arc<Mutex<Vec<AuditEvent>>>;
type Flow = EnrollmentFlow<MemoryStore, ManualClock, Box<dyn Fn(&AuditEvent) + Send + Sync>>;

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Example Co");
    c.kdf = KdfParams::argon2id(64, 1, 1).unwrap(); // fast for tests
    c.throttle = ThrottlePolicy::new(3, 10, 80, 8, 3600).unwrap();
    c
}

fn flow_with(store: MemoryStore, keys: KeyRing, clock: &ManualClock) -> (Flow, Events) {
    let events: Events = Arc::default();
    let sink = events.clone();
    let audit: Box<dyn Fn(&AuditEvent) + Send + Sync> =
        Box::new(move |e: &AuditEvent| sink.lock().unwrap().push(e.clone()));
    let flow = EnrollmentFlow::new(store, keys, config())
        .unwrap()
        .with_clock(clock.clone())
        .with_audit(audit);
    (flow, events)
}

fn setup() -> (Flow, ManualClock, Events) {
    let clock = ManualClock::new(T0);
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let (flow, events) = flow_with(MemoryStore::new(), keys, &clock);
    (flow, clock, events)
}

/// Plays the user's authenticator app.
fn code_at(app: &Totp, clock: &ManualClock, offset_steps: i64) -> String {
    let step = app.step_at(clock_now(clock)).unwrap();
    app.generate_step(step.checked_add_signed(offset_steps).unwrap())
        .to_string()
}

fn clock_now(clock: &ManualClock) -> u64 {
    use twofactor::Clock;
    clock.now()
}

async fn enrolled(flow: &Flow, clock: &ManualClock, user: &str) -> (Totp, RecoveryCodeSet) {
    let e = flow
        .begin(user, &format!("{user}@example.com"))
        .await
        .unwrap();
    let app = e.uri().to_totp().unwrap();
    let confirmed = flow
        .confirm(user, e.ticket(), &code_at(&app, clock, 0))
        .await
        .unwrap();
    let codes = confirmed.into_recovery_codes().unwrap();
    clock.advance(30);
    (app, codes)
}

fn names(events: &Events) -> Vec<&'static str> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(AuditEvent::name)
        .collect()
}

#[tokio::test]
async fn the_whole_life_cycle() {
    let (flow, clock, events) = setup();
    assert_eq!(
        flow.status("alice").await.unwrap().enrollment,
        EnrollmentStatus::NotEnrolled
    );

    let e = flow.begin("alice", "alice@example.com").await.unwrap();
    assert!(
        e.expose_uri()
            .starts_with("otpauth://totp/Example%20Co:alice@example.com?secret=")
    );
    assert_eq!(e.expose_manual_key().len(), 39);
    assert!(!e.is_replacement());
    assert_eq!(
        flow.status("alice").await.unwrap().enrollment,
        EnrollmentStatus::Pending {
            since: T0,
            expires_at: T0 + 900
        }
    );
    // Not active yet: logins are refused.
    assert!(matches!(
        flow.verify("alice", "123456").await,
        Err(FlowError::NotEnrolled)
    ));

    let app = e.uri().to_totp().unwrap();
    assert!(
        matches!(
            flow.confirm("alice", e.ticket(), "000000").await,
            Err(FlowError::InvalidCode { .. })
        ) || app.generate_at(T0).unwrap().as_str() == "000000"
    );
    assert!(matches!(
        flow.confirm("alice", e.ticket(), "12ab").await,
        Err(FlowError::Malformed)
    ));
    let first = code_at(&app, &clock, 0);
    let confirmed = flow.confirm("alice", e.ticket(), &first).await.unwrap();
    let codes = confirmed.into_recovery_codes().unwrap();
    assert_eq!(codes.codes().len(), 10);

    let status = flow.status("alice").await.unwrap();
    assert!(status.is_active());
    assert_eq!(status.recovery_codes_left, Some(10));
    assert_eq!(
        status.failures, 0,
        "confirmation reset the failed confirmation attempt"
    );

    // The confirmation code's step is burnt: it cannot be replayed as the first login.
    assert!(matches!(
        flow.verify("alice", &first).await,
        Err(FlowError::InvalidCode { .. })
    ));

    clock.advance(30);
    let login = code_at(&app, &clock, 0);
    assert_eq!(
        flow.verify("alice", &login).await.unwrap().factor,
        LoginFactor::Code
    );
    assert_eq!(
        flow.status("alice").await.unwrap().last_used_at,
        Some(T0 + 30)
    );
    assert_eq!(flow.status("alice").await.unwrap().failures, 0);
    // Replayed: refused, opaque to the user, audited as a replay.
    assert!(matches!(
        flow.verify("alice", &login).await,
        Err(FlowError::InvalidCode { .. })
    ));
    assert!(names(&events).contains(&"replay_refused"));

    // A recovery code, typed in lower case with spaces.
    let typed = codes.codes()[4].expose().to_lowercase().replace('-', " ");
    assert_eq!(
        flow.verify("alice", &typed).await.unwrap().factor,
        LoginFactor::RecoveryCode { remaining: 9 }
    );
    // A used recovery code typed again is refused and audited as a replay, like a replayed code.
    let replays = |events: &Events| {
        names(events)
            .iter()
            .filter(|n| **n == "replay_refused")
            .count()
    };
    let before = replays(&events);
    assert!(matches!(
        flow.verify("alice", &typed).await,
        Err(FlowError::InvalidCode { .. })
    ));
    assert_eq!(replays(&events), before + 1);

    // Regeneration needs proof, and invalidates the old set.
    assert!(
        matches!(
            flow.regenerate_recovery_codes("alice", "999999").await,
            Err(FlowError::InvalidCode { .. })
        ) || code_at(&app, &clock, 0) == "999999"
    );
    clock.advance(30);
    let fresh = flow
        .regenerate_recovery_codes("alice", &code_at(&app, &clock, 0))
        .await
        .unwrap();
    assert_eq!(
        flow.status("alice").await.unwrap().recovery_codes_left,
        Some(10)
    );
    assert!(matches!(
        flow.verify("alice", &codes.codes()[0].expose()).await,
        Err(FlowError::InvalidCode { .. })
    ));
    // Disabling with a recovery code works too, and needs a valid one.
    assert!(matches!(
        flow.disable("alice", codes.codes()[1].expose().as_str())
            .await,
        Err(FlowError::InvalidCode { .. })
    ));
    flow.disable("alice", fresh.codes.codes()[0].expose().as_str())
        .await
        .unwrap();
    let status = flow.status("alice").await.unwrap();
    assert_eq!(status.enrollment, EnrollmentStatus::NotEnrolled);
    assert_eq!(status.recovery_codes_left, None);
    assert!(matches!(
        flow.verify("alice", &code_at(&app, &clock, 0)).await,
        Err(FlowError::NotEnrolled)
    ));

    let seen = names(&events);
    for name in [
        "enrollment_started",
        "enrollment_confirmed",
        "login_with_code",
        "login_with_recovery_code",
        "recovery_codes_regenerated",
        "failed_attempt",
        "replay_refused",
        "disabled",
        "factor_stamp_changed",
    ] {
        assert!(seen.contains(&name), "{name} in {seen:?}");
    }
}

#[tokio::test]
async fn pending_enrolments_expire_and_can_be_restarted() {
    let (flow, clock, _) = setup();
    let e = flow.begin("bob", "bob").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    clock.advance(901);
    assert!(matches!(
        flow.confirm("bob", e.ticket(), &code_at(&app, &clock, 0))
            .await,
        Err(FlowError::EnrollmentExpired)
    ));
    assert!(matches!(
        flow.confirm("nobody", e.ticket(), "123456").await,
        Err(FlowError::NoPendingEnrollment)
    ));
    // Beginning again replaces the pending secret: the old app's codes no longer confirm.
    let e2 = flow.begin("bob", "bob").await.unwrap();
    let app2 = e2.uri().to_totp().unwrap();
    let stale = code_at(&app, &clock, 0);
    if stale != code_at(&app2, &clock, 0) {
        assert!(matches!(
            flow.confirm("bob", e2.ticket(), &stale).await,
            Err(FlowError::InvalidCode { .. })
        ));
    }
    clock.advance(30);
    assert!(
        flow.confirm("bob", e2.ticket(), &code_at(&app2, &clock, 0))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_new_device_replaces_the_old_one_only_when_confirmed() {
    let (flow, clock, _) = setup();
    let (old_app, codes) = enrolled(&flow, &clock, "carol").await;
    // Changing the device needs the current second factor, not just a session.
    assert!(matches!(
        flow.begin("carol", "carol").await,
        Err(FlowError::AlreadyEnrolled)
    ));
    let wrong = if code_at(&old_app, &clock, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(matches!(
        flow.begin_new_device("carol", "carol", wrong).await,
        Err(FlowError::InvalidCode { .. })
    ));
    let e = flow
        .begin_new_device("carol", "carol", &code_at(&old_app, &clock, 0))
        .await
        .unwrap();
    assert!(e.is_replacement());
    clock.advance(30);
    let new_app = e.uri().to_totp().unwrap();
    assert!(matches!(
        flow.status("carol").await.unwrap().enrollment,
        EnrollmentStatus::Active {
            replacement_pending: true,
            ..
        }
    ));
    // The old device keeps working meanwhile; the new one is not yet accepted for login.
    assert_eq!(
        flow.verify("carol", &code_at(&old_app, &clock, 0))
            .await
            .unwrap()
            .factor,
        LoginFactor::Code
    );
    clock.advance(30);
    let new_code = code_at(&new_app, &clock, 0);
    if new_code != code_at(&old_app, &clock, 0) {
        assert!(flow.verify("carol", &new_code).await.is_err());
    }
    clock.advance(30);
    let confirmed = flow
        .confirm("carol", e.ticket(), &code_at(&new_app, &clock, 0))
        .await
        .unwrap();
    assert!(confirmed.replaced_device());
    assert!(
        confirmed.recovery_codes().is_none(),
        "a new device keeps the recovery codes"
    );
    clock.advance(30);
    let old_code = code_at(&old_app, &clock, 0);
    if old_code != code_at(&new_app, &clock, 0) {
        assert!(
            flow.verify("carol", &old_code).await.is_err(),
            "old device retired"
        );
    }
    assert_eq!(
        flow.verify("carol", &code_at(&new_app, &clock, 0))
            .await
            .unwrap()
            .factor,
        LoginFactor::Code
    );
    assert_eq!(
        flow.verify("carol", &codes.codes()[0].expose())
            .await
            .unwrap()
            .factor,
        LoginFactor::RecoveryCode { remaining: 9 }
    );
}

#[tokio::test]
async fn confirmation_learns_the_device_clock_offset() {
    let (flow, clock, _) = setup();
    let e = flow.begin("dave", "dave").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    // The phone runs 6 steps (3 minutes) ahead: outside the ±1 login window, inside ±10.
    flow.confirm("dave", e.ticket(), &code_at(&app, &clock, 6))
        .await
        .unwrap();
    clock.advance(60);
    assert_eq!(
        flow.verify("dave", &code_at(&app, &clock, 6))
            .await
            .unwrap()
            .factor,
        LoginFactor::Code
    );
}

#[tokio::test]
async fn clock_skew_is_reported_and_not_accepted() {
    let (flow, clock, events) = setup();
    let (app, _) = enrolled(&flow, &clock, "erin").await;
    match flow.verify("erin", &code_at(&app, &clock, -8)).await {
        Err(FlowError::ClockSkew { steps }) => assert_eq!(steps, -8),
        other => panic!("expected clock skew, got {other:?}"),
    }
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AuditEvent::ClockSkewDetected { steps: -8, .. }))
    );
    assert_eq!(flow.status("erin").await.unwrap().failures, 1);
}

#[tokio::test]
async fn throttling_delays_then_locks_and_success_resets() {
    let (flow, clock, events) = setup();
    let (app, _) = enrolled(&flow, &clock, "frank").await;
    let wrong = |app: &Totp, clock: &ManualClock| {
        let right = code_at(app, clock, 0);
        (0..)
            .map(|n| format!("{n:06}"))
            .find(|c| *c != right && (-1..=1).all(|o| *c != code_at(app, clock, o)))
            .unwrap()
    };
    // Policy: 3 free failures, then 10 s doubling to 80 s, lock for an hour at 8.
    for _ in 0..3 {
        assert!(matches!(
            flow.verify("frank", &wrong(&app, &clock)).await,
            Err(FlowError::InvalidCode { retry_at: None })
        ));
    }
    let now = clock_now(&clock);
    assert!(matches!(
        flow.verify("frank", &wrong(&app, &clock)).await,
        Err(FlowError::InvalidCode { retry_at: Some(t) }) if t == now + 10
    ));
    // During the delay even the right code is refused unchecked, and nothing is counted.
    let right = code_at(&app, &clock, 0);
    assert!(matches!(
        flow.verify("frank", &right).await,
        Err(FlowError::Throttled { until }) if until == now + 10
    ));
    assert_eq!(flow.status("frank").await.unwrap().failures, 4);
    assert_eq!(
        flow.status("frank").await.unwrap().locked_until,
        Some(now + 10)
    );
    // After the delay the right code is accepted and the count resets.
    clock.advance(10);
    assert_eq!(
        flow.verify("frank", &code_at(&app, &clock, 0))
            .await
            .unwrap()
            .factor,
        LoginFactor::Code
    );
    assert_eq!(flow.status("frank").await.unwrap().failures, 0);

    // Eight consecutive failures (waiting out each delay) lock the account for an hour.
    let mut last = Ok(LoginFactor::Code);
    for _ in 0..8 {
        clock.advance(100);
        last = flow
            .verify("frank", &wrong(&app, &clock))
            .await
            .map(|v| v.factor);
    }
    let locked_at = clock_now(&clock);
    assert!(matches!(last, Err(FlowError::Locked { until }) if until == locked_at + 3600));
    clock.advance(1800);
    assert!(matches!(
        flow.verify("frank", &code_at(&app, &clock, 0)).await,
        Err(FlowError::Locked { .. })
    ));
    // Recovery codes share the same counter and lock.
    assert!(matches!(
        flow.verify("frank", "AAAA-AAAA-AAAA-AAAA").await,
        Err(FlowError::Locked { .. })
    ));
    clock.advance(1800);
    assert_eq!(
        flow.verify("frank", &code_at(&app, &clock, 0))
            .await
            .unwrap()
            .factor,
        LoginFactor::Code
    );
    let seen = names(&events);
    assert!(
        seen.contains(&"throttled") && seen.contains(&"locked"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_with_one_code_have_one_winner() {
    let (flow, clock, _) = setup();
    let (app, codes) = enrolled(&flow, &clock, "gina").await;
    let flow = Arc::new(flow);
    let code = code_at(&app, &clock, 0);
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut handles = Vec::new();
    for _ in 0..16 {
        let (flow, code, barrier) = (flow.clone(), code.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            flow.verify("gina", &code).await
        }));
    }
    let mut wins = 0;
    for h in handles {
        if h.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    // The 15 losers counted as failed attempts (a replay is suspicious), which locks "gina";
    // race recovery codes on another user.
    assert!(flow.status("gina").await.unwrap().locked_until.is_some());
    drop(codes);
    let (_, codes) = enrolled(&flow, &clock, "hana").await;

    let rc = codes.codes()[2].expose().to_string();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (flow, rc, barrier) = (flow.clone(), rc.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            flow.verify("hana", &rc).await
        }));
    }
    let mut wins = 0;
    for h in handles {
        if h.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn admin_listing_reset_and_required_policy() {
    let (flow, clock, events) = setup();
    enrolled(&flow, &clock, "u1").await;
    enrolled(&flow, &clock, "u3").await;
    flow.begin("u2", "u2").await.unwrap();
    flow.admin_set_required("u4", true).await.unwrap();
    assert!(flow.status("u4").await.unwrap().required);
    assert!(!flow.status("u1").await.unwrap().required);

    let ids = |v: Vec<twofactor::Status>| v.into_iter().map(|s| s.user_id).collect::<Vec<_>>();
    assert_eq!(
        ids(flow.admin_list(ListFilter::Active, None, 10).await.unwrap()),
        ["u1", "u3"]
    );
    assert_eq!(
        ids(flow
            .admin_list(ListFilter::NotActive, None, 10)
            .await
            .unwrap()),
        ["u2", "u4"]
    );
    assert_eq!(
        ids(flow
            .admin_list(ListFilter::All, Some("u1"), 2)
            .await
            .unwrap()),
        ["u2", "u3"]
    );

    flow.admin_reset("u1").await.unwrap();
    assert_eq!(
        flow.status("u1").await.unwrap().enrollment,
        EnrollmentStatus::NotEnrolled
    );
    assert!(names(&events).contains(&"admin_reset"));
    // Required stays set across a reset, so the user is sent to enrol again.
    flow.admin_set_required("u1", true).await.unwrap();
    flow.admin_reset("u1").await.unwrap();
    assert!(flow.status("u1").await.unwrap().required);
}

#[tokio::test]
async fn a_store_dump_and_the_audit_trail_reveal_no_secret() {
    let (flow, clock, events) = setup();
    let e = flow.begin("henry", "henry").await.unwrap();
    let secret_b32 = e.uri().secret().expose_base32().to_string();
    let app = e.uri().to_totp().unwrap();
    let codes = flow
        .confirm("henry", e.ticket(), &code_at(&app, &clock, 0))
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    clock.advance(30);
    let login = code_at(&app, &clock, 0);
    flow.verify("henry", &login).await.unwrap();

    let dump = format!(
        "{:?}",
        flow.store().list(ListFilter::All, None, 100).await.unwrap()
    );
    let trail = format!("{:?}", events.lock().unwrap());
    for text in [&dump, &trail] {
        assert!(!text.contains(&secret_b32));
        assert!(!text.to_lowercase().contains(&secret_b32.to_lowercase()));
        assert!(!text.contains(&login));
        for code in codes.codes() {
            assert!(!text.contains(&*code.expose()));
            assert!(!text.contains(&code.expose().replace('-', "")));
        }
    }
}

#[tokio::test]
async fn key_rotation_reseals_every_record() {
    let clock = ManualClock::new(T0);
    let old = EncryptionKey::generate(1).unwrap();
    let store = MemoryStore::new();
    let (flow, _) = flow_with(store.clone(), KeyRing::new(old.clone()), &clock);
    let (app, _) = enrolled(&flow, &clock, "ivy").await;
    flow.begin("jack", "jack").await.unwrap();

    // A ring that only has a new key cannot open the old records...
    let (lost, _) = flow_with(
        store.clone(),
        KeyRing::new(EncryptionKey::generate(2).unwrap()),
        &clock,
    );
    assert!(matches!(
        lost.verify("ivy", &code_at(&app, &clock, 0)).await,
        Err(FlowError::Seal(_))
    ));
    // ...a rotated ring keeps the old key for reading and reseals everything under the new one.
    let new = EncryptionKey::generate(2).unwrap();
    let rotated = KeyRing::new(new.clone()).with_old_key(old).unwrap();
    let (flow, _) = flow_with(store.clone(), rotated, &clock);
    assert_eq!(flow.reseal_all().await.unwrap(), 2);
    assert_eq!(flow.reseal_all().await.unwrap(), 0);
    // Now the new key alone suffices.
    let (flow, _) = flow_with(store, KeyRing::new(new), &clock);
    assert_eq!(
        flow.verify("ivy", &code_at(&app, &clock, 0))
            .await
            .unwrap()
            .factor,
        LoginFactor::Code
    );
}

#[tokio::test]
async fn a_secret_moved_to_another_user_does_not_open() {
    let (flow, clock, _) = setup();
    let (app, _) = enrolled(&flow, &clock, "kate").await;
    enrolled(&flow, &clock, "liam").await;
    // Copy kate's sealed state into liam's row.
    let store = flow.store();
    let kate = store.get("kate").await.unwrap().unwrap();
    let liam = store.get("liam").await.unwrap().unwrap();
    store
        .replace("liam", liam.version, &kate.cold, Default::default())
        .await
        .unwrap();
    assert!(matches!(
        flow.verify("liam", &code_at(&app, &clock, 0)).await,
        Err(FlowError::Seal(_))
    ));
}

#[tokio::test]
async fn recovery_codes_can_be_revealed_only_when_opted_in() {
    let (flow, clock, _) = setup();
    let (app, _) = enrolled(&flow, &clock, "mia").await;
    assert!(matches!(
        flow.reveal_recovery_codes("mia", &code_at(&app, &clock, 0))
            .await,
        Err(FlowError::Config(_))
    ));
    drop(app);

    let clock = ManualClock::new(T0);
    let old = EncryptionKey::generate(1).unwrap();
    let store = MemoryStore::new();
    let mut cfg = config();
    cfg.recovery_storage = twofactor::RecoveryStorage::HashedAndEncrypted;
    let flow = EnrollmentFlow::new(store.clone(), KeyRing::new(old.clone()), cfg.clone())
        .unwrap()
        .with_clock(clock.clone());
    let e = flow.begin("noah", "noah").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let issued = flow
        .confirm("noah", e.ticket(), &code_at(&app, &clock, 0))
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    let login = flow
        .verify("noah", &issued.codes()[3].expose())
        .await
        .unwrap();
    // The login's proof authorises reading the codes back.
    let revealed = flow
        .reveal_recovery_codes("noah", Reauth::recent(&login.proof))
        .await
        .unwrap();
    assert_eq!(revealed.len(), 10);
    for (i, (shown, issued)) in revealed.iter().zip(issued.codes()).enumerate() {
        assert_eq!(shown.expose(), &*issued.expose());
        assert_eq!(shown.is_used(), i == 3);
    }
    // Still no plain code in the store: the copy is sealed.
    let dump = format!("{:?}", store.list(ListFilter::All, None, 10).await.unwrap());
    for code in issued.codes() {
        assert!(!dump.contains(&*code.expose()));
    }
    // Regeneration replaces the revealable copy; key rotation reseals it.
    clock.advance(30);
    let fresh = flow
        .regenerate_recovery_codes("noah", &code_at(&app, &clock, 0))
        .await
        .unwrap();
    let rotated = KeyRing::new(EncryptionKey::generate(2).unwrap())
        .with_old_key(old)
        .unwrap();
    let flow2 = EnrollmentFlow::new(store.clone(), rotated, cfg.clone())
        .unwrap()
        .with_clock(clock.clone());
    assert!(flow2.reseal("noah").await.unwrap());
    // Regeneration changed the factor stamp, so the login's proof no longer works: a new code.
    clock.advance(30);
    let revealed = flow2
        .reveal_recovery_codes("noah", &code_at(&app, &clock, 0))
        .await
        .unwrap();
    assert_eq!(revealed[0].expose(), &*fresh.codes.codes()[0].expose());
    assert!(revealed.iter().all(|c| !c.is_used()));
}

/// Concurrent wrong guesses pass the throttle one at a time: with 3 free failures, exactly 4
/// attempts are checked (the fourth starts the delay) and the rest are refused unchecked, however
/// many arrive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_get_no_more_checks_than_the_policy_allows() {
    let (flow, clock, _) = setup();
    let (app, _) = enrolled(&flow, &clock, "olga").await;
    let flow = Arc::new(flow);
    let right = code_at(&app, &clock, 0);
    let near: Vec<String> = (-25..=25).map(|o| code_at(&app, &clock, o)).collect();
    let guesses: Vec<String> = (0u32..)
        .map(|n| format!("{:06}", (n * 104_729 + 7) % 1_000_000))
        .filter(|c| !near.contains(c))
        .take(31)
        .chain(std::iter::once(right))
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(guesses.len()));
    let mut handles = Vec::new();
    for guess in guesses {
        let (flow, barrier) = (flow.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            flow.verify("olga", &guess).await
        }));
    }
    let (mut checked, mut refused, mut accepted) = (0, 0, 0);
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(FlowError::InvalidCode { .. }) => checked += 1,
            Err(FlowError::Throttled { .. }) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    // The right code may or may not be among the checked ones; if it was, it reset the count
    // and at most 4 more were checked after it.
    assert!(
        checked + accepted <= 8,
        "checked {checked}, accepted {accepted}"
    );
    assert_eq!(checked + accepted + refused, 32);
    if accepted == 0 {
        assert_eq!(checked, 4);
        assert_eq!(flow.status("olga").await.unwrap().failures, 4);
    }
}

/// A code that matches a later step is not reported as clock skew to the person typing (it would
/// tell a guesser to submit it again later), only audited.
#[tokio::test]
async fn codes_ahead_of_the_window_are_not_revealed() {
    let (flow, clock, events) = setup();
    let (app, _) = enrolled(&flow, &clock, "pia").await;
    assert!(matches!(
        flow.verify("pia", &code_at(&app, &clock, 8)).await,
        Err(FlowError::InvalidCode { .. })
    ));
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AuditEvent::ClockSkewDetected { steps: 8, .. }))
    );
}

/// Argon2id runs on tokio's blocking pool: on a single-threaded runtime, a code login of another
/// user completes while a recovery-code check (at a deliberately high cost) is still running.
/// Inline, the runtime's one thread would be busy until the key derivation finished.
#[test]
fn recovery_code_hashing_does_not_block_other_logins() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let clock = ManualClock::new(T0);
        let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
        let mut c = config();
        c.kdf = KdfParams::argon2id(64 * 1024, 3, 1).unwrap(); // tens of milliseconds
        let flow = std::sync::Arc::new(
            EnrollmentFlow::new(MemoryStore::new(), keys, c)
                .unwrap()
                .with_clock(clock.clone()),
        );
        let mut apps = Vec::new();
        let mut codes = Vec::new();
        for user in ["slow", "fast"] {
            let e = flow.begin(user, "u@example.com").await.unwrap();
            let app = e.uri().to_totp().unwrap();
            let confirmed = flow
                .confirm(user, e.ticket(), &code_at(&app, &clock, 0))
                .await
                .unwrap();
            apps.push(app);
            codes.push(confirmed.into_recovery_codes().unwrap());
        }
        clock.advance(30);
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (f, done) = (flow.clone(), finished.clone());
        let recovery = codes[0].codes()[0].expose().to_string();
        let slow = tokio::spawn(async move {
            f.verify("slow", &recovery).await.unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        tokio::task::yield_now().await; // let the recovery attempt start its key derivation
        let login = flow
            .verify("fast", &code_at(&apps[1], &clock, 0))
            .await
            .unwrap();
        assert_eq!(login.factor, LoginFactor::Code);
        assert!(
            !finished.load(std::sync::atomic::Ordering::SeqCst),
            "the code login finished first"
        );
        slow.await.unwrap();
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
    });
}

/// Inside a tokio runtime, recovery codes are checked on the crate's key-derivation thread,
/// which on Linux runs at the normal policy's lowest priority (policy 0, nice 19), so that the
/// executor's threads preempt it.
#[cfg(all(target_os = "linux", feature = "tokio"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_derivations_run_on_a_thread_of_the_lowest_priority() {
    let (flow, clock, _) = setup();
    let _alice = enrolled(&flow, &clock, "alice").await;
    let (_, other) = enrolled(&flow, &clock, "bob").await;
    // A wrong but well-formed code: one full derivation, on the worker.
    let wrong = other.codes()[0].expose().to_string();
    assert!(matches!(
        flow.verify("alice", &wrong).await,
        Err(FlowError::InvalidCode { .. })
    ));
    // `stat` fields 18 (priority), 19 (nice) and 41 (policy); fields are counted after the
    // command name, which is in parentheses and may hold spaces.
    let fields = |stat: &str| -> [String; 3] {
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        [18, 19, 41].map(|n| fields[n - 3].to_owned())
    };
    let mut workers = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        if std::fs::read_to_string(dir.join("comm"))
            .unwrap_or_default()
            .trim()
            == "twofactor-kdf"
        {
            workers.push(fields(&std::fs::read_to_string(dir.join("stat")).unwrap()));
        }
    }
    // Under the normal policy the priority field reads 20 + nice.
    assert_eq!(
        workers,
        [["39", "19", "0"].map(str::to_owned)],
        "one worker, nice 19 under SCHED_OTHER"
    );
    // This very thread: the same relation holds, so the fields are where the check reads them
    // (whatever the priority the tests run at).
    let [priority, nice, policy] =
        fields(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
    if policy == "0" {
        assert_eq!(
            priority.parse::<i32>().unwrap(),
            20 + nice.parse::<i32>().unwrap()
        );
    }
}
