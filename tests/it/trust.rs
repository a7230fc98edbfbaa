//! Trusted browsers: issue behind a login's proof, use, list, revoke, expiry, stale stamps, the
//! cap, the factor changes that revoke them all, redaction; and the flow-level conformance kit
//! (with concurrent revoke/use) on every store: memory, SQLite (both drivers), and PostgreSQL
//! (both drivers) and MySQL when `TWOFACTOR_TEST_POSTGRES_URL` and `TWOFACTOR_TEST_MYSQL_URL`
//! are set.

use std::sync::{Arc, Mutex};

use twofactor::flow::{NextStep, TrustToken, TrustedBrowser};
use twofactor::store::SecretStore;
use twofactor::{
    AuditEvent, Clock, EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KdfParams, KeyRing,
    ManualClock, MemoryStore, RecentVerification, RecoveryCodeSet, Totp,
};

const T0: u64 = 1_800_000_000;
const DAY: u64 = 24 * 3600;

type Events = Arc<Mutex<Vec<AuditEvent>>>;
type Flow<S> = EnrollmentFlow<S, ManualClock, Box<dyn Fn(&AuditEvent) + Send + Sync>>;

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Example Co");
    c.kdf = KdfParams::argon2id(64, 1, 1).unwrap();
    c
}

fn flow_on<S: SecretStore>(store: S, config: FlowConfig) -> (Flow<S>, ManualClock, Events) {
    let clock = ManualClock::new(T0);
    let events: Events = Arc::default();
    let sink = events.clone();
    let audit: Box<dyn Fn(&AuditEvent) + Send + Sync> =
        Box::new(move |e: &AuditEvent| sink.lock().unwrap().push(e.clone()));
    let flow = EnrollmentFlow::new(
        store,
        KeyRing::new(EncryptionKey::generate(1).unwrap()),
        config,
    )
    .unwrap()
    .with_clock(clock.clone())
    .with_audit(audit);
    (flow, clock, events)
}

fn setup() -> (Flow<MemoryStore>, ManualClock, Events) {
    flow_on(MemoryStore::new(), config())
}

fn code(app: &Totp, clock: &ManualClock) -> String {
    app.generate_step(app.step_at(clock.now()).unwrap())
        .to_string()
}

async fn enrol<S: SecretStore>(
    flow: &Flow<S>,
    clock: &ManualClock,
    user: &str,
) -> (Totp, RecoveryCodeSet) {
    let e = flow.begin(user, "someone").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let codes = flow
        .confirm(user, e.ticket(), &code(&app, clock))
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    clock.advance(30);
    (app, codes)
}

/// A fresh login's proof.
async fn login<S: SecretStore>(
    flow: &Flow<S>,
    clock: &ManualClock,
    user: &str,
    app: &Totp,
) -> RecentVerification {
    let proof = flow.verify(user, &code(app, clock)).await.unwrap().proof;
    clock.advance(30);
    proof
}

async fn trusted<S: SecretStore>(flow: &Flow<S>, user: &str, token: &TrustToken) -> bool {
    flow.verify_trusted(user, token).await.unwrap().is_some()
}

fn labels(list: &[TrustedBrowser]) -> Vec<&str> {
    list.iter().map(|b| b.label.as_str()).collect()
}

#[tokio::test]
async fn a_trusted_browser_skips_the_second_step_and_records_its_last_use() {
    let (flow, clock, events) = setup();
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let issued_at = clock.now();
    let t = flow
        .trust_browser("u", &proof, "  Firefox on Linux\n", None)
        .await
        .unwrap();
    assert_eq!(t.browser.label, "Firefox on Linux");
    assert_eq!(t.browser.created_at, issued_at);
    assert_eq!(t.browser.expires_at, issued_at + 30 * DAY);
    assert_eq!(t.browser.last_used_at, None);
    assert!(t.token.expose().len() >= 43, "at least 256 bits");

    clock.advance(DAY);
    let cookie = TrustToken::from_cookie(t.token.expose());
    match flow.next_step("u", None, Some(&cookie)).await.unwrap() {
        NextStep::Trusted(login) => {
            assert_eq!(login.browser.id, t.browser.id);
            assert!(
                login
                    .stamp
                    .matches(&flow.status("u").await.unwrap().factor_stamp)
            );
        }
        other => panic!("expected a trusted login, got {other:?}"),
    }
    let list = flow.trusted_browsers("u").await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].last_used_at, Some(clock.now()));
    assert_eq!(list[0].id, t.browser.id);

    // Without the cookie, or with another one, the second factor is asked for.
    assert!(matches!(
        flow.next_step("u", None, None).await.unwrap(),
        NextStep::SecondFactor
    ));
    let other = TrustToken::from_cookie("not-a-token");
    assert!(matches!(
        flow.next_step("u", None, Some(&other)).await.unwrap(),
        NextStep::SecondFactor
    ));
    // Bound to the user: the same token says nothing for another user.
    enrol(&flow, &clock, "v").await;
    assert!(!trusted(&flow, "v", &cookie).await);

    let names: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .map(AuditEvent::name)
        .collect();
    for name in [
        "browser_trusted",
        "trusted_browser_used",
        "trusted_browser_refused",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}

#[tokio::test]
async fn issuing_requires_a_recent_login_proof_of_this_user_and_stamp() {
    let (flow, clock, _) = setup();
    let (app, codes) = enrol(&flow, &clock, "u").await;
    let (app_v, _) = enrol(&flow, &clock, "v").await;

    // Not a proof at all, or another user's.
    let forged = RecentVerification::from_session("forged");
    let r = flow.trust_browser("u", &forged, "x", None).await;
    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");
    let theirs = login(&flow, &clock, "v", &app_v).await;
    let r = flow.trust_browser("u", &theirs, "x", None).await;
    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");

    // Too old.
    let proof = login(&flow, &clock, "u", &app).await;
    clock.advance(twofactor::flow::TRUST_AFTER_LOGIN);
    let r = flow.trust_browser("u", &proof, "x", None).await;
    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");

    // Made under an older stamp.
    let proof = login(&flow, &clock, "u", &app).await;
    flow.regenerate_recovery_codes("u", codes.codes()[0].expose().as_str())
        .await
        .unwrap();
    let r = flow.trust_browser("u", &proof, "x", None).await;
    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");

    // Not enrolled.
    let r = flow.trust_browser("nobody", &proof, "x", None).await;
    assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");

    // A trusted login yields no proof: nothing to ask for another token, or to disable with.
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    let NextStep::Trusted(_) = flow.next_step("u", None, Some(&t.token)).await.unwrap() else {
        panic!("trusted");
    };
    let r = flow.disable("u", twofactor::Reauth::recent(&forged)).await;
    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");
}

#[tokio::test]
async fn lifetimes_default_clamp_and_expire() {
    let mut c = config();
    c.trusted_browser_lifetime = 7 * DAY;
    c.trusted_browser_max_lifetime = 60 * DAY;
    let (flow, clock, _) = flow_on(MemoryStore::new(), c);
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let now = clock.now();
    let short = flow
        .trust_browser("u", &proof, "short", Some(100))
        .await
        .unwrap();
    let default = flow
        .trust_browser("u", &proof, "default", None)
        .await
        .unwrap();
    let long = flow
        .trust_browser("u", &proof, "long", Some(365 * DAY))
        .await
        .unwrap();
    assert_eq!(short.browser.expires_at, now + 100);
    assert_eq!(default.browser.expires_at, now + 7 * DAY);
    assert_eq!(
        long.browser.expires_at,
        now + 60 * DAY,
        "clamped to the maximum"
    );
    let r = flow.trust_browser("u", &proof, "zero", Some(0)).await;
    assert!(matches!(r, Err(FlowError::Config(_))), "{r:?}");

    clock.set(now + 99);
    assert!(trusted(&flow, "u", &short.token).await);
    clock.set(now + 100);
    assert!(!trusted(&flow, "u", &short.token).await, "expired");
    // Refused and removed from the stored record.
    let state = flow.store().get("u").await.unwrap().unwrap().cold.state;
    assert_eq!(state.matches("tb=").count(), 2, "{state}");
    assert_eq!(
        labels(&flow.trusted_browsers("u").await.unwrap()),
        ["default", "long"]
    );
    clock.set(now + 7 * DAY);
    assert_eq!(labels(&flow.trusted_browsers("u").await.unwrap()), ["long"]);

    // Configuration bounds.
    let mut c = config();
    c.trusted_browsers_max = 51;
    assert!(
        EnrollmentFlow::new(
            MemoryStore::new(),
            KeyRing::new(EncryptionKey::generate(1).unwrap()),
            c
        )
        .is_err()
    );
    let mut c = config();
    c.trusted_browser_lifetime = 100 * DAY;
    assert!(
        EnrollmentFlow::new(
            MemoryStore::new(),
            KeyRing::new(EncryptionKey::generate(1).unwrap()),
            c
        )
        .is_err()
    );
    let mut c = config();
    c.trusted_browsers_max = 0;
    let (flow, clock, _) = flow_on(MemoryStore::new(), c);
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let r = flow.trust_browser("u", &proof, "off", None).await;
    assert!(matches!(r, Err(FlowError::Config(_))), "{r:?}");
}

#[tokio::test]
async fn revoke_one_or_all() {
    let (flow, clock, events) = setup();
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let a = flow.trust_browser("u", &proof, "a", None).await.unwrap();
    let b = flow.trust_browser("u", &proof, "b", None).await.unwrap();
    let c = flow.trust_browser("u", &proof, "c", None).await.unwrap();

    assert!(
        flow.revoke_trusted_browser("u", &b.browser.id)
            .await
            .unwrap()
    );
    assert!(
        !flow
            .revoke_trusted_browser("u", &b.browser.id)
            .await
            .unwrap()
    );
    assert!(!flow.revoke_trusted_browser("u", "nonsense").await.unwrap());
    assert!(
        !flow
            .revoke_trusted_browser("nobody", &a.browser.id)
            .await
            .unwrap()
    );
    assert!(!trusted(&flow, "u", &b.token).await);
    assert!(trusted(&flow, "u", &a.token).await);
    assert_eq!(
        labels(&flow.trusted_browsers("u").await.unwrap()),
        ["a", "c"]
    );

    assert_eq!(flow.revoke_trusted_browsers("u").await.unwrap(), 2);
    assert_eq!(flow.revoke_trusted_browsers("u").await.unwrap(), 0);
    assert!(!trusted(&flow, "u", &a.token).await);
    assert!(!trusted(&flow, "u", &c.token).await);
    assert!(flow.trusted_browsers("u").await.unwrap().is_empty());
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&AuditEvent::TrustedBrowsersRevoked {
                user_id: "u".into(),
                count: 2
            })
    );
}

#[tokio::test]
async fn a_factor_change_ends_every_trusted_browser() {
    let (flow, clock, _) = setup();
    let (app, codes) = enrol(&flow, &clock, "u").await;

    // Regenerated recovery codes: a new stamp, so the tokens are stale; refused and removed.
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    flow.regenerate_recovery_codes("u", codes.codes()[0].expose().as_str())
        .await
        .unwrap();
    assert!(flow.trusted_browsers("u").await.unwrap().is_empty());
    assert!(!trusted(&flow, "u", &t.token).await);
    let state = flow.store().get("u").await.unwrap().unwrap().cold.state;
    assert!(!state.contains("tb="), "{state}");

    // A new device confirmed.
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    let e = flow
        .begin_new_device("u", "someone", &code(&app, &clock))
        .await
        .unwrap();
    clock.advance(30);
    assert!(trusted(&flow, "u", &t.token).await, "until it is confirmed");
    let new_app = e.uri().to_totp().unwrap();
    flow.confirm("u", e.ticket(), &code(&new_app, &clock))
        .await
        .unwrap();
    clock.advance(30);
    assert!(!trusted(&flow, "u", &t.token).await);
    let state = flow.store().get("u").await.unwrap().unwrap().cold.state;
    assert!(!state.contains("tb="), "{state}");

    // Disable.
    let proof = login(&flow, &clock, "u", &new_app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    flow.disable("u", &code(&new_app, &clock)).await.unwrap();
    assert!(!trusted(&flow, "u", &t.token).await);
    let (app, _) = enrol(&flow, &clock, "u").await;
    assert!(
        !trusted(&flow, "u", &t.token).await,
        "not revived by enrolling again"
    );

    // An administrator's reset.
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    flow.admin_reset("u").await.unwrap();
    assert!(!trusted(&flow, "u", &t.token).await);
    let state = flow.store().get("u").await.unwrap().unwrap().cold.state;
    assert!(!state.contains("tb="), "{state}");

    // Not a factor change: the requirement to enrol, or key rotation.
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    flow.admin_require("u", twofactor::flow::Requirement::Now)
        .await
        .unwrap();
    flow.reseal("u").await.unwrap();
    assert!(trusted(&flow, "u", &t.token).await);
}

#[tokio::test]
async fn the_cap_drops_the_oldest() {
    let mut c = config();
    c.trusted_browsers_max = 3;
    let (flow, clock, _) = flow_on(MemoryStore::new(), c);
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let mut tokens = Vec::new();
    for label in ["1", "2", "3", "4", "5"] {
        tokens.push(flow.trust_browser("u", &proof, label, None).await.unwrap());
        clock.advance(1);
    }
    assert_eq!(
        labels(&flow.trusted_browsers("u").await.unwrap()),
        ["3", "4", "5"]
    );
    assert!(!trusted(&flow, "u", &tokens[0].token).await);
    assert!(!trusted(&flow, "u", &tokens[1].token).await);
    for t in &tokens[2..] {
        assert!(trusted(&flow, "u", &t.token).await);
    }
}

#[tokio::test]
async fn no_token_in_debug_audit_or_the_stored_record() {
    let (flow, clock, events) = setup();
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow
        .trust_browser("u", &proof, "label", None)
        .await
        .unwrap();
    flow.verify_trusted("u", &t.token).await.unwrap().unwrap();
    let secret = t.token.expose().to_owned();
    let record = flow.store().get("u").await.unwrap().unwrap();
    let dumps = [
        format!("{t:?}"),
        format!("{:?}", t.token),
        format!("{record:?}"),
        format!("{:?}", flow.trusted_browsers("u").await.unwrap()),
        format!("{:?}", flow.status("u").await.unwrap()),
        format!("{:?}", events.lock().unwrap()),
        events
            .lock()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    ];
    for dump in dumps {
        assert!(!dump.contains(&secret), "{dump}");
    }
    assert_eq!(format!("{:?}", t.token), "TrustToken([redacted])");
}

// The flow-level conformance kit on every store available here: issue, use, revoke, expiry,
// a stale stamp, the cap, and concurrent revoke/use; the requirement to enrol; and several
// authenticators (their user ids differ, so the cases share a store).

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flow_conformance_in_memory() {
    twofactor::flow::conformance::trust_tokens(MemoryStore::new()).await;
    twofactor::flow::conformance::required_enrolment(MemoryStore::new()).await;
    twofactor::flow::conformance::several_authenticators(MemoryStore::new()).await;
}

#[cfg(any(feature = "sqlite", feature = "sqlx-sqlite"))]
fn sqlite_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("twofactor-trust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.sqlite3"));
    let _ = std::fs::remove_file(&path);
    path
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flow_conformance_on_sqlite() {
    let store = twofactor::SqliteStore::open(sqlite_path("trust"))
        .await
        .unwrap();
    twofactor::flow::conformance::trust_tokens(store).await;
    let store = twofactor::SqliteStore::open(sqlite_path("required"))
        .await
        .unwrap();
    twofactor::flow::conformance::required_enrolment(store).await;
    let store = twofactor::SqliteStore::open(sqlite_path("authenticators"))
        .await
        .unwrap();
    twofactor::flow::conformance::several_authenticators(store).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flow_conformance_on_postgres() {
    let Some(url) = crate::support::postgres_url() else {
        return;
    };
    let schema = format!("twofactor_trust_{}", std::process::id());
    let store = twofactor::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    twofactor::flow::conformance::trust_tokens(store).await;
    twofactor::flow::conformance::required_enrolment(
        twofactor::PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    )
    .await;
    twofactor::flow::conformance::several_authenticators(
        twofactor::PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    )
    .await;
    if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flow_conformance_on_mysql() {
    let Some(url) = crate::support::mysql_url() else {
        return;
    };
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    let table = format!("twofactor_trust_{}", std::process::id());
    let store = || async {
        let store = twofactor::MySqlStore::new(pool.clone())
            .with_table_name(&table)
            .unwrap();
        store.migrate().await.unwrap();
        store
    };
    twofactor::flow::conformance::trust_tokens(store().await).await;
    twofactor::flow::conformance::required_enrolment(store().await).await;
    twofactor::flow::conformance::several_authenticators(store().await).await;
    sqlx::query(&format!("DROP TABLE IF EXISTS `{table}`, `{table}_schema`"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_import_over_an_active_factor_revokes_trusted_browsers_and_keeps_a_deadline() {
    let (flow, clock, _) = setup();
    let (app, _) = enrol(&flow, &clock, "u").await;
    flow.admin_require("u", twofactor::flow::Requirement::By(T0 + DAY))
        .await
        .unwrap();
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    let secret = twofactor::Secret::generate(twofactor::Algorithm::Sha1).unwrap();
    let import = twofactor::EnrollmentImport::new(secret, twofactor::TotpParams::default())
        .unwrap()
        .replace_active();
    flow.import("u", import).await.unwrap();
    assert!(!trusted(&flow, "u", &t.token).await);
    assert_eq!(flow.status("u").await.unwrap().required_by, Some(T0 + DAY));
}

#[cfg(feature = "sqlx-sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flow_conformance_on_sqlx_sqlite() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let options = SqliteConnectOptions::new()
        .filename(sqlite_path("sqlx"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let store = || async {
        let store = twofactor::SqlxSqliteStore::new(pool.clone());
        store.migrate().await.unwrap();
        store
    };
    twofactor::flow::conformance::trust_tokens(store().await).await;
    twofactor::flow::conformance::required_enrolment(store().await).await;
    twofactor::flow::conformance::several_authenticators(store().await).await;
}

#[cfg(feature = "sqlx-postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flow_conformance_on_sqlx_postgres() {
    let Some(url) = crate::support::postgres_url() else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    let schema = format!("twofactor_trust_sqlx_{}", std::process::id());
    let store = || async {
        let store = twofactor::SqlxPostgresStore::new(pool.clone())
            .with_schema(&schema)
            .unwrap();
        store.migrate().await.unwrap();
        store
    };
    twofactor::flow::conformance::trust_tokens(store().await).await;
    twofactor::flow::conformance::required_enrolment(store().await).await;
    twofactor::flow::conformance::several_authenticators(store().await).await;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_throttled_account_still_logs_in_from_a_trusted_browser() {
    let (flow, clock, _) = setup();
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let t = flow.trust_browser("u", &proof, "x", None).await.unwrap();
    // Someone guesses codes until attempts are refused unchecked.
    let mut gated = false;
    for _ in 0..50 {
        match flow.verify("u", "000000").await {
            Err(FlowError::Throttled { .. } | FlowError::Locked { .. }) => {
                gated = true;
                break;
            }
            _ => clock.advance(1),
        }
    }
    assert!(gated);
    // The owner's trusted browser is not a guess: a 256-bit token skips the second step.
    assert!(trusted(&flow, "u", &t.token).await);
    assert!(
        flow.status("u").await.unwrap().failures > 0,
        "nothing reset"
    );
}

#[tokio::test]
async fn turning_the_feature_off_or_shortening_the_maximum_stops_issued_tokens() {
    let store = MemoryStore::new();
    let (flow, clock, _) = flow_on(store.clone(), config());
    let (app, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &app).await;
    let old = flow.trust_browser("u", &proof, "old", None).await.unwrap();
    clock.advance(8 * DAY);
    let proof = login(&flow, &clock, "u", &app).await;
    let new = flow.trust_browser("u", &proof, "new", None).await.unwrap();

    // The operator shortens the maximum lifetime to 7 days: the 8-day-old token stops working
    // (and is removed); the new one still works.
    let shorter = flow_on(store.clone(), {
        let mut c = config();
        c.trusted_browser_max_lifetime = 7 * DAY;
        c.trusted_browser_lifetime = 7 * DAY;
        c
    })
    .0
    .with_clock(clock.clone());
    assert!(!trusted(&shorter, "u", &old.token).await);
    assert!(trusted(&shorter, "u", &new.token).await);
    assert_eq!(
        labels(&shorter.trusted_browsers("u").await.unwrap()),
        ["new"]
    );

    // Then turns the feature off: no issued token works any more.
    let off = flow_on(store.clone(), {
        let mut c = config();
        c.trusted_browsers_max = 0;
        c
    })
    .0
    .with_clock(clock.clone());
    assert!(!trusted(&off, "u", &new.token).await);
    assert!(off.trusted_browsers("u").await.unwrap().is_empty());
    assert!(
        !trusted(&flow, "u", &new.token).await,
        "removed, not hidden"
    );
}

#[tokio::test]
async fn only_the_latest_logins_proof_trusts_a_browser_and_evictions_are_audited() {
    let mut c = config();
    c.trusted_browsers_max = 2;
    let (flow, clock, events) = flow_on(MemoryStore::new(), c);
    let (app, _) = enrol(&flow, &clock, "u").await;
    let first = login(&flow, &clock, "u", &app).await;
    let _second = login(&flow, &clock, "u", &app).await;
    let r = flow.trust_browser("u", &first, "stale", None).await;
    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");

    let proof = login(&flow, &clock, "u", &app).await;
    for label in ["a", "b", "c"] {
        flow.trust_browser("u", &proof, label, None).await.unwrap();
    }
    assert_eq!(
        labels(&flow.trusted_browsers("u").await.unwrap()),
        ["b", "c"]
    );
    let evicted = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, AuditEvent::TrustedBrowsersRevoked { count: 1, .. }))
        .count();
    assert_eq!(evicted, 1);
}

#[tokio::test]
async fn a_login_with_another_authenticator_may_trust_the_browser() {
    let (flow, clock, _) = setup();
    let (phone, _) = enrol(&flow, &clock, "u").await;
    let proof = login(&flow, &clock, "u", &phone).await;
    let e = flow
        .begin_add_authenticator(
            "u",
            "someone",
            "Password manager",
            twofactor::Reauth::recent(&proof),
        )
        .await
        .unwrap();
    let manager = e.uri().to_totp().unwrap();
    flow.confirm("u", e.ticket(), &code(&manager, &clock))
        .await
        .unwrap();
    clock.advance(30);

    // The latest second factor is the password manager's (kept with that authenticator, not in
    // the primary's hot field): its proof trusts the browser; the proof from before the
    // authenticator was added does not.
    let latest = login(&flow, &clock, "u", &manager).await;
    let r = flow.trust_browser("u", &proof, "stale", None).await;
    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");
    let t = flow.trust_browser("u", &latest, "x", None).await.unwrap();
    assert!(trusted(&flow, "u", &t.token).await);
}
