//! Property tests over the core: round trips, replay safety, and parsers that never panic.

use proptest::prelude::*;
use twofactor::{
    Algorithm, Digits, HashedRecoveryCodes, Hotp, HotpParams, HotpState, KdfParams, OtpAuthUri,
    Period, RecoveryCodeSet, RecoveryConfig, RecoveryError, Secret, Totp, TotpParams, TotpState,
    VerifyError,
};

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

fn digits() -> impl Strategy<Value = Digits> {
    (6u8..=8).prop_map(|n| Digits::new(n).unwrap())
}

fn secret() -> impl Strategy<Value = Secret> {
    proptest::collection::vec(any::<u8>(), 16..=80).prop_map(|b| Secret::from_bytes(&b).unwrap())
}

/// Names the builder accepts: no colon, no control character, no surrounding white space.
fn name() -> impl Strategy<Value = String> {
    "[^:\\p{Cc}]{1,40}".prop_filter("trimmed", |s| s.trim() == s && !s.is_empty())
}

fn totp_params() -> impl Strategy<Value = TotpParams> {
    (algorithm(), digits(), 1u64..=600, 0u64..=1_000_000).prop_map(
        |(algorithm, digits, period, epoch)| {
            TotpParams::new(algorithm, digits, Period::new(period).unwrap()).with_epoch(epoch)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn base32_round_trips_in_every_lenient_form(bytes in proptest::collection::vec(any::<u8>(), 16..=256)) {
        let s = Secret::from_bytes(&bytes).unwrap();
        let b32 = s.expose_base32();
        prop_assert!(!b32.contains('='));
        prop_assert_eq!(b32.to_uppercase(), b32.as_str());
        let padded = data_encoding::BASE32.encode(&bytes);
        for form in [b32.to_string(), b32.to_lowercase(), s.expose_base32_grouped().to_string(), padded] {
            let back = Secret::from_base32(&form).unwrap();
            prop_assert_eq!(back.expose_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn uris_round_trip(
        secret in secret(),
        issuer in proptest::option::of(name()),
        account in name(),
        algorithm in algorithm(),
        digits in digits(),
        period in 1u64..=3600,
        hotp_counter in proptest::option::of(any::<u64>()),
    ) {
        let uri = match hotp_counter {
            Some(counter) => OtpAuthUri::hotp(secret, &account, counter).unwrap(),
            None => OtpAuthUri::totp(secret, &account).unwrap().with_period(Period::new(period).unwrap()),
        };
        let uri = match issuer {
            Some(i) => uri.with_issuer(&i).unwrap(),
            None => uri,
        }
        .with_algorithm(algorithm)
        .with_digits(digits);
        let text = uri.expose_uri();
        prop_assert!(!text.contains('+') && !text.contains(' '));
        let back = OtpAuthUri::parse(&text).unwrap();
        prop_assert_eq!(back.expose_uri(), text);
        prop_assert_eq!(back, uri);
    }

    /// A generated code verifies at its own step from a fresh state, and is never accepted at or
    /// before an accepted step.
    #[test]
    fn totp_codes_verify_once(
        secret in secret(),
        params in totp_params(),
        offset in 0u64..=10_000_000_000,
        last_delta in 0u64..=3,
    ) {
        let totp = Totp::new(&secret, params);
        let time = params.epoch + offset;
        let code = totp.generate_at(time).unwrap();
        let step = totp.step_at(time).unwrap();
        let m = totp.verify(code.as_str(), time, &TotpState::default()).unwrap();
        prop_assert!(m.step >= step);
        if m.step == step {
            prop_assert_eq!(m.drift, 0);
        }
        // Whatever the state, an acceptance is always strictly after the last accepted step.
        let state = TotpState::new(Some(step + last_delta), 0);
        match totp.verify(code.as_str(), time, &state) {
            Ok(again) => prop_assert!(again.step > step + last_delta),
            Err(e) => prop_assert!(matches!(e, VerifyError::Replayed | VerifyError::Invalid)),
        }
        // The same code right after its own acceptance is refused.
        prop_assert!(totp.verify(code.as_str(), time, &m.state()).is_err());
    }

    #[test]
    fn hotp_codes_verify_once(
        secret in secret(),
        algorithm in algorithm(),
        digits in digits(),
        next in 0u64..=u64::MAX - 10,
        ahead in 0u64..=3,
    ) {
        let hotp = Hotp::new(&secret, HotpParams::new(algorithm, digits));
        let counter = next + ahead;
        let code = hotp.generate(counter);
        let m = hotp.verify(code.as_str(), &HotpState::starting_at(next)).unwrap();
        prop_assert!(m.counter >= counter);
        match hotp.verify(code.as_str(), &m.state()) {
            Ok(again) => prop_assert!(again.counter > m.counter),
            Err(e) => prop_assert_eq!(e, VerifyError::Invalid),
        }
    }

    /// Nothing a user can type makes the parsers panic.
    #[test]
    fn parsers_never_panic(input in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let lossy = String::from_utf8_lossy(&bytes);
        for text in [input.as_str(), &lossy] {
            let _ = OtpAuthUri::parse(text);
            let _ = OtpAuthUri::parse(&format!("otpauth://totp/{text}"));
            let _ = OtpAuthUri::parse(&format!("otpauth://hotp/a?{text}"));
            let _ = Secret::from_base32(text);
            let _ = text.parse::<HashedRecoveryCodes>();
            let totp = Totp::new(&Secret::from_bytes(&[1; 20]).unwrap(), TotpParams::default());
            let _ = totp.verify(text, 1_700_000_000, &TotpState::default());
        }
    }
}

proptest! {
    // Each case hashes a set with Argon2 (cheap parameters); fewer cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every code of a set is accepted exactly once, in any order and typed in any accepted form;
    /// the stored form round-trips at every point.
    #[test]
    fn recovery_codes_verify_and_consume_once(
        count in 1usize..=8,
        length in 10usize..=20,
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        lower in any::<bool>(),
    ) {
        let set = RecoveryCodeSet::generate(RecoveryConfig::new(count, length).unwrap()).unwrap();
        let mut stored = set.hash(&KdfParams::argon2id(32, 1, 1).unwrap()).unwrap();
        let mut indexes: Vec<usize> = (0..count).collect();
        let n = indexes.len();
        indexes.rotate_left(usize::try_from(order % n as u64).unwrap());
        for (used, &i) in indexes.iter().enumerate() {
            let shown = set.codes()[i].expose();
            let typed = if lower { shown.to_lowercase().replace('-', " ") } else { shown.to_string() };
            prop_assert_eq!(stored.check(&typed), Ok(i));
            prop_assert_eq!(stored.use_code(&typed), Ok(count - used - 1));
            prop_assert_eq!(stored.check(&typed), Err(RecoveryError::Invalid));
            let reloaded: HashedRecoveryCodes = stored.encode().parse().unwrap();
            prop_assert_eq!(&reloaded, &stored);
        }
        prop_assert_eq!(stored.remaining(), 0);
    }
}
