//! HMAC (RFC 2104) of an 8-byte counter, with the key's padded states prepared once.
//!
//! An HOTP value is `HMAC(K, C)` with `C` a big-endian u64 (RFC 4226 §5.2). Both HMAC passes then
//! fit in a single block each: the inner pass hashes `K ^ ipad` (precomputed) followed by one
//! block holding the counter and its padding; the outer pass hashes `K ^ opad` (precomputed)
//! followed by one block holding the inner digest and its padding. So one value costs exactly two
//! calls of the hash's compression function, which is what this module does: it builds those
//! blocks on the stack and hands them to `sha1`/`sha2`'s public block function. No allocation, no
//! buffering, no key setup per value.
//!
//! Candidates are computed in small batches, all inner compressions before the outer ones, so the
//! independent compressions can overlap in the CPU.
//!
//! The result is checked against the `hmac` crate by a property test below.

use zeroize::Zeroize;

use crate::Algorithm;

/// How many candidates are computed together (inner passes first, then outer passes).
const BATCH: usize = 4;

/// One SHA-family hash, described by what HMAC of a single-block message needs.
trait HashCore {
    type State: Copy + Zeroize;
    type Block: Copy + AsRef<[u8]> + AsMut<[u8]>;
    /// Initial hash value (FIPS 180-4 §5.3).
    const IV: Self::State;
    const ZERO_BLOCK: Self::Block;
    /// Digest size in bytes.
    const OUT: usize;
    fn compress(state: &mut Self::State, block: &Self::Block);
    /// Writes the state as the big-endian digest into `out[..OUT]`.
    fn write_digest(state: &Self::State, out: &mut [u8; 64]);
    /// The full hash of `data`, for keys longer than a block (RFC 2104 §2).
    fn hash(data: &[u8], out: &mut [u8; 64]);
}

struct Sha1Core;
struct Sha256Core;
struct Sha512Core;

impl HashCore for Sha1Core {
    type State = [u32; 5];
    type Block = [u8; 64];
    const IV: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    const ZERO_BLOCK: [u8; 64] = [0; 64];
    const OUT: usize = 20;
    #[inline(always)]
    fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
        sha1::block_api::compress(state, core::slice::from_ref(block));
    }
    #[inline(always)]
    fn write_digest(state: &[u32; 5], out: &mut [u8; 64]) {
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    fn hash(data: &[u8], out: &mut [u8; 64]) {
        use sha1::Digest;
        out[..20].copy_from_slice(&sha1::Sha1::digest(data));
    }
}

impl HashCore for Sha256Core {
    type State = [u32; 8];
    type Block = [u8; 64];
    const IV: [u32; 8] = [
        0x6A09_E667,
        0xBB67_AE85,
        0x3C6E_F372,
        0xA54F_F53A,
        0x510E_527F,
        0x9B05_688C,
        0x1F83_D9AB,
        0x5BE0_CD19,
    ];
    const ZERO_BLOCK: [u8; 64] = [0; 64];
    const OUT: usize = 32;
    #[inline(always)]
    fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
        sha2::block_api::compress256(state, core::slice::from_ref(block));
    }
    #[inline(always)]
    fn write_digest(state: &[u32; 8], out: &mut [u8; 64]) {
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    fn hash(data: &[u8], out: &mut [u8; 64]) {
        use sha2::Digest;
        out[..32].copy_from_slice(&sha2::Sha256::digest(data));
    }
}

impl HashCore for Sha512Core {
    type State = [u64; 8];
    type Block = [u8; 128];
    const IV: [u64; 8] = [
        0x6A09_E667_F3BC_C908,
        0xBB67_AE85_84CA_A73B,
        0x3C6E_F372_FE94_F82B,
        0xA54F_F53A_5F1D_36F1,
        0x510E_527F_ADE6_82D1,
        0x9B05_688C_2B3E_6C1F,
        0x1F83_D9AB_FB41_BD6B,
        0x5BE0_CD19_137E_2179,
    ];
    const ZERO_BLOCK: [u8; 128] = [0; 128];
    const OUT: usize = 64;
    #[inline(always)]
    fn compress(state: &mut [u64; 8], block: &[u8; 128]) {
        sha2::block_api::compress512(state, core::slice::from_ref(block));
    }
    #[inline(always)]
    fn write_digest(state: &[u64; 8], out: &mut [u8; 64]) {
        for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    fn hash(data: &[u8], out: &mut [u8; 64]) {
        use sha2::Digest;
        out.copy_from_slice(&sha2::Sha512::digest(data));
    }
}

/// The key's inner and outer states after absorbing `K ^ ipad` and `K ^ opad`.
struct Prepared<H: HashCore> {
    inner: H::State,
    outer: H::State,
}

impl<H: HashCore> Clone for Prepared<H> {
    fn clone(&self) -> Self {
        Prepared {
            inner: self.inner,
            outer: self.outer,
        }
    }
}

impl<H: HashCore> Drop for Prepared<H> {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// Writes the Merkle–Damgård padding for a final block holding `len` message bytes, after one
/// full block (the key pad) was already absorbed. The length field is the block's last 8 bytes;
/// for SHA-512's 16-byte field the high half stays zero.
#[inline(always)]
fn pad_final(block: &mut [u8], len: usize) {
    let n = block.len();
    block[len] = 0x80;
    let bits = ((n + len) as u64) * 8;
    block[n - 8..].copy_from_slice(&bits.to_be_bytes());
}

impl<H: HashCore> Prepared<H> {
    fn new(key: &[u8]) -> Self {
        let mut pad = H::ZERO_BLOCK;
        let mut hashed = [0u8; 64];
        {
            let block = pad.as_mut();
            if key.len() > block.len() {
                H::hash(key, &mut hashed);
                block[..H::OUT].copy_from_slice(&hashed[..H::OUT]);
            } else {
                block[..key.len()].copy_from_slice(key);
            }
            block.iter_mut().for_each(|b| *b ^= 0x36);
        }
        let mut inner = H::IV;
        H::compress(&mut inner, &pad);
        // (K ^ 0x36) ^ (0x36 ^ 0x5c) = K ^ 0x5c
        pad.as_mut().iter_mut().for_each(|b| *b ^= 0x36 ^ 0x5c);
        let mut outer = H::IV;
        H::compress(&mut outer, &pad);
        pad.as_mut().zeroize();
        hashed.zeroize();
        Prepared { inner, outer }
    }

    /// Computes the full HMAC digest of each counter in `counters` (at most [`BATCH`]), calling
    /// `sink(i, digest)` for each, inner passes first.
    #[inline(always)]
    fn batch(&self, counters: &[u64], mut sink: impl FnMut(usize, &[u8])) {
        let n = counters.len().min(BATCH);
        let mut states = [self.inner; BATCH];
        let mut block = H::ZERO_BLOCK;
        pad_final(block.as_mut(), 8);
        for i in 0..n {
            block.as_mut()[..8].copy_from_slice(&counters[i].to_be_bytes());
            H::compress(&mut states[i], &block);
        }
        let mut outer_block = H::ZERO_BLOCK;
        pad_final(outer_block.as_mut(), H::OUT);
        let mut digest = [0u8; 64];
        for state in states.iter_mut().take(n) {
            H::write_digest(state, &mut digest);
            outer_block.as_mut()[..H::OUT].copy_from_slice(&digest[..H::OUT]);
            *state = self.outer;
            H::compress(state, &outer_block);
        }
        for (i, state) in states.iter().enumerate().take(n) {
            H::write_digest(state, &mut digest);
            sink(i, &digest[..H::OUT]);
        }
        states.zeroize();
        block.as_mut().zeroize();
        outer_block.as_mut().zeroize();
        digest.zeroize();
    }

    /// Calls `f(counter, truncated)` for every counter in `lo..=hi`, in ascending order.
    #[inline(always)]
    fn for_each_truncated(&self, lo: u64, hi: u64, mut f: impl FnMut(u64, u32)) {
        if lo > hi {
            return;
        }
        let mut next = lo;
        loop {
            let mut counters = [0u64; BATCH];
            let mut n = 0;
            while n < BATCH {
                counters[n] = next;
                n += 1;
                if next == hi {
                    break;
                }
                next += 1;
            }
            let last = counters[n - 1];
            self.batch(&counters[..n], |i, digest| {
                f(counters[i], dynamic_truncation(digest))
            });
            if last == hi {
                return;
            }
            next = last + 1;
        }
    }
}

/// RFC 4226 §5.3 dynamic truncation: 31 bits from the offset given by the last nibble.
#[inline(always)]
fn dynamic_truncation(digest: &[u8]) -> u32 {
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let b = [
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ];
    u32::from_be_bytes(b) & 0x7fff_ffff
}

/// A key prepared for one algorithm.
#[derive(Clone)]
pub(crate) struct HmacKey(Keyed);

#[derive(Clone)]
enum Keyed {
    Sha1(Prepared<Sha1Core>),
    Sha256(Prepared<Sha256Core>),
    Sha512(Prepared<Sha512Core>),
}

impl HmacKey {
    pub(crate) fn new(algorithm: Algorithm, key: &[u8]) -> HmacKey {
        HmacKey(match algorithm {
            Algorithm::Sha1 => Keyed::Sha1(Prepared::new(key)),
            Algorithm::Sha256 => Keyed::Sha256(Prepared::new(key)),
            Algorithm::Sha512 => Keyed::Sha512(Prepared::new(key)),
        })
    }

    /// Calls `f(counter, dynamically truncated HMAC value)` for every counter in `lo..=hi`, in
    /// ascending order. The algorithm is dispatched once, outside the loop.
    #[inline]
    pub(crate) fn for_each_truncated(&self, lo: u64, hi: u64, f: impl FnMut(u64, u32)) {
        match &self.0 {
            Keyed::Sha1(k) => k.for_each_truncated(lo, hi, f),
            Keyed::Sha256(k) => k.for_each_truncated(lo, hi, f),
            Keyed::Sha512(k) => k.for_each_truncated(lo, hi, f),
        }
    }

    /// The truncated value for one counter.
    pub(crate) fn truncated(&self, counter: u64) -> u32 {
        let mut out = 0;
        self.for_each_truncated(counter, counter, |_, v| out = v);
        out
    }

    #[cfg(test)]
    fn digest(&self, counter: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let sink = |_: usize, d: &[u8]| out = d.to_vec();
        match &self.0 {
            Keyed::Sha1(k) => k.batch(&[counter], sink),
            Keyed::Sha256(k) => k.batch(&[counter], sink),
            Keyed::Sha512(k) => k.batch(&[counter], sink),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{KeyInit, Mac};
    use proptest::prelude::*;

    fn reference(algorithm: Algorithm, key: &[u8], counter: u64) -> Vec<u8> {
        let msg = counter.to_be_bytes();
        match algorithm {
            Algorithm::Sha1 => {
                let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
            Algorithm::Sha256 => {
                let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
            Algorithm::Sha512 => {
                let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
                m.update(&msg);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn algorithms() -> impl Strategy<Value = Algorithm> {
        prop_oneof![
            Just(Algorithm::Sha1),
            Just(Algorithm::Sha256),
            Just(Algorithm::Sha512)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Keys of every length from empty to well past SHA-512's 128-byte block, random counters.
        #[test]
        fn matches_the_hmac_crate(
            algorithm in algorithms(),
            key in proptest::collection::vec(any::<u8>(), 0..300),
            counter in any::<u64>(),
        ) {
            let ours = HmacKey::new(algorithm, &key);
            prop_assert_eq!(ours.digest(counter), reference(algorithm, &key, counter));
        }

        /// The batched path gives each counter the same value as computing it alone.
        #[test]
        fn batches_agree_with_single_values(
            algorithm in algorithms(),
            key in proptest::collection::vec(any::<u8>(), 16..80),
            lo in any::<u64>(),
            span in 0u64..11,
        ) {
            let ours = HmacKey::new(algorithm, &key);
            let hi = lo.saturating_add(span);
            let mut seen = Vec::new();
            ours.for_each_truncated(lo, hi, |c, v| seen.push((c, v)));
            prop_assert_eq!(seen.len() as u64, hi - lo + 1);
            for (c, v) in seen {
                let d = reference(algorithm, &key, c);
                prop_assert_eq!(v, dynamic_truncation(&d));
            }
        }
    }

    #[test]
    fn block_boundary_key_lengths() {
        for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            for len in [0, 1, 63, 64, 65, 127, 128, 129, 255] {
                let key: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let ours = HmacKey::new(algorithm, &key);
                for counter in [0, 1, u64::MAX] {
                    assert_eq!(
                        ours.digest(counter),
                        reference(algorithm, &key, counter),
                        "{algorithm} len {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_range_ends_at_u64_max_without_overflow() {
        let key = HmacKey::new(Algorithm::Sha1, b"12345678901234567890");
        let mut seen = Vec::new();
        key.for_each_truncated(u64::MAX - 5, u64::MAX, |c, _| seen.push(c));
        assert_eq!(seen, ((u64::MAX - 5)..=u64::MAX).collect::<Vec<_>>());
        let mut none = 0;
        key.for_each_truncated(5, 4, |_, _| none += 1);
        assert_eq!(none, 0);
    }
}
