//! Differential test of the HMAC fast path (prepared pads, two compressions per value, batched
//! candidates) against the `hmac` crate, through the public API: for arbitrary keys (10 to 256
//! bytes, across every block boundary), counters and the three algorithms, `Hotp::generate`
//! gives the RFC 4226 §5.3 value of the reference HMAC, and `Hotp::verify` finds a code
//! `ahead` counters past the expected one at that counter or a later one with the same code.
#![no_main]

use hmac::{KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use twofactor::{Algorithm, Digits, Hotp, HotpParams, HotpState, Secret};

/// HMAC of the big-endian counter by the `hmac` crate.
fn reference(algorithm: Algorithm, key: &[u8], counter: u64) -> Vec<u8> {
    let message = counter.to_be_bytes();
    match algorithm {
        Algorithm::Sha256 => {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
            m.update(&message);
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).expect("any key length");
            m.update(&message);
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
            m.update(&message);
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// RFC 4226 §5.3 as written: dynamic truncation, then the low `digits` decimal digits.
fn code(digest: &[u8], digits: u8) -> String {
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    let width = usize::from(digits);
    format!("{:0width$}", value % 10u32.pow(u32::from(digits)))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 11 {
        return;
    }
    let algorithm = match data[0] % 3 {
        0 => Algorithm::Sha1,
        1 => Algorithm::Sha256,
        _ => Algorithm::Sha512,
    };
    let digits = match data[1] % 3 {
        0 => Digits::SIX,
        1 => Digits::SEVEN,
        _ => Digits::EIGHT,
    };
    let counter = u64::from_be_bytes(data[2..10].try_into().expect("eight bytes"));
    let ahead = u64::from(data[10] % 16);
    let key = &data[11..];
    let Ok(secret) = Secret::danger_from_bytes_allow_80_bit(key) else {
        return;
    };
    let hotp = Hotp::new(&secret, HotpParams::new(algorithm, digits)).with_look_ahead(15);
    let n = digits.get();
    let expected = code(&reference(algorithm, key, counter), n);
    assert_eq!(hotp.generate(counter).as_str(), expected, "{algorithm} counter {counter}");

    // The scan computes candidates in batches: the code of `counter + ahead` is found from
    // `counter`, at that counter or at a later one in the range that has the same code.
    let Some(target) = counter.checked_add(ahead) else {
        return;
    };
    let wanted = code(&reference(algorithm, key, target), n);
    let found = hotp
        .verify(&wanted, &HotpState::starting_at(counter))
        .unwrap_or_else(|e| panic!("{algorithm}: counter {target} not found from {counter}: {e}"));
    assert!(found.counter >= target, "an older counter won");
    assert_eq!(code(&reference(algorithm, key, found.counter), n), wanted);
});
