//! Throttling of failed second-factor attempts (RFC 4226 §7.3, NIST SP 800-63B §5.2.2).
//!
//! Failures are counted per user, shared by codes and recovery codes, and stored (so the count
//! holds across processes and login sessions). After a few free attempts each further failure
//! imposes an exponentially growing delay before the next attempt is even checked; at the limit
//! the account is locked for a longer period. A success resets the count.

/// The throttling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThrottlePolicy {
    free_attempts: u32,
    base_delay: u64,
    max_delay: u64,
    lock_after: u32,
    lock_for: u64,
}

/// A policy out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThrottleError {
    /// NIST SP 800-63B §5.2.2 allows at most 100 consecutive failures, and the lock must come
    /// after the free attempts.
    #[error("the lock must come after the free attempts and at most 100 consecutive failures")]
    Limit,
    /// Delays must be at least one second and the maximum at least the base.
    #[error("delays must be at least one second, and the maximum at least the base delay")]
    Delay,
}

impl ThrottlePolicy {
    /// `free_attempts` failures without delay; then `base_delay` seconds, doubling with each
    /// further failure up to `max_delay`; at `lock_after` consecutive failures (at most 100) a
    /// lock of `lock_for` seconds, renewed by every failure while at the limit.
    ///
    /// # Errors
    /// [`ThrottleError`] when out of range.
    pub const fn new(
        free_attempts: u32,
        base_delay: u64,
        max_delay: u64,
        lock_after: u32,
        lock_for: u64,
    ) -> Result<ThrottlePolicy, ThrottleError> {
        if lock_after > 100 || lock_after <= free_attempts {
            return Err(ThrottleError::Limit);
        }
        if base_delay == 0 || max_delay < base_delay || lock_for == 0 {
            return Err(ThrottleError::Delay);
        }
        Ok(ThrottlePolicy {
            free_attempts,
            base_delay,
            max_delay,
            lock_after,
            lock_for,
        })
    }

    /// The consecutive failures that lock the account.
    pub const fn lock_after(&self) -> u32 {
        self.lock_after
    }

    /// When the next attempt may be checked, after `failures` consecutive failures, the last at
    /// `last_failure`: `None` if at once. The second value is whether that is a lock.
    pub fn next_attempt(&self, failures: u32, last_failure: Option<u64>) -> Option<(u64, bool)> {
        let last = last_failure?;
        if failures >= self.lock_after {
            return Some((last.saturating_add(self.lock_for), true));
        }
        if failures <= self.free_attempts {
            return None;
        }
        let doublings = failures - self.free_attempts - 1;
        // base * 2^doublings, saturating: a shift would silently drop high bits.
        let delay = 2u64
            .checked_pow(doublings)
            .and_then(|factor| self.base_delay.checked_mul(factor))
            .unwrap_or(u64::MAX)
            .min(self.max_delay);
        Some((last.saturating_add(delay), false))
    }
}

impl Default for ThrottlePolicy {
    /// Five free attempts; then 2 s doubling up to 5 minutes; locked for an hour after 20
    /// consecutive failures (well under NIST's limit of 100). An attacker gets at most about 40
    /// guesses an hour, against a one-in-a-million code.
    fn default() -> Self {
        ThrottlePolicy {
            free_attempts: 5,
            base_delay: 2,
            max_delay: 300,
            lock_after: 20,
            lock_for: 3600,
        }
    }
}

// ---- the guard: where the flow applies the policy ----

use super::audit::{AuditEvent, AuditSink};
use super::clock::Clock;
use super::{ATTEMPT_RETRIES, EnrollmentFlow, FlowError};
use crate::store::{Attempt, ReadSettled, SecretStore, StoredUser};

/// What [`EnrollmentFlow::settle_read`] did.
pub(super) enum ReadThen<P, V> {
    /// The user has no record.
    Missing,
    /// `prepare` declined the record (as read): nothing was written.
    Declined(StoredUser),
    /// An attempt was decided and settled.
    Settled {
        /// The record as read for the winning write.
        record: StoredUser,
        /// What `prepare` made of that record (of the first read with its cold fields).
        prepared: P,
        /// The verdict `decide` gave with the settled attempt.
        verdict: V,
        /// The failure count after the write.
        failures: u32,
    },
}

/// Which cold fields a record holds: its version (which never repeats for a user id, even across
/// an erasure), and its recovery generation (random for every record the flow creates,
/// [`first_generation`](super::record::first_generation)): the pair the stores' acceptances are
/// conditioned on.
fn cold_id(record: &StoredUser) -> (u64, u64) {
    (record.version, record.cold.recovery_generation)
}

impl<S: SecretStore, C: Clock, A: AuditSink> EnrollmentFlow<S, C, A> {
    /// Refuses, unchecked, an attempt during a throttling delay or lock, and audits the refusal.
    pub(super) fn gate(&self, record: &StoredUser, now: u64) -> Result<(), FlowError> {
        self.closed(record, now)
            .map_err(|e| self.audit_refusal(&record.user_id, e))
    }

    /// [`EnrollmentFlow::gate`] without the audit event: the check alone, which does no I/O
    /// (for deciding inside a store call, which holds a connection).
    fn closed(&self, record: &StoredUser, now: u64) -> Result<(), FlowError> {
        let Some((until, locked)) = self
            .config
            .throttle
            .next_attempt(record.failures, record.last_failure_at)
        else {
            return Ok(());
        };
        if now >= until {
            Ok(())
        } else if locked {
            Err(FlowError::Locked { until })
        } else {
            Err(FlowError::Throttled { until })
        }
    }

    /// Audits a refusal by [`EnrollmentFlow::closed`] (a throttling delay or lock) and returns it.
    fn audit_refusal(&self, user_id: &str, e: FlowError) -> FlowError {
        let user_id = user_id.to_owned();
        match e {
            FlowError::Locked { until } => self.emit(AuditEvent::Locked { user_id, until }),
            FlowError::Throttled { until } => self.emit(AuditEvent::Throttled { user_id, until }),
            _ => {}
        }
        e
    }

    /// Settles one checked attempt, deciding it afresh on every read: `decide` gives the
    /// verdict for the record as read (with the verdict's own data), and the verdict is written
    /// with [`SecretStore::settle_attempt`] on the failure count of that read. A write that loses
    /// to a concurrent attempt is re-read and decided again, and its verdict is never returned,
    /// so every verdict returned is one successful write: concurrent guesses get no more
    /// verdicts than the policy allows. Attempts during a delay or lock are refused unchecked.
    ///
    /// The caller decided what to check on the record it passed in (which secret, which set), so
    /// a re-read that finds the cold fields changed (a new version, or a record created again)
    /// ends with [`FlowError::Conflict`]. Returns the record as read for the winning write, the verdict,
    /// and the failure count after it.
    pub(super) async fn settle<V>(
        &self,
        mut record: StoredUser,
        now: u64,
        mut decide: impl FnMut(&StoredUser) -> Result<(Attempt, V), FlowError>,
    ) -> Result<(StoredUser, Attempt, V, u32), FlowError> {
        let decided_on = cold_id(&record);
        for _ in 0..ATTEMPT_RETRIES {
            if cold_id(&record) != decided_on {
                return Err(FlowError::Conflict);
            }
            self.gate(&record, now)?;
            let (attempt, verdict) = decide(&record)?;
            if self
                .store
                .settle_attempt(&record.user_id, record.failures, attempt, now)
                .await?
            {
                let failures = match attempt {
                    Attempt::Failed => record.failures.saturating_add(1),
                    _ => 0,
                };
                return Ok((record, attempt, verdict, failures));
            }
            record = self
                .store
                .get(&record.user_id)
                .await?
                .ok_or(FlowError::NotEnrolled)?;
        }
        Err(FlowError::Conflict)
    }

    /// [`EnrollmentFlow::settle`] with the store reading the record itself, in the same
    /// operation as the write ([`SecretStore::read_and_settle`]: one connection, or one hop to a
    /// blocking thread): a code login in one store call.
    ///
    /// `prepare` looks at the record read and returns what deciding needs (the code's key, the
    /// enrolment), or `None` if the record is not for this path: the record is then returned as
    /// [`ReadThen::Declined`], nothing written, for the caller to take another way. From then on
    /// it is [`EnrollmentFlow::settle`]: on every read the attempt is gated, decided by `decide`
    /// and settled on that read's failure count, whose write holds only at that read's version.
    /// A read that finds the cold fields changed (another version or generation) is prepared
    /// again, so the decision is always on the secret of the record it is written to; too many
    /// lost writes end with [`FlowError::Conflict`].
    pub(super) async fn settle_read<P: Send, V: Send>(
        &self,
        user_id: &str,
        now: u64,
        mut prepare: impl FnMut(&StoredUser) -> Result<Option<P>, FlowError> + Send,
        mut decide: impl FnMut(&P, &StoredUser) -> Result<(Attempt, V), FlowError> + Send,
    ) -> Result<ReadThen<P, V>, FlowError> {
        // What was prepared, with the cold fields it was prepared on ([`cold_id`]).
        let mut prepared: Option<((u64, u64), P)> = None;
        let mut verdict: Option<V> = None;
        // Why the decision stopped without an attempt, if it did not decline.
        let mut stopped: Option<FlowError> = None;
        let mut reads = 0;
        // The failure count and attempt of the last decision: what a settled write must be.
        let mut last: Option<(u32, Attempt)> = None;
        let mut on_read = |record: &StoredUser| -> Result<Option<Attempt>, FlowError> {
            reads += 1;
            if reads > ATTEMPT_RETRIES {
                return Err(FlowError::Conflict);
            }
            let ready = match prepared.take() {
                Some(ready) if ready.0 == cold_id(record) => ready,
                // The first read, or a record replaced since (a new device, a trusted browser's
                // use, a reset, an erasure and a new enrolment): prepared from this record, so the
                // code is checked against the secret it holds now, never one read before.
                _ => match prepare(record)? {
                    Some(made) => (cold_id(record), made),
                    None => return Ok(None),
                },
            };
            let p = &prepared.insert(ready).1;
            // No audit here: the store may hold a connection while deciding. The refusal is
            // audited once the store call returns.
            self.closed(record, now)?;
            let (attempt, v) = decide(p, record)?;
            verdict = Some(v);
            last = Some((record.failures, attempt));
            Ok(Some(attempt))
        };
        let read = self
            .store
            .read_and_settle(user_id, now, &mut |record| {
                on_read(record).unwrap_or_else(|e| {
                    stopped = Some(e);
                    None
                })
            })
            .await?;
        Ok(match read {
            ReadSettled::Missing => ReadThen::Missing,
            ReadSettled::Declined(record) => match stopped {
                Some(e) => return Err(self.audit_refusal(user_id, e)),
                None => ReadThen::Declined(record),
            },
            ReadSettled::Settled(record, attempt) => {
                // A store's override must settle what was decided, on the count it was decided
                // on: anything else is a broken store, never a verdict.
                if last != Some((record.failures, attempt)) {
                    return Err(FlowError::Internal(
                        "a store settled an attempt not decided",
                    ));
                }
                let (Some((_, prepared)), Some(verdict)) = (prepared, verdict) else {
                    return Err(FlowError::Internal("an attempt settled undecided"));
                };
                let failures = match attempt {
                    Attempt::Failed => record.failures.saturating_add(1),
                    _ => 0,
                };
                ReadThen::Settled {
                    record,
                    prepared,
                    verdict,
                    failures,
                }
            }
        })
    }

    /// The error to report for a failed attempt (already counted when it was reserved), with its
    /// audit events.
    pub(super) fn failed(&self, user_id: &str, failures: u32, now: u64) -> FlowError {
        self.emit(AuditEvent::FailedAttempt {
            user_id: user_id.to_owned(),
            failures,
        });
        match self.config.throttle.next_attempt(failures, Some(now)) {
            Some((until, true)) => {
                if failures == self.config.throttle.lock_after() {
                    self.emit(AuditEvent::Locked {
                        user_id: user_id.to_owned(),
                        until,
                    });
                }
                FlowError::Locked { until }
            }
            Some((until, false)) => FlowError::InvalidCode {
                retry_at: Some(until),
            },
            None => FlowError::InvalidCode { retry_at: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_lock() {
        let p = ThrottlePolicy::new(2, 10, 60, 6, 1000).unwrap();
        assert_eq!(p.next_attempt(0, None), None);
        assert_eq!(p.next_attempt(2, Some(100)), None);
        assert_eq!(p.next_attempt(3, Some(100)), Some((110, false)));
        assert_eq!(p.next_attempt(4, Some(100)), Some((120, false)));
        assert_eq!(p.next_attempt(5, Some(100)), Some((140, false)));
        assert_eq!(p.next_attempt(6, Some(100)), Some((1100, true)));
        assert_eq!(p.next_attempt(60, Some(100)), Some((1100, true)));
        // Large doubling counts saturate at the maximum, never wrap to no delay.
        let big = ThrottlePolicy::new(0, 2, 300, 100, 10).unwrap();
        for failures in 1..100 {
            let (until, _) = big.next_attempt(failures, Some(0)).unwrap();
            assert!((2..=300).contains(&until), "{failures} failures: {until}");
        }
        assert_eq!(big.next_attempt(99, Some(0)), Some((300, false)));
        let capped = ThrottlePolicy::new(0, 1, 60, 100, 10).unwrap();
        assert_eq!(capped.next_attempt(99, Some(0)), Some((60, false)));
        assert_eq!(
            capped.next_attempt(99, Some(u64::MAX)),
            Some((u64::MAX, false))
        );
    }

    #[test]
    fn the_lock_count_is_the_one_given() {
        assert_eq!(
            ThrottlePolicy::new(2, 10, 60, 6, 1000)
                .unwrap()
                .lock_after(),
            6
        );
        assert_eq!(ThrottlePolicy::default().lock_after(), 20);
    }

    #[test]
    fn policies_out_of_range() {
        assert_eq!(
            ThrottlePolicy::new(0, 1, 1, 101, 1),
            Err(ThrottleError::Limit)
        );
        assert_eq!(
            ThrottlePolicy::new(5, 1, 1, 5, 1),
            Err(ThrottleError::Limit)
        );
        assert_eq!(
            ThrottlePolicy::new(0, 0, 1, 10, 1),
            Err(ThrottleError::Delay)
        );
        assert_eq!(
            ThrottlePolicy::new(0, 5, 1, 10, 1),
            Err(ThrottleError::Delay)
        );
        assert!(ThrottlePolicy::default().lock_after() <= 100);
    }
}
