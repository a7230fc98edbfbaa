//! Random sequences of flow operations (enrolment, logins, sensitive changes, admin reset,
//! required enrolment, trusted browsers, several authenticators, imports) against a model of
//! what must happen.
//!
//! After every operation: accepted time steps strictly increase (no code accepted twice), no
//! recovery code is accepted twice or after its set was replaced, the enrolment status and the
//! failure count equal the model's (failures never lost), the stored record is well formed, the
//! factor stamp changes exactly on the operations that change factors, a recent-verification
//! proof authorises a change exactly while it is younger than the window and its stamp is
//! current, and no session but the one holding the ticket sees or confirms a pending secret.
//!
//! A second authenticator is modelled too (added behind the primary's code, its own replay
//! state, one shared failure count, removed or promoted when the primary is removed), with a
//! strategy of its own weighted towards it. Required enrolment and trusted browsers are
//! modelled as well: the step after the password is the
//! model's (the stricter of the stored and the application's requirement, a trusted browser
//! only while its token is unexpired, unrevoked, within the cap and issued under the current
//! factors), and the listed browsers are exactly the model's live ones.

use proptest::prelude::*;
use twofactor::flow::{NextStep, Requirement, TrustToken, check_record};
use twofactor::store::SecretStore;
use twofactor::{
    Algorithm, Clock, EncryptionKey, EnrollmentFlow, EnrollmentImport, EnrollmentStatus,
    EnrollmentTicket, FactorStamp, FlowConfig, FlowError, KdfParams, KeyRing, LoginFactor,
    ManualClock, MemoryStore, Reauth, RecentVerification, RecoveryConfig, Secret, ThrottlePolicy,
    Totp, TotpParams,
};

const USER: &str = "model-user";
const T0: u64 = 1_800_000_000;

#[derive(Debug, Clone)]
enum Op {
    Begin,
    NewDevice,
    Confirm {
        wrong: bool,
    },
    VerifyCode {
        offset: i64,
    },
    VerifyWrongCode,
    VerifyRecovery {
        index: usize,
    },
    Disable {
        with_recovery: bool,
    },
    Regenerate,
    AdminReset,
    Wait {
        seconds: u64,
    },
    /// Regenerate or disable on the strength of the last login's proof alone.
    WithProof {
        disable: bool,
    },
    /// Another session (no ticket, or a guessed one) asks to see or confirm the pending secret.
    OtherSession {
        confirm: bool,
    },
    /// The beginning session shows its pending secret again.
    Resume,
    /// An administrator stores a requirement: off, now, or a deadline this far ahead.
    Require {
        kind: u8,
        ahead: u64,
    },
    /// The step after the password, with an application policy and perhaps a browser's token.
    Next {
        policy: Option<(u8, u64)>,
        token: Option<usize>,
    },
    /// Trust this browser on the strength of the last login's proof.
    TrustBrowser {
        lifetime: Option<u64>,
    },
    /// Revoke one trusted browser (by the issue order), or all of them.
    RevokeTrust {
        which: Option<usize>,
    },
    /// At the next step, add a second authenticator behind the primary's code (begin, then
    /// confirm with the new one's code).
    AddSecond,
    /// Log in with the second authenticator's code of the current step (after waiting for the
    /// next step, with `next`).
    VerifySecond {
        next: bool,
    },
    /// Remove the second authenticator (or, with `primary`, the first one, which promotes the
    /// second) on the strength of the last login's proof.
    RemoveAuthenticator {
        primary: bool,
    },
    /// Import an existing enrolment (a new secret, four plain recovery codes, the last step
    /// `back` steps ago if given), over an active one only with `replace`.
    Import {
        replace: bool,
        back: Option<u64>,
    },
}

/// Operations weighted towards several authenticators: enrolment, logins with either, adding,
/// removing (either one), a new device, disable, proofs, trusted browsers, waiting.
fn authenticator_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Begin),
        3 => Just(Op::Confirm { wrong: false }),
        1 => Just(Op::NewDevice),
        4 => prop_oneof![3 => Just(0i64), 1 => Just(1)].prop_map(|offset| Op::VerifyCode { offset }),
        2 => Just(Op::VerifyWrongCode),
        4 => Just(Op::AddSecond),
        6 => any::<bool>().prop_map(|next| Op::VerifySecond { next }),
        3 => any::<bool>().prop_map(|primary| Op::RemoveAuthenticator { primary }),
        1 => any::<bool>().prop_map(|with_recovery| Op::Disable { with_recovery }),
        2 => prop_oneof![4 => Just(false), 1 => Just(true)].prop_map(|disable| Op::WithProof { disable }),
        1 => proptest::option::of(Just(700u64)).prop_map(|lifetime| Op::TrustBrowser { lifetime }),
        1 => (Just(None), proptest::option::of(0usize..4))
            .prop_map(|(policy, token)| Op::Next { policy, token }),
        3 => prop_oneof![Just(10u64), Just(30), Just(61), Just(400)]
            .prop_map(|seconds| Op::Wait { seconds }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (any::<bool>(), proptest::option::of(0u64..3))
            .prop_map(|(replace, back)| Op::Import { replace, back }),
        2 => Just(Op::Begin),
        1 => Just(Op::NewDevice),
        4 => prop_oneof![3 => Just(false), 1 => Just(true)].prop_map(|wrong| Op::Confirm { wrong }),
        8 => prop_oneof![4 => Just(0i64), 2 => Just(1), 2 => Just(-1), 1 => -3i64..=3]
            .prop_map(|offset| Op::VerifyCode { offset }),
        3 => Just(Op::VerifyWrongCode),
        3 => (0usize..6).prop_map(|index| Op::VerifyRecovery { index }),
        1 => any::<bool>().prop_map(|with_recovery| Op::Disable { with_recovery }),
        1 => Just(Op::Regenerate),
        1 => Just(Op::AdminReset),
        6 => prop_oneof![1 => Just(0u64), 1 => Just(10), 3 => Just(30), 1 => Just(61), 1 => Just(400), 1 => Just(1000)]
            .prop_map(|seconds| Op::Wait { seconds }),
        2 => prop_oneof![4 => Just(false), 1 => Just(true)].prop_map(|disable| Op::WithProof { disable }),
        2 => any::<bool>().prop_map(|confirm| Op::OtherSession { confirm }),
        1 => Just(Op::Resume),
        1 => (0u8..3, prop_oneof![Just(0u64), Just(100), Just(2000)])
            .prop_map(|(kind, ahead)| Op::Require { kind, ahead }),
        4 => (
            proptest::option::of((0u8..3, prop_oneof![Just(0u64), Just(50), Just(3000)])),
            proptest::option::of(0usize..8),
        )
            .prop_map(|(policy, token)| Op::Next { policy, token }),
        2 => proptest::option::of(prop_oneof![Just(100u64), Just(700)])
            .prop_map(|lifetime| Op::TrustBrowser { lifetime }),
        1 => proptest::option::of(0usize..8).prop_map(|which| Op::RevokeTrust { which }),
        3 => Just(Op::AddSecond),
        4 => any::<bool>().prop_map(|next| Op::VerifySecond { next }),
        2 => any::<bool>().prop_map(|primary| Op::RemoveAuthenticator { primary }),
    ]
}

/// What the model believes.
#[derive(Default)]
struct Model {
    active: Option<Totp>,
    /// The pending enrolment's app, expiry, and the ticket the session that began it holds.
    pending: Option<(Totp, u64, EnrollmentTicket)>,
    /// The most recent ticket issued (still held by its session after the enrolment ended).
    last_ticket: Option<EnrollmentTicket>,
    codes: Vec<String>,
    used: Vec<bool>,
    last_step: Option<u64>,
    drift: i64,
    failures: u32,
    last_failure_at: Option<u64>,
    accepted_steps: Vec<u64>,
    /// The last login's proof: when it was issued and how many factor changes had happened.
    proof: Option<(RecentVerification, u64, u32)>,
    /// Factor changes so far (each must change the stamp).
    factor_changes: u32,
    /// The stored requirement.
    requirement: Requirement,
    /// Every trust token issued, in order: the token, its id, expiry, the factor changes at
    /// issue, and whether it is still stored (not revoked or dropped by the cap).
    trusted: Vec<(TrustToken, String, u64, u32, bool)>,
    /// A second authenticator: its app, id, and last accepted step (its own replay state).
    second: Option<(Totp, String, u64)>,
    /// When a second factor was last accepted (only the proof of that login trusts a browser).
    latest_use_at: Option<u64>,
}

impl Model {
    /// Whether the last login's proof authorises a sensitive change now.
    fn proof_valid(&self, now: u64) -> Option<RecentVerification> {
        let (proof, at, changes) = self.proof.clone()?;
        (self.active.is_some() && changes == self.factor_changes && now - at <= WINDOW)
            .then_some(proof)
    }

    /// Whether turning 2FA off is refused for the stored requirement (required now, or the
    /// deadline reached).
    fn disable_refused(&self, now: u64) -> bool {
        match self.requirement {
            Requirement::Now => true,
            Requirement::By(deadline) => deadline <= now,
            _ => false,
        }
    }
}

/// The default reauthentication window.
const WINDOW: u64 = 300;

fn policy() -> ThrottlePolicy {
    ThrottlePolicy::new(2, 10, 40, 5, 500).unwrap()
}

fn config() -> FlowConfig {
    let mut c = FlowConfig::new("Model");
    c.kdf = KdfParams::argon2id(16, 1, 1).unwrap();
    c.recovery = RecoveryConfig::new(4, 10).unwrap();
    c.throttle = policy();
    c.trusted_browsers_max = TRUST_CAP;
    c.trusted_browser_lifetime = TRUST_LIFETIME;
    c.trusted_browser_max_lifetime = 2 * TRUST_LIFETIME;
    c
}

/// The code for `step` of `app`, unless it equals the code of another step near it (then the
/// outcome would depend on a collision; the operation is skipped).
fn unambiguous(app: &Totp, step: u64) -> Option<String> {
    let code = app.generate_step(step).to_string();
    let clash = (step.saturating_sub(30)..=step + 30)
        .filter(|&s| s != step)
        .any(|s| app.generate_step(s).to_string() == code);
    (!clash).then_some(code)
}

/// A code matching no step near `now` for any of the apps.
fn wrong_code(apps: &[&Totp], now_step: u64) -> String {
    (0u32..)
        .map(|n| format!("{:06}", (n * 7919 + 13) % 1_000_000))
        .find(|c| {
            apps.iter().all(|app| {
                (now_step - 30..=now_step + 30).all(|s| app.generate_step(s).to_string() != *c)
            })
        })
        .unwrap()
}

/// The trusted-browser cap in the model's configuration.
const TRUST_CAP: usize = 3;
/// The default trusted-browser lifetime in the model's configuration.
const TRUST_LIFETIME: u64 = 1500;

fn requirement(kind: u8, ahead: u64, now: u64) -> Requirement {
    match kind {
        0 => Requirement::Off,
        1 => Requirement::Now,
        _ => Requirement::By(now + ahead),
    }
}

impl Model {
    /// Whether trust token `i` skips the second step at `now`.
    fn trust_valid(&self, i: usize, now: u64) -> bool {
        let (_, _, expires, changes, stored) = &self.trusted[i];
        *stored && self.active.is_some() && now < *expires && *changes == self.factor_changes
    }

    /// Ids of the browsers the user sees, oldest first.
    fn live_trusted(&self, now: u64) -> Vec<String> {
        (0..self.trusted.len())
            .filter(|&i| self.trust_valid(i, now))
            .map(|i| self.trusted[i].1.clone())
            .collect()
    }

    /// What the store keeps after a write at `now`: only usable entries.
    fn prune_trusted(&mut self, now: u64) {
        for i in 0..self.trusted.len() {
            if !self.trust_valid(i, now) {
                self.trusted[i].4 = false;
            }
        }
    }

    fn gated(&self, now: u64) -> bool {
        policy()
            .next_attempt(self.failures, self.last_failure_at)
            .is_some_and(|(until, _)| now < until)
    }

    fn fail(&mut self, now: u64) {
        self.failures += 1;
        self.last_failure_at = Some(now);
    }

    fn succeed(&mut self) {
        self.failures = 0;
        self.last_failure_at = None;
    }

    /// Predicts a code check against the active device at `now` for a code of `step`.
    /// Returns `Some(true)` accepted, `Some(false)` counted failure.
    fn code_outcome(&self, now_step: u64, step: u64) -> bool {
        let centre = now_step as i64 + self.drift.clamp(-10, 10);
        let in_window = (centre - 1..=centre + 1).contains(&(step as i64));
        in_window && self.last_step.is_none_or(|last| step > last)
    }

    fn accept(&mut self, step: u64, now_step: u64) {
        if let Some(&prev) = self.accepted_steps.last() {
            assert!(step > prev, "step {step} accepted after {prev}");
        }
        self.accepted_steps.push(step);
        self.last_step = Some(step);
        self.drift = step as i64 - now_step as i64;
        self.succeed();
    }
}

fn check_failure(result: &Result<impl std::fmt::Debug, FlowError>) {
    assert!(
        matches!(
            result,
            Err(FlowError::InvalidCode { .. }
                | FlowError::ClockSkew { .. }
                | FlowError::Locked { .. })
        ),
        "expected a counted failure, got {result:?}"
    );
}

fn check_gated(result: &Result<impl std::fmt::Debug, FlowError>) {
    assert!(
        matches!(
            result,
            Err(FlowError::Throttled { .. } | FlowError::Locked { .. })
        ),
        "expected a refusal without checking, got {result:?}"
    );
}

async fn run(ops: Vec<Op>) {
    let clock = ManualClock::new(T0);
    let flow = EnrollmentFlow::new(
        MemoryStore::new(),
        KeyRing::new(EncryptionKey::generate(1).unwrap()),
        config(),
    )
    .unwrap()
    .with_clock(clock.clone());
    let mut m = Model::default();
    let mut stamp = FactorStamp::default();
    let mut seen_changes = 0;
    let mut imports = 0u32;

    for op in ops {
        let op_name = format!("{op:?}");
        let now = clock.now();
        let now_step = now / 30;
        match op {
            Op::Wait { seconds } => clock.advance(seconds),
            Op::Import { replace, back } => {
                imports += 1;
                let secret = Secret::generate(Algorithm::Sha1).unwrap();
                let app = Totp::new(&secret, TotpParams::default());
                let codes: Vec<String> =
                    (0..4).map(|i| format!("MPRTX{imports:03}{i:02}")).collect();
                let plain: Vec<&str> = codes.iter().map(String::as_str).collect();
                let mut import = EnrollmentImport::new(secret, TotpParams::default())
                    .unwrap()
                    .with_recovery_codes(&plain)
                    .unwrap();
                if let Some(back) = back {
                    import = import.with_last_step(now_step - back);
                }
                if replace {
                    import = import.replace_active();
                }
                let r = flow.import(USER, import).await;
                if m.active.is_some() && !replace {
                    assert!(matches!(r, Err(FlowError::AlreadyEnrolled)), "{r:?}");
                    continue;
                }
                let imported = r.unwrap();
                assert_eq!(imported.replaced, m.active.is_some());
                // A factor change: the pending enrolment, added authenticators and trusted
                // browsers go; the failure count is reset; the last step is the imported one
                // or the stored one, whichever is later (never lowered), with no drift.
                m.active = Some(app);
                m.second = None;
                m.pending = None;
                m.codes = codes;
                m.used = vec![false; 4];
                m.factor_changes += 1;
                let step = back.map(|b| now_step - b);
                if let Some(step) = step.or(m.last_step) {
                    m.last_step = Some(m.last_step.map_or(step, |l| l.max(step)));
                    m.drift = 0;
                }
                m.succeed();
            }
            Op::Begin => {
                let r = flow.begin(USER, "model@example.com").await;
                if m.active.is_some() {
                    assert!(matches!(r, Err(FlowError::AlreadyEnrolled)), "{r:?}");
                } else {
                    let e = r.unwrap();
                    m.pending = Some((
                        e.uri().to_totp().unwrap(),
                        e.expires_at(),
                        e.ticket().clone(),
                    ));
                    m.last_ticket = Some(e.ticket().clone());
                }
            }
            Op::NewDevice => {
                let Some(app) = m.active.clone() else {
                    let r = flow.begin_new_device(USER, "m", "123456").await;
                    assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");
                    continue;
                };
                let Some(proof) = unambiguous(&app, now_step) else {
                    continue;
                };
                let r = flow
                    .begin_new_device(USER, "model@example.com", &proof)
                    .await;
                if m.gated(now) {
                    check_gated(&r);
                } else if m.code_outcome(now_step, now_step) {
                    let e = r.unwrap();
                    m.accept(now_step, now_step);
                    // A code typed now: the last login's proof is no longer the latest.
                    m.latest_use_at = Some(now);
                    m.pending = Some((
                        e.uri().to_totp().unwrap(),
                        e.expires_at(),
                        e.ticket().clone(),
                    ));
                    m.last_ticket = Some(e.ticket().clone());
                } else {
                    check_failure(&r);
                    m.fail(now);
                }
            }
            Op::Confirm { wrong } => {
                let Some((app, expires, ticket)) = m.pending.clone() else {
                    // Even the session holding the last ticket issued has nothing to confirm.
                    let ticket = m
                        .last_ticket
                        .clone()
                        .unwrap_or_else(|| EnrollmentTicket::from_session("never-issued"));
                    let r = flow.confirm(USER, &ticket, "123456").await;
                    assert!(matches!(r, Err(FlowError::NoPendingEnrollment)), "{r:?}");
                    continue;
                };
                let code = if wrong {
                    let mut apps = vec![&app];
                    apps.extend(m.active.iter());
                    apps.extend(m.second.as_ref().map(|s| &s.0));
                    wrong_code(&apps, now_step)
                } else {
                    match unambiguous(&app, now_step) {
                        Some(c) => c,
                        None => continue,
                    }
                };
                let r = flow.confirm(USER, &ticket, &code).await;
                if now >= expires {
                    assert!(matches!(r, Err(FlowError::EnrollmentExpired)), "{r:?}");
                } else if m.gated(now) {
                    check_gated(&r);
                } else if wrong {
                    check_failure(&r);
                    m.fail(now);
                } else {
                    let confirmed = r.unwrap();
                    let first = m.active.is_none();
                    assert_eq!(confirmed.recovery_codes().is_some(), first);
                    if let Some(set) = confirmed.recovery_codes() {
                        m.codes = set.codes().iter().map(|c| c.expose().to_string()).collect();
                        m.used = vec![false; m.codes.len()];
                    }
                    m.active = Some(app);
                    m.pending = None;
                    m.factor_changes += 1;
                    m.last_step = Some(m.last_step.map_or(now_step, |l| l.max(now_step)));
                    m.drift = 0;
                    m.succeed();
                }
            }
            Op::VerifyCode { offset } => {
                let Some(app) = m.active.clone() else {
                    let r = flow.verify(USER, "123456").await;
                    assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");
                    continue;
                };
                let step = now_step.checked_add_signed(offset).unwrap();
                let Some(code) = unambiguous(&app, step) else {
                    continue;
                };
                let r = flow.verify(USER, &code).await;
                if m.gated(now) {
                    check_gated(&r);
                } else if m.code_outcome(now_step, step) {
                    let v = r.unwrap();
                    assert_eq!(v.factor, LoginFactor::Code);
                    m.proof = Some((v.proof, now, m.factor_changes));
                    m.latest_use_at = Some(now);
                    m.accept(step, now_step);
                } else {
                    check_failure(&r);
                    m.fail(now);
                }
            }
            Op::VerifyWrongCode => {
                let Some(app) = m.active.clone() else {
                    continue;
                };
                let mut apps = vec![&app];
                apps.extend(m.second.as_ref().map(|s| &s.0));
                let r = flow.verify(USER, &wrong_code(&apps, now_step)).await;
                if m.gated(now) {
                    check_gated(&r);
                } else {
                    check_failure(&r);
                    m.fail(now);
                }
            }
            Op::VerifyRecovery { index } => {
                if m.active.is_none() {
                    continue;
                }
                let code = m
                    .codes
                    .get(index)
                    .cloned()
                    .unwrap_or_else(|| "0000-0000-00".into());
                let r = flow.verify(USER, &code).await;
                if m.gated(now) {
                    check_gated(&r);
                } else if index < m.codes.len() && !m.used[index] {
                    let left = m.used.iter().filter(|u| !**u).count() - 1;
                    let v = r.unwrap();
                    assert_eq!(v.factor, LoginFactor::RecoveryCode { remaining: left });
                    m.proof = Some((v.proof, now, m.factor_changes));
                    m.latest_use_at = Some(now);
                    m.used[index] = true;
                    m.succeed();
                } else {
                    check_failure(&r);
                    m.fail(now);
                }
            }
            Op::Disable { .. } | Op::Regenerate if m.active.is_none() => {
                let r = flow.disable(USER, "123456").await;
                if m.disable_refused(now) {
                    // Refused for the requirement before anything else is looked at.
                    assert!(
                        matches!(
                            r,
                            Err(FlowError::NotEnrolled | FlowError::EnrollmentRequired)
                        ),
                        "{r:?}"
                    );
                } else {
                    assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");
                }
                let r = flow.regenerate_recovery_codes(USER, "123456").await;
                assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");
                continue;
            }
            Op::Disable { .. } if m.disable_refused(now) => {
                // Required and due: refused before any factor is checked or consumed.
                let r = flow.disable(USER, "123456").await;
                assert!(matches!(r, Err(FlowError::EnrollmentRequired)), "{r:?}");
            }
            Op::Disable { with_recovery } => {
                let app = m.active.clone().unwrap();
                let unused = m.used.iter().position(|u| !u);
                let (proof, is_code) = match (with_recovery, unused) {
                    (true, Some(i)) => (m.codes[i].clone(), false),
                    _ => match unambiguous(&app, now_step) {
                        Some(c) => (c, true),
                        None => continue,
                    },
                };
                let r = flow.disable(USER, &proof).await;
                if m.gated(now) {
                    check_gated(&r);
                } else if !is_code || m.code_outcome(now_step, now_step) {
                    r.unwrap();
                    if is_code {
                        m.accept(now_step, now_step);
                    }
                    m.active = None;
                    m.second = None;
                    m.pending = None;
                    m.codes.clear();
                    m.used.clear();
                    m.factor_changes += 1;
                    m.succeed();
                } else {
                    check_failure(&r);
                    m.fail(now);
                }
            }
            Op::Regenerate => {
                let app = m.active.clone().unwrap();
                let Some(proof) = unambiguous(&app, now_step) else {
                    continue;
                };
                let r = flow.regenerate_recovery_codes(USER, &proof).await;
                if m.gated(now) {
                    check_gated(&r);
                } else if m.code_outcome(now_step, now_step) {
                    let set = r.unwrap().codes;
                    m.factor_changes += 1;
                    m.accept(now_step, now_step);
                    m.codes = set.codes().iter().map(|c| c.expose().to_string()).collect();
                    m.used = vec![false; m.codes.len()];
                } else {
                    check_failure(&r);
                    m.fail(now);
                }
            }
            Op::AdminReset => {
                flow.admin_reset(USER).await.unwrap();
                m.active = None;
                m.second = None;
                m.pending = None;
                m.codes.clear();
                m.used.clear();
                m.factor_changes += 1;
                m.succeed();
            }
            Op::WithProof { disable } => {
                let Some((proof, at, changes)) = m.proof.clone() else {
                    continue;
                };
                let valid = m.active.is_some() && changes == m.factor_changes && now - at <= WINDOW;
                if disable {
                    let r = flow.disable(USER, Reauth::recent(&proof)).await;
                    if m.disable_refused(now) {
                        assert!(
                            matches!(
                                r,
                                Err(FlowError::NotEnrolled | FlowError::EnrollmentRequired)
                            ),
                            "{r:?}"
                        );
                    } else if valid {
                        r.unwrap();
                        m.active = None;
                        m.second = None;
                        m.pending = None;
                        m.codes.clear();
                        m.used.clear();
                        m.factor_changes += 1;
                        // Turning 2FA off clears the failure count, as with a typed factor.
                        m.succeed();
                    } else if m.active.is_none() {
                        assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");
                    } else {
                        assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");
                    }
                } else {
                    let r = flow
                        .regenerate_recovery_codes(USER, Reauth::recent(&proof))
                        .await;
                    if valid {
                        let set = r.unwrap().codes;
                        m.codes = set.codes().iter().map(|c| c.expose().to_string()).collect();
                        m.used = vec![false; m.codes.len()];
                        m.factor_changes += 1;
                    } else if m.active.is_none() {
                        assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");
                    } else {
                        assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");
                    }
                }
                // Proofs are never counted as failures (checked with the invariants below).
            }
            Op::OtherSession { confirm } => {
                let stranger = EnrollmentTicket::from_session("another-session");
                if confirm {
                    // Even with the right code for the pending secret.
                    let code = m
                        .pending
                        .as_ref()
                        .and_then(|(app, _, _)| unambiguous(app, now_step))
                        .unwrap_or_else(|| "123456".to_owned());
                    let r = flow.confirm(USER, &stranger, &code).await;
                    assert!(matches!(r, Err(FlowError::NoPendingEnrollment)), "{r:?}");
                } else {
                    let r = flow.resume(USER, "model@example.com", &stranger).await;
                    assert!(r.unwrap().is_none(), "no secret for another session");
                }
            }
            Op::Resume => {
                let Some((app, expires, ticket)) = m.pending.clone() else {
                    continue;
                };
                let r = flow
                    .resume(USER, "model@example.com", &ticket)
                    .await
                    .unwrap();
                if now < expires {
                    let again = r.expect("the beginning session sees its secret");
                    assert_eq!(
                        again.uri().to_totp().unwrap().generate_step(1),
                        app.generate_step(1)
                    );
                } else {
                    assert!(r.is_none());
                }
            }
            Op::Require { kind, ahead } => {
                let r = requirement(kind, ahead, now);
                flow.admin_require(USER, r).await.unwrap();
                m.requirement = r;
            }
            Op::Next { policy, token } => {
                let policy = policy.map(|(kind, ahead)| requirement(kind, ahead, now));
                let token = token.filter(|&i| i < m.trusted.len());
                let presented = token.map(|i| m.trusted[i].0.clone());
                let r = flow
                    .next_step(USER, policy, presented.as_ref())
                    .await
                    .unwrap();
                if m.active.is_some() {
                    match token {
                        Some(i) if m.trust_valid(i, now) => match r {
                            NextStep::Trusted(login) => {
                                assert_eq!(login.browser.id, m.trusted[i].1)
                            }
                            other => panic!("expected a trusted login, got {other:?}"),
                        },
                        _ => assert!(matches!(r, NextStep::SecondFactor), "{r:?}"),
                    }
                    // A refusal removes what is no longer usable.
                    if token.is_some() {
                        m.prune_trusted(now);
                    }
                } else {
                    let due = policy.map_or(m.requirement, |p| p.stricter(m.requirement));
                    match due {
                        Requirement::Off => assert!(matches!(r, NextStep::Continue), "{r:?}"),
                        d if d.is_due(now) => {
                            assert!(matches!(r, NextStep::RequireEnrollment), "{r:?}");
                        }
                        Requirement::By(deadline) => assert!(
                            matches!(r, NextStep::OfferEnrollment { deadline: d } if d == deadline),
                            "{r:?}"
                        ),
                        other => panic!("unexpected requirement {other:?}"),
                    }
                }
            }
            Op::TrustBrowser { lifetime } => {
                let Some((proof, at, changes)) = m.proof.clone() else {
                    continue;
                };
                let r = flow.trust_browser(USER, &proof, "model", lifetime).await;
                if m.active.is_none() {
                    assert!(matches!(r, Err(FlowError::NotEnrolled)), "{r:?}");
                } else if changes != m.factor_changes
                    || now - at > twofactor::flow::TRUST_AFTER_LOGIN
                    || m.latest_use_at != Some(at)
                {
                    assert!(matches!(r, Err(FlowError::ReauthRequired)), "{r:?}");
                } else {
                    let issued = r.unwrap();
                    let expires = now + lifetime.unwrap_or(TRUST_LIFETIME).min(2 * TRUST_LIFETIME);
                    assert_eq!(issued.browser.expires_at, expires);
                    m.prune_trusted(now);
                    let mut live: Vec<usize> = (0..m.trusted.len())
                        .filter(|&i| m.trust_valid(i, now))
                        .collect();
                    while live.len() >= TRUST_CAP {
                        m.trusted[live.remove(0)].4 = false;
                    }
                    m.trusted.push((
                        issued.token,
                        issued.browser.id,
                        expires,
                        m.factor_changes,
                        true,
                    ));
                }
            }
            Op::RevokeTrust { which } => match which {
                None => {
                    let live = m.live_trusted(now).len();
                    let n = flow.revoke_trusted_browsers(USER).await.unwrap();
                    assert_eq!(n, live, "revoke all");
                    for t in &mut m.trusted {
                        t.4 = false;
                    }
                }
                Some(i) if i < m.trusted.len() => {
                    let was_live = m.trust_valid(i, now);
                    let id = m.trusted[i].1.clone();
                    let found = flow.revoke_trusted_browser(USER, &id).await.unwrap();
                    assert_eq!(found, was_live, "revoke of browser {i}");
                    m.trusted[i].4 = false;
                    m.prune_trusted(now);
                }
                Some(_) => {}
            },
            Op::AddSecond => {
                let Some(primary) = m.active.clone() else {
                    continue;
                };
                if m.second.is_some() {
                    continue;
                }
                // At the next step, so that the primary's code is fresh.
                clock.advance(30);
                let (now, now_step) = (clock.now(), clock.now() / 30);
                let Some(code) = unambiguous(&primary, now_step) else {
                    continue;
                };
                // Authorised by the primary's code typed now (checked and consumed like a login).
                let r = flow
                    .begin_add_authenticator(USER, "m", "second", code.as_str())
                    .await;
                if m.gated(now) {
                    check_gated(&r);
                    continue;
                }
                if !m.code_outcome(now_step, now_step) {
                    check_failure(&r);
                    m.fail(now);
                    continue;
                }
                let e = r.unwrap();
                m.accept(now_step, now_step);
                let app = e.uri().to_totp().unwrap();
                m.last_ticket = Some(e.ticket().clone());
                let confirmed = flow
                    .confirm(USER, e.ticket(), &app.generate_step(now_step).to_string())
                    .await
                    .unwrap();
                let id = confirmed.added_authenticator().unwrap().id.clone();
                m.second = Some((app, id, now_step));
                m.pending = None;
                m.factor_changes += 1;
                m.succeed();
            }
            Op::VerifySecond { next } => {
                let Some((app, _, last)) = m.second.clone() else {
                    continue;
                };
                if next {
                    clock.advance(30);
                }
                let (now, now_step) = (clock.now(), clock.now() / 30);
                let Some(code) = unambiguous(&app, now_step) else {
                    continue;
                };
                if m.active.as_ref().is_some_and(|primary| {
                    (now_step - 30..=now_step + 30)
                        .any(|s| primary.generate_step(s).to_string() == code)
                }) {
                    continue;
                }
                let r = flow.verify(USER, &code).await;
                if m.gated(now) {
                    check_gated(&r);
                } else if last < now_step {
                    let v = r.unwrap();
                    assert_eq!(v.authenticator.unwrap().name, "second");
                    m.proof = Some((v.proof, now, m.factor_changes));
                    m.latest_use_at = Some(now);
                    if let Some(second) = &mut m.second {
                        second.2 = now_step;
                    }
                    m.succeed();
                } else {
                    check_failure(&r);
                    m.fail(now);
                }
            }
            Op::RemoveAuthenticator { primary } => {
                let Some((app, id, last)) = m.second.clone() else {
                    continue;
                };
                let listed = flow.authenticators(USER).await.unwrap();
                assert_eq!(listed.len(), 2);
                let target = if primary { listed[0].id.clone() } else { id };
                // Authorised by the last login's proof when it is fresh, else by the primary's
                // code typed now.
                if let Some(proof) = m.proof_valid(now) {
                    flow.remove_authenticator(USER, &target, Reauth::recent(&proof))
                        .await
                        .unwrap();
                } else {
                    let Some(code) = m.active.as_ref().and_then(|p| unambiguous(p, now_step))
                    else {
                        continue;
                    };
                    let r = flow
                        .remove_authenticator(USER, &target, code.as_str())
                        .await;
                    if m.gated(now) {
                        check_gated(&r);
                        continue;
                    }
                    if !m.code_outcome(now_step, now_step) {
                        check_failure(&r);
                        m.fail(now);
                        continue;
                    }
                    r.unwrap();
                    m.accept(now_step, now_step);
                }
                if primary {
                    // The second becomes the primary: its step goes to the hot field, which
                    // never goes down.
                    m.active = Some(app);
                    m.last_step = Some(m.last_step.map_or(last, |l| l.max(last)));
                    m.drift = 0;
                }
                m.second = None;
                m.pending = None;
                m.factor_changes += 1;
            }
        }

        // Invariants after every operation.
        let status = flow.status(USER).await.unwrap();
        let expected_active = m.active.is_some();
        assert_eq!(status.is_active(), expected_active, "{status:?}");
        if !expected_active {
            let pending = matches!(status.enrollment, EnrollmentStatus::Pending { .. });
            assert_eq!(pending, m.pending.is_some(), "{status:?}");
        }
        assert_eq!(
            status.failures, m.failures,
            "failures never lost or invented"
        );
        if expected_active {
            let left = m.used.iter().filter(|u| !**u).count();
            assert_eq!(status.recovery_codes_left, Some(left));
        }
        if let Some(record) = flow.store().get(USER).await.unwrap() {
            check_record(&record.cold).unwrap();
            assert_eq!(record.last_step, m.last_step);
        }
        // The stamp changes exactly when the factors did.
        let changed = !status.factor_stamp.matches(&stamp);
        assert_eq!(
            changed,
            m.factor_changes != seen_changes,
            "stamp after {op_name}"
        );
        stamp = status.factor_stamp;
        seen_changes = m.factor_changes;
        // The stored requirement, and the browsers the user sees.
        assert_eq!(status.requirement(), m.requirement, "after {op_name}");
        let listed: Vec<String> = flow
            .trusted_browsers(USER)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(
            listed,
            m.live_trusted(clock.now()),
            "browsers after {op_name}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_operation_sequences_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(ops));
    }

    #[test]
    fn several_authenticators_keep_the_invariants(
        ops in proptest::collection::vec(authenticator_op(), 1..50)
    ) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
