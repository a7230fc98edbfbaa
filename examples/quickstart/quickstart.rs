//! The whole 2FA life cycle against a SQLite file, printed step by step:
//! enrol, confirm, log in, a replayed code refused, a recovery-code login, regenerate, disable.
//!
//! Run with `cargo run --example quickstart`.
//!
//! The demo plays both sides: the application (the flow) and the user's authenticator app (it
//! computes codes from the enrolment URI). It drives a simulated clock so that "30 seconds
//! later" does not mean waiting.

use std::error::Error;

use twofactor::{
    EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KeyRing, LoginFactor, ManualClock,
    SqliteStore, Totp,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("twofactor-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("twofactor.sqlite3");
    let store = SqliteStore::open(&db).await?;
    println!("Store: SQLite file {}", db.display());

    // In production the key comes from your secret manager:
    // EncryptionKey::from_tagged(&std::env::var("TWOFACTOR_KEY")?) (`twofactor key` makes one)
    let keys = KeyRing::new(EncryptionKey::generate(1)?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let clock = ManualClock::new(now);
    let flow =
        EnrollmentFlow::new(store, keys, FlowConfig::new("Example Co"))?.with_clock(clock.clone());
    let user = "user-42";

    // 1. Settings page: begin enrolment. The ticket stays in the session that began it: showing
    //    the secret again and confirming need it.
    let enrollment = flow.begin(user, "alice@example.com").await?;
    println!("\n1. Begin enrolment for alice@example.com");
    println!("   Scan this QR code with an authenticator app:");
    print!(
        "{}",
        &*twofactor::QrCode::new(enrollment.uri())?.to_terminal()
    );
    println!("   (the URI it holds: {})", &*enrollment.expose_uri());
    println!(
        "   Or type this key:           {}",
        &*enrollment.expose_manual_key()
    );
    println!("   Status: {:?}", flow.status(user).await?.enrollment);

    // The user's authenticator app now holds the secret.
    let app: Totp = enrollment.uri().to_totp().ok_or("not a TOTP URI")?;
    let code_now = |clock: &ManualClock| -> Result<String, Box<dyn Error>> {
        use twofactor::Clock;
        Ok(app.generate_at(clock.now())?.to_string())
    };

    // 2. Confirm with the first code: 2FA becomes active and recovery codes are issued.
    let first = code_now(&clock)?;
    let confirmed = flow.confirm(user, enrollment.ticket(), &first).await?;
    let codes = confirmed.into_recovery_codes().ok_or("no recovery codes")?;
    println!("\n2. Confirmed with {first}. Recovery codes (shown once, stored hashed):");
    for code in codes.codes() {
        println!("     {}", &*code.expose());
    }
    println!("   Status: {:?}", flow.status(user).await?.enrollment);

    // 3. Thirty seconds later: log in with the current code.
    clock.advance(30);
    let login = code_now(&clock)?;
    let verified = flow.verify(user, &login).await?;
    println!("\n3. Login with {login}: accepted ({:?})", verified.factor);

    // 4. The same code again (a replay, or a second concurrent request) is refused.
    match flow.verify(user, &login).await {
        Err(FlowError::InvalidCode { .. }) => println!("4. The same code again: refused"),
        other => return Err(format!("replay not refused: {other:?}").into()),
    }

    // 5. Lost phone: log in with a recovery code, typed casually.
    let typed = codes.codes()[0].expose().to_lowercase().replace('-', " ");
    match flow.verify(user, &typed).await?.factor {
        LoginFactor::RecoveryCode { remaining } => {
            println!("5. Login with recovery code {typed:?}: accepted, {remaining} left");
        }
        other => return Err(format!("unexpected factor {other:?}").into()),
    }
    match flow.verify(user, &typed).await {
        Err(FlowError::InvalidCode { .. }) => println!("   The same recovery code again: refused"),
        other => return Err(format!("recovery code reused: {other:?}").into()),
    }

    // 6. Regenerate the recovery codes (needs a current code, or the proof of a recent login);
    //    the old set stops working.
    clock.advance(30);
    let fresh = flow
        .regenerate_recovery_codes(user, &code_now(&clock)?)
        .await?;
    println!(
        "\n6. Regenerated {} recovery codes; old ones no longer work: {}",
        fresh.codes.codes().len(),
        flow.verify(user, &codes.codes()[1].expose()).await.is_err()
    );

    // 7. Disable 2FA (needs a current code too).
    clock.advance(30);
    flow.disable(user, &code_now(&clock)?).await?;
    println!(
        "\n7. Disabled. Status: {:?}",
        flow.status(user).await?.enrollment
    );

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
