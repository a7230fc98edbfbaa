//! The README's migration example: totp-rs and this crate give the same codes for one secret,
//! and this crate refuses the second use of a code.
#![allow(clippy::unwrap_used, missing_docs)]

use twofactor::{Secret, Totp, TotpParams, TotpState};

#[test]
fn the_same_secret_gives_the_same_codes_as_totp_rs() -> Result<(), Box<dyn std::error::Error>> {
    let bytes = b"12345678901234567890".to_vec();
    let theirs = totp_rs::Builder::new().with_secret(bytes.clone()).build()?;
    let ours = Totp::new(&Secret::from_bytes(&bytes)?, TotpParams::default());
    let now = 1_700_000_000;
    assert_eq!(
        theirs.generate(now).to_string(),
        ours.generate_at(now)?.as_str()
    );
    // What totp-rs leaves to you: refusing the same code twice.
    let code = ours.generate_at(now)?;
    let state = ours
        .verify(code.as_str(), now, &TotpState::default())?
        .state();
    assert!(ours.verify(code.as_str(), now, &state).is_err());
    Ok(())
}
