//! Sealing secrets at rest: the four RustCrypto AEADs on the short messages the crate seals
//! (20-64 byte TOTP secrets, 24-byte recent-verification proofs), and the crate's own
//! `KeyRing::seal` / `KeyRing::open` end to end, in the same run.
//!
//! - `aead/{seal,open}/NAME/LEN`: one encryption or decryption with an initialised cipher, the
//!   crate's associated data (`twofactor/secret/v1 NUL` and a 36-character user id), output in a
//!   fresh `Vec` as the crate does. NAME is `chacha20poly1305`, `xchacha20poly1305`,
//!   `aes256gcm`, `aes256gcmsiv` (current releases), and `chacha20poly1305-0.10` (sealed format
//!   v1), `aes256gcmsiv-0.11` (format v2), `aes256gcm-0.10` (the previous releases).
//! - `aead/init/NAME`: building the cipher from the 32-byte key (what a cipher kept in the key
//!   saves on every call).
//! - `keyring/{seal,open,decode_open}/LEN`: the crate's public API, nonce generation and text
//!   decoding included; `keyring/nonce_from_os`: drawing a 12-byte nonce from the OS generator,
//!   which every seal does.
//!
//! Run `cargo bench -p twofactor-benches --bench seal`, then `benches/summarize.py`. The AES
//! crates pick AES-NI, VAES and PCLMULQDQ at run time; the bench prints what the CPU offers.
// A bench whose setup fails stops at once, with the reason: that is what unwrap says here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use aes_gcm::Aes256Gcm;
use aes_gcm_siv::Aes256GcmSiv;
use chacha20poly1305::aead::{Aead, KeyInit, Nonce, Payload};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use chacha20poly1305_v010::aead::{
    Aead as AeadV05, KeyInit as KeyInitV05, Nonce as NonceV05, Payload as PayloadV05,
};
use criterion::{Criterion, criterion_group, criterion_main};
use twofactor::{EncryptionKey, KeyRing, SealedSecret, Secret};

/// Message lengths: SHA-1, SHA-256 and SHA-512 sized secrets.
const LENGTHS: [usize; 3] = [20, 32, 64];
const USER: &str = "0b6e1f0c-7d2a-4d8e-9a43-2f5c8e1b7a90";
const KEY: [u8; 32] = [0x42; 32];

/// The associated data the crate binds a sealed secret to.
fn aad() -> Vec<u8> {
    let mut aad = b"twofactor/secret/v1\0".to_vec();
    aad.extend_from_slice(USER.as_bytes());
    aad
}

fn message(len: usize) -> Vec<u8> {
    (0..=u8::MAX)
        .cycle()
        .take(len)
        .map(|b| b.wrapping_mul(31))
        .collect()
}

/// Seal, open and key setup of one AEAD from the current RustCrypto releases.
fn bench_aead<C: Aead + KeyInit>(c: &mut Criterion, name: &str) {
    let aad = aad();
    let mut group = c.benchmark_group("aead");
    group.bench_function(format!("init/{name}"), |b| {
        b.iter(|| C::new_from_slice(black_box(&KEY)).unwrap())
    });
    let cipher = C::new_from_slice(&KEY).unwrap();
    let mut nonce = Nonce::<C>::default();
    nonce.iter_mut().zip(0u8..).for_each(|(b, i)| *b = i);
    for len in LENGTHS {
        let msg = message(len);
        group.bench_function(format!("seal/{name}/{len}"), |b| {
            b.iter(|| {
                let payload = Payload {
                    msg: black_box(&msg),
                    aad: &aad,
                };
                cipher.encrypt(black_box(&nonce), payload).unwrap()
            })
        });
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &msg,
                    aad: &aad,
                },
            )
            .unwrap();
        group.bench_function(format!("open/{name}/{len}"), |b| {
            b.iter(|| {
                let payload = Payload {
                    msg: black_box(&sealed),
                    aad: &aad,
                };
                cipher.decrypt(black_box(&nonce), payload).unwrap()
            })
        });
    }
    group.finish();
}

/// The same for AEADs of the previous RustCrypto generation (the `aead` 0.5 API):
/// `chacha20poly1305` 0.10, which sealed format v1 was built on, and the AES crates of its time.
fn bench_aead_v05<C: AeadV05 + KeyInitV05>(c: &mut Criterion, name: &str) {
    let aad = aad();
    let mut group = c.benchmark_group("aead");
    group.bench_function(format!("init/{name}"), |b| {
        b.iter(|| C::new_from_slice(black_box(&KEY)).unwrap())
    });
    let cipher = C::new_from_slice(&KEY).unwrap();
    let mut nonce = NonceV05::<C>::default();
    nonce.iter_mut().zip(0u8..).for_each(|(b, i)| *b = i);
    for len in LENGTHS {
        let msg = message(len);
        group.bench_function(format!("seal/{name}/{len}"), |b| {
            b.iter(|| {
                let payload = PayloadV05 {
                    msg: black_box(&msg),
                    aad: &aad,
                };
                cipher.encrypt(black_box(&nonce), payload).unwrap()
            })
        });
        let sealed = cipher
            .encrypt(
                &nonce,
                PayloadV05 {
                    msg: &msg,
                    aad: &aad,
                },
            )
            .unwrap();
        group.bench_function(format!("open/{name}/{len}"), |b| {
            b.iter(|| {
                let payload = PayloadV05 {
                    msg: black_box(&sealed),
                    aad: &aad,
                };
                cipher.decrypt(black_box(&nonce), payload).unwrap()
            })
        });
    }
    group.finish();
}

fn aeads(c: &mut Criterion) {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    eprintln!(
        "CPU: aes={} pclmulqdq={} avx={} avx2={} vaes={} avx512f={}",
        std::arch::is_x86_feature_detected!("aes"),
        std::arch::is_x86_feature_detected!("pclmulqdq"),
        std::arch::is_x86_feature_detected!("avx"),
        std::arch::is_x86_feature_detected!("avx2"),
        std::arch::is_x86_feature_detected!("vaes"),
        std::arch::is_x86_feature_detected!("avx512f"),
    );
    bench_aead_v05::<chacha20poly1305_v010::ChaCha20Poly1305>(c, "chacha20poly1305-0.10");
    bench_aead_v05::<aes_gcm_v010::Aes256Gcm>(c, "aes256gcm-0.10");
    bench_aead_v05::<aes_gcm_siv_v011::Aes256GcmSiv>(c, "aes256gcmsiv-0.11");
    bench_aead::<ChaCha20Poly1305>(c, "chacha20poly1305");
    bench_aead::<XChaCha20Poly1305>(c, "xchacha20poly1305");
    bench_aead::<Aes256Gcm>(c, "aes256gcm");
    bench_aead::<Aes256GcmSiv>(c, "aes256gcmsiv");
}

/// The crate's public API: a fresh nonce from the OS generator on every seal; a login opens the
/// secret from the decoded state, and decodes its text form first.
fn keyring(c: &mut Criterion) {
    let ring = KeyRing::new(EncryptionKey::from_bytes(1, &KEY).unwrap());
    let mut group = c.benchmark_group("keyring");
    group.bench_function("nonce_from_os", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).unwrap();
            nonce
        })
    });
    for len in LENGTHS {
        let secret = Secret::generate_len(len).unwrap();
        group.bench_function(format!("seal/{len}"), |b| {
            b.iter(|| ring.seal(black_box(USER), black_box(&secret)).unwrap())
        });
        let sealed = ring.seal(USER, &secret).unwrap();
        group.bench_function(format!("open/{len}"), |b| {
            b.iter(|| ring.open(black_box(USER), black_box(&sealed)).unwrap())
        });
        let text = sealed.encode();
        group.bench_function(format!("decode_open/{len}"), |b| {
            b.iter(|| {
                let sealed = SealedSecret::decode(black_box(&text)).unwrap();
                ring.open(black_box(USER), &sealed).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, aeads, keyring);
criterion_main!(benches);
