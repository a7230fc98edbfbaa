//! Reading a stored record: its check, and the recovery code set it holds.

use super::FlowError;
use super::state::EnrollmentState;
use crate::otp::HashedRecoveryCodes;
use crate::store::{ColdFields, StoreError, StoredUser};

/// Refuses, before anything is counted, input that cannot be one of the stored recovery codes.
pub(super) fn recovery_shape(record: &StoredUser, input: &str) -> Result<(), FlowError> {
    match &record.cold.recovery {
        Some(text) => {
            let set: HashedRecoveryCodes = text
                .parse()
                .map_err(|_| StoreError::Corrupt("recovery codes"))?;
            if set.accepts_shape(input) {
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
pub(super) fn recovery_set(text: &str, used: u64) -> Result<HashedRecoveryCodes, FlowError> {
    let mut set: HashedRecoveryCodes = text
        .parse()
        .map_err(|_| StoreError::Corrupt("recovery codes"))?;
    for index in 0..set.total().min(64) {
        if used & (1u64 << index) != 0 {
            // Already blank in the record or not: either way it is used.
            let _ = set.consume(index);
        }
    }
    Ok(set)
}

/// Checks that a stored record's cold fields decode (enrolment state, sealed-secret framing,
/// recovery code record) and agree with each other, and returns them in canonical form. Useful
/// to audit a database, and what the flow relies on when it reads a record. Decrypts nothing.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the first problem.
pub fn check_record(cold: &ColdFields) -> Result<ColdFields, StoreError> {
    let state = EnrollmentState::decode(&cold.state)?;
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
        state: state.encode(),
        required: cold.required,
        recovery_generation: cold.recovery_generation,
        recovery,
    })
}
