//! Decoding a stored record (enrolment state, sealed secrets, recovery code record): never
//! panics, and what decodes is canonical (checking it again changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use twofactor::flow::check_record;
use twofactor::store::{ColdFields, StoredStatus};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The input is "STATE\nRECOVERY": both fields come from one fuzzed string.
    let (state, recovery) = text.split_once('\n').unwrap_or((text, ""));
    for status in [StoredStatus::NotEnrolled, StoredStatus::Pending, StoredStatus::Active] {
        let mut cold = ColdFields::new(status, state.to_owned());
        cold.recovery_generation = 1;
        cold.recovery = (!recovery.is_empty()).then(|| recovery.to_owned());
        if let Ok(canonical) = check_record(&cold) {
            assert_eq!(check_record(&canonical).ok(), Some(canonical.clone()));
        }
    }
});
