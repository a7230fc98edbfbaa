//! Sessions: who is logged in and how far, kept server-side by `tower-sessions` in the same
//! SQLite database as everything else, so that they can be ended.
//!
//! The browser holds only the session's random id (`__Host-session` over TLS, `session`
//! otherwise; `HttpOnly`, `SameSite=Lax`). The sessions table holds the ids as they are (the
//! session store's format): whoever can read the database can use its live sessions, so the
//! file is owner-only; a site with a shared database server keeps its sessions where fewer can
//! read them, or hashes the ids in a wrapper store. What the 2FA flow asks the application to keep per
//! session lives here, on the server: the factor stamp seen at login, the ticket of an enrolment
//! this session began (only this session can see that secret again or confirm it), and the proof
//! of its second-factor login.
//!
//! The id is cycled at every step of the login (password, second factor, a factor change) and the
//! session is deleted at logout; a session whose factor stamp is no longer the user's is deleted
//! by the gate in [`crate::auth`] on its next request, which ends every other session of a user
//! whose factors change.
//!
//! CSRF: the synchronizer-token pattern (OWASP's CSRF cheat sheet). Each session holds 128 random
//! bits, renewed with the id; every form carries them in a hidden field and every state-changing
//! request is refused unless the field matches (compared in constant time). `SameSite=Lax` is a
//! second layer, not the defence.
//!
//! A request that read the session before a logout in another tab and writes it afterwards
//! (a narrow window: the handler must be between its read and its write) saves it again; it is
//! then a session of the same user at the same stage, and the gate still ends it once the
//! user's factors change.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use twofactor::{EnrollmentTicket, FactorStamp, RecentVerification};

use crate::views::Failure;

/// The key of [`Login`] in the session.
const KEY: &str = "login";

/// Where a session is in the login.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub(crate) enum Stage {
    /// No one logged in (the session still carries a CSRF token for the login forms).
    #[default]
    Anonymous,
    /// Password checked; the second factor is due.
    SecondFactor,
    /// Password checked; 2FA is required and not set up: only enrolment is allowed.
    MustEnrol,
    /// Fully logged in.
    Full,
}

/// What the application keeps in a visitor's session. Its `Debug` leaves out the ticket and the
/// proof.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct Login {
    /// The account, once the password is checked.
    pub(crate) user: Option<i64>,
    /// How far the login has got.
    pub(crate) stage: Stage,
    /// The token every form must send back.
    pub(crate) csrf: String,
    /// The user's factor stamp when this session logged in (or last changed the factors itself):
    /// a session whose stamp is no longer the user's is ended.
    pub(crate) stamp: Option<FactorStamp>,
    /// The ticket of the enrolment this session began.
    ticket: Option<String>,
    /// The proof of this session's last second factor, which authorises sensitive changes for a
    /// few minutes without a new code.
    proof: Option<String>,
    /// This session typed a second factor (a code or a recovery code), as the admin pages
    /// require; a trusted browser's login did not.
    pub(crate) typed_factor: bool,
    /// The user chose "later" on the banner that offers enrolment before a deadline: this
    /// session does not show it again (the next login does).
    pub(crate) later: bool,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("stage", &self.stage)
            .field("stamp", &self.stamp)
            .field("ticket", &self.ticket.as_ref().map(|_| "[redacted]"))
            .field("proof", &self.proof.as_ref().map(|_| "[redacted]"))
            .field("typed_factor", &self.typed_factor)
            .field("later", &self.later)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// The ticket of the enrolment this session began, if any.
    pub(crate) fn ticket(&self) -> Option<EnrollmentTicket> {
        self.ticket.as_deref().map(EnrollmentTicket::from_session)
    }

    /// Keeps the ticket of an enrolment this session began.
    pub(crate) fn set_ticket(&mut self, ticket: &EnrollmentTicket) {
        self.ticket = Some(ticket.expose().to_owned());
    }

    /// The proof of this session's last second factor, if any.
    pub(crate) fn proof(&self) -> Option<RecentVerification> {
        self.proof.as_deref().map(RecentVerification::from_session)
    }

    /// Keeps the proof of a second factor this session just passed.
    pub(crate) fn set_proof(&mut self, proof: &RecentVerification) {
        self.proof = Some(proof.expose().to_owned());
    }
}

/// 128 random bits from the operating system, in hex.
fn random_token() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(Failure::internal)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The visitor's session and what it holds, as every handler receives it.
pub(crate) struct Visit {
    session: tower_sessions::Session,
    /// What the session holds.
    pub(crate) login: Login,
}

impl<S: Send + Sync> FromRequestParts<S> for Visit {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let session = tower_sessions::Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, e)| Failure::internal(e))?;
        let login = match session.get::<Login>(KEY).await {
            Ok(Some(login)) => login,
            // A session that holds nothing (a first visit) or what this version cannot read.
            Ok(None) | Err(_) => {
                let login = Login {
                    csrf: random_token()?,
                    ..Login::default()
                };
                session
                    .insert(KEY, &login)
                    .await
                    .map_err(Failure::internal)?;
                login
            }
        };
        Ok(Visit { session, login })
    }
}

impl Visit {
    /// Writes what the session holds back to the store.
    ///
    /// # Errors
    /// The session store's.
    pub(crate) async fn save(&self) -> Result<(), Failure> {
        self.session
            .insert(KEY, &self.login)
            .await
            .map_err(Failure::internal)
    }

    /// A new login step for `user`, now at `stage` with the factor stamp `stamp`: a new session
    /// id and CSRF token (no session fixation), nothing carried over from before.
    ///
    /// # Errors
    /// The session store's, or the random generator's.
    pub(crate) async fn begin(
        &mut self,
        user: i64,
        stage: Stage,
        stamp: FactorStamp,
    ) -> Result<(), Failure> {
        self.session.cycle_id().await.map_err(Failure::internal)?;
        self.login = Login {
            user: Some(user),
            stage,
            csrf: random_token()?,
            stamp: Some(stamp),
            ..Login::default()
        };
        self.save().await
    }

    /// This session changed the user's factors (the gate found it current when the request
    /// began): it carries on under the new stamp, with a new id and CSRF token, without its
    /// proof (which died with the old stamp) or an enrolment ticket; whether it typed a second
    /// factor stays. Every other session of the user is stale.
    ///
    /// # Errors
    /// As [`Visit::begin`]; [`Failure::NotLoggedIn`] if no one is logged in.
    pub(crate) async fn factors_changed(&mut self, stamp: FactorStamp) -> Result<(), Failure> {
        let user = self.login.user.ok_or(Failure::NotLoggedIn)?;
        let typed = self.login.typed_factor;
        self.begin(user, Stage::Full, stamp).await?;
        self.login.typed_factor = typed;
        self.save().await
    }

    /// Ends the session: deleted from the store, and the cookie removed. A copy of the cookie
    /// opens nothing afterwards.
    ///
    /// # Errors
    /// The session store's.
    pub(crate) async fn end(self) -> Result<(), Failure> {
        self.session.flush().await.map_err(Failure::internal)
    }

    /// Refuses a form whose CSRF token is not this session's (compared in constant time).
    ///
    /// # Errors
    /// [`Failure::BadCsrf`].
    pub(crate) fn check_csrf(&self, submitted: &str) -> Result<(), Failure> {
        let ok = !self.login.csrf.is_empty()
            && bool::from(self.login.csrf.as_bytes().ct_eq(submitted.as_bytes()));
        if ok { Ok(()) } else { Err(Failure::BadCsrf) }
    }
}
