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

use super::Algorithm;

/// How many candidates are computed together (inner passes first, then outer passes).
const BATCH: usize = 4;

/// One SHA-family hash, described by what HMAC of a single-block message needs.
///
/// Blocks are built from whole 16-byte chunks (`u128`) so that the compression function's 16-byte
/// loads are forwarded from equally wide stores instead of stalling on a mix of narrow ones, and
/// the truncated value is read straight from the state words rather than from a byte copy.
trait HashCore {
    type State: Copy + Default + Zeroize;
    type Block: Copy + AsRef<[u8]> + AsMut<[u8]>;
    /// Initial hash value (FIPS 180-4 §5.3).
    const IV: Self::State;
    const ZERO_BLOCK: Self::Block;
    /// Digest size in bytes.
    const OUT: usize;
    fn compress(state: &mut Self::State, block: &Self::Block);
    /// The inner pass's second block: the 8-byte counter and its padding (the key pad block came
    /// first, so the message is one block plus 8 bytes long).
    fn counter_block(counter: u64) -> Self::Block;
    /// The outer pass's second block: the inner digest and its padding.
    fn digest_block(inner: &Self::State) -> Self::Block;
    /// RFC 4226 §5.3 dynamic truncation of the digest held in `state`.
    fn truncate(state: &Self::State) -> u32;
    /// The full hash of `data`, for keys longer than a block (RFC 2104 §2).
    fn hash(data: &[u8], out: &mut [u8; 64]);
    #[cfg(test)]
    fn digest_bytes(state: &Self::State) -> Vec<u8>;
}

/// Assembles a block from big-endian 16-byte chunks.
#[inline(always)]
fn chunks_to_block<const N: usize, const B: usize>(chunks: [u128; N]) -> [u8; B] {
    let mut block = [0u8; B];
    for (dst, chunk) in block.chunks_exact_mut(16).zip(chunks) {
        dst.copy_from_slice(&chunk.to_be_bytes());
    }
    block
}

/// The Merkle–Damgård length field for a final block after one full `block`-byte block and
/// `len` message bytes; it occupies the low bits of the last 16-byte chunk.
const fn length_chunk(block: usize, len: usize) -> u128 {
    ((block + len) * 8) as u128
}

/// First chunk of a counter block: the counter, then the 0x80 padding byte.
#[inline(always)]
const fn counter_chunk(counter: u64) -> u128 {
    ((counter as u128) << 64) | (0x80 << 56)
}

/// Dynamic truncation over big-endian 32-bit words: 31 bits from the byte offset given by the
/// digest's last nibble (at most 15, so at most words 3 and 4 are read).
#[inline(always)]
fn truncate32(words: &[u32], last: u32) -> u32 {
    let offset = (last & 0x0f) as usize;
    let (i, shift) = (offset / 4, (offset % 4) * 8);
    let pair = (u64::from(words[i]) << 32) | u64::from(words[i + 1]);
    ((pair << shift) >> 32) as u32 & 0x7fff_ffff
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
    fn counter_block(counter: u64) -> [u8; 64] {
        chunks_to_block([counter_chunk(counter), 0, 0, length_chunk(64, 8)])
    }
    #[inline(always)]
    fn digest_block(w: &[u32; 5]) -> [u8; 64] {
        let head = (u128::from(w[0]) << 96)
            | (u128::from(w[1]) << 64)
            | (u128::from(w[2]) << 32)
            | u128::from(w[3]);
        let tail = (u128::from(w[4]) << 96) | (0x80 << 88);
        chunks_to_block([head, tail, 0, length_chunk(64, 20)])
    }
    #[inline(always)]
    fn truncate(w: &[u32; 5]) -> u32 {
        truncate32(w, w[4])
    }
    fn hash(data: &[u8], out: &mut [u8; 64]) {
        use sha1::Digest;
        out[..20].copy_from_slice(&sha1::Sha1::digest(data));
    }
    #[cfg(test)]
    fn digest_bytes(w: &[u32; 5]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_be_bytes()).collect()
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
    fn counter_block(counter: u64) -> [u8; 64] {
        chunks_to_block([counter_chunk(counter), 0, 0, length_chunk(64, 8)])
    }
    #[inline(always)]
    fn digest_block(w: &[u32; 8]) -> [u8; 64] {
        let quad = |i: usize| {
            (u128::from(w[i]) << 96)
                | (u128::from(w[i + 1]) << 64)
                | (u128::from(w[i + 2]) << 32)
                | u128::from(w[i + 3])
        };
        chunks_to_block([quad(0), quad(4), 0x80 << 120, length_chunk(64, 32)])
    }
    #[inline(always)]
    fn truncate(w: &[u32; 8]) -> u32 {
        truncate32(w, w[7])
    }
    fn hash(data: &[u8], out: &mut [u8; 64]) {
        use sha2::Digest;
        out[..32].copy_from_slice(&sha2::Sha256::digest(data));
    }
    #[cfg(test)]
    fn digest_bytes(w: &[u32; 8]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_be_bytes()).collect()
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
    fn counter_block(counter: u64) -> [u8; 128] {
        chunks_to_block([
            counter_chunk(counter),
            0,
            0,
            0,
            0,
            0,
            0,
            length_chunk(128, 8),
        ])
    }
    #[inline(always)]
    fn digest_block(w: &[u64; 8]) -> [u8; 128] {
        let pair = |i: usize| (u128::from(w[i]) << 64) | u128::from(w[i + 1]);
        chunks_to_block([
            pair(0),
            pair(2),
            pair(4),
            pair(6),
            0x80 << 120,
            0,
            0,
            length_chunk(128, 64),
        ])
    }
    #[inline(always)]
    fn truncate(w: &[u64; 8]) -> u32 {
        // The offset is at most 15, so the four bytes lie within words 0..=2.
        let offset = (w[7] & 0x0f) as usize;
        let (i, shift) = (offset / 8, (offset % 8) * 8);
        let pair = (u128::from(w[i]) << 64) | u128::from(w[i + 1]);
        ((pair << shift) >> 96) as u32 & 0x7fff_ffff
    }
    fn hash(data: &[u8], out: &mut [u8; 64]) {
        use sha2::Digest;
        out.copy_from_slice(&sha2::Sha512::digest(data));
    }
    #[cfg(test)]
    fn digest_bytes(w: &[u64; 8]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_be_bytes()).collect()
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

    /// Computes HMAC for each counter in `counters` (at most [`BATCH`]), inner passes first, and
    /// returns the final states in the first `counters.len()` lanes.
    ///
    /// The key-equivalent prepared states are copied only into lanes that are then compressed in
    /// place, so no copy of them is left on the stack and nothing needs wiping; the blocks hold
    /// only the public counter and the inner digests.
    #[inline(always)]
    fn batch(&self, counters: &[u64]) -> [H::State; BATCH] {
        // Every block of a pass is written before the first is read: a block written just
        // before the compression function loads it stalls on store forwarding (its 16-byte loads
        // span the 8-byte halves of each chunk); written earlier, the stores have committed.
        let mut blocks = [H::ZERO_BLOCK; BATCH];
        for (block, &counter) in blocks.iter_mut().zip(counters) {
            *block = H::counter_block(counter);
        }
        let mut states = [H::State::default(); BATCH];
        for (state, block) in states.iter_mut().zip(&blocks).take(counters.len()) {
            *state = self.inner;
            H::compress(state, block);
        }
        for (block, state) in blocks.iter_mut().zip(&states).take(counters.len()) {
            *block = H::digest_block(state);
        }
        for (state, block) in states.iter_mut().zip(&blocks).take(counters.len()) {
            *state = self.outer;
            H::compress(state, block);
        }
        states
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
            let states = self.batch(&counters[..n]);
            for (state, &counter) in states.iter().zip(&counters[..n]) {
                f(counter, H::truncate(state));
            }
            let last = counters[n - 1];
            if last == hi {
                return;
            }
            next = last + 1;
        }
    }
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
        match &self.0 {
            Keyed::Sha1(k) => Sha1Core::digest_bytes(&k.batch(&[counter])[0]),
            Keyed::Sha256(k) => Sha256Core::digest_bytes(&k.batch(&[counter])[0]),
            Keyed::Sha512(k) => Sha512Core::digest_bytes(&k.batch(&[counter])[0]),
        }
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

    /// RFC 4226 §5.3 as written, over the digest bytes: the reference for `truncate`.
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
                let key: Vec<u8> = (0..len).map(|i: usize| i.to_le_bytes()[0]).collect();
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
