//! Throttling of the password step and of sign-up (`governor`).
//!
//! Each password attempt takes a cell from three buckets: the client address's, the submitted
//! username's from that address (strict), and the username's from everywhere (loose). Usernames
//! are normalised as at sign-up, whether or not such an account exists, so a refusal says
//! nothing about which accounts exist; names that sign-up would refuse (too long, other
//! characters) share one key, so they cannot fill memory. When a bucket is empty the attempt is
//! refused before the password is hashed, with the same text and a `Retry-After` for every
//! username. The loose per-username bucket is what stops a guesser spread over many addresses;
//! because any address can drain it, it is large, so that one address alone cannot lock a
//! known user (an administrator) out. Sign-up takes a cell from the address's bucket too (it
//! hashes a password).
//!
//! Addresses: the TCP peer's, or behind a TLS proxy (`TWOFACTOR_WEB_TLS=proxy`) the last entry
//! of `X-Forwarded-For` (the one the proxy added); IPv6 addresses count by their /64, which one
//! client usually holds whole. The second factor has its own throttling, in the crate
//! (`FlowConfig::throttle`), shared by every server through the database. These buckets live in
//! this process's memory: a site on several servers keeps them in a shared store.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
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

/// The password step's limits.
#[derive(Clone, Copy, Debug)]
pub struct PasswordLimits {
    /// Per account name and client address: 10 attempts, then one every 30 seconds.
    pub per_account: Limit,
    /// Per account name from every address together: 100 attempts, then one every 10 seconds.
    pub per_account_everywhere: Limit,
    /// Per client address, password attempts and sign-ups together: 50, then one every 2
    /// seconds (addresses are shared by many people behind one NAT, so this one is looser).
    pub per_address: Limit,
}

impl Default for PasswordLimits {
    fn default() -> PasswordLimits {
        PasswordLimits {
            per_account: Limit {
                burst: 10,
                refill: Duration::from_secs(30),
            },
            per_account_everywhere: Limit {
                burst: 100,
                refill: Duration::from_secs(10),
            },
            per_address: Limit {
                burst: 50,
                refill: Duration::from_secs(2),
            },
        }
    }
}

/// The buckets.
pub(crate) struct PasswordThrottle {
    per_account: DefaultKeyedRateLimiter<(String, IpAddr)>,
    per_account_everywhere: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

/// The key of a submitted username: itself when sign-up could have made it, one shared key
/// otherwise.
fn name_key(username: &str) -> String {
    let possible = (3..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if possible {
        username.to_owned()
    } else {
        "\u{0}invalid".to_owned()
    }
}

/// The client address a request counts against: the peer's, or behind a proxy the last
/// `X-Forwarded-For` entry; an IPv6 address by its /64.
pub(crate) fn client_address(peer: SocketAddr, headers: &HeaderMap, behind_proxy: bool) -> IpAddr {
    let forwarded = behind_proxy
        .then(|| {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|v| v.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    match forwarded.unwrap_or_else(|| peer.ip()) {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl PasswordThrottle {
    pub(crate) fn new(limits: PasswordLimits) -> PasswordThrottle {
        PasswordThrottle {
            per_account: RateLimiter::keyed(limits.per_account.quota()),
            per_account_everywhere: RateLimiter::keyed(limits.per_account_everywhere.quota()),
            per_address: RateLimiter::keyed(limits.per_address.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one password attempt for `username` from `address`, or says how long to wait.
    pub(crate) fn attempt(&self, username: &str, address: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let name = name_key(username);
        self.per_address
            .check_key(&address)
            .map_err(|n| n.wait_time_from(now))?;
        self.per_account
            .check_key(&(name.clone(), address))
            .map_err(|n| n.wait_time_from(now))?;
        self.per_account_everywhere
            .check_key(&name)
            .map_err(|n| n.wait_time_from(now))
    }

    /// Takes one sign-up from `address`, or says how long to wait.
    pub(crate) fn sign_up(&self, address: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        self.per_address
            .check_key(&address)
            .map_err(|n| n.wait_time_from(now))
    }

    /// Forgets buckets that are full again (run now and then, so memory stays bounded).
    pub(crate) fn forget_idle(&self) {
        self.per_account.retain_recent();
        self.per_account_everywhere.retain_recent();
        self.per_address.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(burst: u32) -> Limit {
        Limit {
            burst,
            refill: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_account_name_runs_dry_whether_or_not_it_exists_and_addresses_apart() {
        let throttle = PasswordThrottle::new(PasswordLimits {
            per_account: limit(3),
            per_account_everywhere: limit(5),
            per_address: limit(6),
        });
        let here: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(throttle.attempt("nobody", here).is_ok());
        }
        let wait = throttle.attempt("nobody", here).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        // Another address, the same name: its own strict bucket, then the name's loose one
        // (5 in all) runs dry.
        let there: IpAddr = [10, 0, 0, 2].into();
        assert!(throttle.attempt("nobody", there).is_ok());
        assert!(throttle.attempt("nobody", there).is_ok());
        assert!(throttle.attempt("nobody", there).is_err());
        // Another name from the first address: its address bucket had 6 (4 taken).
        assert!(throttle.attempt("alice", here).is_ok());
        assert!(throttle.attempt("alice", here).is_ok());
        assert!(throttle.attempt("alice", here).is_err());
        assert!(throttle.sign_up(here).is_err());
    }

    #[test]
    fn names_sign_up_refuses_share_one_bucket() {
        assert_eq!(name_key("alice"), "alice");
        assert_eq!(name_key(&"x".repeat(100_000)), name_key("a b"));
    }

    #[test]
    fn addresses_from_the_peer_or_the_proxy_and_ipv6_by_its_64() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        assert_eq!(client_address(peer, &headers, false), peer.ip());
        let proxied: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(client_address(peer, &headers, true), proxied);
        assert_eq!(client_address(peer, &HeaderMap::new(), true), peer.ip());
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().unwrap();
        let net: IpAddr = "2001:db8:1:2::".parse().unwrap();
        assert_eq!(client_address(v6, &HeaderMap::new(), false), net);
    }
}
