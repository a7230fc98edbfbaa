//! The flow on shared storage, as several servers would run it: two `EnrollmentFlow`s, each with
//! its own store instance (its own connections), over one SQLite file or one PostgreSQL schema.
//! Logins with the same code race across both; exactly one wins. And the raw database file holds
//! no secret and no recovery code.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

use std::sync::Arc;

use twofactor::{
    Clock, EncryptionKey, EnrollmentFlow, FlowConfig, KdfParams, KeyRing, ManualClock,
    PostgresStore, SecretStore, SqliteStore, Totp,
};

const T0: u64 = 1_800_000_000;

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Servers");
    c.kdf = KdfParams::argon2id(64, 1, 1).unwrap();
    c
}

/// Two flows ("servers") over the two store instances, sharing one clock and key ring.
type Pair<S> = (
    Arc<EnrollmentFlow<S, ManualClock>>,
    Arc<EnrollmentFlow<S, ManualClock>>,
);

/// Enrols a user through one server and confirms through the other, so both see the same data.
async fn enrol<S: SecretStore>(
    (a, b): &Pair<S>,
    clock: &ManualClock,
    user: &str,
) -> (Totp, twofactor::RecoveryCodeSet) {
    let e = a.begin(user, user).await.unwrap();
    let app: Totp = e.uri().to_totp().unwrap();
    let codes = b
        .confirm(
            user,
            e.ticket(),
            app.generate_at(clock.now()).unwrap().as_str(),
        )
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    (app, codes)
}

/// `RACERS` logins with one input, alternating between the servers: exactly one succeeds.
async fn race_one_input<S: SecretStore + 'static>((a, b): &Pair<S>, user: &str, input: &str) {
    const RACERS: usize = 16;
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut handles = Vec::new();
    for i in 0..RACERS {
        let flow = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (input, barrier, user) = (input.to_owned(), barrier.clone(), user.to_owned());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            flow.verify(&user, &input).await.is_ok()
        }));
    }
    let mut wins = 0;
    for h in handles {
        wins += usize::from(h.await.unwrap());
    }
    assert_eq!(
        wins, 1,
        "exactly one of {RACERS} logins with one input succeeds"
    );
}

/// A code race and a recovery-code race (on separate users: the losers of a race are counted as
/// failures and throttle that account).
async fn race<S: SecretStore + 'static>(a: S, b: S, keys: KeyRing, user: &str) {
    let clock = ManualClock::new(T0);
    let pair: Pair<S> = (
        Arc::new(
            EnrollmentFlow::new(a, keys.clone(), config())
                .unwrap()
                .with_clock(clock.clone()),
        ),
        Arc::new(
            EnrollmentFlow::new(b, keys, config())
                .unwrap()
                .with_clock(clock.clone()),
        ),
    );
    let code_user = format!("{user}-code");
    let recovery_user = format!("{user}-recovery");
    let (app, _) = enrol(&pair, &clock, &code_user).await;
    let (_, codes) = enrol(&pair, &clock, &recovery_user).await;
    clock.advance(30);
    let code = app.generate_at(clock.now()).unwrap().to_string();
    race_one_input(&pair, &code_user, &code).await;
    race_one_input(&pair, &recovery_user, &codes.codes()[0].expose()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_servers_one_winner_and_no_secret_in_the_file() {
    let dir = std::env::temp_dir().join(format!("twofactor-servers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shared.sqlite3");
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    race(
        SqliteStore::open(&path).await.unwrap(),
        SqliteStore::open(&path).await.unwrap(),
        keys.clone(),
        "sqlite-user",
    )
    .await;

    // A dump of the file: enrol someone, log in, then read every byte of the database.
    let clock = ManualClock::new(T0);
    let flow = EnrollmentFlow::new(SqliteStore::open(&path).await.unwrap(), keys, config())
        .unwrap()
        .with_clock(clock.clone());
    let e = flow.begin("dump-user", "dump-user").await.unwrap();
    let secret = e.uri().secret().expose_base32().to_string();
    let raw_secret = e.uri().secret().expose_bytes().to_vec();
    let app = e.uri().to_totp().unwrap();
    let codes = flow
        .confirm(
            "dump-user",
            e.ticket(),
            app.generate_at(T0).unwrap().as_str(),
        )
        .await
        .unwrap()
        .into_recovery_codes()
        .unwrap();
    drop(flow);
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(dir.join("shared.sqlite3-wal")) {
        bytes.extend(wal);
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("dump-user"), "the dump is readable");
    assert!(!text.contains(&secret));
    assert!(
        !bytes
            .windows(raw_secret.len())
            .any(|w| w == raw_secret.as_slice())
    );
    for code in codes.codes() {
        assert!(!text.contains(&*code.expose()));
        assert!(!text.contains(&code.expose().replace('-', "")));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_servers_one_winner() {
    let Some(url) = crate::support::postgres_url() else {
        return;
    };
    let schema = format!("twofactor_servers_{}", std::process::id());
    let keys = KeyRing::new(EncryptionKey::generate(1).unwrap());
    race(
        PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
        PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
        keys,
        "pg-user",
    )
    .await;
    if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
}
