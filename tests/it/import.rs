//! Importing existing enrolments: the user is active at once with the old secret, the last
//! used step holds from the first login, imported recovery codes work once, and every refusal is
//! typed.

use std::sync::{Arc, Mutex};

use twofactor::store::SecretStore;
use twofactor::{
    AuditEvent, Clock, EncryptionKey, EnrollmentFlow, EnrollmentImport, FlowConfig, FlowError,
    ImportError, KdfParams, KeyRing, LoginFactor, ManualClock, MemoryStore, MigrationPayload,
    OtpAuthUri, RecoveryCodeSet, RecoveryConfig, Secret, SecretError, Totp, TotpParams,
};

const T0: u64 = 1_700_000_010;
const B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const B32_80: &str = "JBSWY3DPEHPK3PXP";

type Events = Arc<Mutex<Vec<AuditEvent>>>;
type Flow = EnrollmentFlow<MemoryStore, ManualClock, Box<dyn Fn(&AuditEvent) + Send + Sync>>;

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Example Co");
    c.kdf = KdfParams::argon2id(64, 1, 1).unwrap(); // fast for tests
    c.kdf_floor = c.kdf;
    c
}

fn setup() -> (Flow, ManualClock, Events) {
    let clock = ManualClock::new(T0);
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    let events: Events = Arc::default();
    let sink = events.clone();
    let audit: Box<dyn Fn(&AuditEvent) + Send + Sync> =
        Box::new(move |e: &AuditEvent| sink.lock().unwrap().push(e.clone()));
    let flow = EnrollmentFlow::new(MemoryStore::new(), keys, config())
        .unwrap()
        .with_clock(clock.clone())
        .with_audit(audit);
    (flow, clock, events)
}

fn app(b32: &str, params: TotpParams) -> Totp {
    Totp::new(
        &Secret::danger_from_base32_allow_80_bit(b32).unwrap(),
        params,
    )
}

fn code(app: &Totp, clock: &ManualClock, offset: i64) -> String {
    let step = app.step_at(clock.now()).unwrap();
    app.generate_step(step.checked_add_signed(offset).unwrap())
        .to_string()
}

#[tokio::test]
async fn import_then_log_in_with_the_old_app() {
    let (flow, clock, events) = setup();
    let uri = OtpAuthUri::parse(&format!(
        "otpauth://totp/Old%20Co:alice?secret={B32}&issuer=Old%20Co&digits=8&period=60"
    ))
    .unwrap();
    let imported = flow
        .import("alice", EnrollmentImport::from_uri(&uri).unwrap())
        .await
        .unwrap();
    assert!(!imported.replaced);
    assert_eq!(imported.recovery_codes, 0);
    let status = flow.status("alice").await.unwrap();
    assert!(status.is_active());
    assert_eq!(status.factor_stamp, imported.stamp);
    assert_eq!(status.recovery_codes_left, None);

    let app = uri.to_totp().unwrap();
    let c = code(&app, &clock, 0);
    assert_eq!(c.len(), 8);
    let login = flow.verify("alice", &c).await.unwrap();
    assert_eq!(login.factor, LoginFactor::Code);
    // Once only.
    assert!(matches!(
        flow.verify("alice", &c).await,
        Err(FlowError::InvalidCode { .. })
    ));

    let events = events.lock().unwrap();
    assert_eq!(
        events[0],
        AuditEvent::EnrollmentImported {
            user_id: "alice".to_owned(),
            replaced: false,
            recovery_codes: 0
        }
    );
    assert_eq!(events[1].name(), "factor_stamp_changed");
    assert_eq!(
        events[0].to_string(),
        "enrollment_imported user=alice replaced=false recovery_codes=0"
    );
}

#[tokio::test]
async fn the_last_step_holds_from_the_first_login() {
    let (flow, clock, _) = setup();
    let params = TotpParams::default();
    let app = app(B32, params);
    let current = app.step_at(clock.now()).unwrap();
    // The old system accepted the current step's code just before the move.
    let seen = code(&app, &clock, 0);
    let import = EnrollmentImport::from_base32(B32, params)
        .unwrap()
        .with_last_step(current);
    flow.import("bob", import).await.unwrap();
    // Replayed after the move: refused, and so is the step before.
    assert!(matches!(
        flow.verify("bob", &seen).await,
        Err(FlowError::InvalidCode { .. })
    ));
    assert!(matches!(
        flow.verify("bob", &code(&app, &clock, -1)).await,
        Err(FlowError::InvalidCode { .. })
    ));
    // The next step's code is accepted.
    clock.advance(30);
    assert!(flow.verify("bob", &code(&app, &clock, 0)).await.is_ok());
    let record = flow.store().get("bob").await.unwrap().unwrap();
    assert_eq!(record.last_step, Some(current + 1));

    // A last step beyond the window is refused: the user could not log in.
    let future = EnrollmentImport::from_base32(B32, params)
        .unwrap()
        .with_last_step(current + 10);
    assert!(matches!(
        flow.import("carol", future).await,
        Err(FlowError::Import(ImportError::LastStepInFuture { .. }))
    ));
    assert!(!flow.status("carol").await.unwrap().is_active());
}

#[tokio::test]
async fn imported_recovery_codes_work_once() {
    let (flow, _, events) = setup();
    // Plain codes from another system: hexadecimal, in any grouping.
    let import = EnrollmentImport::from_base32(B32, TotpParams::default())
        .unwrap()
        .with_recovery_codes(&[
            "0123456789abcdef",
            "fedc-ba98-7654-3210",
            "00ff00ff00ff00ff",
        ])
        .unwrap();
    let imported = flow.import("dave", import).await.unwrap();
    assert_eq!(imported.recovery_codes, 3);
    assert_eq!(
        flow.status("dave").await.unwrap().recovery_codes_left,
        Some(3)
    );
    let login = flow.verify("dave", "FEDCBA9876543210").await.unwrap();
    assert_eq!(login.factor, LoginFactor::RecoveryCode { remaining: 2 });
    assert!(matches!(
        flow.verify("dave", "fedc-ba98-7654-3210").await,
        Err(FlowError::InvalidCode { .. })
    ));
    // No code is in any event.
    for e in events.lock().unwrap().iter() {
        let shown = format!("{e} {e:?}").to_uppercase();
        assert!(!shown.contains("FEDC") && !shown.contains("0123456789ABCDEF"));
        assert!(!shown.contains(B32));
    }

    // This crate's own stored form, moved from another deployment: used entries stay used.
    let set = RecoveryCodeSet::generate(RecoveryConfig::default()).unwrap();
    let mut hashed = set.hash(&config().kdf).unwrap();
    hashed.use_code(&set.codes()[0].expose()).unwrap();
    let import = EnrollmentImport::from_base32(B32, TotpParams::default())
        .unwrap()
        .with_hashed_recovery_codes(hashed)
        .unwrap();
    assert_eq!(flow.import("erin", import).await.unwrap().recovery_codes, 9);
    assert!(flow.verify("erin", &set.codes()[0].expose()).await.is_err());
    let login = flow.verify("erin", &set.codes()[1].expose()).await.unwrap();
    assert_eq!(login.factor, LoginFactor::RecoveryCode { remaining: 8 });

    // A stored set hashed below the flow's floor is refused, as it would be at login.
    let weak = set.hash(&KdfParams::argon2id(8, 1, 1).unwrap()).unwrap();
    let import = EnrollmentImport::from_base32(B32, TotpParams::default())
        .unwrap()
        .with_hashed_recovery_codes(weak)
        .unwrap();
    assert!(matches!(
        flow.import("frank", import).await,
        Err(FlowError::RecoveryCostOutOfBounds { .. })
    ));
}

#[tokio::test]
async fn an_active_user_is_replaced_only_when_asked() {
    let (flow, clock, events) = setup();
    let import = || {
        EnrollmentImport::from_base32(B32, TotpParams::default())
            .unwrap()
            .with_recovery_codes(&["0123456789abcdef"])
            .unwrap()
    };
    let first = flow.import("gina", import()).await.unwrap();
    assert!(matches!(
        flow.import("gina", import()).await,
        Err(FlowError::AlreadyEnrolled)
    ));
    // The refusal changed nothing.
    assert_eq!(flow.status("gina").await.unwrap().factor_stamp, first.stamp);

    // Overwriting: another secret, no recovery codes; the old ones stop working.
    let other = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
    let replaced = flow
        .import(
            "gina",
            EnrollmentImport::from_base32(other, TotpParams::default())
                .unwrap()
                .replace_active(),
        )
        .await
        .unwrap();
    assert!(replaced.replaced);
    assert_ne!(replaced.stamp, first.stamp);
    let new = app(other, TotpParams::default());
    assert!(flow.verify("gina", &code(&new, &clock, 0)).await.is_ok());
    clock.advance(30);
    let old = app(B32, TotpParams::default());
    assert!(flow.verify("gina", &code(&old, &clock, 0)).await.is_err());
    assert!(flow.verify("gina", "0123456789abcdef").await.is_err());
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&AuditEvent::EnrollmentImported {
                user_id: "gina".to_owned(),
                replaced: true,
                recovery_codes: 0
            })
    );

    // A pending enrolment is not active: importing over it needs no option.
    let e = flow.begin("hank", "hank@example.com").await.unwrap();
    flow.import("hank", import()).await.unwrap();
    assert!(
        flow.confirm("hank", e.ticket(), "000000").await.is_err(),
        "the pending enrolment is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_imports_of_one_user_write_one_factor() {
    let (flow, _, events) = setup();
    let flow = Arc::new(flow);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let flow = flow.clone();
            tokio::spawn(async move {
                let import = EnrollmentImport::from_base32(B32, TotpParams::default()).unwrap();
                flow.import("kim", import).await
            })
        })
        .collect();
    let mut imported = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => imported += 1,
            Err(FlowError::AlreadyEnrolled | FlowError::Conflict) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(imported, 1);
    let audited = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.name() == "enrollment_imported")
        .count();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn short_secrets_need_the_escape_hatch() {
    let (flow, clock, _) = setup();
    let uri = OtpAuthUri::parse(&format!("otpauth://totp/Big:ivan?secret={B32_80}")).unwrap();
    assert_eq!(
        EnrollmentImport::from_uri(&uri).unwrap_err(),
        ImportError::Secret(SecretError::TooShort {
            bits: 80,
            min_bits: 128
        })
    );
    assert!(matches!(
        EnrollmentImport::from_base32(B32_80, TotpParams::default()),
        Err(ImportError::Secret(SecretError::TooShort { .. }))
    ));
    let import = EnrollmentImport::danger_from_uri_allow_80_bit(&uri).unwrap();
    flow.import("ivan", import).await.unwrap();
    let app = uri.to_totp().unwrap();
    assert!(flow.verify("ivan", &code(&app, &clock, 0)).await.is_ok());
}

#[tokio::test]
async fn entries_of_a_migration_export_import_one_by_one() {
    let (flow, clock, _) = setup();
    let text = "otpauth-migration://offline?data=CjUKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2\
                xlLmNvbRoHRXhhbXBsZSABKAEwAhABGAEgACiFnZKRBQ%3D%3D";
    let payload = MigrationPayload::parse(text).unwrap();
    let uri = payload.uris().next().unwrap();
    // 80 bits: only through the escape hatch.
    assert!(EnrollmentImport::from_uri(uri).is_err());
    flow.import(
        "judy",
        EnrollmentImport::danger_from_uri_allow_80_bit(uri).unwrap(),
    )
    .await
    .unwrap();
    let app = uri.to_totp().unwrap();
    assert!(flow.verify("judy", &code(&app, &clock, 0)).await.is_ok());
}

#[test]
fn bad_input_is_a_typed_error() {
    let params = TotpParams::default();
    assert!(matches!(
        EnrollmentImport::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ!", params),
        Err(ImportError::Secret(SecretError::InvalidBase32 { .. }))
    ));
    let hotp = OtpAuthUri::parse(&format!("otpauth://hotp/a?secret={B32}&counter=1")).unwrap();
    assert_eq!(
        EnrollmentImport::from_uri(&hotp).unwrap_err(),
        ImportError::Hotp
    );
    let import = || EnrollmentImport::from_base32(B32, params).unwrap();
    assert_eq!(
        import().with_recovery_codes(&["short"]).unwrap_err(),
        ImportError::RecoveryCodeLength
    );
    assert_eq!(
        import()
            .with_recovery_codes(&["0123456789", "0123456789"])
            .unwrap_err(),
        ImportError::RecoveryCodeDuplicate { index: 1 }
    );
    // The error names the place, never the code.
    let e = import()
        .with_recovery_codes(&["0123456789", "01234567UU"])
        .unwrap_err();
    assert_eq!(e, ImportError::RecoveryCodeMalformed { index: 1 });
    assert!(!e.to_string().contains("UU"));
    assert_eq!(FlowError::from(e).message_key(), "import_refused");
}

/// `twofactor import`, driven as an operator would.
#[cfg(all(feature = "cli", feature = "sqlite"))]
mod cli {
    use std::path::PathBuf;
    use std::process::{Command, Output};

    use twofactor::{
        EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing, LoginFactor, OtpAuthUri, SqliteStore,
    };

    use super::{B32, B32_80};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("twofactor-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    fn twofactor(args: &[&str], key: Option<&str>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_twofactor"));
        command.args(args).env_remove("TWOFACTOR_KEY");
        if let Some(key) = key {
            command.env("TWOFACTOR_KEY", key);
        }
        command.output().unwrap()
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn now_step() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 30
    }

    const OTHER: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

    #[test]
    fn a_dry_run_checks_every_line_and_writes_nothing() {
        let file = temp("dry.jsonl");
        std::fs::write(
            &file,
            format!(
                "# exported from the old system\n\
                 {{\"user\": \"alice\", \"otp\": \"otpauth://totp/Old:alice?secret={B32}&issuer=Old\"}}\n\
                 \n\
                 {{\"user\": \"bob\", \"otp\": \"{B32_80}\"}}\n\
                 {{\"user\": \"carol\", \"otp\": \"{OTHER}\", \"recovery_codes\": [\"0123456789\", \"012345678U\"]}}\n\
                 {{\"user\": \"alice\", \"otp\": \"{OTHER}\"}}\n\
                 not json {B32}\n\
                 {{\"user\": \"erin\", \"otp\": \"{OTHER}\", \"{OTHER}\": 1}}\n"
            ),
        )
        .unwrap();
        // A dry run creates no database.
        let db = temp("dry.sqlite");
        let out = twofactor(
            &[
                "import",
                file.to_str().unwrap(),
                "--dry-run",
                "--sqlite",
                db.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains("no such database"));
        assert!(!db.exists());
        let out = twofactor(&["import", file.to_str().unwrap(), "--dry-run"], None);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "line 2 alice: would import (0 recovery codes)",
                "line 4 bob: refused: invalid secret: secret is too short: 80 bits, at least 128 required",
                "line 5 carol: refused: recovery code #1 is malformed",
                "line 6 alice: refused: the same user as line 2",
                "line 7: refused: not JSON (syntax error at column 2)",
                "line 8 erin: refused: an unknown field",
                "dry run: would import 1, refused 5 of 6 entries; nothing was written",
            ],
            "{stdout}"
        );
        assert_eq!(stderr, "twofactor: 5 of 6 entries refused\n");
        for secret in [B32, B32_80, OTHER, "012345678U"] {
            assert!(!stdout.contains(secret) && !stderr.contains(secret));
        }
        // With the escape hatch the 80-bit secret passes.
        let out = twofactor(
            &[
                "import",
                file.to_str().unwrap(),
                "--dry-run",
                "--danger-allow-80-bit",
            ],
            None,
        );
        assert!(
            text(&out.stdout)
                .contains("line 4 bob: would import (80-bit secret, 0 recovery codes)")
        );
    }

    #[test]
    fn an_import_writes_users_who_then_log_in() {
        let key = EncryptionKey::generate(3).unwrap();
        let key_text = format!("3:{}", &*key.expose_base64());
        let db = temp("real.sqlite");
        let file = temp("real.jsonl");
        let last = now_step() - 1;
        // An export of the major authenticator app holding one 80-bit entry.
        let migration = "otpauth-migration://offline?data=CjUKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZSABKAEwAhABGAEgACiFnZKRBQ%3D%3D";
        std::fs::write(
            &file,
            format!(
                "{{\"user\": \"alice\", \"otp\": \"otpauth://totp/Old:alice?secret={B32}&issuer=Old\", \"last_step\": {last}}}\n\
                 {{\"user\": \"carol\", \"otp\": \"{OTHER}\", \"digits\": 8, \"recovery_codes\": [\"0123-4567-89ab-cdef\", \"fedcba9876543210\"]}}\n\
                 {{\"user\": \"dave\", \"otp\": \"{migration}\"}}\n"
            ),
        )
        .unwrap();
        let args = [
            "import",
            file.to_str().unwrap(),
            "--sqlite",
            db.to_str().unwrap(),
        ];
        // Without a key nothing happens.
        let out = twofactor(&args, None);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains("TWOFACTOR_KEY"));

        let out = twofactor(&args, Some(&key_text));
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "line 1 alice: imported (last step {last}, 0 recovery codes)"
            )),
            "{stdout}"
        );
        assert!(stdout.contains("line 2 carol: imported (2 recovery codes)"));
        assert!(stdout.contains("line 3 dave: refused: invalid secret: secret is too short"));
        assert!(stdout.ends_with("imported 2, refused 1 of 3 entries\n"));
        assert!(!stdout.contains(B32) && !stdout.contains(&*key.expose_base64()));

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = SqliteStore::open(&db).await.unwrap();
            let flow = EnrollmentFlow::new(
                store,
                KeyRing::new(EncryptionKey::from_base64(3, &key.expose_base64()).unwrap()),
                FlowConfig::new("Example Co"),
            )
            .unwrap();
            let uri = OtpAuthUri::parse(&format!("otpauth://totp/a?secret={B32}")).unwrap();
            let code = uri.to_totp().unwrap().generate_now().unwrap();
            assert_eq!(
                flow.verify("alice", code.as_str()).await.unwrap().factor,
                LoginFactor::Code
            );
            let carol = flow.verify("carol", "FEDC-BA98-7654-3210").await.unwrap();
            assert_eq!(carol.factor, LoginFactor::RecoveryCode { remaining: 1 });
            let uri =
                OtpAuthUri::parse(&format!("otpauth://totp/a?secret={OTHER}&digits=8")).unwrap();
            let code = uri.to_totp().unwrap().generate_now().unwrap();
            assert!(flow.verify("carol", code.as_str()).await.is_ok());
            assert!(!flow.status("dave").await.unwrap().is_active());
        });

        // A dry run against the store sees who is active already, and writes nothing.
        let mut dry = args.to_vec();
        dry.push("--dry-run");
        let out = twofactor(&dry, None);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("line 1 alice: refused: two-factor authentication is already active"),
            "{stdout}"
        );
        assert!(
            stdout.ends_with(
                "dry run: would import 0, refused 3 of 3 entries; nothing was written\n"
            )
        );
        let after = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                use twofactor::store::SecretStore;
                let store = SqliteStore::open(&db).await.unwrap();
                store.get("dave").await.unwrap()
            });
        assert!(after.is_none(), "the dry run wrote nothing");

        // Again: the imported users are refused unless replacing is asked for.
        let out = twofactor(&args, Some(&key_text));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("line 1 alice: refused: two-factor authentication is already active")
        );
        let mut replacing = args.to_vec();
        replacing.extend(["--replace-active", "--danger-allow-80-bit"]);
        // A dry run names whose active factor the real run would replace.
        let mut dry = replacing.clone();
        dry.push("--dry-run");
        let out = twofactor(&dry, None);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("line 1 alice: would import (replacing the active factor"),
            "{stdout}"
        );
        let out = twofactor(&replacing, Some(&key_text));
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains("line 3 dave: imported (80-bit secret, 0 recovery codes)"));
        assert!(stdout.contains("line 1 alice: imported (replacing the active factor"));
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn an_import_into_postgres_in_its_own_schema() {
        let Some(url) = crate::support::postgres_url() else {
            return;
        };
        let schema = format!("cli_import_{}", std::process::id());
        let key = EncryptionKey::generate(1).unwrap();
        let file = temp("pg.jsonl");
        std::fs::write(
            &file,
            format!("{{\"user\": \"pg-alice\", \"otp\": \"{B32}\"}}\n"),
        )
        .unwrap();
        let run = |extra: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_twofactor"))
                .args(["import", file.to_str().unwrap()])
                .args([
                    "--postgres-env",
                    "IMPORT_TEST_DATABASE_URL",
                    "--schema",
                    &schema,
                ])
                .args(extra)
                .env("IMPORT_TEST_DATABASE_URL", &url)
                .env("TWOFACTOR_KEY", format!("1:{}", &*key.expose_base64()))
                .output()
                .unwrap()
        };
        let out = run(&[]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains("line 1 pg-alice: imported"), "{stdout}");
        assert!(!stdout.contains(&url) && !text(&out.stderr).contains(&url));
        let out = run(&["--dry-run"]);
        assert!(text(&out.stdout).contains("already active"));

        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let store = twofactor::PostgresStore::connect_with_schema(&url, &schema)
                    .await
                    .unwrap();
                let flow = EnrollmentFlow::new(
                    store,
                    KeyRing::new(EncryptionKey::from_base64(1, &key.expose_base64()).unwrap()),
                    FlowConfig::new("Example Co"),
                )
                .unwrap();
                let uri = OtpAuthUri::parse(&format!("otpauth://totp/a?secret={B32}")).unwrap();
                let code = uri.to_totp().unwrap().generate_now().unwrap();
                assert!(flow.verify("pg-alice", code.as_str()).await.is_ok());
            });
    }

    #[test]
    #[cfg(feature = "mysql")]
    fn an_import_into_mysql_under_its_own_table_name() {
        let Some(url) = crate::support::mysql_url() else {
            return;
        };
        let table = format!("cli_import_{}", std::process::id());
        let key = EncryptionKey::generate(1).unwrap();
        let file = temp("my.jsonl");
        std::fs::write(
            &file,
            format!("{{\"user\": \"my-alice\", \"otp\": \"{B32}\", \"recovery_codes\": [\"0123456789abcdef\"]}}\n"),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_twofactor"))
            .args(["import", file.to_str().unwrap()])
            .args(["--mysql-env", "IMPORT_TEST_DATABASE_URL", "--table", &table])
            .env("IMPORT_TEST_DATABASE_URL", &url)
            .env("TWOFACTOR_KEY", format!("1:{}", &*key.expose_base64()))
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        assert!(
            stdout.contains("line 1 my-alice: imported (1 recovery codes)"),
            "{stdout}"
        );

        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
                let store = twofactor::MySqlStore::new(pool)
                    .with_table_name(&table)
                    .unwrap();
                let flow = EnrollmentFlow::new(
                    store,
                    KeyRing::new(EncryptionKey::from_base64(1, &key.expose_base64()).unwrap()),
                    FlowConfig::new("Example Co"),
                )
                .unwrap();
                let login = flow
                    .verify("my-alice", "0123-4567-89AB-CDEF")
                    .await
                    .unwrap();
                assert_eq!(login.factor, LoginFactor::RecoveryCode { remaining: 0 });
            });
    }
}
