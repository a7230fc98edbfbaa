//! Several named authenticators per user: add behind a reauthentication and the enrolment
//! ticket, log in with any of them (replay state per authenticator, one shared failure count),
//! rename, remove (never the last; the primary's removal promotes another), the limit, the
//! factor stamp, records written before the feature, key rotation, audit events without
//! secrets; and the flow-level conformance case on every store.

use std::sync::{Arc, Mutex};

use twofactor::flow::DEFAULT_AUTHENTICATOR_NAME;
use twofactor::store::{ColdFields, SecretStore, StoredStatus};
use twofactor::{
    AuditEvent, Authenticator, Clock, EncryptionKey, EnrollmentFlow, FlowConfig, FlowError,
    KdfParams, KeyRing, LoginFactor, ManualClock, MemoryStore, Reauth, RecentVerification,
    RecoveryCodeSet, Totp,
};

const T0: u64 = 1_800_000_000;

type Events = Arc<Mutex<Vec<AuditEvent>>>;
type Flow<S> = EnrollmentFlow<S, ManualClock, Box<dyn Fn(&AuditEvent) + Send + Sync>>;

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Example Co");
    c.kdf = KdfParams::argon2id(64, 1, 1).unwrap();
    c
}

fn flow_with(config: FlowConfig, keys: KeyRing) -> (Flow<MemoryStore>, ManualClock, Events) {
    let clock = ManualClock::new(T0);
    let events: Events = Arc::default();
    let sink = events.clone();
    let audit: Box<dyn Fn(&AuditEvent) + Send + Sync> =
        Box::new(move |e: &AuditEvent| sink.lock().unwrap().push(e.clone()));
    let flow = EnrollmentFlow::new(MemoryStore::new(), keys, config)
        .unwrap()
        .with_clock(clock.clone())
        .with_audit(audit);
    (flow, clock, events)
}

fn setup() -> (Flow<MemoryStore>, ManualClock, Events) {
    flow_with(config(), KeyRing::new(EncryptionKey::generate(1).unwrap()))
}

fn code(app: &Totp, clock: &ManualClock) -> String {
    app.generate_step(app.step_at(clock.now()).unwrap())
        .to_string()
}

async fn enrol(flow: &Flow<MemoryStore>, clock: &ManualClock) -> (Totp, RecoveryCodeSet) {
    let e = flow.begin("u", "alice").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let codes = flow
        .confirm("u", e.ticket(), &code(&app, clock))
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    clock.advance(30);
    (app, codes)
}

async fn proof(flow: &Flow<MemoryStore>, clock: &ManualClock, app: &Totp) -> RecentVerification {
    let proof = flow.verify("u", &code(app, clock)).await.unwrap().proof;
    clock.advance(30);
    proof
}

/// Adds an authenticator behind a fresh login of `with`; returns its app and listed entry.
async fn add(
    flow: &Flow<MemoryStore>,
    clock: &ManualClock,
    with: &Totp,
    name: &str,
) -> (Totp, Authenticator) {
    let p = proof(flow, clock, with).await;
    let e = flow
        .begin_add_authenticator("u", "alice", name, Reauth::recent(&p))
        .await
        .unwrap();
    let app = e.uri().to_totp().unwrap();
    let confirmed = flow
        .confirm("u", e.ticket(), &code(&app, clock))
        .await
        .unwrap();
    assert!(confirmed.recovery_codes().is_none(), "codes are kept");
    assert!(!confirmed.replaced_device());
    let added = confirmed.added_authenticator().unwrap().clone();
    clock.advance(30);
    (app, added)
}

fn matched(v: &twofactor::Verified) -> String {
    v.authenticator.as_ref().unwrap().name.clone()
}

#[tokio::test]
async fn a_second_authenticator_is_added_listed_and_logs_in() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let listed = flow.authenticators("u").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, DEFAULT_AUTHENTICATOR_NAME);
    assert!(listed[0].primary);
    assert_eq!(listed[0].created_at, T0);

    let (manager, added) = add(&flow, &clock, &phone, "  Password manager\u{7}  ").await;
    assert_eq!(added.name, "Password manager", "the name is cleaned");
    assert!(!added.primary);
    let listed = flow.authenticators("u").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], added);
    assert_eq!(listed[1].last_used_at, None);

    // Either logs in, and the result names the one that matched.
    let v = flow.verify("u", &code(&manager, &clock)).await.unwrap();
    assert_eq!(v.factor, LoginFactor::Code);
    assert_eq!(matched(&v), "Password manager");
    assert_eq!(v.authenticator.as_ref().unwrap().id, added.id);
    assert_eq!(
        v.authenticator.as_ref().unwrap().last_used_at,
        Some(clock.now())
    );
    let listed = flow.authenticators("u").await.unwrap();
    assert_eq!(
        listed[1].last_used_at,
        Some(clock.now()),
        "last use recorded"
    );
    assert_eq!(
        flow.status("u").await.unwrap().last_used_at,
        Some(clock.now())
    );
    clock.advance(30);
    let v = flow.verify_code("u", &code(&phone, &clock)).await.unwrap();
    assert_eq!(matched(&v), DEFAULT_AUTHENTICATOR_NAME);
    assert!(v.authenticator.unwrap().primary);

    // A login through the added one yields a proof that authorises a sensitive change.
    clock.advance(30);
    let v = flow.verify("u", &code(&manager, &clock)).await.unwrap();
    clock.advance(10);
    flow.regenerate_recovery_codes("u", Reauth::recent(&v.proof))
        .await
        .unwrap();
}

#[tokio::test]
async fn replay_state_is_per_authenticator() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, _) = add(&flow, &clock, &phone, "manager").await;
    let (p, m) = (code(&phone, &clock), code(&manager, &clock));
    if p == m {
        return;
    }
    // Two authenticators' codes of one step both pass, once each.
    assert_eq!(matched(&flow.verify("u", &m).await.unwrap()), "manager");
    assert!(flow.verify("u", &p).await.is_ok());
    assert!(matches!(
        flow.verify("u", &m).await,
        Err(FlowError::InvalidCode { .. })
    ));
    assert!(matches!(
        flow.verify("u", &p).await,
        Err(FlowError::InvalidCode { .. })
    ));
    // The added one's code the other way round too.
    clock.advance(30);
    let (p, m) = (code(&phone, &clock), code(&manager, &clock));
    assert!(flow.verify("u", &p).await.is_ok());
    assert!(flow.verify("u", &m).await.is_ok());
    assert!(flow.verify("u", &m).await.is_err());
}

#[tokio::test]
async fn one_failure_count_is_shared_by_every_authenticator_and_recovery_codes() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, _) = add(&flow, &clock, &phone, "manager").await;
    let mut wrong = 0;
    for guess in ["000000", "111111", "222222"] {
        if guess == code(&phone, &clock) || guess == code(&manager, &clock) {
            continue;
        }
        assert!(matches!(
            flow.verify("u", guess).await,
            Err(FlowError::InvalidCode { .. })
        ));
        wrong += 1;
    }
    assert!(
        flow.verify("u", "AAAA-BBBB-CCCC-DDDD").await.is_err(),
        "a wrong recovery code"
    );
    assert_eq!(flow.status("u").await.unwrap().failures, wrong + 1);
    flow.verify("u", &code(&manager, &clock)).await.unwrap();
    assert_eq!(
        flow.status("u").await.unwrap().failures,
        0,
        "reset by a right code of any authenticator"
    );
}

#[tokio::test]
async fn a_throttled_user_is_refused_unchecked_whichever_authenticator() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, _) = add(&flow, &clock, &phone, "manager").await;
    let mut gated = false;
    for i in 0..30 {
        let guess = format!("{:06}", 100_000 + i);
        if guess == code(&phone, &clock) || guess == code(&manager, &clock) {
            continue;
        }
        if matches!(
            flow.verify("u", &guess).await,
            Err(FlowError::Throttled { .. } | FlowError::Locked { .. })
        ) {
            gated = true;
            break;
        }
    }
    assert!(gated);
    assert!(matches!(
        flow.verify("u", &code(&manager, &clock)).await,
        Err(FlowError::Throttled { .. } | FlowError::Locked { .. })
    ));
}

#[tokio::test]
async fn adding_needs_a_reauthentication_and_the_ticket() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    assert!(matches!(
        flow.begin_add_authenticator(
            "u",
            "alice",
            "x",
            Reauth::recent(&RecentVerification::from_session("forged"))
        )
        .await,
        Err(FlowError::ReauthRequired)
    ));
    // A code typed now is enough (and consumed).
    let e = flow
        .begin_add_authenticator("u", "alice", "x", code(&phone, &clock).as_str())
        .await
        .unwrap();
    let app = e.uri().to_totp().unwrap();
    let other = twofactor::EnrollmentTicket::from_session("not this one");
    assert!(matches!(
        flow.confirm("u", &other, &code(&app, &clock)).await,
        Err(FlowError::NoPendingEnrollment)
    ));
    // Until confirmed, the pending one does not log in.
    assert!(flow.verify("u", &code(&app, &clock)).await.is_err());
    assert_eq!(flow.authenticators("u").await.unwrap().len(), 1);
    flow.confirm("u", e.ticket(), &code(&app, &clock))
        .await
        .unwrap();
    assert_eq!(flow.authenticators("u").await.unwrap().len(), 2);
}

#[tokio::test]
async fn at_most_the_configured_number() {
    let mut c = config();
    c.authenticators_max = 2;
    let (flow, clock, _) = flow_with(c, KeyRing::new(EncryptionKey::generate(1).unwrap()));
    let (phone, _) = enrol(&flow, &clock).await;
    add(&flow, &clock, &phone, "second").await;
    let p = proof(&flow, &clock, &phone).await;
    assert!(matches!(
        flow.begin_add_authenticator("u", "alice", "third", Reauth::recent(&p))
            .await,
        Err(FlowError::TooManyAuthenticators { max: 2 })
    ));
    let mut c = config();
    c.authenticators_max = 0;
    assert!(matches!(
        EnrollmentFlow::new(
            MemoryStore::new(),
            KeyRing::new(EncryptionKey::generate(1).unwrap()),
            c
        ),
        Err(FlowError::Config(_))
    ));
}

#[tokio::test]
async fn removing_one_changes_the_stamp_and_revokes_trusted_browsers() {
    let (flow, clock, events) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, added) = add(&flow, &clock, &phone, "manager").await;
    let before = flow.status("u").await.unwrap().factor_stamp;
    let v = flow.verify("u", &code(&phone, &clock)).await.unwrap();
    let t = flow
        .trust_browser("u", &v.proof, "Firefox", None)
        .await
        .unwrap();
    clock.advance(30);
    assert!(matches!(
        flow.remove_authenticator("u", "no-such-id", Reauth::recent(&v.proof))
            .await,
        Err(FlowError::UnknownAuthenticator)
    ));
    assert!(matches!(
        flow.remove_authenticator(
            "u",
            &added.id,
            Reauth::recent(&RecentVerification::from_session("forged"))
        )
        .await,
        Err(FlowError::ReauthRequired)
    ));
    let stamp = flow
        .remove_authenticator("u", &added.id, code(&phone, &clock).as_str())
        .await
        .unwrap();
    assert_ne!(stamp, before);
    assert_eq!(flow.status("u").await.unwrap().factor_stamp, stamp);
    assert!(flow.verify_trusted("u", &t.token).await.unwrap().is_none());
    clock.advance(30);
    assert!(
        flow.verify("u", &code(&manager, &clock)).await.is_err(),
        "a removed authenticator's code is refused"
    );
    assert_eq!(flow.authenticators("u").await.unwrap().len(), 1);
    let events = events.lock().unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        AuditEvent::AuthenticatorRemoved { id, primary: false, .. } if *id == added.id
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuditEvent::AuthenticatorAdded { .. }))
    );
}

#[tokio::test]
async fn adding_one_changes_the_stamp() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let before = flow.status("u").await.unwrap().factor_stamp;
    add(&flow, &clock, &phone, "manager").await;
    assert_ne!(flow.status("u").await.unwrap().factor_stamp, before);
}

#[tokio::test]
async fn the_last_one_cannot_be_removed() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let only = flow.authenticators("u").await.unwrap().remove(0);
    let p = proof(&flow, &clock, &phone).await;
    assert!(matches!(
        flow.remove_authenticator("u", &only.id, Reauth::recent(&p))
            .await,
        Err(FlowError::LastAuthenticator)
    ));
    assert_eq!(FlowError::LastAuthenticator.http_status(), 409);
    assert_eq!(flow.authenticators("u").await.unwrap().len(), 1);
}

#[tokio::test]
async fn removing_the_primary_promotes_the_oldest_other_one() {
    let (flow, clock, events) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, added) = add(&flow, &clock, &phone, "manager").await;
    let (_key, third) = add(&flow, &clock, &phone, "key").await;
    let primary = flow.authenticators("u").await.unwrap().remove(0);
    let p = proof(&flow, &clock, &manager).await;
    flow.remove_authenticator("u", &primary.id, Reauth::recent(&p))
        .await
        .unwrap();
    let listed = flow.authenticators("u").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].primary);
    assert_eq!(listed[0].id, added.id, "the id stays");
    assert_eq!(listed[0].name, "manager");
    assert_eq!(listed[1].id, third.id);
    // The promoted one logs in by the primary's path; the removed one no more.
    clock.advance(30);
    let v = flow.verify("u", &code(&manager, &clock)).await.unwrap();
    assert!(v.authenticator.unwrap().primary);
    assert!(flow.verify("u", &code(&manager, &clock)).await.is_err());
    clock.advance(30);
    assert!(flow.verify("u", &code(&phone, &clock)).await.is_err());
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, AuditEvent::AuthenticatorRemoved { primary: true, .. }))
    );
}

#[tokio::test]
async fn renaming_keeps_the_stamp() {
    let (flow, clock, events) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (_, added) = add(&flow, &clock, &phone, "manager").await;
    let stamp = flow.status("u").await.unwrap().factor_stamp;
    let primary = flow.authenticators("u").await.unwrap().remove(0);
    let renamed = flow
        .rename_authenticator("u", &primary.id, "Pixel")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Pixel");
    let renamed = flow
        .rename_authenticator("u", &added.id, "\t")
        .await
        .unwrap();
    assert_eq!(renamed.name, DEFAULT_AUTHENTICATOR_NAME);
    let listed = flow.authenticators("u").await.unwrap();
    assert_eq!(listed[0].name, "Pixel");
    assert_eq!(listed[0].id, primary.id);
    assert_eq!(listed[1].name, DEFAULT_AUTHENTICATOR_NAME);
    assert_eq!(flow.status("u").await.unwrap().factor_stamp, stamp);
    assert!(matches!(
        flow.rename_authenticator("u", "AAAA", "x").await,
        Err(FlowError::UnknownAuthenticator)
    ));
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.name() == "authenticator_renamed")
    );
}

#[tokio::test]
async fn a_new_device_replaces_the_primary_and_keeps_the_others() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, added) = add(&flow, &clock, &phone, "manager").await;
    let primary = flow.authenticators("u").await.unwrap().remove(0);
    flow.rename_authenticator("u", &primary.id, "Old phone")
        .await
        .unwrap();
    let p = proof(&flow, &clock, &phone).await;
    let e = flow
        .begin_new_device("u", "alice", Reauth::recent(&p))
        .await
        .unwrap();
    let new_phone = e.uri().to_totp().unwrap();
    // Until confirmed, the old phone keeps working.
    assert!(flow.verify("u", &code(&phone, &clock)).await.is_ok());
    clock.advance(30);
    let confirmed = flow
        .confirm("u", e.ticket(), &code(&new_phone, &clock))
        .await
        .unwrap();
    assert!(confirmed.replaced_device());
    assert!(confirmed.added_authenticator().is_none());
    clock.advance(30);
    let listed = flow.authenticators("u").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, DEFAULT_AUTHENTICATOR_NAME);
    assert_eq!(listed[1].id, added.id);
    assert!(flow.verify("u", &code(&phone, &clock)).await.is_err());
    assert!(flow.verify("u", &code(&new_phone, &clock)).await.is_ok());
    assert!(flow.verify("u", &code(&manager, &clock)).await.is_ok());
}

#[tokio::test]
async fn disable_and_admin_reset_drop_every_authenticator() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, _) = add(&flow, &clock, &phone, "manager").await;
    flow.disable("u", code(&manager, &clock).as_str())
        .await
        .unwrap();
    let state = flow.store().get("u").await.unwrap().unwrap().cold.state;
    assert!(!state.contains("au="), "{state}");
    assert!(matches!(
        flow.authenticators("u").await,
        Err(FlowError::NotEnrolled)
    ));
    clock.advance(30);
    let (phone, _) = enrol(&flow, &clock).await;
    add(&flow, &clock, &phone, "manager").await;
    flow.admin_reset("u").await.unwrap();
    let state = flow.store().get("u").await.unwrap().unwrap().cold.state;
    assert!(state.starts_with("v2|"), "{state}");
}

#[tokio::test]
async fn a_record_written_before_names_logs_in_and_lists_one() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    // One authenticator, nothing named: the v2 form that earlier releases wrote and read.
    let record = flow.store().get("u").await.unwrap().unwrap();
    assert!(
        record.cold.state.starts_with("v2|"),
        "{}",
        record.cold.state
    );
    let listed = flow.authenticators("u").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, DEFAULT_AUTHENTICATOR_NAME);
    assert_eq!(listed[0].id, "AAAAAAAAAAAAAAAAAAAAAA");
    assert!(listed[0].last_used_at.is_some(), "the confirming step");
    let v = flow.verify("u", &code(&phone, &clock)).await.unwrap();
    assert!(v.authenticator.unwrap().primary);
    // The login wrote only the hot fields: the record is still v2.
    let after = flow.store().get("u").await.unwrap().unwrap();
    assert_eq!(after.cold, record.cold);

    // A v2 record put in a store directly (as a migration from an earlier release leaves it).
    let store = MemoryStore::new();
    let keys = KeyRing::new(EncryptionKey::from_bytes(9, &[7; 32]).unwrap());
    let secret = twofactor::Secret::from_bytes(&[1; 20]).unwrap();
    let sealed = keys.seal("old", &secret).unwrap().encode();
    let state = format!("v2|AAAAAAAAAAAAAAAAAAAAAA|active|SHA1,6,30,0,{T0},{sealed}|-|-");
    store
        .insert("old", &ColdFields::new(StoredStatus::Active, state))
        .await
        .unwrap();
    let flow = EnrollmentFlow::new(store, keys, config())
        .unwrap()
        .with_clock(ManualClock::new(T0 + 60));
    let listed = flow.authenticators("old").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].created_at, T0);
    assert_eq!(listed[0].last_used_at, None);
    let app = Totp::new(&secret, twofactor::TotpParams::default());
    let code = app.generate_at(T0 + 60).unwrap().to_string();
    let v = flow.verify("old", &code).await.unwrap();
    assert_eq!(v.authenticator.unwrap().name, DEFAULT_AUTHENTICATOR_NAME);
}

#[tokio::test]
async fn key_rotation_reseals_every_authenticator() {
    let old = EncryptionKey::generate(1).unwrap();
    let (flow, clock, _) = flow_with(config(), KeyRing::new(old.clone()));
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, _) = add(&flow, &clock, &phone, "manager").await;
    let store = flow.store().clone();
    let keys = KeyRing::new(EncryptionKey::generate(2).unwrap())
        .with_old_key(old)
        .unwrap();
    let flow = EnrollmentFlow::new(store, keys, config())
        .unwrap()
        .with_clock(clock.clone());
    assert!(flow.reseal("u").await.unwrap());
    let state = flow.store().get("u").await.unwrap().unwrap().cold.state;
    assert!(
        !state.contains("v1.1."),
        "nothing left under key 1: {state}"
    );
    assert!(flow.verify("u", &code(&manager, &clock)).await.is_ok());
    assert!(flow.verify("u", &code(&phone, &clock)).await.is_ok());
}

#[tokio::test]
async fn no_secret_in_events_errors_or_debug() {
    let (flow, clock, events) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let p = proof(&flow, &clock, &phone).await;
    let e = flow
        .begin_add_authenticator("u", "alice", "manager", Reauth::recent(&p))
        .await
        .unwrap();
    let secret = e.uri().secret().expose_base32().to_string();
    let app = e.uri().to_totp().unwrap();
    let c = code(&app, &clock);
    flow.confirm("u", e.ticket(), &c).await.unwrap();
    let listed = flow.authenticators("u").await.unwrap();
    let record = flow.store().get("u").await.unwrap().unwrap();
    let dumps = [
        format!("{listed:?}"),
        format!("{record:?}"),
        format!("{:?}", events.lock().unwrap()),
        events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    ];
    for dump in dumps {
        assert!(!dump.contains(&secret), "{dump}");
    }
}

#[tokio::test]
async fn malformed_authenticator_metadata_is_a_typed_error() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    add(&flow, &clock, &phone, "manager").await;
    let record = flow.store().get("u").await.unwrap().unwrap();
    let good = record.cold.state.clone();
    let au = good.split(';').find(|i| i.contains("au=")).unwrap();
    let au = au.rsplit('|').next().unwrap_or(au);
    for bad in [
        good.replace("au=", "au=x"),
        good.replace("au=", "xx="),
        good.replace(au, &format!("{au};{au}")),
        good.replace(",SHA1,", ",MD5,"),
        good.replace("|active|", "|pending|"),
    ] {
        let mut cold = record.cold.clone();
        cold.state = bad.clone();
        assert!(
            matches!(
                twofactor::flow::check_record(&cold),
                Err(twofactor::StoreError::Corrupt(_))
            ),
            "{bad}"
        );
    }
    assert!(twofactor::flow::check_record(&record.cold).is_ok());
    assert_eq!(
        twofactor::flow::check_record(&record.cold).unwrap().state,
        good,
        "canonical"
    );
}

// The flow-level conformance case runs on every store in `trust.rs`, with the other flow cases.

#[tokio::test]
async fn a_login_with_an_added_authenticator_can_trust_its_browser() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, _) = add(&flow, &clock, &phone, "manager").await;
    let v = flow.verify("u", &code(&manager, &clock)).await.unwrap();
    let t = flow
        .trust_browser("u", &v.proof, "Firefox", None)
        .await
        .unwrap();
    assert!(flow.verify_trusted("u", &t.token).await.unwrap().is_some());
    // The login's proof authorises a sensitive change (its time is the added one's last use).
    clock.advance(10);
    let r = flow
        .disable(
            "u",
            Reauth::recent(&v.proof).with_factor(&code(&manager, &clock)),
        )
        .await;
    assert!(r.is_ok(), "a fresh proof suffices alone: {r:?}");
}

#[tokio::test]
async fn an_added_authenticators_code_typed_now_authorises_a_change() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock).await;
    let (manager, added) = add(&flow, &clock, &phone, "manager").await;
    // Checked and consumed like a login (a compare-and-swap on the state), then the change is
    // a compare-and-swap on the record as that write left it.
    let e = flow
        .begin_add_authenticator("u", "alice", "key", code(&manager, &clock).as_str())
        .await
        .unwrap();
    assert!(
        flow.verify("u", &code(&manager, &clock)).await.is_err(),
        "consumed"
    );
    let key = e.uri().to_totp().unwrap();
    flow.confirm("u", e.ticket(), &code(&key, &clock))
        .await
        .unwrap();
    clock.advance(30);
    flow.remove_authenticator("u", &added.id, code(&manager, &clock).as_str())
        .await
        .unwrap();
    let names: Vec<String> = flow
        .authenticators("u")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, [DEFAULT_AUTHENTICATOR_NAME, "key"]);
}
