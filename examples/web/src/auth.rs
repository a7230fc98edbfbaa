//! The one gate every authenticated route goes through: the [`User`] extractor.
//!
//! It reads the session, loads the account and the user's 2FA status, and ends (logs out) any
//! session whose factor stamp is no longer the user's. Every change of the user's factors (2FA
//! turned on or off, a new device confirmed, new recovery codes, an administrator's reset)
//! changes the stamp, so a session from before it (a copied cookie, a forgotten tab) is dead on
//! every route, for full, must-enrol and administrator sessions alike. A session whose user must
//! set up 2FA now (a password-only one from `next_step`'s `RequireEnrollment`, or a full one whose
//! deadline passed or was made "now" by an administrator) is sent to the enrolment page from every
//! other route. Each route then says which sessions it admits: [`Full`], [`Enrolling`] or
//! [`Admin`].
//!
//! Handlers that change the factors write the new stamp into the session this gate handed them,
//! in the same request, so only a session that was current when the change began ever takes the
//! new stamp; a stale one never gets that far.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use twofactor::Status;

use crate::Shared;
use crate::accounts::{Account, flow_id};
use crate::pages::server_error;
use crate::session::{Session, Stage, now};

/// Why the gate (or a handler behind it) refuses a request.
#[derive(Debug)]
pub(crate) enum Refused {
    /// No session this route admits: to the login page.
    NotLoggedIn,
    /// The session's factor stamp is not the user's: logged out (the cookie cleared) and to the
    /// login page.
    Stale,
    /// Two-factor authentication is required now and not set up: this session may only enrol,
    /// and every other page sends it to the enrolment page.
    MustEnrol,
    /// Logged in, but not an administrator.
    NotAdmin,
    /// The form's CSRF token is not the session's.
    BadCsrf,
    /// The account or the 2FA status could not be read.
    Internal(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotLoggedIn => Redirect::to("/login").into_response(),
            Refused::Stale => (Session::cleared(), Redirect::to("/login")).into_response(),
            Refused::MustEnrol => Redirect::to("/account/2fa/enable").into_response(),
            Refused::NotAdmin => (StatusCode::FORBIDDEN, "administrators only").into_response(),
            Refused::BadCsrf => (StatusCode::FORBIDDEN, "bad CSRF token").into_response(),
            Refused::Internal(e) => server_error(e),
        }
    }
}

/// Which sessions a route admits, once the gate has found them current.
pub(crate) trait Access {
    /// Whether a session at `stage` may use the route at all (otherwise: to the login page).
    fn admits(stage: Stage) -> bool;

    /// Whether this account, with this status, may use it; the refusal otherwise.
    ///
    /// # Errors
    /// Why the request is refused.
    fn allows(me: &Account, session: &Session, status: &Status) -> Result<(), Refused>;
}

/// Fully logged-in users (the account page and the changes made from it).
pub(crate) struct Full;

impl Access for Full {
    fn admits(stage: Stage) -> bool {
        stage == Stage::Full
    }

    fn allows(_: &Account, _: &Session, _: &Status) -> Result<(), Refused> {
        Ok(())
    }
}

/// The enrolment pages: full sessions, and password-only ones of users who must enrol.
pub(crate) struct Enrolling;

impl Access for Enrolling {
    fn admits(stage: Stage) -> bool {
        matches!(stage, Stage::Full | Stage::MustEnrol)
    }

    fn allows(_: &Account, session: &Session, status: &Status) -> Result<(), Refused> {
        // A password-only session must not replace a device set up since. (Setting one up
        // changes the stamp, so the gate has already refused it; this says so where it matters.)
        if session.stage == Stage::MustEnrol && status.is_active() {
            return Err(Refused::NotLoggedIn);
        }
        Ok(())
    }
}

/// Administrators, fully logged in.
pub(crate) struct Admin;

impl Access for Admin {
    fn admits(stage: Stage) -> bool {
        stage == Stage::Full
    }

    fn allows(me: &Account, _: &Session, _: &Status) -> Result<(), Refused> {
        if me.is_admin {
            Ok(())
        } else {
            Err(Refused::NotAdmin)
        }
    }
}

/// A logged-in user whose session is current, as route `A` admits them.
pub(crate) struct User<A> {
    /// The session, whose factor stamp is the user's current one.
    pub(crate) session: Session,
    /// The account.
    pub(crate) me: Account,
    /// The user's 2FA status, read for this request.
    pub(crate) status: Status,
    access: PhantomData<fn() -> A>,
}

impl<A> User<A> {
    /// Refuses a form whose CSRF token is not this session's.
    ///
    /// # Errors
    /// [`Refused::BadCsrf`].
    pub(crate) fn check_csrf(&self, submitted: &str) -> Result<(), Refused> {
        if self.session.csrf_ok(submitted) {
            Ok(())
        } else {
            Err(Refused::BadCsrf)
        }
    }
}

impl<A: Access> FromRequestParts<Shared> for User<A> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Refused> {
        let jar = SignedCookieJar::from_headers(&parts.headers, app.cookie_key.clone());
        let session = Session::read(&jar).map_err(|e| Refused::Internal(e.to_string()))?;
        // A password-only session that must enrol first: every page but enrolment sends it there.
        let not_enrolment = !A::admits(Stage::MustEnrol);
        if not_enrolment && session.stage == Stage::MustEnrol && session.user.is_some() {
            return Err(Refused::MustEnrol);
        }
        let me = session
            .user
            .filter(|_| A::admits(session.stage))
            .and_then(|u| app.account(u))
            .ok_or(Refused::NotLoggedIn)?;
        let status = app
            .flow
            .status(&flow_id(me.id))
            .await
            .map_err(|e| Refused::Internal(e.to_string()))?;
        // The user's factors changed since this session saw them (turned off or replaced on
        // another device, reset by an administrator, ...): this session ends, whatever the route.
        if !session.stamp_is_current(&status.factor_stamp) {
            return Err(Refused::Stale);
        }
        // Required now (or the deadline passed, or an administrator made it so since this session
        // logged in) and not set up: a full session too may only enrol, until it confirms.
        if not_enrolment && me.must_enrol(&status, now()) {
            return Err(Refused::MustEnrol);
        }
        A::allows(&me, &session, &status)?;
        Ok(User {
            session,
            me,
            status,
            access: PhantomData,
        })
    }
}
