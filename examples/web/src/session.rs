//! Sessions: who is logged in and how far, in an HMAC-signed cookie with a CSRF token, and what
//! the 2FA flow asks the application to keep per session: the factor stamp seen at login, the
//! ticket of an enrolment this session began, and the proof of its second-factor login.
//!
//! The cookie is signed, not encrypted: the browser can read what it holds (the ticket and the
//! proof are bound to this user and useless to anyone else, and it is `HttpOnly`). A server-side
//! session store is the better home for them.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite, SignedCookieJar};
use subtle::ConstantTimeEq;
use twofactor::{EnrollmentTicket, FactorStamp, RecentVerification};

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
    /// The user's factor stamp when this session logged in (or last changed the factors itself):
    /// a session whose stamp is no longer the user's is ended.
    pub(crate) stamp: Option<FactorStamp>,
    /// The ticket of the enrolment this session began: only this session can see its secret
    /// again and confirm it.
    pub(crate) ticket: Option<EnrollmentTicket>,
    /// The proof of this session's second-factor login, which authorises sensitive changes for a
    /// few minutes without a new code.
    pub(crate) proof: Option<RecentVerification>,
    /// The user chose "later" on the banner that offers enrolment before a deadline: this
    /// session does not show it again (the next login does).
    pub(crate) later: bool,
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
            stamp: None,
            ticket: None,
            proof: None,
            later: false,
        })
    }

    /// A new session for `user` at `stage`, who has the factor stamp `stamp` now.
    pub(crate) fn for_user(
        user: i64,
        stage: Stage,
        stamp: FactorStamp,
    ) -> Result<Session, getrandom::Error> {
        // A new token on every privilege change (no session fixation).
        Ok(Session {
            user: Some(user),
            stage,
            csrf: random_token()?,
            issued: now(),
            stamp: Some(stamp),
            ticket: None,
            proof: None,
            later: false,
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
            let stamp = match parts.next()? {
                "-" => None,
                s => Some(s.parse().ok()?),
            };
            let ticket = match parts.next()? {
                "-" => None,
                t => Some(EnrollmentTicket::from_session(t)),
            };
            let proof = match parts.next()? {
                "-" => None,
                p => Some(RecentVerification::from_session(p)),
            };
            let later = match parts.next()? {
                "0" => false,
                "1" => true,
                _ => return None,
            };
            if parts.next().is_some() {
                return None;
            }
            (now().saturating_sub(issued) < SESSION_MAX_AGE).then_some(Session {
                user,
                stage,
                csrf,
                issued,
                stamp,
                ticket,
                proof,
                later,
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
        let stamp = self.stamp.map_or_else(|| "-".to_owned(), |s| s.to_string());
        // Tickets are URL-safe base64 and proofs `v1.<id>.<base64>.<base64>`: neither is `-` nor
        // holds a `|`.
        let ticket = self.ticket.as_ref().map_or("-", EnrollmentTicket::expose);
        let proof = self.proof.as_ref().map_or("-", RecentVerification::expose);
        let mut cookie = Cookie::new(
            "session",
            format!(
                "{user}|{stage}|{}|{}|{stamp}|{ticket}|{proof}|{}",
                self.csrf,
                self.issued,
                u8::from(self.later)
            ),
        );
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_path("/");
        jar.add(cookie)
    }

    /// A jar that sets the session cookie empty and already expired, which removes it from the
    /// browser (logs the visitor out). Removal needs no signature, so no key.
    pub(crate) fn cleared() -> CookieJar {
        let mut cookie = Cookie::from("session");
        cookie.set_path("/");
        cookie.make_removal();
        CookieJar::new().add(cookie)
    }

    /// Whether `submitted` is this session's CSRF token (compared in constant time).
    pub(crate) fn csrf_ok(&self, submitted: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }

    /// Whether this session saw the user's current factor stamp: a session from before a change
    /// of the user's second factor (on another device, or by an administrator) is stale. Checked
    /// on every authenticated route by [`crate::auth::User`].
    pub(crate) fn stamp_is_current(&self, current: &FactorStamp) -> bool {
        self.stamp.is_some_and(|s| s.matches(current))
    }

    /// The user, if fully logged in.
    pub(crate) fn full_user(&self) -> Option<i64> {
        (self.stage == Stage::Full).then_some(self.user).flatten()
    }
}
