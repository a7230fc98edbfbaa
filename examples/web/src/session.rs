//! Sessions: who is logged in and how far, in an HMAC-signed cookie with a CSRF token.

use axum_extra::extract::cookie::{Cookie, SameSite, SignedCookieJar};
use subtle::ConstantTimeEq;

/// Sessions older than this are refused.
const SESSION_MAX_AGE: u64 = 12 * 3600;

/// Where a session is in the login.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Stage {
    /// No one logged in (the session still carries a CSRF token for the login forms).
    Anonymous,
    /// Password checked; the second factor is due.
    SecondFactor,
    /// Password checked; 2FA is required and not set up: only enrolment is allowed.
    MustEnrol,
    /// Fully logged in.
    Full,
}

/// A visitor's session, as carried in the `session` cookie.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The account, once the password is checked.
    pub(crate) user: Option<i64>,
    /// How far the login has got.
    pub(crate) stage: Stage,
    /// The token every form must send back.
    pub(crate) csrf: String,
    /// When the session was created (Unix seconds).
    issued: u64,
}

/// The current Unix time in seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 128 random bits from the operating system, in hex.
fn random_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Session {
    /// A new session with no one logged in.
    pub(crate) fn anonymous() -> Result<Session, getrandom::Error> {
        Ok(Session {
            user: None,
            stage: Stage::Anonymous,
            csrf: random_token()?,
            issued: now(),
        })
    }

    /// A new session for `user` at `stage`.
    pub(crate) fn for_user(user: i64, stage: Stage) -> Result<Session, getrandom::Error> {
        // A new token on every privilege change (no session fixation).
        Ok(Session {
            user: Some(user),
            stage,
            csrf: random_token()?,
            issued: now(),
        })
    }

    /// The session in the cookie, or a new anonymous one if it is missing, invalid or too old
    /// (which fails only if the operating system's random generator does).
    pub(crate) fn read(jar: &SignedCookieJar) -> Result<Session, getrandom::Error> {
        let parsed = jar.get("session").and_then(|c| {
            let mut parts = c.value().split('|');
            let user = match parts.next()? {
                "-" => None,
                u => Some(u.parse().ok()?),
            };
            let stage = match parts.next()? {
                "anon" => Stage::Anonymous,
                "2fa" => Stage::SecondFactor,
                "enrol" => Stage::MustEnrol,
                "full" => Stage::Full,
                _ => return None,
            };
            let csrf = parts.next()?.to_owned();
            let issued: u64 = parts.next()?.parse().ok()?;
            (now().saturating_sub(issued) < SESSION_MAX_AGE).then_some(Session {
                user,
                stage,
                csrf,
                issued,
            })
        });
        parsed.map_or_else(Session::anonymous, Ok)
    }

    /// `jar` with this session's cookie set.
    pub(crate) fn write(&self, jar: SignedCookieJar) -> SignedCookieJar {
        let stage = match self.stage {
            Stage::Anonymous => "anon",
            Stage::SecondFactor => "2fa",
            Stage::MustEnrol => "enrol",
            Stage::Full => "full",
        };
        let user = self.user.map_or_else(|| "-".to_owned(), |u| u.to_string());
        let mut cookie = Cookie::new(
            "session",
            format!("{user}|{stage}|{}|{}", self.csrf, self.issued),
        );
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_path("/");
        jar.add(cookie)
    }

    /// Whether `submitted` is this session's CSRF token (compared in constant time).
    pub(crate) fn csrf_ok(&self, submitted: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }

    /// The user, if fully logged in.
    pub(crate) fn full_user(&self) -> Option<i64> {
        (self.stage == Stage::Full).then_some(self.user).flatten()
    }
}
