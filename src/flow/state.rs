//! The enrolment state of one user: an enum of per-state data whose transitions consume it, and
//! its stored text form (sealed secrets only).

use super::authenticators::{AuthEntry, MAX_STORED_AUTHENTICATORS, PrimaryName};
use super::tokens::{FactorStamp, TicketHash};
use super::trust::TrustEntry;
use data_encoding::BASE64URL_NOPAD;

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

/// What the state text carries beside the enrolment state: the factor stamp, the deadline of a
/// required enrolment, the primary authenticator's id and name, the name of an authenticator
/// being added, the additional authenticators, and the trusted browsers. Stored in the same text as the state, so one
/// compare-and-swap changes them together in every store, without a schema change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    /// The user's factor stamp.
    pub(crate) stamp: FactorStamp,
    /// The deadline of a required enrolment (with the cold field `required` set); `None`: none
    /// (required now, if `required` is set).
    pub(crate) required_by: Option<u64>,
    /// The primary authenticator's id and name, once named (`None`: the unnamed primary of a
    /// record written before names, or of a new device).
    pub(crate) primary: Option<PrimaryName>,
    /// The name of the authenticator the pending replacement adds; `None`: the pending
    /// replacement is a new device (it replaces the primary).
    pub(crate) adding: Option<String>,
    /// Additional authenticators, oldest first (see `authenticators.rs`).
    pub(crate) authenticators: Vec<AuthEntry>,
    /// Trusted browsers, oldest first.
    pub(crate) trusted: Vec<TrustEntry>,
}

impl Meta {
    /// Metadata with `stamp` only.
    pub(crate) fn new(stamp: FactorStamp) -> Meta {
        Meta {
            stamp,
            required_by: None,
            primary: None,
            adding: None,
            authenticators: Vec::new(),
            trusted: Vec::new(),
        }
    }

    /// The same metadata under a new stamp, without trusted browsers or authenticators: what
    /// every factor change that ends the enrolment or replaces it whole (disable, reset, an
    /// import) writes.
    pub(crate) fn after_factor_change(&self, stamp: FactorStamp) -> Meta {
        Meta {
            required_by: self.required_by,
            ..Meta::new(stamp)
        }
    }

    /// The same metadata under a new stamp, without trusted browsers, keeping the
    /// authenticators: what adding or removing one (or confirming a new device) writes. A
    /// pending addition is settled by it, so its name is dropped.
    pub(crate) fn after_authenticator_change(&self, stamp: FactorStamp) -> Meta {
        Meta {
            required_by: self.required_by,
            primary: self.primary.clone(),
            authenticators: self.authenticators.clone(),
            ..Meta::new(stamp)
        }
    }

    /// Nothing beyond the stamp: written as `v2`.
    fn is_bare(&self) -> bool {
        self.required_by.is_none()
            && self.primary.is_none()
            && self.adding.is_none()
            && self.authenticators.is_empty()
            && self.trusted.is_empty()
    }
}

/// At most this many trusted browsers in one stored state (the configurable cap is lower).
pub(crate) const MAX_STORED_TRUSTED: usize = 64;

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

    /// The active device, taken out of the state. `None` if not enrolled.
    pub(crate) fn into_active(self) -> Option<Active> {
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

    /// Text form, with the user's factor stamp `S` (URL-safe base64) and nothing else in the
    /// metadata: `v2|S|BODY`. See [`EnrollmentState::encode_with`].
    pub(crate) fn encode(&self, stamp: &FactorStamp) -> String {
        self.encode_with(&Meta::new(*stamp))
    }

    /// Text form with its metadata.
    ///
    /// `v2|S|BODY` when the metadata is the stamp `S` alone (URL-safe base64), so that a record
    /// without a deadline, authenticator names, additional authenticators or trusted browsers
    /// stays readable by releases before `v3`; otherwise `v3|S|M|BODY`, where `M` is a
    /// `;`-separated list, in this order, of `by=DEADLINE` (at most once), `pa=ID,NAME` (the
    /// primary authenticator's id and name, at most once), `pn=NAME` (the name of the
    /// authenticator the pending replacement adds, at most once), `au=ID,NAME,CREATED,ALG,
    /// DIGITS,PERIOD,EPOCH,SEALED,STEP or -,DRIFT,LAST or -` (one per additional
    /// authenticator, oldest first; see `authenticators.rs`) and `tb=ID,HASH,STAMP,LABEL,
    /// CREATED,LAST or -,EXPIRES` (one per trusted browser, oldest first; see `trust.rs`).
    /// Names and labels are URL-safe base64 of their UTF-8 bytes.
    ///
    /// `BODY` is `none`, `pending|P`, or `active|A|P or -|R or -`, where `R` is the sealed
    /// recovery codes, `P = ALG,DIGITS,PERIOD,EPOCH,STARTED,EXPIRES,SEALED,TICKET or -` (the
    /// ticket's hash) and `A = ALG,DIGITS,PERIOD,EPOCH,SINCE,SEALED`.
    ///
    /// [`EnrollmentState::decode_meta`] also reads the `v1` form written before stamps and
    /// tickets (`v1|none`, ... with `P` lacking the ticket): its stamp is all zero.
    pub(crate) fn encode_with(&self, meta: &Meta) -> String {
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
        let stamp = meta.stamp;
        if meta.is_bare() {
            return format!("v2|{stamp}|{body}");
        }
        let mut items: Vec<String> =
            Vec::with_capacity(3 + meta.authenticators.len() + meta.trusted.len());
        if let Some(by) = meta.required_by {
            items.push(format!("by={by}"));
        }
        if let Some(p) = &meta.primary {
            items.push(format!("pa={}", p.encode()));
        }
        if let Some(name) = &meta.adding {
            items.push(format!("pn={}", BASE64URL_NOPAD.encode(name.as_bytes())));
        }
        items.extend(
            meta.authenticators
                .iter()
                .map(|a| format!("au={}", a.encode())),
        );
        items.extend(meta.trusted.iter().map(|t| format!("tb={}", t.encode())));
        format!("v3|{stamp}|{}|{body}", items.join(";"))
    }

    /// Parses [`EnrollmentState::encode`]'s form, validating every field.
    pub(crate) fn decode(text: &str) -> Result<EnrollmentState, StoreError> {
        Ok(EnrollmentState::decode_stamped(text)?.1)
    }

    /// Parses [`EnrollmentState::encode`]'s form (or the older `v1` one), with the stamp.
    pub(crate) fn decode_stamped(text: &str) -> Result<(FactorStamp, EnrollmentState), StoreError> {
        let (meta, state) = EnrollmentState::decode_meta(text)?;
        Ok((meta.stamp, state))
    }

    /// Parses [`EnrollmentState::encode_with`]'s forms (`v3`, `v2`) or the older `v1` one, with
    /// the metadata (`v2` and `v1` carry only a stamp).
    pub(crate) fn decode_meta(text: &str) -> Result<(Meta, EnrollmentState), StoreError> {
        let corrupt = StoreError::Corrupt("enrolment state");
        if text.len() > 32 * 1024 {
            return Err(corrupt);
        }
        let stamp_of = |s: &str| {
            s.parse::<FactorStamp>()
                .map_err(|_| StoreError::Corrupt("enrolment state"))
        };
        // At most seven fields (`v3`, stamp, metadata, `active` and its three); an eighth is
        // corrupt. Split into an array: this runs on every login.
        let mut parts = [""; 8];
        let n = split_into(text, '|', &mut parts).ok_or(StoreError::Corrupt("enrolment state"))?;
        let (meta, version, body) = match &parts[..n] {
            ["v1", body @ ..] => (Meta::default(), 1, body),
            ["v2", stamp, body @ ..] => (Meta::new(stamp_of(stamp)?), 2, body),
            ["v3", stamp, meta, body @ ..] => (decode_meta_items(stamp_of(stamp)?, meta)?, 2, body),
            _ => return Err(corrupt),
        };
        let state = match body {
            ["none"] => EnrollmentState::NotEnrolled,
            ["pending", p] => EnrollmentState::Pending(decode_pending(p, version)?),
            ["active", a, p, r] => {
                let mut fields = [""; 7];
                let n = split_into(a, ',', &mut fields)
                    .ok_or(StoreError::Corrupt("enrolment state"))?;
                let [alg, digits, period, epoch, since, sealed] = &fields[..n] else {
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
        // Authenticator metadata belongs to an active enrolment; an addition to a pending
        // replacement.
        let replacement = matches!(
            &state,
            EnrollmentState::Active {
                replacement: Some(_),
                ..
            }
        );
        let named = meta.primary.is_some() || !meta.authenticators.is_empty();
        if (named && state.active().is_none()) || (meta.adding.is_some() && !replacement) {
            return Err(StoreError::Corrupt("enrolment state metadata"));
        }
        Ok((meta, state))
    }
}

/// The `v3` metadata list, in order: `by=DEADLINE`, `pa=`, `pn=` at most once each, then
/// additional authenticators and trusted browsers with distinct ids.
fn decode_meta_items(stamp: FactorStamp, text: &str) -> Result<Meta, StoreError> {
    let corrupt = || StoreError::Corrupt("enrolment state metadata");
    let mut meta = Meta::new(stamp);
    // The rank of the last item read: items come in rank order, `by`, `pa` and `pn` once.
    let mut last = 0u8;
    for item in text.split(';') {
        let (key, value) = item.split_once('=').ok_or_else(corrupt)?;
        let rank = match key {
            "by" => 1,
            "pa" => 2,
            "pn" => 3,
            "au" => 4,
            "tb" => 5,
            _ => return Err(corrupt()),
        };
        if rank < last || (rank == last && rank < 4) {
            return Err(corrupt());
        }
        last = rank;
        match key {
            "by" => {
                meta.required_by = Some(number(value)?);
            }
            "pa" => {
                meta.primary = Some(PrimaryName::decode(value).ok_or_else(corrupt)?);
            }
            "pn" => {
                let name = String::from_utf8(
                    BASE64URL_NOPAD
                        .decode(value.as_bytes())
                        .map_err(|_| corrupt())?,
                )
                .map_err(|_| corrupt())?;
                if name.is_empty() || super::authenticators::clean_name(&name) != name {
                    return Err(corrupt());
                }
                meta.adding = Some(name);
            }
            "au" if meta.authenticators.len() + 1 < MAX_STORED_AUTHENTICATORS => {
                let entry = AuthEntry::decode(value).ok_or_else(corrupt)?;
                let primary = meta.primary.as_ref().map(|p| p.id);
                if primary == Some(entry.id) || meta.authenticators.iter().any(|a| a.id == entry.id)
                {
                    return Err(corrupt());
                }
                meta.authenticators.push(entry);
            }
            "tb" if meta.trusted.len() < MAX_STORED_TRUSTED => {
                let entry = TrustEntry::decode(value).ok_or_else(corrupt)?;
                if meta.trusted.iter().any(|t| t.same_id(&entry)) {
                    return Err(corrupt());
                }
                meta.trusted.push(entry);
            }
            _ => return Err(corrupt()),
        }
    }
    // `v3` is written only with metadata beyond the stamp: an empty list is not canonical.
    if meta.is_bare() {
        return Err(corrupt());
    }
    Ok(meta)
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

/// A number as `u64` writes it: digits only, no sign, no leading zero (so a stored record has
/// one text form).
fn number(s: &str) -> Result<u64, StoreError> {
    canonical_number(s).ok_or(StoreError::Corrupt("enrolment state"))
}

/// A number as `u64` writes it (digits only, no sign, no leading zero), checked without
/// formatting it back: every stored field that holds a number is read with this.
pub(super) fn canonical_number(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse::<u64>().ok()).flatten()
}

/// Splits `text` at `sep` into `out`, returning how many fields it has, or `None` if it has
/// more than `out` holds.
fn split_into<'t>(text: &'t str, sep: char, out: &mut [&'t str]) -> Option<usize> {
    let mut n = 0;
    for field in text.split(sep) {
        *out.get_mut(n)? = field;
        n += 1;
    }
    Some(n)
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
    let mut fields = [""; 9];
    let n = split_into(text, ',', &mut fields).ok_or_else(corrupt)?;
    let (alg, digits, period, epoch, started, expires, sealed, ticket) =
        match (version, &fields[..n]) {
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

    #[test]
    fn numbers_are_read_only_as_written() {
        for (text, value) in [("0", 0), ("7", 7), ("1800000000", 1_800_000_000)] {
            assert_eq!(number(text).unwrap(), value);
        }
        assert_eq!(number(&u64::MAX.to_string()).unwrap(), u64::MAX);
        for text in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "18446744073709551616",
            "١",
        ] {
            assert!(number(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn fields_split_into_an_array_or_not_at_all() {
        let mut out = [""; 3];
        assert_eq!(split_into("a,b,c", ',', &mut out), Some(3));
        assert_eq!(out, ["a", "b", "c"]);
        assert_eq!(split_into("", ',', &mut out), Some(1));
        assert_eq!(split_into(",", ',', &mut out), Some(2));
        assert_eq!(split_into("a,b,c,d", ',', &mut out), None);
    }

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
    fn v3_carries_the_deadline_and_trusted_browsers_and_v2_is_kept_without_them() {
        let ring = KeyRing::new(EncryptionKey::generate(1).unwrap());
        let stamp = FactorStamp::generate().unwrap();
        let state = EnrollmentState::NotEnrolled
            .begin(pending(&ring, 10))
            .confirm(20)
            .unwrap();
        // Nothing beyond the stamp: the v2 form, readable by releases before v3.
        let text = state.encode_with(&Meta::new(stamp));
        assert!(text.starts_with("v2|"), "{text}");
        assert_eq!(text, state.encode(&stamp));

        let entry = crate::flow::trust::TrustEntry::decode(&format!(
            "{},{},{stamp},{},5,-,99",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "A".repeat(43),
            "RmlyZWZveA"
        ))
        .unwrap();
        for meta in [
            Meta {
                required_by: Some(1_900_000_000),
                ..Meta::new(stamp)
            },
            Meta {
                trusted: vec![entry.clone()],
                ..Meta::new(stamp)
            },
            Meta {
                required_by: Some(0),
                trusted: vec![entry.clone()],
                ..Meta::new(stamp)
            },
        ] {
            let text = state.encode_with(&meta);
            assert!(text.starts_with(&format!("v3|{stamp}|")), "{text}");
            assert_eq!(
                EnrollmentState::decode_meta(&text).unwrap(),
                (meta.clone(), state.clone())
            );
            // The stamp and state read as from any other version.
            assert_eq!(
                EnrollmentState::decode_stamped(&text).unwrap(),
                (stamp, state.clone())
            );
        }
        let text = EnrollmentState::NotEnrolled.encode_with(&Meta {
            required_by: Some(7),
            ..Meta::new(stamp)
        });
        assert_eq!(text, format!("v3|{stamp}|by=7|none"));
        // v1 and v2 read with empty metadata.
        let (meta, _) = EnrollmentState::decode_meta("v1|none").unwrap();
        assert_eq!(meta, Meta::default());
        let (meta, _) = EnrollmentState::decode_meta(&format!("v2|{stamp}|none")).unwrap();
        assert_eq!(meta, Meta::new(stamp));
    }

    #[test]
    fn malformed_v3_metadata_is_a_typed_error() {
        let s = "AAAAAAAAAAAAAAAAAAAAAA";
        let tb = format!("tb={s},{},{s},,5,-,99", "A".repeat(43));
        for bad in [
            format!("v3|{s}|none"),
            format!("v3|{s}||none"),
            format!("v3|{s}|-|none"),
            "v3|short|by=1|none".to_owned(),
            format!("v3|{s}|by=|none"),
            format!("v3|{s}|by=x|none"),
            format!("v3|{s}|by=-1|none"),
            format!("v3|{s}|by=+5|none"),
            format!("v3|{s}|by=007|none"),
            format!("v3|{s}|by=1;by=2|none"),
            format!("v3|{s}|{tb};by=1|none"),
            format!("v3|{s}|by=1;|none"),
            format!("v3|{s}|what=1|none"),
            format!("v3|{s}|by=1|bogus"),
            format!("v3|{s}|{tb};{tb}|none"),
            format!("v3|{s}|tb=1,2,3|none"),
            format!("v3|{s}|{}|none", tb.replace(",-,", ",x,")),
            format!("v3|{s}|{}|none", tb.replace("tb=AAAA", "tb=!AAA")),
            format!("v3|{s}|by=1|none|x"),
            format!("v3|{s}|by=1"),
        ] {
            assert!(
                matches!(EnrollmentState::decode(&bad), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
        assert!(EnrollmentState::decode(&format!("v3|{s}|{tb}|none")).is_ok());
        assert!(EnrollmentState::decode(&format!("v3|{s}|by=1;{tb}|none")).is_ok());
        // Too many entries.
        let many: Vec<String> = (0..=MAX_STORED_TRUSTED)
            .map(|i| {
                let id = data_encoding::BASE64URL_NOPAD.encode(&(i as u128).to_be_bytes());
                format!("tb={id},{},{s},,5,-,99", "A".repeat(43))
            })
            .collect();
        let text = format!("v3|{s}|{}|none", many.join(";"));
        assert!(matches!(
            EnrollmentState::decode(&text),
            Err(StoreError::Corrupt(_))
        ));
        let text = format!("v3|{s}|{}|none", many[1..].join(";"));
        assert!(EnrollmentState::decode(&text).is_ok());
    }

    #[test]
    fn authenticator_metadata_round_trips_and_is_strict() {
        use crate::flow::authenticators::{AuthEntry, PrimaryName};
        let ring = KeyRing::new(EncryptionKey::generate(1).unwrap());
        let stamp = FactorStamp::generate().unwrap();
        let active = EnrollmentState::NotEnrolled
            .begin(pending(&ring, 10))
            .confirm(20)
            .unwrap();
        let with_pending = active.clone().begin(pending(&ring, 30));
        let entry = |id: u8| AuthEntry {
            id: [id; 16],
            name: format!("app {id}"),
            created_at: 25,
            sealed: ring
                .seal("u", &Secret::generate(Algorithm::Sha1).unwrap())
                .unwrap(),
            params: TotpParams::default(),
            last_step: Some(1),
            drift: 0,
            last_used_at: Some(40),
        };
        let meta = Meta {
            required_by: Some(5),
            primary: Some(PrimaryName {
                id: [9; 16],
                name: "Phone".to_owned(),
            }),
            adding: Some("Key".to_owned()),
            authenticators: vec![entry(1), entry(2)],
            ..Meta::new(stamp)
        };
        let text = with_pending.encode_with(&meta);
        assert_eq!(
            EnrollmentState::decode_meta(&text).unwrap(),
            (meta.clone(), with_pending.clone())
        );
        let items: Vec<&str> = text.split('|').nth(2).unwrap().split(';').collect();
        let body = text.splitn(4, '|').nth(3).unwrap();
        let with = |items: &[&str], body: &str| format!("v3|{stamp}|{}|{body}", items.join(";"));
        let swapped = [items[0], items[2], items[1], items[3], items[4]];
        let au_first = [items[3], items[0], items[1], items[2], items[4]];
        let twice = [items[0], items[1], items[1], items[2], items[3]];
        let same_id = [items[0], items[1], items[2], items[3], items[3]];
        let active_body = active.encode(&stamp);
        let active_body = active_body.splitn(3, '|').nth(2).unwrap();
        for bad in [
            with(&swapped, body),
            with(&au_first, body),
            with(&twice, body),
            with(&same_id, body),
            // An addition without a pending replacement; names on no active enrolment.
            with(&items, active_body),
            with(&[items[1]], "none"),
            with(&[items[3]], "none"),
            with(&["pn="], body),
            with(&["pa=AAAA,UGhvbmU"], body),
        ] {
            assert!(
                matches!(EnrollmentState::decode(&bad), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
        // Without the addition, the active body is fine; nothing named: v2.
        assert!(EnrollmentState::decode(&with(&[items[1], items[3]], active_body)).is_ok());
        assert!(active.encode_with(&Meta::new(stamp)).starts_with("v2|"));
        // A factor change drops them all; an authenticator change keeps all but the addition.
        let after = meta.after_factor_change(stamp);
        assert!(after.primary.is_none() && after.authenticators.is_empty());
        let kept = meta.after_authenticator_change(stamp);
        assert_eq!(kept.authenticators.len(), 2);
        assert!(kept.adding.is_none() && kept.primary.is_some());
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
