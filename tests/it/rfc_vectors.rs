//! Known-answer tests from the RFCs, kept as data and checked exactly.

use twofactor::{Algorithm, Digits, Hotp, HotpParams, Period, Secret, Totp, TotpParams};

/// RFC 4226 Appendix D: the secret is the ASCII string "12345678901234567890".
/// Columns: count, truncated 31-bit value ("Decimal"), 6-digit HOTP.
const RFC4226_APPENDIX_D: [(u64, u32, &str); 10] = [
    (0, 1_284_755_224, "755224"),
    (1, 1_094_287_082, "287082"),
    (2, 137_359_152, "359152"),
    (3, 1_726_969_429, "969429"),
    (4, 1_640_338_314, "338314"),
    (5, 868_254_676, "254676"),
    (6, 1_918_287_922, "287922"),
    (7, 82_162_583, "162583"),
    (8, 673_399_871, "399871"),
    (9, 645_520_489, "520489"),
];

/// RFC 6238 Appendix B: Unix time, time step T (hex in the RFC), 8-digit TOTP, algorithm.
/// Period 30 s, T0 = 0.
const RFC6238_APPENDIX_B: [(u64, u64, &str, Algorithm); 18] = [
    (59, 0x1, "94287082", Algorithm::Sha1),
    (59, 0x1, "46119246", Algorithm::Sha256),
    (59, 0x1, "90693936", Algorithm::Sha512),
    (1_111_111_109, 0x0235_23EC, "07081804", Algorithm::Sha1),
    (1_111_111_109, 0x0235_23EC, "68084774", Algorithm::Sha256),
    (1_111_111_109, 0x0235_23EC, "25091201", Algorithm::Sha512),
    (1_111_111_111, 0x0235_23ED, "14050471", Algorithm::Sha1),
    (1_111_111_111, 0x0235_23ED, "67062674", Algorithm::Sha256),
    (1_111_111_111, 0x0235_23ED, "99943326", Algorithm::Sha512),
    (1_234_567_890, 0x0273_EF07, "89005924", Algorithm::Sha1),
    (1_234_567_890, 0x0273_EF07, "91819424", Algorithm::Sha256),
    (1_234_567_890, 0x0273_EF07, "93441116", Algorithm::Sha512),
    (2_000_000_000, 0x03F9_40AA, "69279037", Algorithm::Sha1),
    (2_000_000_000, 0x03F9_40AA, "90698825", Algorithm::Sha256),
    (2_000_000_000, 0x03F9_40AA, "38618901", Algorithm::Sha512),
    (20_000_000_000, 0x27BC_86AA, "65353130", Algorithm::Sha1),
    (20_000_000_000, 0x27BC_86AA, "77737706", Algorithm::Sha256),
    (20_000_000_000, 0x27BC_86AA, "47863826", Algorithm::Sha512),
];

/// RFC 6238 Appendix B seeds: the ASCII digits repeated to the hash's output length.
fn rfc6238_seed(algorithm: Algorithm) -> Secret {
    let seed: &[u8] = match algorithm {
        Algorithm::Sha256 => b"12345678901234567890123456789012",
        Algorithm::Sha512 => b"1234567890123456789012345678901234567890123456789012345678901234",
        _ => b"12345678901234567890",
    };
    Secret::from_bytes(seed).unwrap()
}

fn hotp(digits: Digits) -> Hotp {
    Hotp::new(
        &Secret::from_bytes(b"12345678901234567890").unwrap(),
        HotpParams::new(Algorithm::Sha1, digits),
    )
}

#[test]
fn rfc4226_appendix_d_hotp() {
    let hotp = hotp(Digits::SIX);
    for (count, _, want) in RFC4226_APPENDIX_D {
        assert_eq!(hotp.generate(count).as_str(), want, "count {count}");
    }
}

/// The 7- and 8-digit codes follow from the same truncated values (§5.3: `Snum mod 10^Digit`),
/// computed and not zero-padded from the 6-digit code.
#[test]
fn rfc4226_appendix_d_truncated_values_at_every_digit_count() {
    for digits in [Digits::SIX, Digits::SEVEN, Digits::EIGHT] {
        let hotp = hotp(digits);
        let modulus = 10u32.pow(u32::from(digits.get()));
        for (count, decimal, _) in RFC4226_APPENDIX_D {
            let want = format!(
                "{:0width$}",
                decimal % modulus,
                width = usize::from(digits.get())
            );
            assert_eq!(hotp.generate(count).as_str(), want, "count {count}");
        }
    }
}

#[test]
fn rfc6238_appendix_b_totp() {
    for (time, step, want, algorithm) in RFC6238_APPENDIX_B {
        let totp = Totp::new(
            &rfc6238_seed(algorithm),
            TotpParams::new(algorithm, Digits::EIGHT, Period::THIRTY_SECONDS),
        );
        assert_eq!(totp.step_at(time), Ok(step), "{time}");
        assert_eq!(
            totp.generate_at(time).unwrap().as_str(),
            want,
            "{algorithm} at {time}"
        );
        // And the verifier accepts it at that time, reporting that step.
        let accepted = totp.verify(want, time, &Default::default()).unwrap();
        assert_eq!((accepted.step, accepted.drift), (step, 0));
    }
}

/// RFC 6238 §4.1: TOTP with T0 and X is HOTP with counter `(t - T0) / X`; check a non-zero
/// epoch and a non-default period against the HOTP vectors.
#[test]
fn epoch_and_period_map_onto_the_hotp_counter() {
    let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
    let totp = Totp::new(
        &secret,
        TotpParams::default()
            .with_period(Period::new(60).unwrap())
            .with_epoch(1_000),
    );
    for (count, _, want) in RFC4226_APPENDIX_D {
        let time = 1_000 + count * 60 + 59;
        assert_eq!(totp.generate_at(time).unwrap().as_str(), want);
    }
    assert!(totp.generate_at(999).is_err());
}
