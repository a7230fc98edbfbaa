//! A walk through the core: enrol a secret, show it as a URI and a manual key, verify a code,
//! refuse its replay, and issue and use recovery codes.
//!
//! Run with `cargo run --example quickstart`.

use std::error::Error;

use twofactor::{
    Algorithm, KdfParams, OtpAuthUri, RecoveryCodeSet, RecoveryConfig, Secret, Totp, TotpParams,
    TotpState, VerifyError,
};

fn main() -> Result<(), Box<dyn Error>> {
    // 1. Enrolment: a new 160-bit secret from the OS CSPRNG.
    let secret = Secret::generate(Algorithm::Sha1)?;
    let uri = OtpAuthUri::totp(secret.clone(), "alice@example.com")?.with_issuer("Example Co")?;
    println!("1. New secret for alice@example.com");
    println!("   otpauth URI (show as a QR code): {}", &*uri.expose_uri());
    println!(
        "   manual entry key:                {}",
        &*secret.expose_base32_grouped()
    );
    println!("   compatibility warnings:          {:?}", uri.warnings());

    // 2. The user's app computes a code; here we compute it ourselves.
    let totp = Totp::new(&secret, TotpParams::default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let code = totp.generate_at(now)?;
    println!("2. The authenticator app shows {code}");

    // 3. Verify it. The returned state must be stored: it is what refuses a replay.
    let accepted = totp.verify(code.as_str(), now, &TotpState::default())?;
    let state = accepted.state();
    println!(
        "3. Accepted at time step {} (clock drift {} steps)",
        accepted.step, accepted.drift
    );

    // 4. The same code again is refused.
    match totp.verify(code.as_str(), now, &state) {
        Err(VerifyError::Replayed) => println!("4. Same code again: refused as a replay"),
        other => return Err(format!("replay was not refused: {other:?}").into()),
    }

    // 5. Recovery codes: shown once, stored hashed.
    let set = RecoveryCodeSet::generate(RecoveryConfig::default())?;
    println!("5. Recovery codes (shown once):");
    print!("{}", &*set.expose_text("Example Co: alice@example.com"));
    let mut stored = set.hash(&KdfParams::default())?;
    println!(
        "   Stored form (no plain code): {}...",
        &stored.encode()[..60]
    );

    // 6. A recovery code typed back in lower case with spaces works once.
    let typed = set.codes()[0].expose().to_lowercase().replace('-', " ");
    let remaining = stored.use_code(&typed)?;
    println!("6. Logged in with recovery code {typed:?}; {remaining} left");
    match stored.use_code(&typed) {
        Err(e) => println!("   Using it again: {e}"),
        Ok(_) => return Err("a recovery code was accepted twice".into()),
    }
    Ok(())
}
