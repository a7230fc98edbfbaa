//! The time source, injectable so that tests (and simulations) control time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// The current Unix time in seconds.
    fn now(&self) -> u64;
}

/// The system clock (a clock before 1970 reads as 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// ```
/// use twofactor::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_700_000_000);
/// let shared = clock.clone();
/// clock.advance(30);
/// assert_eq!(shared.now(), 1_700_000_030);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `unix_time`.
    pub fn new(unix_time: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(unix_time)))
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, unix_time: u64) {
        self.0.store(unix_time, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}
