//! Constant-time measurements in the manner of dudect (Reparaz, Balasch and Verbauwhede, "Dude,
//! is my code constant time?", DATE 2017): two classes of input to one operation, the class of
//! each measurement drawn at random so that drifts of the machine hit both alike, every call
//! timed on its own, and Welch's t-test between the classes, on all measurements and on the
//! measurements below each of 100 percentile thresholds (dudect's crops, which cut the long tail
//! that interrupts add), plus dudect's second-order test. A pair's figure is the largest |t| over
//! those tests. |t| under 4.5 is dudect's pass mark: no evidence that the time depends on the
//! class.
//!
//! ```text
//! cargo bench -p twofactor-benches --bench ct                        # every pair, 10^6 each
//! cargo bench -p twofactor-benches --bench ct -- -n 20000            # a quick run
//! cargo bench -p twofactor-benches --bench ct -- code/ stamp/        # pairs whose names match
//! CT_MEASUREMENTS=2000000 cargo bench -p twofactor-benches --bench ct
//! ```
//!
//! The count is per pair, both classes together. Operations that take nanoseconds (`Secret` and
//! `FactorStamp` equality) are timed as a run of [`TINY_REPS`] calls on the same input, so the
//! clock's own cost does not drown them; the table says so in its `reps` column. Every other
//! measurement is one call.
//!
//! Classes whose results differ (a code accepted, a code refused) take different paths after
//! the comparison by design: the result is what the caller is told anyway. Such pairs measure
//! whether the *comparison* leaks beyond the result; the pairs whose results are alike (a code
//! one digit off against a random one, entry 0 against entry 9) measure whether a refusal or an
//! acceptance tells how close or where.
// A measurement whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use tokio::runtime::Runtime;
use twofactor::{
    Clock, FactorStamp, HashedRecoveryCodes, KdfParams, LoginFactor, ManualClock, MemoryStore,
    Reauth, RecentVerification, RecoveryCodeSet, RecoveryConfig, Secret, Totp, TotpParams,
    TotpState,
};
use twofactor_benches::{T0, enrol, flow_over};

/// Calls per measurement for operations that take nanoseconds.
const TINY_REPS: u32 = 64;
/// dudect's pass mark.
const THRESHOLD: f64 = 4.5;
/// dudect's number of percentile crops.
const CROPS: usize = 100;
/// A test counts only with at least this many measurements in it (dudect's `ENOUGH_MEASUREMENTS`).
const ENOUGH: u64 = 10_000;

/// xorshift64*: the class of each measurement and the random inputs. Not for secrets.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).unwrap();
        Rng(u64::from_le_bytes(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Welch's t-test, accumulated online (Welford), as dudect does.
#[derive(Clone, Copy, Default)]
struct Welch {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl Welch {
    fn push(&mut self, x: f64, class: usize) {
        self.n[class] += 1.0;
        let delta = x - self.mean[class];
        self.mean[class] += delta / self.n[class];
        self.m2[class] += delta * (x - self.mean[class]);
    }

    fn count(&self) -> f64 {
        self.n[0] + self.n[1]
    }

    fn t(&self) -> f64 {
        if self.n[0] < 2.0 || self.n[1] < 2.0 {
            return 0.0;
        }
        let var0 = self.m2[0] / (self.n[0] - 1.0);
        let var1 = self.m2[1] / (self.n[1] - 1.0);
        let den = (var0 / self.n[0] + var1 / self.n[1]).sqrt();
        if den == 0.0 {
            0.0
        } else {
            (self.mean[0] - self.mean[1]) / den
        }
    }
}

/// The measurements of one pair: the class and the time (ns) of each.
struct Samples {
    class: Vec<u8>,
    ns: Vec<u64>,
    reps: u32,
}

/// What the tests found for one pair.
struct Verdict {
    max_t: f64,
    /// Mean of class A minus mean of class B, ns per call, in the first-order test that gave
    /// the largest |t| (all measurements, or a crop).
    mean_diff: f64,
    /// Which test gave it: `all`, `crop k` (below the k-th threshold) or `2nd order`.
    which: String,
    medians: [f64; 2],
}

impl Samples {
    fn analyse(&self) -> Verdict {
        let mut sorted = self.ns.clone();
        sorted.sort_unstable();
        // The q-quantile, q in 0..=1: counted in millionths so the index stays an integer.
        let at = |q: f64| {
            let millionths = (0..=1_000_000u64)
                .find(|&m| m as f64 >= q * 1e6)
                .unwrap_or(1_000_000);
            let last = sorted.len() - 1;
            let i = u64::try_from(last)
                .unwrap_or(u64::MAX)
                .saturating_mul(millionths)
                / 1_000_000;
            sorted[usize::try_from(i).unwrap_or(last).min(last)]
        };
        // dudect's thresholds: 1 - 0.5^(10 (k + 1) / 100), dense near the top of the
        // distribution, where interrupts and frequency changes sit.
        let thresholds: Vec<u64> = (0..CROPS)
            .map(|k| at(1.0 - 0.5f64.powf(10.0 * (k as f64 + 1.0) / CROPS as f64)))
            .collect();
        let mut all = Welch::default();
        let mut crops = vec![Welch::default(); CROPS];
        for (&class, &ns) in self.class.iter().zip(&self.ns) {
            let class = usize::from(class);
            let x = ns as f64;
            all.push(x, class);
            for (crop, &limit) in crops.iter_mut().zip(&thresholds) {
                if ns < limit {
                    crop.push(x, class);
                }
            }
        }
        // Second order: the squared distance from the class's mean (a difference in spread).
        let mut second = Welch::default();
        for (&class, &ns) in self.class.iter().zip(&self.ns) {
            let class = usize::from(class);
            let centred = ns as f64 - all.mean[class];
            second.push(centred * centred, class);
        }
        let diff = |w: &Welch| (w.mean[0] - w.mean[1]) / f64::from(self.reps);
        let mut best = (all.t().abs(), "all".to_owned());
        let mut mean_diff = diff(&all);
        for (k, crop) in crops.iter().enumerate() {
            if crop.count() >= ENOUGH as f64 && crop.t().abs() > best.0 {
                best = (crop.t().abs(), format!("crop {k}"));
                mean_diff = diff(crop);
            }
        }
        if second.t().abs() > best.0 {
            best = (second.t().abs(), "2nd order".to_owned());
        }
        let median = |class: u8| {
            let mut v: Vec<u64> = self
                .class
                .iter()
                .zip(&self.ns)
                .filter(|(c, _)| **c == class)
                .map(|(_, ns)| *ns)
                .collect();
            v.sort_unstable();
            v.get(v.len() / 2)
                .map_or(0.0, |&m| m as f64 / f64::from(self.reps))
        };
        Verdict {
            max_t: best.0,
            mean_diff,
            which: best.1,
            medians: [median(0), median(1)],
        }
    }
}

/// Times `n` measurements of `op`, each on an input of a class drawn at random: `input(class, i)`
/// makes the input, `op` is called `reps` times on it. As in dudect, the inputs of a batch are
/// made first, so that the code run between two timed spans is the same whatever the class. A
/// warm-up of a hundredth of `n` (at least 1,000) is run and discarded first.
fn measure<I>(
    rng: &mut Rng,
    n: usize,
    reps: u32,
    mut input: impl FnMut(usize, usize) -> I,
    mut op: impl FnMut(&I),
) -> Samples {
    const BATCH: usize = 10_000;
    let warm = (n / 100).max(1_000);
    let mut samples = Samples {
        class: Vec::with_capacity(n),
        ns: Vec::with_capacity(n),
        reps,
    };
    let mut done = 0;
    let mut classes = Vec::with_capacity(BATCH);
    let mut inputs = Vec::with_capacity(BATCH);
    let mut times = Vec::with_capacity(BATCH);
    while done < warm + n {
        let size = BATCH.min(warm + n - done);
        classes.clear();
        inputs.clear();
        times.clear();
        for i in 0..size {
            let class = u8::from(rng.next() >> 63 == 1);
            classes.push(class);
            inputs.push(input(usize::from(class), done + i));
        }
        for x in &inputs {
            let x = black_box(x);
            let start = Instant::now();
            for _ in 0..reps {
                op(black_box(x));
            }
            times.push(start.elapsed());
        }
        for (i, (&class, elapsed)) in classes.iter().zip(&times).enumerate() {
            if done + i >= warm {
                samples.class.push(class);
                samples
                    .ns
                    .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
            }
        }
        done += size;
    }
    samples
}

/// Options: `-n N` / `--measurements N` (or `CT_MEASUREMENTS`), and name filters.
struct Options {
    measurements: usize,
    filters: Vec<String>,
}

fn options() -> Options {
    let mut measurements = std::env::var("CT_MEASUREMENTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // What `cargo bench` passes to every bench target.
            "--bench" => {}
            "-n" | "--measurements" => {
                measurements = args
                    .next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .expect("-n takes a number of measurements");
            }
            other if other.starts_with('-') => panic!("unknown option {other}"),
            other => filters.push(other.to_owned()),
        }
    }
    Options {
        measurements,
        filters,
    }
}

/// Takes `n` measurements of a pair.
type Runner<'a> = Box<dyn FnMut(&mut Rng, usize) -> Samples + 'a>;

/// One pair: its name, what its two classes are, and how it is measured.
struct Pair<'a> {
    name: &'static str,
    classes: [&'static str; 2],
    run: Runner<'a>,
}

/// The row printed for one pair.
fn row(pair: &Pair<'_>, samples: &Samples, verdict: &Verdict) {
    let mark = if verdict.max_t < THRESHOLD {
        "ok"
    } else {
        "DIFFERS"
    };
    println!(
        "{:<34} {:>9} {:>4} {:>11.1} {:>11.1} {:>8.2} {:>8.2} {:<10} {mark}   [{} | {}]",
        pair.name,
        samples.ns.len(),
        samples.reps,
        verdict.medians[0],
        verdict.medians[1],
        verdict.mean_diff,
        verdict.max_t,
        verdict.which,
        pair.classes[0],
        pair.classes[1],
    );
}

/// A class of string inputs: what it is, and its inputs (one fixed value, or a pool cycled
/// through).
#[derive(Clone)]
struct Class {
    what: &'static str,
    inputs: Vec<String>,
}

impl Class {
    fn fixed(what: &'static str, value: &str) -> Class {
        Class {
            what,
            inputs: vec![value.to_owned()],
        }
    }

    fn input(&self, i: usize) -> String {
        self.inputs[i % self.inputs.len()].clone()
    }
}

/// Pairs of string classes measured on `op`.
fn string_pairs<'a>(
    pairs: &[(&'static str, &Class, &Class)],
    op: impl Fn(&String) + Clone + 'a,
) -> Vec<Pair<'a>> {
    pairs
        .iter()
        .map(|&(name, a, b)| {
            let (a, b, op) = (a.clone(), b.clone(), op.clone());
            Pair {
                name,
                classes: [a.what, b.what],
                run: Box::new(move |rng, n| {
                    measure(
                        rng,
                        n,
                        1,
                        |class, i| if class == 0 { a.input(i) } else { b.input(i) },
                        &op,
                    )
                }),
            }
        })
        .collect()
}

/// Code verification: `Totp::verify` with the default window (±1 step), SHA-1, six digits, no
/// step accepted yet. The control pair draws both classes from one pool of random codes: it
/// shows what |t| the harness gives when nothing differs.
fn code_pairs<'a>(rng: &mut Rng) -> Vec<Pair<'a>> {
    const NOW: u64 = T0 + 15;
    let secret = Secret::generate(twofactor::Algorithm::Sha1).unwrap();
    let totp = Totp::new(&secret, TotpParams::default());
    let state = TotpState::default();
    let step = totp.step_at(NOW).unwrap();
    // The newest step of the window: the last candidate the scan computes.
    let edge = totp.generate_step(step + 1).as_str().to_owned();
    assert!(totp.verify(&edge, NOW, &state).is_ok());
    let centre = totp.generate_step(step).as_str().to_owned();
    assert_eq!(totp.verify(&centre, NOW, &state).map(|m| m.step), Ok(step));
    let mut last_digit = edge.clone().into_bytes();
    last_digit[5] = b'0' + (last_digit[5] - b'0' + 1) % 10;
    let last_digit = String::from_utf8(last_digit).unwrap();
    assert!(totp.verify(&last_digit, NOW, &state).is_err());
    // Random six-digit codes that match no step of the window (the odd one that does is
    // dropped, so that the class is "refused").
    let random: Vec<String> = std::iter::repeat_with(|| format!("{:06}", rng.below(1_000_000)))
        .filter(|c| totp.verify(c, NOW, &state).is_err())
        .take(4096)
        .collect();
    let edge = Class::fixed("matches the window's newest step", &edge);
    let centre = Class::fixed("matches the current step", &centre);
    let last = Class::fixed("the edge code, last digit changed", &last_digit);
    let random = Class {
        what: "a random refused code",
        inputs: random,
    };
    string_pairs(
        &[
            ("code/edge-vs-centre", &edge, &centre),
            ("code/edge-vs-random", &edge, &random),
            ("code/edge-vs-last-digit", &edge, &last),
            ("code/last-digit-vs-random", &last, &random),
            ("code/control-random-vs-random", &random, &random),
        ],
        move |code: &String| {
            black_box(totp.verify(black_box(code), NOW, &state).is_ok());
        },
    )
}

/// Recovery-code checking: `HashedRecoveryCodes::check` on sets of ten, hashed with the cheapest
/// Argon2id parameters Argon2 allows (8 KiB, 1 pass, 1 lane).
///
/// Argon2id's second half-pass reads memory at addresses derived from its input, so its time
/// depends a little on the code typed (the `recovery/input-*` pairs show it). To measure where a
/// code matches apart from that, the `recovery/entry*` pairs check one and the same code against
/// three sets with the same salt and parameters: one where it is entry 0, one where the stored
/// hashes are reordered so that it is entry 9, and one where its hash is replaced by another
/// entry's, so that it matches nothing. The key derivation is then identical in both classes and
/// only the comparison with the stored hashes differs.
fn recovery_pairs<'a>() -> Vec<Pair<'a>> {
    let kdf = KdfParams::argon2id(8, 1, 1).unwrap();
    let set = RecoveryCodeSet::generate(RecoveryConfig::default()).unwrap();
    let at0: HashedRecoveryCodes = set.hash(&kdf).unwrap();
    let code = set.codes()[0].expose().to_string();
    let encoded = at0.encode();
    let (head, entries) = encoded.rsplit_once('$').unwrap();
    let mut hashes: Vec<&str> = entries.split('.').collect();
    hashes.swap(0, 9);
    let at9: HashedRecoveryCodes = format!("{head}${}", hashes.join(".")).parse().unwrap();
    hashes.swap(0, 9);
    hashes[0] = hashes[1];
    let absent: HashedRecoveryCodes = format!("{head}${}", hashes.join(".")).parse().unwrap();
    assert_eq!(at0.check(&code), Ok(0));
    assert_eq!(at9.check(&code), Ok(9));
    assert!(absent.check(&code).is_err());

    let mut pairs = Vec::new();
    for (name, a, b) in [
        (
            "recovery/entry0-vs-entry9",
            ("entry 0", &at0),
            ("entry 9", &at9),
        ),
        (
            "recovery/entry0-vs-none",
            ("entry 0", &at0),
            ("none", &absent),
        ),
        (
            "recovery/entry9-vs-none",
            ("entry 9", &at9),
            ("none", &absent),
        ),
    ] {
        let (sets, code) = ([a.1.clone(), b.1.clone()], code.clone());
        pairs.push(Pair {
            name,
            classes: [a.0, b.0],
            run: Box::new(move |rng, n| {
                measure(
                    rng,
                    n,
                    1,
                    |class, _| (class, code.clone()),
                    |(class, code)| {
                        black_box(sets[*class].check(black_box(code)).is_ok());
                    },
                )
            }),
        });
    }

    // The typed code's own effect, against one set.
    let others = RecoveryCodeSet::generate(RecoveryConfig::new(100, 16).unwrap()).unwrap();
    let others: Vec<String> = others
        .codes()
        .iter()
        .map(|c| c.expose().to_string())
        .collect();
    let none = Class::fixed("a code not in the set", &others[0]);
    let other_none = Class::fixed("another code not in the set", &others[1]);
    let random = Class {
        what: "random codes not in the set",
        inputs: others[2..].to_vec(),
    };
    pairs.extend(string_pairs(
        &[
            ("recovery/input-one-vs-another", &none, &other_none),
            ("recovery/input-fixed-vs-random", &none, &random),
            ("recovery/control-random-vs-random", &random, &random),
        ],
        move |c: &String| {
            black_box(at0.check(black_box(c)).is_ok());
        },
    ));
    pairs
}

/// `FactorStamp::matches` and `Secret` equality: equal against a value differing in its first
/// byte, and in its last.
fn equality_pairs<'a>() -> Vec<Pair<'a>> {
    let stamp: FactorStamp = "AAECAwQFBgcICQoLDA0ODw".parse().unwrap();
    let stamp_first: FactorStamp = "gAECAwQFBgcICQoLDA0ODw".parse().unwrap();
    let stamp_last: FactorStamp = "AAECAwQFBgcICQoLDA0OgA".parse().unwrap();
    assert!(stamp.matches(&stamp) && !stamp.matches(&stamp_first) && !stamp.matches(&stamp_last));
    let bytes: Vec<u8> = (0u8..20).collect();
    let secret = Secret::from_bytes(&bytes).unwrap();
    let mut first = bytes.clone();
    first[0] ^= 0x80;
    let mut last = bytes.clone();
    last[19] ^= 0x01;
    let secret_same = Secret::from_bytes(&bytes).unwrap();
    let secret_first = Secret::from_bytes(&first).unwrap();
    let secret_last = Secret::from_bytes(&last).unwrap();
    let mut pairs = Vec::new();
    for (name, other, what) in [
        (
            "stamp/equal-vs-first-byte",
            stamp_first,
            "differs in byte 0",
        ),
        ("stamp/equal-vs-last-byte", stamp_last, "differs in byte 15"),
    ] {
        pairs.push(Pair {
            name,
            classes: ["equal", what],
            run: Box::new(move |rng, n| {
                measure(
                    rng,
                    n,
                    TINY_REPS,
                    |class, _| if class == 0 { stamp } else { other },
                    |s| {
                        black_box(black_box(&stamp).matches(s));
                    },
                )
            }),
        });
    }
    for (name, other, what) in [
        (
            "secret/equal-vs-first-byte",
            secret_first,
            "differs in byte 0",
        ),
        (
            "secret/equal-vs-last-byte",
            secret_last,
            "differs in byte 19",
        ),
    ] {
        let (secret, same) = (secret.clone(), secret_same.clone());
        pairs.push(Pair {
            name,
            classes: ["equal (another copy)", what],
            run: Box::new(move |rng, n| {
                measure(
                    rng,
                    n,
                    TINY_REPS,
                    |class, _| {
                        if class == 0 {
                            same.clone()
                        } else {
                            other.clone()
                        }
                    },
                    |s| {
                        black_box(black_box(&secret) == s);
                    },
                )
            }),
        });
    }
    pairs
}

/// The flow's tokens, through the public calls that compare them, over `MemoryStore`: the
/// enrolment ticket (`confirm`, with a malformed code so that nothing is written) and the
/// recent-verification proof (`disable` with only a proof, which refuses both classes).
fn token_pairs<'a>(rt: &'a Runtime, rng: &mut Rng) -> Vec<Pair<'a>> {
    let clock = ManualClock::new(T0);
    let flow = flow_over(
        MemoryStore::new(),
        &clock,
        KdfParams::argon2id(8, 1, 1).unwrap(),
    );
    let pending = rt.block_on(flow.begin("pending", "pending")).unwrap();
    let ticket = pending.ticket().clone();
    // Wrong tickets of the same shape (43 characters of URL-safe base64).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let wrong: Vec<twofactor::EnrollmentTicket> = (0..4096)
        .map(|_| {
            let text: String = (0..ticket.expose().len())
                .map(|_| char::from(alphabet[usize::try_from(rng.below(64)).unwrap_or(0)]))
                .collect();
            twofactor::EnrollmentTicket::from_session(&text)
        })
        .collect();
    let wrong_fixed = wrong[0].clone();

    // An authentic proof whose stamp is no longer the user's (a factor changed since), and the
    // same proof with one character changed (it no longer opens).
    let (app, _) = rt.block_on(enrol(&flow, &clock, "active"));
    clock.advance(30);
    let login = rt
        .block_on(flow.verify("active", app.generate_at(clock.now()).unwrap().as_str()))
        .unwrap();
    assert_eq!(login.factor, LoginFactor::Code);
    let stale = login.proof.clone();
    rt.block_on(flow.regenerate_recovery_codes("active", &login.proof))
        .unwrap();
    let mut tampered = stale.expose().as_bytes().to_vec();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = RecentVerification::from_session(&String::from_utf8(tampered).unwrap());
    // The same proof with one character of its ciphertext changed at a random place (never
    // the last, whose low bits base64 leaves unused).
    let sealed = stale.expose();
    let start = sealed.rfind('.').unwrap() + 1;
    let random_tampered: Vec<RecentVerification> = (0..1024)
        .map(|_| {
            let mut bytes = sealed.as_bytes().to_vec();
            let span = u64::try_from(bytes.len() - 1 - start).unwrap();
            let at = start + usize::try_from(rng.below(span)).unwrap();
            let was = bytes[at];
            bytes[at] = if was == b'A' { b'B' } else { b'A' };
            RecentVerification::from_session(&String::from_utf8(bytes).unwrap())
        })
        .collect();
    for proof in [&stale, &tampered].into_iter().chain(&random_tampered) {
        assert!(matches!(
            rt.block_on(flow.disable("active", Reauth::recent(proof))),
            Err(twofactor::FlowError::ReauthRequired)
        ));
    }
    assert!(matches!(
        rt.block_on(flow.confirm("pending", &ticket, "x")),
        Err(twofactor::FlowError::Malformed)
    ));
    let flow = std::rc::Rc::new(flow);

    let mut pairs = Vec::new();
    {
        let (flow, ticket, wrong) = (flow.clone(), ticket.clone(), wrong.clone());
        pairs.push(Pair {
            name: "ticket/right-vs-wrong",
            classes: ["this enrolment's ticket", "a random ticket"],
            run: Box::new(move |rng, n| {
                measure(
                    rng,
                    n,
                    1,
                    |class, i| {
                        if class == 0 {
                            ticket.clone()
                        } else {
                            wrong[i % wrong.len()].clone()
                        }
                    },
                    |t| {
                        black_box(rt.block_on(flow.confirm("pending", t, "x")).is_ok());
                    },
                )
            }),
        });
    }
    {
        let (flow, wrong) = (flow.clone(), wrong.clone());
        pairs.push(Pair {
            name: "ticket/wrong-fixed-vs-random",
            classes: ["one wrong ticket", "a random ticket"],
            run: Box::new(move |rng, n| {
                measure(
                    rng,
                    n,
                    1,
                    |class, i| {
                        if class == 0 {
                            wrong_fixed.clone()
                        } else {
                            wrong[i % wrong.len()].clone()
                        }
                    },
                    |t| {
                        black_box(rt.block_on(flow.confirm("pending", t, "x")).is_ok());
                    },
                )
            }),
        });
    }
    {
        let (flow, tampered, random_tampered) = (flow.clone(), tampered.clone(), random_tampered);
        pairs.push(Pair {
            name: "proof/tampered-fixed-vs-random",
            classes: ["one tampered proof", "tampered at a random place"],
            run: Box::new(move |rng, n| {
                measure(
                    rng,
                    n,
                    1,
                    |class, i| {
                        if class == 0 {
                            tampered.clone()
                        } else {
                            random_tampered[i % random_tampered.len()].clone()
                        }
                    },
                    |p| {
                        black_box(
                            rt.block_on(flow.disable("active", Reauth::recent(p)))
                                .is_ok(),
                        );
                    },
                )
            }),
        });
    }
    pairs.push(Pair {
        name: "proof/authentic-vs-tampered",
        classes: ["authentic, stale stamp", "one character changed"],
        run: Box::new(move |rng, n| {
            measure(
                rng,
                n,
                1,
                |class, _| {
                    if class == 0 {
                        stale.clone()
                    } else {
                        tampered.clone()
                    }
                },
                |p| {
                    black_box(
                        rt.block_on(flow.disable("active", Reauth::recent(p)))
                            .is_ok(),
                    );
                },
            )
        }),
    });
    pairs
}

fn main() {
    let options = options();
    let mut rng = Rng::seeded();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut pairs = code_pairs(&mut rng);
    pairs.extend(recovery_pairs());
    pairs.extend(equality_pairs());
    pairs.extend(token_pairs(&rt, &mut rng));
    pairs.retain(|p| {
        options.filters.is_empty() || options.filters.iter().any(|f| p.name.contains(f.as_str()))
    });
    println!(
        "dudect-style Welch t-tests: {} measurements per pair; |t| < {THRESHOLD} passes.",
        options.measurements
    );
    println!(
        "{:<34} {:>9} {:>4} {:>11} {:>11} {:>8} {:>8} {:<10}",
        "pair", "n", "reps", "median A ns", "median B ns", "A-B ns", "max |t|", "test"
    );
    let mut worst: f64 = 0.0;
    for pair in &mut pairs {
        let samples = (pair.run)(&mut rng, options.measurements);
        let verdict = samples.analyse();
        worst = worst.max(verdict.max_t);
        row(pair, &samples, &verdict);
    }
    println!("largest |t|: {worst:.2}");
}
