//! The enrolment state of one user: an enum of per-state data whose transitions consume it, and
//! its stored text form (sealed secrets only).

use super::tokens::{FactorStamp, TicketHash};
use crate::otp::{Algorithm, Digits, Period, TotpParams};
use crate::seal::SealedSecret;
use crate::store::{StoreError, StoredStatus};

/// A secret issued and awaiting its first code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) sealed: SealedSecret,
    pub(crate) params: TotpParams,
    pub(crate) started_at: u64,
    pub(crate) expires_at: u64,
    /// The hash of the enrolment ticket the beginning session holds. `None` only for a pending
    /// enrolment stored before tickets existed: it cannot be shown or confirmed, only begun again.
    pub(crate) ticket: Option<TicketHash>,
}

/// The confirmed device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Active {
    pub(crate) sealed: SealedSecret,
    pub(crate) params: TotpParams,
    pub(crate) since: u64,
    /// The plain recovery codes sealed with the key ring, only when the application opted in to
    /// showing them again (`RecoveryStorage::HashedAndEncrypted`).
    pub(crate) revealable: Option<SealedSecret>,
}

/// Where a user is in the life cycle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum EnrollmentState {
    #[default]
    NotEnrolled,
    Pending(Pending),
    /// Active, possibly with a new device pending (re-enrolment): the active one keeps working
    /// until the new one is confirmed.
    Active {
        active: Active,
        replacement: Option<Pending>,
    },
}

impl EnrollmentState {
    /// Issues a new pending secret: replaces any pending one; keeps an active device.
    pub(crate) fn begin(self, pending: Pending) -> EnrollmentState {
        match self {
            EnrollmentState::NotEnrolled | EnrollmentState::Pending(_) => {
                EnrollmentState::Pending(pending)
            }
            EnrollmentState::Active { active, .. } => EnrollmentState::Active {
                active,
                replacement: Some(pending),
            },
        }
    }

    /// The secret awaiting confirmation, if any.
    pub(crate) fn pending(&self) -> Option<&Pending> {
        match self {
            EnrollmentState::Pending(p) => Some(p),
            EnrollmentState::Active { replacement, .. } => replacement.as_ref(),
            EnrollmentState::NotEnrolled => None,
        }
    }

    /// The confirmed device, if any.
    pub(crate) fn active(&self) -> Option<&Active> {
        match self {
            EnrollmentState::Active { active, .. } => Some(active),
            _ => None,
        }
    }

    /// Promotes the pending secret to the active device (dropping the old one). `None` if
    /// nothing is pending.
    /// A new device keeps the recovery codes (and their sealed copy, if any).
    pub(crate) fn confirm(self, at: u64) -> Option<EnrollmentState> {
        let (pending, revealable) = match self {
            EnrollmentState::Pending(p) => (p, None),
            EnrollmentState::Active {
                active,
                replacement: Some(p),
            } => (p, active.revealable),
            _ => return None,
        };
        Some(EnrollmentState::Active {
            active: Active {
                sealed: pending.sealed,
                params: pending.params,
                since: at,
                revealable,
            },
            replacement: None,
        })
    }

    /// Sets (or clears) the sealed copy of the recovery codes of an active enrolment.
    pub(crate) fn with_revealable(mut self, sealed: Option<SealedSecret>) -> EnrollmentState {
        if let EnrollmentState::Active { active, .. } = &mut self {
            active.revealable = sealed;
        }
        self
    }

    pub(crate) fn status(&self) -> StoredStatus {
        match self {
            EnrollmentState::NotEnrolled => StoredStatus::NotEnrolled,
            EnrollmentState::Pending(_) => StoredStatus::Pending,
            EnrollmentState::Active { .. } => StoredStatus::Active,
        }
    }

    /// The sealed recovery codes, for key rotation.
    pub(crate) fn revealable_mut(&mut self) -> Option<&mut SealedSecret> {
        match self {
            EnrollmentState::Active { active, .. } => active.revealable.as_mut(),
            _ => None,
        }
    }

    /// Every sealed secret in the state, for key rotation.
    pub(crate) fn sealed_mut(&mut self) -> Vec<&mut SealedSecret> {
        match self {
            EnrollmentState::NotEnrolled => Vec::new(),
            EnrollmentState::Pending(p) => vec![&mut p.sealed],
            EnrollmentState::Active {
                active,
                replacement,
            } => {
                let mut out = vec![&mut active.sealed];
                if let Some(p) = replacement {
                    out.push(&mut p.sealed);
                }
                out
            }
        }
    }

    /// Text form, with the user's factor stamp `S` (URL-safe base64):
    /// `v2|S|none`, `v2|S|pending|P`, `v2|S|active|A|P or -|R or -`, where `R` is the sealed
    /// recovery codes, and
    /// `P = ALG,DIGITS,PERIOD,EPOCH,STARTED,EXPIRES,SEALED,TICKET or -` (the ticket's hash) and
    /// `A = ALG,DIGITS,PERIOD,EPOCH,SINCE,SEALED`.
    ///
    /// [`EnrollmentState::decode_stamped`] also reads the `v1` form written before stamps and
    /// tickets (`v1|none`, ... with `P` lacking the ticket): its stamp is all zero.
    pub(crate) fn encode(&self, stamp: &FactorStamp) -> String {
        let body = match self {
            EnrollmentState::NotEnrolled => "none".to_owned(),
            EnrollmentState::Pending(p) => format!("pending|{}", encode_pending(p)),
            EnrollmentState::Active {
                active,
                replacement,
            } => format!(
                "active|{},{},{}|{}|{}",
                encode_params(&active.params),
                active.since,
                active.sealed.encode(),
                replacement
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), encode_pending),
                active
                    .revealable
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), SealedSecret::encode)
            ),
        };
        format!("v2|{stamp}|{body}")
    }

    /// Parses [`EnrollmentState::encode`]'s form, validating every field.
    pub(crate) fn decode(text: &str) -> Result<EnrollmentState, StoreError> {
        Ok(EnrollmentState::decode_stamped(text)?.1)
    }

    /// Parses [`EnrollmentState::encode`]'s form (or the older `v1` one), with the stamp.
    pub(crate) fn decode_stamped(text: &str) -> Result<(FactorStamp, EnrollmentState), StoreError> {
        let corrupt = StoreError::Corrupt("enrolment state");
        if text.len() > 16 * 1024 {
            return Err(corrupt);
        }
        let parts: Vec<&str> = text.split('|').collect();
        let (stamp, version, body) = match parts.as_slice() {
            ["v1", body @ ..] => (FactorStamp::default(), 1, body),
            ["v2", stamp, body @ ..] => (
                stamp
                    .parse::<FactorStamp>()
                    .map_err(|_| StoreError::Corrupt("enrolment state"))?,
                2,
                body,
            ),
            _ => return Err(corrupt),
        };
        let state = match body {
            ["none"] => EnrollmentState::NotEnrolled,
            ["pending", p] => EnrollmentState::Pending(decode_pending(p, version)?),
            ["active", a, p, r] => {
                let fields: Vec<&str> = a.split(',').collect();
                let [alg, digits, period, epoch, since, sealed] = fields.as_slice() else {
                    return Err(corrupt);
                };
                let revealable = match *r {
                    "-" => None,
                    r => Some(
                        SealedSecret::decode(r)
                            .map_err(|_| StoreError::Corrupt("enrolment state"))?,
                    ),
                };
                let active = Active {
                    params: decode_params(alg, digits, period, epoch)?,
                    since: number(since)?,
                    sealed: SealedSecret::decode(sealed).map_err(|_| corrupt)?,
                    revealable,
                };
                let replacement = match *p {
                    "-" => None,
                    p => Some(decode_pending(p, version)?),
                };
                EnrollmentState::Active {
                    active,
                    replacement,
                }
            }
            _ => return Err(corrupt),
        };
        Ok((stamp, state))
    }
}

fn encode_params(p: &TotpParams) -> String {
    format!(
        "{},{},{},{}",
        p.algorithm.as_str(),
        p.digits.get(),
        p.period.seconds(),
        p.epoch
    )
}

fn encode_pending(p: &Pending) -> String {
    format!(
        "{},{},{},{},{}",
        encode_params(&p.params),
        p.started_at,
        p.expires_at,
        p.sealed.encode(),
        p.ticket
            .as_ref()
            .map_or_else(|| "-".to_owned(), TicketHash::encode)
    )
}

fn number(s: &str) -> Result<u64, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt("enrolment state"))
}

fn decode_params(
    alg: &str,
    digits: &str,
    period: &str,
    epoch: &str,
) -> Result<TotpParams, StoreError> {
    let corrupt = |_| StoreError::Corrupt("enrolment state");
    Ok(TotpParams::new(
        alg.parse::<Algorithm>().map_err(corrupt)?,
        digits.parse::<Digits>().map_err(corrupt)?,
        period.parse::<Period>().map_err(corrupt)?,
    )
    .with_epoch(number(epoch)?))
}

fn decode_pending(text: &str, version: u8) -> Result<Pending, StoreError> {
    let corrupt = || StoreError::Corrupt("enrolment state");
    let fields: Vec<&str> = text.split(',').collect();
    let (alg, digits, period, epoch, started, expires, sealed, ticket) =
        match (version, fields.as_slice()) {
            (1, [alg, digits, period, epoch, started, expires, sealed]) => {
                (alg, digits, period, epoch, started, expires, sealed, None)
            }
            (2, [alg, digits, period, epoch, started, expires, sealed, ticket]) => {
                let ticket = match *ticket {
                    "-" => None,
                    t => Some(TicketHash::decode(t).ok_or_else(corrupt)?),
                };
                (alg, digits, period, epoch, started, expires, sealed, ticket)
            }
            _ => return Err(corrupt()),
        };
    Ok(Pending {
        ticket,
        params: decode_params(alg, digits, period, epoch)?,
        started_at: number(started)?,
        expires_at: number(expires)?,
        sealed: SealedSecret::decode(sealed).map_err(|_| StoreError::Corrupt("enrolment state"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::tokens::FactorStamp;
    use crate::otp::Secret;
    use crate::seal::{EncryptionKey, KeyRing};

    fn pending(ring: &KeyRing, at: u64) -> Pending {
        Pending {
            sealed: ring
                .seal("u", &Secret::generate(Algorithm::Sha1).unwrap())
                .unwrap(),
            params: TotpParams::default(),
            started_at: at,
            expires_at: at + 600,
            ticket: Some(
                super::super::tokens::EnrollmentTicket::generate()
                    .unwrap()
                    .hash(),
            ),
        }
    }

    #[test]
    fn transitions_and_encoding_round_trip() {
        let ring = KeyRing::new(EncryptionKey::generate(1).unwrap());
        let stamp = FactorStamp::generate().unwrap();
        let s = EnrollmentState::NotEnrolled;
        assert_eq!(EnrollmentState::decode(&s.encode(&stamp)).unwrap(), s);
        assert!(s.clone().confirm(1).is_none());

        let s = s.begin(pending(&ring, 10));
        assert_eq!(s.status(), StoredStatus::Pending);
        assert_eq!(EnrollmentState::decode(&s.encode(&stamp)).unwrap(), s);

        let s = s.confirm(20).unwrap();
        assert_eq!(s.status(), StoredStatus::Active);
        assert_eq!(s.active().unwrap().since, 20);
        assert!(s.pending().is_none());
        assert_eq!(EnrollmentState::decode(&s.encode(&stamp)).unwrap(), s);

        let old = s.active().unwrap().sealed.clone();
        let s = s.begin(pending(&ring, 30));
        assert_eq!(
            s.active().unwrap().sealed,
            old,
            "old device kept until confirmed"
        );
        assert!(s.pending().is_some());
        assert_eq!(EnrollmentState::decode(&s.encode(&stamp)).unwrap(), s);
        let s = s.confirm(40).unwrap();
        assert_ne!(s.active().unwrap().sealed, old);
    }

    #[test]
    fn the_stamp_round_trips_and_v1_records_still_decode() {
        let stamp = FactorStamp::generate().unwrap();
        let text = EnrollmentState::NotEnrolled.encode(&stamp);
        assert_eq!(
            EnrollmentState::decode_stamped(&text).unwrap(),
            (stamp, EnrollmentState::NotEnrolled)
        );
        // Written before stamps and tickets: the zero stamp, and a pending enrolment without a
        // ticket (which can only be begun again).
        assert_eq!(
            EnrollmentState::decode_stamped("v1|none").unwrap(),
            (FactorStamp::default(), EnrollmentState::NotEnrolled)
        );
        let v1 = "v1|pending|SHA1,6,30,0,1,2,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA";
        let (_, state) = EnrollmentState::decode_stamped(v1).unwrap();
        assert!(state.pending().unwrap().ticket.is_none());
    }

    #[test]
    fn corrupt_records_are_typed_errors() {
        for bad in [
            "",
            "v1",
            "v2|none",
            "v1|none|x",
            "v1|pending|SHA1,6,30,0,1,2",
            "v1|pending|MD5,6,30,0,1,2,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
            "v1|active|SHA1,9,30,0,1,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA|-|-",
            "v1|active|SHA1,6,0,0,1,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA|-|-",
            "v1|active|SHA1,6,30,0,1,garbage|-|-",
            "v1|active|SHA1,6,30,0,1,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA|-",
            "v1|active|SHA1,6,30,0,1,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA|-|junk",
            "v2|none",
            "v2|short|none",
            "v2|AAAAAAAAAAAAAAAAAAAAAA|pending|SHA1,6,30,0,1,2,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
            "v2|AAAAAAAAAAAAAAAAAAAAAA|pending|SHA1,6,30,0,1,2,v1.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA,short",
        ] {
            assert!(
                matches!(EnrollmentState::decode(bad), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
    }
}
