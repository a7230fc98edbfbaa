//! What binds the flow to the session that uses it: the enrolment ticket, the factor stamp and
//! the recent-verification proof; and the sharp edges a security review found. Each attack of
//! the review is reproduced here against the flow API and is now refused.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use twofactor::store::{SecretStore, StoredStatus};
use twofactor::{
    AuditEvent, Clock, Digits, EncryptionKey, EnrollmentFlow, EnrollmentTicket, FactorStamp,
    FlowConfig, FlowError, KdfParams, KeyRing, LoginFactor, ManualClock, MemoryStore, Reauth,
    RecentVerification, RecoveryCodeSet, RecoveryConfig, ThrottlePolicy, Totp, TotpParams,
};

const T0: u64 = 1_750_000_020;

type Events = Arc<Mutex<Vec<&'static str>>>;
type Flow = EnrollmentFlow<MemoryStore, ManualClock, Box<dyn Fn(&AuditEvent) + Send + Sync>>;

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Example Co");
    c.kdf = KdfParams::argon2id(64, 1, 1).unwrap(); // fast for tests
    c.throttle = ThrottlePolicy::new(3, 10, 80, 8, 3600).unwrap();
    c
}

fn flow_over(store: MemoryStore, keys: KeyRing, config: FlowConfig, clock: &ManualClock) -> Flow {
    EnrollmentFlow::new(store, keys, config)
        .unwrap()
        .with_clock(clock.clone())
        .with_audit(Box::new(|_: &AuditEvent| {}))
}

fn setup() -> (Flow, ManualClock) {
    let clock = ManualClock::new(T0);
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    (flow_over(MemoryStore::new(), keys, config(), &clock), clock)
}

fn with_events(flow: Flow) -> (Flow, Events) {
    let events: Events = Arc::default();
    let sink = events.clone();
    let flow = flow.with_audit(Box::new(move |e: &AuditEvent| {
        sink.lock().unwrap().push(e.name());
    }) as Box<dyn Fn(&AuditEvent) + Send + Sync>);
    (flow, events)
}

/// The user's authenticator app: the code `offset` steps from now.
fn code(app: &Totp, clock: &ManualClock, offset: i64) -> String {
    let step = app.step_at(clock.now()).unwrap();
    app.generate_step(step.checked_add_signed(offset).unwrap())
        .to_string()
}

/// Enrols `user` from one session; returns the app and the recovery codes.
async fn enrolled(flow: &Flow, clock: &ManualClock, user: &str) -> (Totp, RecoveryCodeSet) {
    let e = flow.begin(user, "user@example.com").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let confirmed = flow
        .confirm(user, e.ticket(), &code(&app, clock, 0))
        .await
        .unwrap();
    clock.advance(30);
    (app, confirmed.into_recovery_codes().unwrap())
}

/// A session that passed only the password step has no ticket; the application asks with
/// whatever its session holds (nothing, or a ticket of its own).
fn no_ticket() -> EnrollmentTicket {
    EnrollmentTicket::from_session("")
}

#[tokio::test]
async fn a_password_only_session_cannot_plant_its_secret_in_a_first_enrolment() {
    let (flow, clock) = setup();
    // The attacker, with the password only, opens the enrolment page: a secret of their own.
    let attacker = flow.begin("alice", "alice@example.com").await.unwrap();
    let attacker_app = attacker.uri().to_totp().unwrap();

    // Later the real user opens the page. Their session holds no ticket: no secret is shown...
    assert!(
        flow.resume("alice", "alice@example.com", &no_ticket())
            .await
            .unwrap()
            .is_none()
    );
    // ...and confirming what is pending (the attacker's secret) is refused, even with a code
    // computed from it, because this session did not begin it.
    assert!(matches!(
        flow.confirm("alice", &no_ticket(), &code(&attacker_app, &clock, 0))
            .await,
        Err(FlowError::NoPendingEnrollment)
    ));
    // So the application begins afresh for the real user, which kills the attacker's ticket.
    let user = flow.begin("alice", "alice@example.com").await.unwrap();
    let user_app = user.uri().to_totp().unwrap();
    assert!(
        flow.resume("alice", "alice@example.com", attacker.ticket())
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        flow.confirm("alice", attacker.ticket(), &code(&attacker_app, &clock, 0))
            .await,
        Err(FlowError::NoPendingEnrollment)
    ));
    // The user's own session sees and confirms its own secret.
    let again = flow
        .resume("alice", "alice@example.com", user.ticket())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.expose_manual_key(), user.expose_manual_key());
    flow.confirm("alice", user.ticket(), &code(&user_app, &clock, 0))
        .await
        .unwrap();
    // The attacker's secret never logs in.
    clock.advance(30);
    assert!(matches!(
        flow.verify("alice", &code(&attacker_app, &clock, 0)).await,
        Err(FlowError::InvalidCode { .. })
    ));
    assert_eq!(
        flow.verify("alice", &code(&user_app, &clock, 0))
            .await
            .unwrap()
            .factor,
        LoginFactor::Code
    );
}

#[tokio::test]
async fn a_password_only_session_cannot_read_a_required_enrolment_in_progress() {
    let (flow, clock) = setup();
    flow.admin_set_required("bob", true).await.unwrap();
    // The user, after the password step, is sent to enrol (that is what "required" means).
    let user = flow.begin("bob", "bob@example.com").await.unwrap();
    // A second session with the password only asks for the key before the user confirms.
    assert!(
        flow.resume("bob", "bob@example.com", &no_ticket())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        flow.resume(
            "bob",
            "bob@example.com",
            &EnrollmentTicket::from_session("guessed-ticket")
        )
        .await
        .unwrap()
        .is_none()
    );
    // The user confirms; it was never shown to anyone else.
    let app = user.uri().to_totp().unwrap();
    flow.confirm("bob", user.ticket(), &code(&app, &clock, 0))
        .await
        .unwrap();
    assert!(flow.status("bob").await.unwrap().is_active());
}

#[tokio::test]
async fn an_old_session_cannot_read_the_new_device_key_and_is_stale() {
    let (flow, clock) = setup();
    // A session opened before 2FA was on holds the stamp of that time.
    let old_session_stamp = flow.status("carol").await.unwrap().factor_stamp;
    let (app, _) = enrolled(&flow, &clock, "carol").await;
    let status = flow.status("carol").await.unwrap();
    assert!(!status.factor_stamp.matches(&old_session_stamp), "stale");

    // The user proves a current code and begins a new device from their own session.
    let new_device = flow
        .begin_new_device("carol", "carol@example.com", code(&app, &clock, 0).as_str())
        .await
        .unwrap();
    // The old session asks for the new key: nothing.
    assert!(
        flow.resume("carol", "carol@example.com", &no_ticket())
            .await
            .unwrap()
            .is_none()
    );
    let new_app = new_device.uri().to_totp().unwrap();
    assert!(matches!(
        flow.confirm("carol", &no_ticket(), &code(&new_app, &clock, 0))
            .await,
        Err(FlowError::NoPendingEnrollment)
    ));
    // The user confirms; the stamp changes again.
    let confirmed = flow
        .confirm("carol", new_device.ticket(), &code(&new_app, &clock, 0))
        .await
        .unwrap();
    assert!(!confirmed.stamp().matches(&status.factor_stamp));
    assert_eq!(
        flow.status("carol").await.unwrap().factor_stamp,
        confirmed.stamp()
    );
}

#[tokio::test]
async fn tickets_are_refused_and_audited_without_showing_anything() {
    let (flow, _clock) = setup();
    let (flow, events) = with_events(flow);
    let e = flow.begin("dan", "dan@example.com").await.unwrap();
    assert!(
        flow.resume("dan", "dan@example.com", &no_ticket())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        *events.lock().unwrap(),
        ["enrollment_started", "ticket_refused"]
    );
    assert_eq!(
        format!("{:?}", e.ticket()),
        "EnrollmentTicket([redacted])",
        "a ticket never prints"
    );
    // 256 bits, URL-safe base64 without padding.
    assert_eq!(e.ticket().expose().len(), 43);
    // The store holds only its hash.
    let record = flow.store().get("dan").await.unwrap().unwrap();
    assert!(!record.cold.state.contains(e.ticket().expose()));
}

#[tokio::test]
async fn a_recent_verification_authorises_sensitive_changes_within_its_window() {
    let (flow, clock) = setup();
    let (flow, events) = with_events(flow);
    let (app, _) = enrolled(&flow, &clock, "erin").await;
    let login = flow.verify("erin", &code(&app, &clock, 0)).await.unwrap();
    assert_eq!(login.stamp, flow.status("erin").await.unwrap().factor_stamp);
    assert_eq!(
        format!("{:?}", login.proof),
        "RecentVerification([redacted])"
    );

    // Within five minutes the proof alone regenerates the codes (no code typed, none consumed).
    clock.advance(299);
    let regenerated = flow
        .regenerate_recovery_codes("erin", Reauth::recent(&login.proof))
        .await
        .unwrap();
    assert!(events.lock().unwrap().contains(&"step_up_used"));
    // Regenerating changed the stamp, so the same proof is dead for the next change.
    assert!(matches!(
        flow.disable("erin", Reauth::recent(&login.proof)).await,
        Err(FlowError::ReauthRequired)
    ));
    assert_eq!(
        flow.status("erin").await.unwrap().factor_stamp,
        regenerated.stamp
    );

    // A new login's proof works until the window closes.
    clock.advance(30);
    let login = flow.verify("erin", &code(&app, &clock, 0)).await.unwrap();
    clock.advance(301);
    assert!(matches!(
        flow.disable("erin", Reauth::recent(&login.proof)).await,
        Err(FlowError::ReauthRequired)
    ));
    // Nothing was counted for those refusals.
    assert_eq!(flow.status("erin").await.unwrap().failures, 0);
    flow.disable(
        "erin",
        Reauth::recent(&login.proof).with_factor(&code(&app, &clock, 0)),
    )
    .await
    .unwrap();
    assert!(!flow.status("erin").await.unwrap().is_active());
}

#[tokio::test]
async fn a_proof_is_worthless_for_another_user_and_when_forged() {
    let (flow, clock) = setup();
    let (alice_app, _) = enrolled(&flow, &clock, "alice").await;
    let (_bob_app, _) = enrolled(&flow, &clock, "bob").await;
    let alice = flow
        .verify("alice", &code(&alice_app, &clock, 0))
        .await
        .unwrap();
    for proof in [
        alice.proof.clone(),
        RecentVerification::from_session(""),
        RecentVerification::from_session("v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        assert!(matches!(
            flow.disable("bob", Reauth::recent(&proof)).await,
            Err(FlowError::ReauthRequired)
        ));
    }
    // A proof made under another key ring (another deployment) does not open either.
    let other_keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let other = flow_over(MemoryStore::new(), other_keys, config(), &clock);
    let (other_app, _) = enrolled(&other, &clock, "bob").await;
    let foreign = other
        .verify("bob", &code(&other_app, &clock, 0))
        .await
        .unwrap();
    assert!(matches!(
        flow.disable("bob", Reauth::recent(&foreign.proof)).await,
        Err(FlowError::ReauthRequired)
    ));
    assert!(flow.status("bob").await.unwrap().is_active());
}

#[tokio::test]
async fn the_login_code_typed_again_says_wait_and_counts_nothing() {
    let clock = ManualClock::new(T0);
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let mut c = config();
    c.reauth_window = 0; // a fresh code every time
    let flow = flow_over(MemoryStore::new(), keys, c, &clock);
    let (app, _) = enrolled(&flow, &clock, "finn").await;
    let typed = code(&app, &clock, 0);
    let login = flow.verify("finn", &typed).await.unwrap();

    // With the login's proof: a distinct answer, and nothing counted.
    assert!(matches!(
        flow.regenerate_recovery_codes("finn", Reauth::recent(&login.proof).with_factor(&typed))
            .await,
        Err(FlowError::CodeAlreadyUsed)
    ));
    assert_eq!(flow.status("finn").await.unwrap().failures, 0);
    // With a zero window the proof alone is never enough.
    assert!(matches!(
        flow.regenerate_recovery_codes("finn", Reauth::recent(&login.proof))
            .await,
        Err(FlowError::ReauthRequired)
    ));
    // Without a proof the same code is an ordinary (counted) failure, as for anyone.
    assert!(matches!(
        flow.regenerate_recovery_codes("finn", typed.as_str()).await,
        Err(FlowError::InvalidCode { .. })
    ));
    assert_eq!(flow.status("finn").await.unwrap().failures, 1);
    // The next code works.
    clock.advance(30);
    flow.regenerate_recovery_codes(
        "finn",
        Reauth::recent(&login.proof).with_factor(&code(&app, &clock, 0)),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn toggling_required_keeps_a_lockout() {
    let (flow, clock) = setup();
    let (app, _) = enrolled(&flow, &clock, "gus").await;
    let wrong = || {
        let right = code(&app, &clock, 0);
        if right == "000000" {
            "111111"
        } else {
            "000000"
        }
        .to_owned()
    };
    let mut last = Ok(());
    for _ in 0..8 {
        clock.advance(100);
        last = flow.verify("gus", &wrong()).await.map(|_| ());
    }
    assert!(matches!(last, Err(FlowError::Locked { .. })));
    let before = flow.status("gus").await.unwrap();
    flow.admin_set_required("gus", true).await.unwrap();
    flow.admin_set_required("gus", false).await.unwrap();
    let after = flow.status("gus").await.unwrap();
    assert_eq!(
        (after.failures, after.locked_until),
        (before.failures, before.locked_until)
    );
    assert!(after.locked_until.is_some());
    assert_eq!(
        after.factor_stamp, before.factor_stamp,
        "not a factor change"
    );
}

#[tokio::test]
async fn codes_are_shaped_by_the_enrolment_not_the_current_configuration() {
    let clock = ManualClock::new(T0);
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let store = MemoryStore::new();
    let six = flow_over(store.clone(), keys.clone(), config(), &clock);
    let (app, _) = enrolled(&six, &clock, "hana").await;
    // The application moves new enrolments to 8 digits.
    let mut c = config();
    c.params = TotpParams::default().with_digits(Digits::EIGHT);
    let eight = flow_over(store, keys, c, &clock);
    let login = eight.verify("hana", &code(&app, &clock, 0)).await.unwrap();
    assert_eq!(login.factor, LoginFactor::Code);
}

#[tokio::test]
async fn stored_recovery_records_outside_the_cost_bounds_are_refused() {
    let (flow, clock) = setup();
    let (_app, _) = enrolled(&flow, &clock, "ivan").await;
    for kdf in [
        // Trivially weak: a planted or downgraded record.
        KdfParams::argon2id(8, 1, 1).unwrap(),
        // Far above the ceiling: every guess would cost the server dearly.
        KdfParams::argon2id(64, 12, 1).unwrap(),
    ] {
        let planted = RecoveryCodeSet::generate(RecoveryConfig::default()).unwrap();
        let record = flow.store().get("ivan").await.unwrap().unwrap();
        let mut cold = record.cold.clone();
        cold.recovery = Some(planted.hash(&kdf).unwrap().encode());
        flow.store()
            .replace("ivan", record.version, &cold, Default::default())
            .await
            .unwrap();
        let typed = planted.codes()[0].expose();
        assert!(
            matches!(
                flow.verify("ivan", &typed).await,
                Err(FlowError::RecoveryCostOutOfBounds { .. })
            ),
            "{kdf:?}"
        );
        // The user can still log in with a code and be listed: no count is shown.
        assert_eq!(flow.status("ivan").await.unwrap().recovery_codes_left, None);
        assert_eq!(record.cold.status, StoredStatus::Active);
    }
}

/// An operation of the stamp property test.
#[derive(Debug, Clone, Copy)]
enum Op {
    Begin,
    Confirm,
    Login,
    RegenerateWithProof,
    BeginNewDevice,
    Disable,
    AdminReset,
    SetRequired(bool),
    Reseal,
    Wait,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Begin),
        Just(Op::Confirm),
        Just(Op::Login),
        Just(Op::RegenerateWithProof),
        Just(Op::BeginNewDevice),
        Just(Op::Disable),
        Just(Op::AdminReset),
        any::<bool>().prop_map(Op::SetRequired),
        Just(Op::Reseal),
        Just(Op::Wait),
    ]
}

/// Runs `ops` and checks after each that the stamp changed exactly when the operation changed
/// the user's factors (reported by the operation's own result).
async fn stamp_changes_exactly_with_factor_changes(ops: Vec<Op>) {
    let (flow, clock) = setup();
    let user = "prop";
    let mut ticket: Option<(EnrollmentTicket, Totp)> = None;
    let mut app: Option<Totp> = None;
    let mut proof: Option<RecentVerification> = None;
    let mut stamp = flow.status(user).await.unwrap().factor_stamp;
    for op in ops {
        // Which stamp the operation says is now current, if it changed factors.
        let changed: Option<FactorStamp> = match op {
            Op::Begin => {
                if let Ok(e) = flow.begin(user, "p@example.com").await {
                    ticket = Some((e.ticket().clone(), e.uri().to_totp().unwrap()));
                }
                None
            }
            Op::BeginNewDevice => {
                let Some(proof) = &proof else { continue };
                if let Ok(e) = flow
                    .begin_new_device(user, "p@example.com", Reauth::recent(proof))
                    .await
                {
                    ticket = Some((e.ticket().clone(), e.uri().to_totp().unwrap()));
                }
                None
            }
            Op::Confirm => {
                let Some((t, new_app)) = &ticket else {
                    continue;
                };
                match flow.confirm(user, t, &code(new_app, &clock, 0)).await {
                    Ok(c) => {
                        app = Some(new_app.clone());
                        ticket = None;
                        clock.advance(30);
                        Some(c.stamp())
                    }
                    Err(_) => None,
                }
            }
            Op::Login => {
                let Some(a) = &app else { continue };
                if let Ok(v) = flow.verify(user, &code(a, &clock, 0)).await {
                    proof = Some(v.proof);
                    clock.advance(30);
                }
                None
            }
            Op::RegenerateWithProof => {
                let Some(p) = &proof else { continue };
                flow.regenerate_recovery_codes(user, Reauth::recent(p))
                    .await
                    .ok()
                    .map(|r| r.stamp)
            }
            Op::Disable => {
                let Some(p) = &proof else { continue };
                let result = flow.disable(user, Reauth::recent(p)).await.ok();
                if result.is_some() {
                    app = None;
                }
                result
            }
            Op::AdminReset => {
                app = None;
                ticket = None;
                Some(flow.admin_reset(user).await.unwrap())
            }
            Op::SetRequired(required) => {
                flow.admin_set_required(user, required).await.unwrap();
                None
            }
            Op::Reseal => {
                flow.reseal(user).await.unwrap();
                None
            }
            Op::Wait => {
                clock.advance(200);
                None
            }
        };
        let now = flow.status(user).await.unwrap().factor_stamp;
        // The guard a session runs on every request: a session that saw the stamp before the
        // operation is ended exactly when the operation changed factors.
        let guard = flow.session_status(user, &stamp).await;
        match changed {
            Some(new) => {
                assert_eq!(now, new, "{op:?}: the returned stamp is current");
                assert!(!now.matches(&stamp), "{op:?} changed factors: new stamp");
                assert!(
                    matches!(guard, Err(FlowError::StaleSession)),
                    "{op:?}: an older session is stale"
                );
                assert_eq!(
                    flow.session_status(user, &now).await.unwrap().factor_stamp,
                    now
                );
            }
            None => {
                assert_eq!(now, stamp, "{op:?} is not a factor change");
                assert!(guard.is_ok(), "{op:?}: sessions live on");
            }
        }
        stamp = now;
        // A proof never outlives the stamp it was made under.
        if let Some(p) = &proof
            && changed.is_some()
        {
            assert!(matches!(
                flow.regenerate_recovery_codes(user, Reauth::recent(p))
                    .await,
                Err(FlowError::ReauthRequired | FlowError::NotEnrolled)
            ));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_stamp_changes_on_every_factor_change_and_nothing_else(
        ops in proptest::collection::vec(op(), 1..25)
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(stamp_changes_exactly_with_factor_changes(ops));
    }

    #[test]
    fn a_proof_is_accepted_only_within_its_window(
        wait in 0u64..700,
        window in 0u64..600,
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let clock = ManualClock::new(T0);
                let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
                let mut c = config();
                c.reauth_window = window;
                let flow = flow_over(MemoryStore::new(), keys, c, &clock);
                let (app, _) = enrolled(&flow, &clock, "w").await;
                let login = flow.verify("w", &code(&app, &clock, 0)).await.unwrap();
                clock.advance(wait);
                let result = flow
                    .regenerate_recovery_codes("w", Reauth::recent(&login.proof))
                    .await;
                if window > 0 && wait <= window {
                    assert!(result.is_ok(), "wait {wait} within window {window}");
                } else {
                    assert!(matches!(result, Err(FlowError::ReauthRequired)), "wait {wait}, window {window}");
                }
            });
    }
}

#[test]
fn the_stored_record_fuzz_seeds_of_the_current_format_decode() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/stored_record");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // The current format's seeds; older ones may be deliberately odd.
        if !path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("v2-")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (state, recovery) = text.split_once('\n').unwrap_or((&text, ""));
        let status = match state
            .split('|')
            .nth(if state.starts_with("v2") { 2 } else { 1 })
        {
            Some("none") => StoredStatus::NotEnrolled,
            Some("pending") => StoredStatus::Pending,
            _ => StoredStatus::Active,
        };
        let mut cold = twofactor::store::ColdFields::new(status, state.to_owned());
        cold.recovery = (!recovery.trim().is_empty()).then(|| recovery.trim().to_owned());
        let canonical = twofactor::flow::check_record(&cold)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(canonical.state, state, "already canonical");
        checked += 1;
    }
    assert!(checked >= 3);
}

#[tokio::test]
async fn an_erased_user_reads_as_never_enrolled() {
    let (flow, clock) = setup();
    let (app, _) = enrolled(&flow, &clock, "zoe").await;
    assert!(flow.admin_delete("zoe").await.unwrap());
    assert!(!flow.admin_delete("zoe").await.unwrap());
    let status = flow.status("zoe").await.unwrap();
    assert!(!status.is_active());
    assert_eq!(status.factor_stamp, FactorStamp::default());
    assert!(flow.store().get("zoe").await.unwrap().is_none());
    assert!(matches!(
        flow.verify("zoe", &code(&app, &clock, 0)).await,
        Err(FlowError::NotEnrolled)
    ));
}

#[tokio::test]
async fn review_fixes_hold() {
    // A proof sealed under a key the ring keeps only for reading old records does not open.
    let clock = ManualClock::new(T0);
    let old_key = EncryptionKey::generate(1).unwrap();
    let store = MemoryStore::new();
    let before = flow_over(
        store.clone(),
        KeyRing::new(old_key.clone()),
        config(),
        &clock,
    );
    let (app, _) = enrolled(&before, &clock, "kim").await;
    let login = before.verify("kim", &code(&app, &clock, 0)).await.unwrap();
    let rotated = KeyRing::new(EncryptionKey::generate(2).unwrap())
        .with_old_key(old_key)
        .unwrap();
    let after = flow_over(store, rotated, config(), &clock);
    assert!(matches!(
        after
            .regenerate_recovery_codes("kim", Reauth::recent(&login.proof))
            .await,
        Err(FlowError::ReauthRequired)
    ));

    // A typed factor never prints.
    let typed = "ABCD-EFGH-JKMN-PQRS";
    let shown = format!("{:?}", Reauth::recent(&login.proof).with_factor(typed));
    assert!(!shown.contains("ABCD"), "{shown}");

    // "Wait for the next code" is not an oracle during a lock: throttling comes first.
    let clock = ManualClock::new(T0);
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let mut c = config();
    c.reauth_window = 0;
    let flow = flow_over(MemoryStore::new(), keys, c, &clock);
    let (app, _) = enrolled(&flow, &clock, "lee").await;
    let used = code(&app, &clock, 0);
    let login = flow.verify("lee", &used).await.unwrap();
    let wrong = if used == "000000" { "111111" } else { "000000" };
    for _ in 0..8 {
        clock.advance(1);
        let _ = flow.verify("lee", wrong).await;
    }
    assert!(flow.status("lee").await.unwrap().locked_until.is_some());
    assert!(matches!(
        flow.disable("lee", Reauth::recent(&login.proof).with_factor(&used))
            .await,
        Err(FlowError::Locked { .. } | FlowError::Throttled { .. })
    ));
}

#[tokio::test]
async fn running_low_on_recovery_codes_is_reported_once() {
    let (flow, clock) = setup();
    let (flow, events) = with_events(flow);
    let (app, codes) = enrolled(&flow, &clock, "pat").await;
    assert!(!flow.status("pat").await.unwrap().recovery_codes_low);
    // Ten codes, threshold 3: the seventh use leaves three.
    for (i, c) in codes.codes().iter().take(7).enumerate() {
        let login = flow.verify("pat", &c.expose()).await.unwrap();
        assert_eq!(login.recovery_codes_low, i == 6, "use {i}");
    }
    assert!(flow.status("pat").await.unwrap().recovery_codes_low);
    let count = |events: &Events| {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| **e == "recovery_codes_low")
            .count()
    };
    assert_eq!(count(&events), 1, "fired when crossed");
    // Still low on later logins (by code too), without firing again.
    let _ = flow
        .verify("pat", &codes.codes()[7].expose())
        .await
        .unwrap();
    let login = flow.verify("pat", &code(&app, &clock, 0)).await.unwrap();
    assert!(login.recovery_codes_low);
    assert_eq!(count(&events), 1);
    // Regenerating clears it.
    flow.regenerate_recovery_codes("pat", Reauth::recent(&login.proof))
        .await
        .unwrap();
    assert!(!flow.status("pat").await.unwrap().recovery_codes_low);
}
