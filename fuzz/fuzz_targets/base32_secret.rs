//! Lenient base32 secret parsing: never panics; what parses re-encodes to canonical base32 that
//! parses back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::Secret;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [
        Secret::from_base32(text),
        Secret::danger_from_base32_allow_80_bit(text),
    ] {
        if let Ok(secret) = parsed {
            let canonical = secret.expose_base32();
            let back = Secret::danger_from_base32_allow_80_bit(&canonical).expect("round trip");
            assert_eq!(back, secret);
        }
    }
});
