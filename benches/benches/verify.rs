//! The verification hot path, against a peer (`totp-rs`) and a floor, in the same run.
//!
//! The floor is the hash work a ±1 window cannot avoid: three candidates, each an inner and an
//! outer SHA block compression, done with the `sha1` crate's public `compress` on prepared states.
//!
//! Worst cases compute every candidate: a match at the far (newest) edge of the window, and a wrong
//! code. Run `cargo bench -p twofactor-benches --bench verify`, then `benches/summarize.py` for medians and ratios.
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use twofactor::{Algorithm, Digits, Secret, Totp, TotpParams, TotpState};

const NOW: u64 = 1_700_000_015;
const ALGORITHMS: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];

fn params(algorithm: Algorithm) -> TotpParams {
    TotpParams::default()
        .with_algorithm(algorithm)
        .with_digits(Digits::SIX)
}

fn peer(algorithm: Algorithm, secret: &Secret) -> totp_rs::Totp {
    let algorithm = match algorithm {
        Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
        Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        _ => totp_rs::Algorithm::SHA1,
    };
    totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.expose_bytes().to_vec())
        .build()
        .unwrap()
}

/// A 6-digit code that matches none of the window's three steps.
fn wrong_code(totp: &Totp) -> String {
    let step = totp.step_at(NOW).unwrap();
    let window: Vec<String> = (step - 1..=step + 1)
        .map(|s| totp.generate_step(s).to_string())
        .collect();
    (0..)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    for algorithm in ALGORITHMS {
        let secret = Secret::generate(algorithm).unwrap();
        let totp = Totp::new(&secret, params(algorithm));
        let theirs = peer(algorithm, &secret);
        group.bench_function(format!("{algorithm}/twofactor"), |b| {
            b.iter(|| totp.generate_at(black_box(NOW)).unwrap())
        });
        group.bench_function(format!("{algorithm}/totp-rs"), |b| {
            b.iter(|| theirs.generate(black_box(NOW)))
        });
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    for algorithm in ALGORITHMS {
        let mut group = c.benchmark_group(format!("verify_pm1/{algorithm}"));
        let secret = Secret::generate(algorithm).unwrap();
        let totp = Totp::new(&secret, params(algorithm));
        let theirs = peer(algorithm, &secret);
        let step = totp.step_at(NOW).unwrap();
        let far_edge = totp.generate_step(step + 1).to_string();
        let wrong = wrong_code(&totp);
        let fresh = TotpState::default();

        // Sanity: each case is what it claims to be, for both libraries.
        assert_eq!(totp.verify(&far_edge, NOW, &fresh).unwrap().step, step + 1);
        assert!(totp.verify(&wrong, NOW, &fresh).is_err());
        assert_eq!(theirs.check(&far_edge, NOW), Some(step + 1));
        assert_eq!(theirs.check(&wrong, NOW), None);

        for (case, code) in [("far_edge", &far_edge), ("wrong", &wrong)] {
            group.bench_function(format!("twofactor_prepared/{case}"), |b| {
                b.iter(|| totp.verify(black_box(code), black_box(NOW), black_box(&fresh)))
            });
            group.bench_function(format!("twofactor_raw_secret/{case}"), |b| {
                b.iter(|| {
                    Totp::new(black_box(&secret), params(algorithm)).verify(
                        black_box(code),
                        black_box(NOW),
                        black_box(&fresh),
                    )
                })
            });
            group.bench_function(format!("totp-rs/{case}"), |b| {
                b.iter(|| theirs.check(black_box(code), black_box(NOW)))
            });
        }
        if algorithm == Algorithm::Sha1 {
            group.bench_function("floor/six_sha1_compressions", floor);
        }
        group.finish();
    }
}

/// Three independent inner/outer pairs of SHA-1 block compressions, on states prepared the way
/// HMAC prepares them. Blocks are written as whole 16-byte chunks, so the floor pays no
/// store-forwarding stalls either: it is the hash work alone.
fn floor(b: &mut criterion::Bencher<'_>) {
    let mut inner_iv = [
        0x6745_2301u32,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut outer_iv = inner_iv;
    sha1::block_api::compress(&mut inner_iv, &[[0x36; 64]]);
    sha1::block_api::compress(&mut outer_iv, &[[0x5c; 64]]);
    let block = |chunks: [u128; 4]| {
        let mut out = [0u8; 64];
        for (dst, c) in out.chunks_exact_mut(16).zip(chunks) {
            dst.copy_from_slice(&c.to_be_bytes());
        }
        out
    };
    let step = 56_666_667u64;
    b.iter(|| {
        let mut acc = 0u32;
        for counter in [step - 1, step, step + 1] {
            let counter = u128::from(black_box(counter));
            let mut inner = black_box(inner_iv);
            sha1::block_api::compress(
                &mut inner,
                &[block([counter << 64 | 0x80 << 56, 0, 0, 576])],
            );
            let w = inner.map(u128::from);
            let head = w[0] << 96 | w[1] << 64 | w[2] << 32 | w[3];
            let mut outer = black_box(outer_iv);
            sha1::block_api::compress(
                &mut outer,
                &[block([head, w[4] << 96 | 0x80 << 88, 0, 672])],
            );
            acc ^= outer[4];
        }
        acc
    });
}

/// Whether this CPU overlaps independent SHA-1 compressions: six chained through one state, six on
/// independent states, and one. If "independent" is not faster than "chained", every compression
/// costs the same however candidates are arranged, and the ratio to a peer doing twice the
/// compressions is bounded near 2.
fn overlap_probe(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha1_compress_probe");
    let iv = [
        0x6745_2301u32,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let block = [7u8; 64];
    group.bench_function("one", |b| {
        b.iter(|| {
            let mut s = black_box(iv);
            sha1::block_api::compress(&mut s, &[block]);
            s
        })
    });
    group.bench_function("six_chained", |b| {
        b.iter(|| {
            let mut s = black_box(iv);
            for _ in 0..6 {
                sha1::block_api::compress(&mut s, &[block]);
            }
            s
        })
    });
    group.bench_function("six_independent", |b| {
        b.iter(|| {
            let mut s = [black_box(iv); 6];
            for state in s.iter_mut() {
                sha1::block_api::compress(state, &[block]);
            }
            s
        })
    });
    group.finish();
}

criterion_group!(benches, generate, verify, overlap_probe);
criterion_main!(benches);
