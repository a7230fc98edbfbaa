//! Verification behaviour: window, replay prevention, drift, skew diagnosis, HOTP.

use twofactor::{
    Algorithm, CodeError, Digits, Hotp, HotpParams, HotpState, Period, Secret, TimeError, Totp,
    TotpParams, TotpState, VerifyError, Window,
};

const RFC_SEED: &[u8] = b"12345678901234567890";
const NOW: u64 = 1_700_000_015; // step 56_666_667, 15 s into it

fn totp() -> Totp {
    Totp::new(
        &Secret::from_bytes(RFC_SEED).unwrap(),
        TotpParams::default(),
    )
}

fn fresh() -> TotpState {
    TotpState::default()
}

#[test]
fn the_default_window_is_one_step_each_side() {
    let t = totp();
    let now = t.step_at(NOW).unwrap();
    for offset in [-1i64, 0, 1] {
        let step = now.checked_add_signed(offset).unwrap();
        let code = t.generate_step(step);
        let m = t.verify(code.as_str(), NOW, &fresh()).unwrap();
        assert_eq!((m.step, m.drift), (step, offset));
    }
    for offset in [-3i64, -2, 2, 3] {
        let code = t.generate_step(now.checked_add_signed(offset).unwrap());
        assert_eq!(
            t.verify(code.as_str(), NOW, &fresh()),
            Err(VerifyError::Invalid)
        );
    }
    let exact = totp().with_window(Window::EXACT);
    let previous = exact.generate_step(now - 1);
    assert_eq!(
        exact.verify(previous.as_str(), NOW, &fresh()),
        Err(VerifyError::Invalid)
    );
    let wide = totp().with_window(Window::new(3, 0));
    assert!(
        wide.verify(wide.generate_step(now - 3).as_str(), NOW, &fresh())
            .is_ok()
    );
    assert!(
        wide.verify(wide.generate_step(now + 1).as_str(), NOW, &fresh())
            .is_err()
    );
}

#[test]
fn a_code_is_accepted_once() {
    let t = totp();
    let code = t.generate_at(NOW).unwrap();
    let state = t.verify(code.as_str(), NOW, &fresh()).unwrap().state();
    assert_eq!(
        t.verify(code.as_str(), NOW, &state),
        Err(VerifyError::Replayed)
    );
    // Still refused a step later, while it is inside the window.
    assert_eq!(
        t.verify(code.as_str(), NOW + 30, &state),
        Err(VerifyError::Replayed)
    );
}

#[test]
fn earlier_steps_are_refused_after_a_later_one_was_accepted() {
    let t = totp();
    let now = t.step_at(NOW).unwrap();
    let state = TotpState::new(Some(now + 1), 0);
    for step in [now - 1, now, now + 1] {
        assert_eq!(
            t.verify(t.generate_step(step).as_str(), NOW, &state),
            Err(VerifyError::Replayed),
            "step {step}"
        );
    }
}

/// Two adjacent steps that produce the same code: the newest step greater than the last accepted
/// one wins, so the second login is not refused as a replay.
#[test]
fn adjacent_steps_with_the_same_code() {
    let t = totp();
    let (first, second) = (50_424_280u64, 50_424_281u64);
    // The data: a real collision for the RFC seed (SHA-1, 6 digits), found by search.
    assert_eq!(t.generate_step(first).as_str(), "070562");
    assert_eq!(t.generate_step(second).as_str(), "070562");
    let at_second = second * 30 + 10;

    // Nothing accepted yet: the newer step is reported.
    let m = t.verify("070562", at_second, &fresh()).unwrap();
    assert_eq!(m.step, second);

    // The code was used at the first step; at the second step it is legitimately new.
    let used_first = TotpState::new(Some(first), 0);
    let m = t.verify("070562", at_second, &used_first).unwrap();
    assert_eq!(m.step, second);

    // Once the second step is accepted, both are spent.
    assert_eq!(
        t.verify("070562", at_second, &m.state()),
        Err(VerifyError::Replayed)
    );
}

#[test]
fn stored_drift_recentres_the_window_within_a_bound() {
    let t = totp();
    let now = t.step_at(NOW).unwrap();
    let ahead5 = t.generate_step(now + 5);
    assert_eq!(
        t.verify(ahead5.as_str(), NOW, &fresh()),
        Err(VerifyError::Invalid)
    );
    let drifted = TotpState::new(None, 5);
    let m = t.verify(ahead5.as_str(), NOW, &drifted).unwrap();
    assert_eq!((m.step, m.drift), (now + 5, 5));
    // Re-centred on +5: one step either side of it.
    assert!(
        t.verify(t.generate_step(now + 6).as_str(), NOW, &drifted)
            .is_ok()
    );
    assert!(
        t.verify(t.generate_step(now).as_str(), NOW, &drifted)
            .is_err()
    );

    // The drift applied is bounded by max_drift.
    let huge = TotpState::new(None, 1_000);
    let bounded = totp().with_max_drift(10);
    assert!(
        bounded
            .verify(bounded.generate_step(now + 10).as_str(), NOW, &huge)
            .is_ok()
    );
    assert_eq!(
        bounded.verify(bounded.generate_step(now + 1_000).as_str(), NOW, &huge),
        Err(VerifyError::Invalid)
    );
    let ignoring = totp().with_max_drift(0);
    assert_eq!(
        ignoring.verify(ahead5.as_str(), NOW, &drifted),
        Err(VerifyError::Invalid)
    );
    // Extreme drift values do not overflow.
    for drift in [i64::MIN, i64::MAX] {
        let state = TotpState::new(None, drift);
        let _ = t.verify("123456", NOW, &state);
    }
}

#[test]
fn skew_diagnosis_reports_and_never_accepts() {
    let t = totp().with_skew_diagnosis(20);
    let now = t.step_at(NOW).unwrap();
    for offset in [-20i64, -15, -2, 2, 8, 20] {
        let code = t.generate_step(now.checked_add_signed(offset).unwrap());
        assert_eq!(
            t.verify(code.as_str(), NOW, &fresh()),
            Err(VerifyError::ClockSkew { steps: offset }),
            "offset {offset}"
        );
    }
    let far = t.generate_step(now + 21);
    assert_eq!(
        t.verify(far.as_str(), NOW, &fresh()),
        Err(VerifyError::Invalid)
    );
    // Off by default.
    let plain = totp();
    assert_eq!(
        plain.verify(plain.generate_step(now + 8).as_str(), NOW, &fresh()),
        Err(VerifyError::Invalid)
    );
    // Within the window, an accepted step is still a match, not a diagnosis.
    assert!(
        t.verify(t.generate_step(now + 1).as_str(), NOW, &fresh())
            .is_ok()
    );
}

#[test]
fn malformed_input_is_refused_before_hashing() {
    let t = totp();
    assert_eq!(
        t.verify("", NOW, &fresh()),
        Err(VerifyError::Malformed(CodeError::Empty))
    );
    assert_eq!(
        t.verify("12345", NOW, &fresh()),
        Err(VerifyError::Malformed(CodeError::Length { expected: 6 }))
    );
    assert_eq!(
        t.verify("12345a", NOW, &fresh()),
        Err(VerifyError::Malformed(CodeError::NotDigits))
    );
    // A valid code with a leading zero typed without it is the wrong length, never a match.
    let eight = Totp::new(
        &Secret::from_bytes(RFC_SEED).unwrap(),
        TotpParams::default().with_digits(Digits::EIGHT),
    );
    assert_eq!(
        eight.generate_at(1_111_111_109).unwrap().as_str(),
        "07081804"
    );
    assert!(eight.verify("07081804", 1_111_111_109, &fresh()).is_ok());
    assert!(eight.verify("0708 1804", 1_111_111_109, &fresh()).is_ok());
    assert!(matches!(
        eight.verify("7081804", 1_111_111_109, &fresh()),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn time_steps_work_far_past_2038_and_at_the_u64_limit() {
    let one_second = Totp::new(
        &Secret::from_bytes(RFC_SEED).unwrap(),
        TotpParams::default().with_period(Period::new(1).unwrap()),
    );
    let last = u64::MAX;
    let code = one_second.generate_at(last).unwrap();
    let m = one_second.verify(code.as_str(), last, &fresh()).unwrap();
    assert_eq!(m.step, last);
    assert_eq!(
        one_second.verify(code.as_str(), last, &m.state()),
        Err(VerifyError::Replayed)
    );
    let early = one_second.generate_step(0);
    assert!(one_second.verify(early.as_str(), 0, &fresh()).is_ok());

    let epoch = Totp::new(
        &Secret::from_bytes(RFC_SEED).unwrap(),
        TotpParams::default().with_epoch(100),
    );
    assert_eq!(
        epoch.verify("123456", 99, &fresh()),
        Err(VerifyError::Time(TimeError::BeforeEpoch))
    );
}

#[test]
fn every_algorithm_and_digit_count_verifies_its_own_codes() {
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        for digits in [Digits::SIX, Digits::SEVEN, Digits::EIGHT] {
            let secret = Secret::generate(algorithm).unwrap();
            let t = Totp::new(
                &secret,
                TotpParams::default()
                    .with_algorithm(algorithm)
                    .with_digits(digits),
            );
            let code = t.generate_at(NOW).unwrap();
            assert_eq!(code.as_str().len(), usize::from(digits.get()));
            assert!(t.verify(code.as_str(), NOW, &fresh()).is_ok());
        }
    }
}

#[test]
fn verifiers_do_not_print_their_keys() {
    let t = totp();
    let printed = format!("{t:?}");
    assert!(printed.contains("[redacted]"));
    let hotp = Hotp::new(
        &Secret::from_bytes(RFC_SEED).unwrap(),
        HotpParams::default(),
    );
    assert!(format!("{hotp:?}").contains("[redacted]"));
}

fn rfc_hotp() -> Hotp {
    Hotp::new(
        &Secret::from_bytes(RFC_SEED).unwrap(),
        HotpParams::default(),
    )
}

#[test]
fn hotp_look_ahead_and_replay() {
    let h = rfc_hotp(); // look-ahead 3
    let start = HotpState::starting_at(0);
    // Codes for counters 0..=3 are accepted from a fresh state; 4 is beyond the look-ahead.
    assert_eq!(h.verify("969429", &start).map(|m| m.counter), Ok(3));
    assert_eq!(h.verify("338314", &start), Err(VerifyError::Invalid));
    // After accepting counter 1, counters 0 and 1 are refused, 2 is accepted.
    let state = h.verify("287082", &start).unwrap().state();
    assert_eq!(state.next_counter(), Some(2));
    assert_eq!(h.verify("755224", &state), Err(VerifyError::Invalid));
    assert_eq!(h.verify("287082", &state), Err(VerifyError::Invalid));
    assert_eq!(h.verify("359152", &state).map(|m| m.counter), Ok(2));
    let wider = rfc_hotp().with_look_ahead(10);
    assert_eq!(wider.verify("520489", &start).map(|m| m.counter), Ok(9));
    // The counter space ends cleanly.
    let end = wider.verify(
        wider.generate(u64::MAX).as_str(),
        &HotpState::starting_at(u64::MAX),
    );
    let end_state = end.unwrap().state();
    assert_eq!(end_state.next_counter(), None);
    assert_eq!(
        wider.verify(wider.generate(u64::MAX).as_str(), &end_state),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn hotp_resynchronisation_needs_two_consecutive_codes() {
    let h = rfc_hotp();
    let start = HotpState::starting_at(0);
    // Counters 7 and 8 are beyond the normal look-ahead of 3.
    assert_eq!(h.verify("162583", &start), Err(VerifyError::Invalid));
    let m = h.resynchronize("162583", "399871", &start, 20).unwrap();
    assert_eq!(m.counter, 8);
    assert_eq!(m.state().next_counter(), Some(9));
    // Out of order, non-consecutive, or beyond the resync look-ahead: refused.
    assert_eq!(
        h.resynchronize("399871", "162583", &start, 20),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        h.resynchronize("287922", "399871", &start, 20),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        h.resynchronize("162583", "399871", &start, 5),
        Err(VerifyError::Invalid)
    );
    // Codes before the stored counter are never used for resync.
    let later = HotpState::starting_at(8);
    assert_eq!(
        h.resynchronize("162583", "399871", &later, 20),
        Err(VerifyError::Invalid)
    );
    assert!(matches!(
        h.resynchronize("16258", "399871", &start, 20),
        Err(VerifyError::Malformed(_))
    ));
}
