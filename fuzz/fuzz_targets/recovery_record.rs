//! Decoding a stored recovery-code record: never panics, and what decodes re-encodes to the
//! same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::HashedRecoveryCodes;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(record) = text.parse::<HashedRecoveryCodes>() {
        assert_eq!(record.encode().parse::<HashedRecoveryCodes>().ok(), Some(record.clone()));
        let _ = record.remaining();
    }
});
