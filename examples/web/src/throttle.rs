//! Throttling of the password step (`governor`), per account name and per client address.
//!
//! Each password attempt takes a cell from two buckets: the submitted username's (normalised as
//! at sign-up, whether or not such an account exists, so a refusal says nothing about which
//! accounts exist) and the client address's. When either is empty the attempt is refused before
//! the password is hashed, with the same text and a `Retry-After` for every username. The
//! second factor has its own throttling, in the crate (`FlowConfig::throttle`).
//!
//! The buckets live in this process's memory: a site on several servers puts them in a shared
//! store (or relies on the crate's persistent throttling of the second factor, which every
//! server shares through the database).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A bucket's size and refill.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    /// Attempts allowed at once.
    pub burst: u32,
    /// One more attempt every this long.
    pub refill: Duration,
}

impl Limit {
    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.refill)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// The password step's limits: per account name and per client address.
#[derive(Clone, Copy, Debug)]
pub struct PasswordLimits {
    /// Per account name: 10 attempts, then one every 30 seconds.
    pub per_account: Limit,
    /// Per client address: 50 attempts, then one every 2 seconds (addresses are shared by many
    /// people behind one NAT, so this one is looser).
    pub per_address: Limit,
}

impl Default for PasswordLimits {
    fn default() -> PasswordLimits {
        PasswordLimits {
            per_account: Limit {
                burst: 10,
                refill: Duration::from_secs(30),
            },
            per_address: Limit {
                burst: 50,
                refill: Duration::from_secs(2),
            },
        }
    }
}

/// The two buckets.
pub(crate) struct PasswordThrottle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl PasswordThrottle {
    pub(crate) fn new(limits: PasswordLimits) -> PasswordThrottle {
        PasswordThrottle {
            per_account: RateLimiter::keyed(limits.per_account.quota()),
            per_address: RateLimiter::keyed(limits.per_address.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt for `username` from `address`, or says how long to wait.
    pub(crate) fn attempt(&self, username: &str, address: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        self.per_address
            .check_key(&address)
            .map_err(|n| n.wait_time_from(now))?;
        self.per_account
            .check_key(&username.to_owned())
            .map_err(|n| n.wait_time_from(now))
    }

    /// Forgets buckets that are full again (run now and then, so memory stays bounded).
    pub(crate) fn forget_idle(&self) {
        self.per_account.retain_recent();
        self.per_address.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_name_runs_dry_whether_or_not_it_exists_and_addresses_apart() {
        let throttle = PasswordThrottle::new(PasswordLimits {
            per_account: Limit {
                burst: 3,
                refill: Duration::from_secs(60),
            },
            per_address: Limit {
                burst: 5,
                refill: Duration::from_secs(60),
            },
        });
        let here: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(throttle.attempt("nobody", here).is_ok());
        }
        let wait = throttle.attempt("nobody", here).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        // Another name from the same address: one left in the address's bucket (5 - 4).
        assert!(throttle.attempt("alice", here).is_ok());
        assert!(throttle.attempt("alice", here).is_err());
        // Another address, the same dry name: refused by the name's bucket.
        assert!(throttle.attempt("nobody", [10, 0, 0, 2].into()).is_err());
    }
}
