//! Recovery codes (NIST SP 800-63B §5.1.2 "look-up secrets").
//!
//! A set is generated at enrolment from the OS CSPRNG, shown to the user once, and stored only as
//! [`HashedRecoveryCodes`]: each code hashed with Argon2id under a random per-set salt, with the
//! Argon2 parameters recorded beside the hashes so they can be raised later. Checking a code
//! costs one key derivation, whatever the size of the set, and compares the result with every
//! stored hash in constant time.
//!
//! Codes use Crockford's base32 alphabet (no `I`, `L`, `O` or `U`); input is normalised: case,
//! spaces and hyphens are ignored and the look-alikes `O`→`0`, `I`/`L`→`1` are mapped.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use argon2::{Argon2, Params};
use data_encoding::BASE64_NOPAD;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Size of each stored hash.
const HASH_LEN: usize = 32;
/// Size of the per-set salt (NIST asks for at least 32 bits).
const SALT_LEN: usize = 16;
/// Characters per printed group.
const GROUP: usize = 4;
/// Largest Argon2 memory cost accepted (256 MiB), passes and lanes: far above any sensible setting
/// for recovery codes, and a bound on what a stored record can make a check cost.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_ITERATIONS: u32 = 32;
const MAX_LANES: u32 = 16;
/// Prefix and version of the stored text form.
const STORED_PREFIX: &str = "$twofactor-recovery$v=1$argon2id$v=19$";

/// Why recovery codes could not be generated, checked or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The configuration is out of range (see [`RecoveryConfig::new`]).
    #[error("recovery code count must be 1 to 100 and length 10 to 40 characters")]
    Config,
    /// The input is not shaped like a recovery code of this set (wrong length, or characters
    /// outside the alphabet).
    #[error("not a recovery code: it must be {expected} letters and digits")]
    Malformed {
        /// Characters expected, separators not counted.
        expected: usize,
    },
    /// The code is not in the set (or was already used).
    #[error("invalid recovery code")]
    Invalid,
    /// The entry at this index was already consumed.
    #[error("this recovery code was already used")]
    AlreadyUsed,
    /// The Argon2 parameters are out of range, or hashing failed (for example out of memory).
    #[error("recovery code hashing failed: invalid or unusable Argon2 parameters")]
    Kdf,
    /// The operating system random generator failed.
    #[error("the operating system random generator failed")]
    Rng,
    /// A stored record could not be decoded.
    #[error("stored recovery codes are malformed: {0}")]
    Stored(&'static str),
}

/// How many codes a set has and how long each is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecoveryConfig {
    count: usize,
    length: usize,
}

impl RecoveryConfig {
    /// `count` codes (1 to 100) of `length` characters (10 to 40; 5 bits each).
    ///
    /// Codes under 64 bits (13 characters) rely on the application's rate limiting as well (NIST
    /// SP 800-63B §5.1.2.2); the flow's throttling provides it.
    ///
    /// # Errors
    /// [`RecoveryError::Config`] when out of range.
    pub const fn new(count: usize, length: usize) -> Result<RecoveryConfig, RecoveryError> {
        if count == 0 || count > 100 || length < 10 || length > 40 {
            return Err(RecoveryError::Config);
        }
        Ok(RecoveryConfig { count, length })
    }

    /// The number of codes.
    pub const fn count(&self) -> usize {
        self.count
    }

    /// Characters per code, separators not counted.
    pub const fn length(&self) -> usize {
        self.length
    }

    /// Entropy per code in bits.
    pub const fn bits(&self) -> usize {
        self.length * 5
    }
}

impl Default for RecoveryConfig {
    /// Ten codes of 16 characters (80 bits), printed as `XXXX-XXXX-XXXX-XXXX`.
    fn default() -> Self {
        RecoveryConfig {
            count: 10,
            length: 16,
        }
    }
}

/// Argon2id cost parameters for hashing recovery codes. They are recorded in the stored form, so
/// changing them affects only sets hashed afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl KdfParams {
    /// The default floor for stored records (1 MiB, 1 pass, 1 lane): below it a stolen record's
    /// codes are cheap to search, so a record that low was planted or downgraded.
    pub const FLOOR: KdfParams = KdfParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    /// The default ceiling for stored records (64 MiB, 4 passes, 4 lanes): about seven times the
    /// default cost, so that a record tampered up to this crate's caps (256 MiB, 32 passes)
    /// cannot make each guess cost the server seconds of CPU.
    pub const CEILING: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 4,
        parallelism: 4,
    };

    /// Argon2id with `memory_kib` KiB, `iterations` passes and `parallelism` lanes, validated
    /// against Argon2's limits (at least 8 KiB per lane, at least one pass) and this crate's caps
    /// (at most 256 MiB, 32 passes, 16 lanes).
    ///
    /// Recovery codes carry 80 bits by default, far beyond guessing, so the cost only has to
    /// make an offline search of a leaked table pointless; the default (4 MiB, 1 pass) does that
    /// at a tenth of OWASP's password-grade cost; see [`KdfParams::default`]. Shorter or fewer
    /// codes call for a higher cost.
    ///
    /// # Errors
    /// [`RecoveryError::Kdf`] when out of range.
    pub fn argon2id(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<KdfParams, RecoveryError> {
        // Upper bounds keep a tampered or mistaken record from exhausting memory or time.
        if memory_kib > MAX_MEMORY_KIB || iterations > MAX_ITERATIONS || parallelism > MAX_LANES {
            return Err(RecoveryError::Kdf);
        }
        let p = KdfParams {
            memory_kib,
            iterations,
            parallelism,
        };
        p.argon2_params()?;
        Ok(p)
    }

    fn argon2_params(&self) -> Result<Params, RecoveryError> {
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(HASH_LEN),
        )
        .map_err(|_| RecoveryError::Kdf)
    }

    fn derive(&self, code: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; HASH_LEN]>, RecoveryError> {
        let argon = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.argon2_params()?,
        );
        let mut out = Zeroizing::new([0u8; HASH_LEN]);
        argon
            .hash_password_into(code, salt, out.as_mut())
            .map_err(|_| RecoveryError::Kdf)?;
        Ok(out)
    }

    /// Memory cost in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Number of passes.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Number of lanes.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }
}

impl Default for KdfParams {
    /// Argon2id, 4 MiB, 1 pass, 1 lane: about 1 ms per check on a current server core. Recovery
    /// codes are 80-bit random values, not passwords: the key derivation only has to make an
    /// offline search of one stolen record pointless, which it does by a factor of about 10^10
    /// (see `docs/recovery-codes.md`), while a password-grade cost (OWASP's 19 MiB, 2 passes:
    /// about 13 ms) would let every recovery-code attempt cost the server ten times more.
    fn default() -> Self {
        KdfParams {
            memory_kib: 4 * 1024,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Why existing plain codes could not form a set ([`RecoveryCodeSet::from_plain`]).
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainCodeError {
    /// No codes, or more than 100.
    Count,
    /// The first code is not 10 to 40 characters long.
    Length,
    /// The code at `index` has a character outside the alphabet or another length.
    Malformed { index: usize },
    /// The code at `index` repeats an earlier one.
    Duplicate { index: usize },
}

/// One plain recovery code. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct RecoveryCode {
    /// Canonical form: alphabet characters only, no separators.
    canonical: Zeroizing<String>,
}

impl RecoveryCode {
    /// The code as shown to the user, in groups of four joined by hyphens.
    ///
    /// **Security:** a recovery code is a full second factor; show it once, never log it.
    pub fn expose(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.canonical.len() * 5 / 4));
        for (i, c) in self.canonical.chars().enumerate() {
            if i > 0 && i % GROUP == 0 {
                out.push('-');
            }
            out.push(c);
        }
        out
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

/// A freshly generated set of plain recovery codes: show it to the user once, store only
/// [`RecoveryCodeSet::hash`]'s result, and drop it.
///
/// ```
/// use twofactor::{KdfParams, RecoveryCodeSet, RecoveryConfig};
///
/// let set = RecoveryCodeSet::generate(RecoveryConfig::default())?;
/// assert_eq!(set.codes().len(), 10);
/// let shown = set.codes()[3].expose(); // e.g. "7K3M-Q9XD-2HWT-A0PB"
///
/// let mut stored = set.hash(&KdfParams::default())?;
/// drop(set);
///
/// // The user types it back, in any case, with spaces instead of hyphens:
/// let typed = shown.to_lowercase().replace('-', " ");
/// let remaining = stored.use_code(&typed)?;
/// assert_eq!(remaining, 9);
/// // Each code works once.
/// assert!(stored.use_code(&typed).is_err());
/// # Ok::<(), twofactor::RecoveryError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecoveryCodeSet {
    codes: Vec<RecoveryCode>,
    config: RecoveryConfig,
}

impl RecoveryCodeSet {
    /// Generates a new set from the OS CSPRNG. Regenerating means calling this again and
    /// replacing the stored hashes, which invalidates every old code.
    ///
    /// # Errors
    /// [`RecoveryError::Rng`] if the OS generator fails.
    #[cfg(feature = "std")]
    pub fn generate(config: RecoveryConfig) -> Result<RecoveryCodeSet, RecoveryError> {
        let mut random = Zeroizing::new(alloc::vec![0u8; config.count * config.length]);
        getrandom::fill(&mut random).map_err(|_| RecoveryError::Rng)?;
        let codes = random
            .chunks_exact(config.length)
            .map(|chunk| RecoveryCode {
                // 256 is a multiple of 32, so the low five bits of a uniform byte are uniform.
                canonical: Zeroizing::new(
                    chunk
                        .iter()
                        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                        .collect(),
                ),
            })
            .collect();
        Ok(RecoveryCodeSet { codes, config })
    }

    /// The codes.
    pub fn codes(&self) -> &[RecoveryCode] {
        &self.codes
    }

    /// A set of existing plain codes (an import from another system), to hash for storage.
    /// Each code is normalised as typed input is; all must have the first code's length, from
    /// 10 to 40 characters of Crockford's base32 (hexadecimal codes qualify), 1 to 100 codes,
    /// no two alike.
    #[cfg(feature = "std")]
    pub(crate) fn from_plain(codes: &[&str]) -> Result<RecoveryCodeSet, PlainCodeError> {
        let first = codes.first().ok_or(PlainCodeError::Count)?;
        let length = first
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '\t' | '\n' | '\r'))
            .count();
        let config = RecoveryConfig::new(codes.len(), length).map_err(|_| match codes.len() {
            1..=100 => PlainCodeError::Length,
            _ => PlainCodeError::Count,
        })?;
        let mut set = Vec::with_capacity(codes.len());
        for (index, code) in codes.iter().enumerate() {
            let canonical =
                normalize(code, length).map_err(|_| PlainCodeError::Malformed { index })?;
            if set
                .iter()
                .any(|c: &RecoveryCode| *c.canonical == *canonical)
            {
                return Err(PlainCodeError::Duplicate { index });
            }
            set.push(RecoveryCode { canonical });
        }
        Ok(RecoveryCodeSet { codes: set, config })
    }

    /// The configuration the set was generated with.
    pub fn config(&self) -> RecoveryConfig {
        self.config
    }

    /// A plain-text page for the user to save or print: a heading, a short explanation and the
    /// numbered codes.
    ///
    /// **Security:** contains every code; see [`RecoveryCode::expose`].
    pub fn expose_text(&self, heading: &str) -> Zeroizing<String> {
        // Sized up front: growing would free buffers that still hold codes.
        let per_code = self.config.length + self.config.length / GROUP + 8;
        let mut out = Zeroizing::new(String::with_capacity(
            heading.len() + 200 + self.codes.len() * per_code,
        ));
        out.push_str(heading.trim());
        out.push_str("\n\nRecovery codes. Each code can be used once, in place of an authenticator code.\nKeep them somewhere safe; anyone holding them can pass your second factor.\n\n");
        for (i, code) in self.codes.iter().enumerate() {
            out.push_str(&format!("{:>3}. ", i + 1));
            out.push_str(&code.expose());
            out.push('\n');
        }
        out
    }

    /// The storable form: one Argon2id hash per code under a fresh random salt. Costs one key
    /// derivation per code.
    ///
    /// # Errors
    /// [`RecoveryError::Rng`], [`RecoveryError::Kdf`].
    #[cfg(feature = "std")]
    pub fn hash(&self, kdf: &KdfParams) -> Result<HashedRecoveryCodes, RecoveryError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| RecoveryError::Rng)?;
        let entries = self
            .codes
            .iter()
            .map(|code| {
                kdf.derive(code.canonical.as_bytes(), &salt)
                    .map(|h| Some(*h))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HashedRecoveryCodes {
            kdf: *kdf,
            salt,
            length: self.config.length,
            entries,
        })
    }
}

/// The stored form of a recovery code set: no plain code, only Argon2id hashes, with used
/// entries blanked so that indexes stay stable.
///
/// Its text form ([`HashedRecoveryCodes::encode`], [`FromStr`]) records the Argon2 parameters,
/// the salt and the code length, so a record stays checkable after the defaults change.
#[derive(Clone, PartialEq, Eq)]
pub struct HashedRecoveryCodes {
    kdf: KdfParams,
    salt: [u8; SALT_LEN],
    length: usize,
    entries: Vec<Option<[u8; HASH_LEN]>>,
}

impl HashedRecoveryCodes {
    /// Finds `input` in the set and returns its index, without consuming it (a store then
    /// consumes that index atomically; see [`HashedRecoveryCodes::consume`]).
    ///
    /// The input is normalised (case, spaces, hyphens, `O`/`I`/`L` look-alikes) and must have
    /// the set's length. One key derivation, then a constant-time comparison with every entry.
    ///
    /// # Errors
    /// [`RecoveryError::Malformed`], [`RecoveryError::Invalid`] (also for a used code),
    /// [`RecoveryError::Kdf`].
    pub fn check(&self, input: &str) -> Result<usize, RecoveryError> {
        let canonical = normalize(input, self.length)?;
        let derived = self.kdf.derive(canonical.as_bytes(), &self.salt)?;
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, entry) in self.entries.iter().enumerate() {
            let (present, hash) = match entry {
                Some(h) => (Choice::from(1), *h),
                None => (Choice::from(0), [0u8; HASH_LEN]),
            };
            let hit = present & hash.ct_eq(&*derived);
            index.conditional_assign(&(i as u64), hit);
            found |= hit;
        }
        if bool::from(found) {
            usize::try_from(index).map_err(|_| RecoveryError::Invalid)
        } else {
            Err(RecoveryError::Invalid)
        }
    }

    /// Whether `input` is shaped like a code of this set (alphabet and length, after
    /// normalisation), without any key derivation.
    pub fn accepts_shape(&self, input: &str) -> bool {
        normalize(input, self.length).is_ok()
    }

    /// Marks the entry at `index` used.
    ///
    /// # Errors
    /// [`RecoveryError::AlreadyUsed`] if it was already consumed (or out of range).
    pub fn consume(&mut self, index: usize) -> Result<(), RecoveryError> {
        match self.entries.get_mut(index) {
            Some(entry @ Some(_)) => {
                entry.zeroize();
                *entry = None;
                Ok(())
            }
            _ => Err(RecoveryError::AlreadyUsed),
        }
    }

    /// Checks and consumes `input`, returning how many codes remain. For a value held in
    /// memory; a shared store must do the check and the consumption as one atomic operation.
    ///
    /// # Errors
    /// As [`HashedRecoveryCodes::check`].
    pub fn use_code(&mut self, input: &str) -> Result<usize, RecoveryError> {
        let index = self.check(input)?;
        self.consume(index)?;
        Ok(self.remaining())
    }

    /// Codes not yet used.
    pub fn remaining(&self) -> usize {
        self.entries.iter().filter(|e| e.is_some()).count()
    }

    /// Codes in the set, used or not.
    pub fn total(&self) -> usize {
        self.entries.len()
    }

    /// Whether the entry at `index` is still usable.
    pub fn is_available(&self, index: usize) -> bool {
        matches!(self.entries.get(index), Some(Some(_)))
    }

    /// The Argon2 parameters this set was hashed with.
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// The text form to store:
    /// `$twofactor-recovery$v=1$argon2id$v=19$m=…,t=…,p=…$len=…$SALT$HASH.HASH.-.HASH`, base64
    /// without padding, `-` for a used entry. Holds no plain code.
    pub fn encode(&self) -> String {
        let entries: Vec<String> = self
            .entries
            .iter()
            .map(|e| e.map_or_else(|| "-".to_owned(), |h| BASE64_NOPAD.encode(&h)))
            .collect();
        format!(
            "{STORED_PREFIX}m={},t={},p={}$len={}${}${}",
            self.kdf.memory_kib,
            self.kdf.iterations,
            self.kdf.parallelism,
            self.length,
            BASE64_NOPAD.encode(&self.salt),
            entries.join(".")
        )
    }
}

impl FromStr for HashedRecoveryCodes {
    type Err = RecoveryError;

    /// Decodes [`HashedRecoveryCodes::encode`]'s form, validating every field.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 64 * 1024 {
            return Err(RecoveryError::Stored("record too long"));
        }
        let rest = s
            .strip_prefix(STORED_PREFIX)
            .ok_or(RecoveryError::Stored("unknown format or version"))?;
        let mut fields = rest.split('$');
        let mut next = |what| fields.next().ok_or(RecoveryError::Stored(what));
        let params = next("missing parameters")?;
        let length = next("missing length")?;
        let salt = next("missing salt")?;
        let entries = next("missing entries")?;
        if fields.next().is_some() {
            return Err(RecoveryError::Stored("trailing fields"));
        }

        let mut kdf = [None; 3];
        for (slot, (key, part)) in kdf
            .iter_mut()
            .zip(["m", "t", "p"].iter().zip(params.split(',')))
        {
            let value = part
                .strip_prefix(key)
                .and_then(|v| v.strip_prefix('='))
                .ok_or(RecoveryError::Stored("malformed parameters"))?;
            *slot = Some(
                value
                    .parse::<u32>()
                    .map_err(|_| RecoveryError::Stored("malformed parameters"))?,
            );
        }
        let [Some(m), Some(t), Some(p)] = kdf else {
            return Err(RecoveryError::Stored("malformed parameters"));
        };
        if params.split(',').count() != 3 {
            return Err(RecoveryError::Stored("malformed parameters"));
        }
        let kdf = KdfParams::argon2id(m, t, p)
            .map_err(|_| RecoveryError::Stored("Argon2 parameters out of range"))?;

        let length = length
            .strip_prefix("len=")
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or(RecoveryError::Stored("malformed length"))?;
        RecoveryConfig::new(1, length).map_err(|_| RecoveryError::Stored("length out of range"))?;

        let salt_bytes = BASE64_NOPAD
            .decode(salt.as_bytes())
            .map_err(|_| RecoveryError::Stored("malformed salt"))?;
        let salt: [u8; SALT_LEN] = salt_bytes
            .try_into()
            .map_err(|_| RecoveryError::Stored("salt has the wrong size"))?;

        let entries = entries
            .split('.')
            .map(|e| {
                if e == "-" {
                    return Ok(None);
                }
                let bytes = BASE64_NOPAD
                    .decode(e.as_bytes())
                    .map_err(|_| RecoveryError::Stored("malformed hash"))?;
                let hash: [u8; HASH_LEN] = bytes
                    .try_into()
                    .map_err(|_| RecoveryError::Stored("hash has the wrong size"))?;
                Ok(Some(hash))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() || entries.len() > 100 {
            return Err(RecoveryError::Stored("entry count out of range"));
        }
        Ok(HashedRecoveryCodes {
            kdf,
            salt,
            length,
            entries,
        })
    }
}

impl fmt::Debug for HashedRecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashedRecoveryCodes")
            .field("kdf", &self.kdf)
            .field("length", &self.length)
            .field("remaining", &self.remaining())
            .field("total", &self.total())
            .finish_non_exhaustive()
    }
}

/// Normalises typed input to the canonical form: separators (space, hyphen) dropped, upper case,
/// Crockford look-alikes mapped; then exactly `length` alphabet characters.
fn normalize(input: &str, length: usize) -> Result<Zeroizing<String>, RecoveryError> {
    let malformed = RecoveryError::Malformed { expected: length };
    // Generous bound for separators; longer input is refused before any work.
    if input.len() > length * 3 + 16 {
        return Err(malformed);
    }
    let mut out = Zeroizing::new(String::with_capacity(length));
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' | '\t' | '\n' | '\r' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return Err(malformed),
        };
        if out.len() == length {
            // Too long: refuse without copying more of the input.
            return Err(malformed);
        }
        out.push(c);
    }
    if out.len() != length {
        return Err(malformed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> KdfParams {
        KdfParams::argon2id(64, 1, 1).unwrap()
    }

    #[test]
    fn a_hashed_set_reports_its_size_cost_and_shape() {
        let set = RecoveryCodeSet::generate(RecoveryConfig::new(2, 10).unwrap()).unwrap();
        let hashed = set.hash(&cheap()).unwrap();
        assert_eq!(hashed.total(), 2);
        assert!(hashed.is_available(1) && !hashed.is_available(2));
        assert_eq!(hashed.kdf(), cheap());
        assert!(hashed.accepts_shape("ABCD-EFGH-JK"));
        assert!(!hashed.accepts_shape("ABCD"));
        assert!(format!("{hashed:?}").contains("total: 2"));
    }

    #[test]
    fn stored_records_are_bounded_exactly_at_their_limits() {
        let set = RecoveryCodeSet::generate(RecoveryConfig::new(1, 10).unwrap()).unwrap();
        let text = set.hash(&cheap()).unwrap().encode();
        let head = &text[..text.rfind('$').unwrap() + 1];
        let with = |n: usize| format!("{head}{}", vec!["-"; n].join("."));
        assert!(with(100).parse::<HashedRecoveryCodes>().is_ok());
        let too_many = with(101).parse::<HashedRecoveryCodes>().unwrap_err();
        assert_eq!(too_many, RecoveryError::Stored("entry count out of range"));
        let too_long = RecoveryError::Stored("record too long");
        assert_ne!(
            "x".repeat(64 * 1024)
                .parse::<HashedRecoveryCodes>()
                .unwrap_err(),
            too_long
        );
        assert_eq!(
            "x".repeat(64 * 1024 + 1)
                .parse::<HashedRecoveryCodes>()
                .unwrap_err(),
            too_long
        );
    }

    #[test]
    fn typed_input_is_bounded_exactly_at_three_characters_a_character_and_sixteen() {
        // Length 10: at most 46 bytes of input, separators included.
        let at_limit = format!("ABCDEFGHJK{}", " ".repeat(36));
        assert_eq!(&*normalize(&at_limit, 10).unwrap(), "ABCDEFGHJK");
        assert!(normalize(&format!("{at_limit} "), 10).is_err());
    }

    #[test]
    fn configurations_report_what_they_hold() {
        let c = RecoveryConfig::new(7, 12).unwrap();
        assert_eq!((c.count(), c.length(), c.bits()), (7, 12, 60));
        let k = KdfParams::argon2id(64, 2, 3).unwrap();
        assert_eq!(
            (k.memory_kib(), k.iterations(), k.parallelism()),
            (64, 2, 3)
        );
        assert_eq!(KdfParams::CEILING.memory_kib(), 65_536);
    }

    #[test]
    fn key_derivation_costs_are_capped_exactly_at_the_limits() {
        assert!(KdfParams::argon2id(MAX_MEMORY_KIB, 1, 1).is_ok());
        assert!(KdfParams::argon2id(MAX_MEMORY_KIB + 1, 1, 1).is_err());
        assert!(KdfParams::argon2id(64, MAX_ITERATIONS, 1).is_ok());
        assert!(KdfParams::argon2id(64, MAX_ITERATIONS + 1, 1).is_err());
        assert!(KdfParams::argon2id(8 * MAX_LANES, 1, MAX_LANES).is_ok());
        assert!(KdfParams::argon2id(8 * (MAX_LANES + 1), 1, MAX_LANES + 1).is_err());
        assert_eq!(MAX_MEMORY_KIB, 262_144);
    }

    #[cfg(feature = "std")]
    #[test]
    fn plain_codes_are_measured_without_separators_and_checked_for_duplicates() {
        let set = RecoveryCodeSet::from_plain(&["ABCD-EFGH-JK", "abcdefghjm"]).unwrap();
        assert_eq!(set.config(), RecoveryConfig::new(2, 10).unwrap());
        assert_eq!(&*set.codes()[0].expose(), "ABCD-EFGH-JK");
        assert_eq!(
            RecoveryCodeSet::from_plain(&["ABCD-EFGH-JK", "abcd efgh jk"]).unwrap_err(),
            PlainCodeError::Duplicate { index: 1 }
        );
        assert_eq!(
            RecoveryCodeSet::from_plain(&["ABCDE"]).unwrap_err(),
            PlainCodeError::Length
        );
        assert_eq!(
            RecoveryCodeSet::from_plain(&[]).unwrap_err(),
            PlainCodeError::Count
        );
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            &*normalize("abcd-efgh-jkmn-pqrs", 16).unwrap(),
            "ABCDEFGHJKMNPQRS"
        );
        assert_eq!(
            &*normalize(" OIlo 0000 1111 2222 ", 16).unwrap(),
            "0110000011112222"
        );
        assert_eq!(
            normalize("ABCD-EFGH-JKMN-PQRU", 16).unwrap_err(),
            RecoveryError::Malformed { expected: 16 }
        );
        assert!(normalize("ABCD-EFGH-JKMN-PQR", 16).is_err());
        assert!(normalize("ABCD-EFGH-JKMN-PQRST", 16).is_err());
        assert!(normalize("ABCD_EFGH_JKMN_PQRS", 16).is_err());
        assert!(normalize(&"A".repeat(100_000), 16).is_err());
        assert!(normalize("ÀBCD-EFGH-JKMN-PQRS", 16).is_err());
    }

    #[test]
    fn generated_codes_use_the_alphabet_and_differ() {
        let set = RecoveryCodeSet::generate(RecoveryConfig::new(50, 16).unwrap()).unwrap();
        let mut seen = std::collections::HashSet::new();
        for code in set.codes() {
            let shown = code.expose();
            assert_eq!(shown.len(), 19);
            assert_eq!(shown.matches('-').count(), 3);
            assert!(
                shown
                    .chars()
                    .all(|c| c == '-' || ALPHABET.contains(&(c as u8)))
            );
            assert!(seen.insert(shown.to_string()));
        }
        assert_eq!(format!("{:?}", set.codes()[0]), "RecoveryCode([redacted])");
    }

    #[test]
    fn check_consume_and_stored_round_trip() {
        let set = RecoveryCodeSet::generate(RecoveryConfig::new(4, 13).unwrap()).unwrap();
        let mut stored = set.hash(&cheap()).unwrap();
        let encoded = stored.encode();
        for code in set.codes() {
            assert!(!encoded.contains(code.canonical.as_str()));
        }
        assert_eq!(encoded.parse::<HashedRecoveryCodes>().unwrap(), stored);

        let second = set.codes()[1].expose();
        assert_eq!(stored.check(&second), Ok(1));
        stored.consume(1).unwrap();
        assert_eq!(stored.consume(1), Err(RecoveryError::AlreadyUsed));
        assert_eq!(stored.check(&second), Err(RecoveryError::Invalid));
        assert_eq!(stored.remaining(), 3);
        assert!(!stored.is_available(1));

        let reloaded: HashedRecoveryCodes = stored.encode().parse().unwrap();
        assert_eq!(reloaded.remaining(), 3);
        assert_eq!(reloaded.check(&second), Err(RecoveryError::Invalid));
        assert_eq!(reloaded.check(&set.codes()[3].expose()), Ok(3));

        let other = RecoveryCodeSet::generate(RecoveryConfig::new(1, 13).unwrap()).unwrap();
        assert_eq!(
            stored.check(&other.codes()[0].expose()),
            Err(RecoveryError::Invalid)
        );
    }

    #[test]
    fn stored_records_are_validated() {
        let set = RecoveryCodeSet::generate(RecoveryConfig::new(2, 10).unwrap()).unwrap();
        let good = set.hash(&cheap()).unwrap().encode();
        for bad in [
            String::new(),
            "$twofactor-recovery$v=2$".to_owned(),
            good.replace("m=64", "m=1"),
            good.replace("m=64", "m=x"),
            good.replace("len=10", "len=5"),
            good.replace("len=10", "len=10$extra"),
            format!("{good}.AAAA"),
            format!("{good}$"),
            good.replace(",p=1", ""),
            good.replace(",p=1", ",p=1,q=2"),
        ] {
            assert!(
                matches!(
                    bad.parse::<HashedRecoveryCodes>(),
                    Err(RecoveryError::Stored(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn text_rendering_lists_every_code() {
        let set = RecoveryCodeSet::generate(RecoveryConfig::default()).unwrap();
        let text = set.expose_text("Example Co: alice@example.com");
        assert!(text.starts_with("Example Co: alice@example.com\n"));
        for (i, code) in set.codes().iter().enumerate() {
            assert!(text.contains(&format!("{:>3}. {}\n", i + 1, &*code.expose())));
        }
    }
}
