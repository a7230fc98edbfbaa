//! Code input normalisation and verification: never panics, and nothing but a well-formed code
//! of the configured length is ever accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::{
    Digits, Hotp, HotpParams, HotpState, Secret, Totp, TotpParams, TotpState, VerifyError,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(secret) = Secret::from_bytes(b"12345678901234567890") else {
        return;
    };
    for digits in [Digits::SIX, Digits::EIGHT] {
        let totp = Totp::new(
            &secret,
            TotpParams::default().with_digits(digits),
        )
        .with_skew_diagnosis(4);
        let result = totp.verify(text, 1_700_000_000, &TotpState::default());
        if result.is_ok() || matches!(result, Err(VerifyError::ClockSkew { .. })) {
            let significant: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
            assert_eq!(significant.len(), usize::from(digits.get()));
        }
        let hotp = Hotp::new(
            &secret,
            HotpParams::new(Default::default(), digits),
        );
        let _ = hotp.verify(text, &HotpState::starting_at(0));
        let _ = hotp.resynchronize(text, text, &HotpState::starting_at(0), 10);
    }
});
