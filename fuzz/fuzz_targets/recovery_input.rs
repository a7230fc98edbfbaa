//! Recovery code input normalisation and checking against a stored set: never panics, and only
//! the set's own codes are ever found.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use twofactor::{HashedRecoveryCodes, KdfParams, RecoveryCodeSet, RecoveryConfig};

static SET: LazyLock<(Vec<String>, HashedRecoveryCodes)> = LazyLock::new(|| {
    let set = RecoveryCodeSet::generate(RecoveryConfig::new(3, 10).expect("config"))
        .expect("generate");
    let stored = set
        .hash(&KdfParams::argon2id(8, 1, 1).expect("params"))
        .expect("hash");
    let shown = set.codes().iter().map(|c| c.expose().to_string()).collect();
    (shown, stored)
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (shown, stored) = &*SET;
    if let Ok(index) = stored.check(text) {
        // Found: the input must normalise to that very code.
        let normal = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, ' ' | '-' | '\t' | '\n' | '\r'))
                .map(|c| match c.to_ascii_uppercase() {
                    'O' => '0',
                    'I' | 'L' => '1',
                    c => c,
                })
                .collect()
        };
        assert_eq!(normal(text), normal(&shown[index]));
    }
});
