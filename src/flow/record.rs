//! Reading a stored record: its check, and the recovery code set it holds.

use super::audit::AuditSink;
use super::clock::Clock;
use super::state::EnrollmentState;
use super::{EnrollmentFlow, FlowError};
use crate::otp::HashedRecoveryCodes;
use crate::store::{ColdFields, SecretStore, StoreError, StoredUser};

/// The recovery generation of a record the flow creates: random, not 0, so that a record erased
/// and created again does not repeat the erased one's generations. With versions that never
/// repeat ([`SecretStore::insert`]) it is a second identity of the record: a code checked against
/// the erased record counts on the new one only if both matched.
pub(super) fn first_generation() -> Result<u64, FlowError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|_| FlowError::Internal("rng"))?;
    Ok(u64::from_le_bytes(bytes))
}

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Refuses, before anything is counted, input that cannot be one of the stored recovery
    /// codes.
    pub(super) fn recovery_shape(&self, record: &StoredUser, input: &str) -> Result<(), FlowError> {
        match &record.cold.recovery {
            Some(text) => {
                if self.parse_recovery(text)?.accepts_shape(input) {
                    Ok(())
                } else {
                    Err(FlowError::Malformed)
                }
            }
            // No set: the attempt is checked (and fails) like any other.
            None => Ok(()),
        }
    }

    /// The stored recovery set with the used mask applied.
    pub(super) fn recovery_set(
        &self,
        text: &str,
        used: u64,
    ) -> Result<HashedRecoveryCodes, FlowError> {
        let mut set = self.parse_recovery(text)?;
        for index in 0..set.total().min(64) {
            if used & (1u64 << index) != 0 {
                // Already blank in the record or not: either way it is used.
                let _ = set.consume(index);
            }
        }
        Ok(set)
    }

    /// Parses a stored recovery record and refuses one whose key-derivation cost lies outside
    /// the configured bounds: a cost below the floor makes an offline attack on a stolen record
    /// cheap (a planted or downgraded record); one above the ceiling makes every guess cost the
    /// server seconds of CPU. The cost the flow itself hashes with is always within bounds.
    fn parse_recovery(&self, text: &str) -> Result<HashedRecoveryCodes, FlowError> {
        let set: HashedRecoveryCodes = text
            .parse()
            .map_err(|_| StoreError::Corrupt("recovery codes"))?;
        let kdf = set.kdf();
        let (floor, ceiling, own) = (
            &self.config.kdf_floor,
            &self.config.kdf_ceiling,
            &self.config.kdf,
        );
        let low = kdf.memory_kib() < floor.memory_kib().min(own.memory_kib())
            || kdf.iterations() < floor.iterations().min(own.iterations());
        let high = kdf.memory_kib() > ceiling.memory_kib().max(own.memory_kib())
            || kdf.iterations() > ceiling.iterations().max(own.iterations())
            || kdf.parallelism() > ceiling.parallelism().max(own.parallelism());
        if low || high {
            return Err(FlowError::RecoveryCostOutOfBounds {
                memory_kib: kdf.memory_kib(),
                iterations: kdf.iterations(),
                parallelism: kdf.parallelism(),
            });
        }
        Ok(set)
    }
}

/// Checks that a stored record's cold fields decode (enrolment state, sealed-secret framing,
/// recovery code record) and agree with each other, and returns them in canonical form. Useful
/// to audit a database, and what the flow relies on when it reads a record. Decrypts nothing.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the first problem.
pub fn check_record(cold: &ColdFields) -> Result<ColdFields, StoreError> {
    let (meta, state) = EnrollmentState::decode_meta(&cold.state)?;
    if state.status() != cold.status {
        return Err(StoreError::Corrupt(
            "status disagrees with the enrolment state",
        ));
    }
    let recovery = match &cold.recovery {
        Some(text) => Some(
            text.parse::<HashedRecoveryCodes>()
                .map_err(|_| StoreError::Corrupt("recovery codes"))?
                .encode(),
        ),
        None => None,
    };
    Ok(ColdFields {
        status: cold.status,
        state: state.encode_with(&meta),
        required: cold.required,
        recovery_generation: cold.recovery_generation,
        recovery,
    })
}
