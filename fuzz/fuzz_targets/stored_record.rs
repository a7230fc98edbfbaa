//! Decoding a stored record (enrolment state, sealed secrets, recovery code record): never
//! panics, and what decodes is canonical (checking it again changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::store::{ColdFields, StoredStatus, check_record};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The input is "STATE\nRECOVERY": both fields come from one fuzzed string.
    let (state, recovery) = text.split_once('\n').unwrap_or((text, ""));
    for status in [StoredStatus::NotEnrolled, StoredStatus::Pending, StoredStatus::Active] {
        let cold = ColdFields {
            status,
            state: state.to_owned(),
            required: false,
            recovery_generation: 1,
            recovery: (!recovery.is_empty()).then(|| recovery.to_owned()),
        };
        if let Ok(canonical) = check_record(&cold) {
            assert_eq!(check_record(&canonical).ok(), Some(canonical.clone()));
        }
    }
});
