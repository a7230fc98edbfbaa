//! The one gate every authenticated route goes through: the [`User`] extractor.
//!
//! It reads the session, loads the account and the user's 2FA status, and ends (deletes) any
//! session whose factor stamp is no longer the user's. Every change of the user's factors (2FA
//! turned on or off, a new device or another authenticator confirmed or removed, new recovery
//! codes, an administrator's reset) changes the stamp, so every session from before it (a
//! copied cookie, a forgotten tab, another browser) is ended on its next request, whatever the
//! route. A session whose user must set up 2FA now (a password-only one from `next_step`'s
//! `RequireEnrollment`, or a full one whose deadline passed or was made "now" by an
//! administrator) is sent to the enrolment page from every other route. Each route then says
//! which sessions it admits: [`Full`], [`Enrolling`] or [`Admin`].
//!
//! Handlers that change the factors write the new stamp into the session this gate handed them,
//! in the same request, so only a session that was current when the change began ever takes the
//! new stamp; a stale one never gets that far.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use twofactor::{FlowError, RecentVerification, Status};

use crate::Shared;
use crate::accounts::{self, Account};
use crate::session::{Stage, Visit};
use crate::views::{Failure, now};

/// Which sessions a route admits, once the gate has found them current.
pub(crate) trait Access {
    /// Whether a session at `stage` may use the route at all (otherwise: to the login page).
    fn admits(stage: Stage) -> bool;

    /// Whether this account, with this status, may use it; the refusal otherwise.
    ///
    /// # Errors
    /// Why the request is refused.
    fn allows(me: &Account, visit: &Visit, status: &Status) -> Result<(), Failure>;
}

/// Fully logged-in users (the account page and the changes made from it).
pub(crate) struct Full;

impl Access for Full {
    fn admits(stage: Stage) -> bool {
        stage == Stage::Full
    }

    fn allows(_: &Account, _: &Visit, _: &Status) -> Result<(), Failure> {
        Ok(())
    }
}

/// The enrolment pages: full sessions, and password-only ones of users who must enrol.
pub(crate) struct Enrolling;

impl Access for Enrolling {
    fn admits(stage: Stage) -> bool {
        matches!(stage, Stage::Full | Stage::MustEnrol)
    }

    fn allows(_: &Account, visit: &Visit, status: &Status) -> Result<(), Failure> {
        // A password-only session must not replace a device set up since. (Setting one up
        // changes the stamp, so the gate has already refused it; this says so where it matters.)
        if visit.login.stage == Stage::MustEnrol && status.is_active() {
            return Err(Failure::NotLoggedIn);
        }
        Ok(())
    }
}

/// Administrators, fully logged in, with 2FA on, whose session typed a second factor (a trusted
/// browser's login is asked for one on the step-up page first).
pub(crate) struct Admin;

impl Access for Admin {
    fn admits(stage: Stage) -> bool {
        stage == Stage::Full
    }

    fn allows(me: &Account, visit: &Visit, status: &Status) -> Result<(), Failure> {
        if !me.is_admin {
            return Err(Failure::NotAdmin);
        }
        if !status.is_active() || !visit.login.typed_factor {
            return Err(Failure::AdminStepUp);
        }
        Ok(())
    }
}

/// A logged-in user whose session is current, as route `A` admits them.
pub(crate) struct User<A> {
    /// The session, whose factor stamp is the user's current one.
    pub(crate) visit: Visit,
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
    /// [`Failure::BadCsrf`].
    pub(crate) fn check_csrf(&self, submitted: &str) -> Result<(), Failure> {
        self.visit.check_csrf(submitted)
    }
}

impl User<Full> {
    /// The start of every sensitive change (a new device, disabling, new recovery codes, adding
    /// or removing an authenticator): the form's CSRF token checked, then the session, the
    /// account, and the session's proof of a recent second factor, if it has one.
    ///
    /// # Errors
    /// [`Failure::BadCsrf`].
    pub(crate) fn sensitive(
        self,
        csrf: &str,
    ) -> Result<(Visit, Account, Option<RecentVerification>), Failure> {
        self.check_csrf(csrf)?;
        let proof = self.visit.login.proof();
        Ok((self.visit, self.me, proof))
    }
}

/// The account and status of a session's user, ending the session when its factor stamp is
/// stale; `None` when no one is logged in.
pub(crate) async fn current(
    app: &Shared,
    visit: Visit,
) -> Result<Option<(Visit, Account, Status)>, Failure> {
    let Some(id) = visit.login.user else {
        return Ok(None);
    };
    let Some(me) = accounts::by_id(&app.pool, id).await? else {
        // The account is gone: so is the session.
        visit.end().await?;
        return Err(Failure::Stale);
    };
    // The user's factors changed since this session saw them (turned off or replaced on
    // another device, reset by an administrator, ...): this session ends, whatever the route.
    let Some(seen) = visit.login.stamp else {
        visit.end().await?;
        return Err(Failure::Stale);
    };
    match app.flow.session_status(&me.flow_id(), &seen).await {
        Ok(status) => Ok(Some((visit, me, status))),
        Err(FlowError::StaleSession) => {
            visit.end().await?;
            Err(Failure::Stale)
        }
        Err(e) => Err(Failure::internal(e)),
    }
}

impl<A: Access> FromRequestParts<Shared> for User<A> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Failure> {
        let visit = Visit::from_request_parts(parts, app).await?;
        let stage = visit.login.stage;
        let Some((visit, me, status)) = current(app, visit).await? else {
            return Err(Failure::NotLoggedIn);
        };
        // A password-only session that must enrol first: every page but enrolment sends it there.
        let not_enrolment = !A::admits(Stage::MustEnrol);
        if not_enrolment && stage == Stage::MustEnrol {
            return Err(Failure::MustEnrol);
        }
        if !A::admits(stage) {
            return Err(Failure::NotLoggedIn);
        }
        // Required now (or the deadline passed, or an administrator made it so since this session
        // logged in) and not set up: a full session too may only enrol, until it confirms.
        if not_enrolment && me.must_enrol(&status, now()) {
            return Err(Failure::MustEnrol);
        }
        A::allows(&me, &visit, &status)?;
        Ok(User {
            visit,
            me,
            status,
            access: PhantomData,
        })
    }
}
