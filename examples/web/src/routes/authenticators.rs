//! Several named authenticators: add one (behind a current code or the session's recent second
//! factor, then confirmed on the enrolment page with this session's ticket), rename, remove
//! (behind a code or the recent second factor; never the last one).

use axum::Form;
use axum::extract::State;
use axum::response::Redirect;

use crate::Shared;
use crate::auth::{Full, User};
use crate::routes::AuthenticatorForm;
use crate::routes::settings::{back, factors_changed, reauth, to_enrolment};
use crate::views::Failure;

/// Begins adding an authenticator: the enrolment page then shows its QR code to this session.
pub(crate) async fn add(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<AuthenticatorForm>,
) -> Result<Redirect, Failure> {
    let (mut visit, me, proof) = user.sensitive(&form.csrf)?;
    let began = async {
        let reauth = reauth(proof.as_ref(), &form.code)?;
        app.flow
            .begin_add_authenticator(&me.flow_id(), &me.username, &form.name, reauth)
            .await
    };
    to_enrolment(&mut visit, began.await).await
}

/// Renames an authenticator (not a factor change: nothing else changes).
pub(crate) async fn rename(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<AuthenticatorForm>,
) -> Result<Redirect, Failure> {
    user.check_csrf(&form.csrf)?;
    let renamed = app
        .flow
        .rename_authenticator(&user.me.flow_id(), &form.id, &form.name)
        .await;
    Ok(back(renamed, "renamed"))
}

/// Removes an authenticator. A factor change: every other session of the user ends, this one
/// carries on under the new stamp and a new id.
pub(crate) async fn remove(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<AuthenticatorForm>,
) -> Result<Redirect, Failure> {
    let (mut visit, me, proof) = user.sensitive(&form.csrf)?;
    let removed = async {
        let reauth = reauth(proof.as_ref(), &form.code)?;
        app.flow
            .remove_authenticator(&me.flow_id(), &form.id, reauth)
            .await
    };
    factors_changed(&mut visit, removed.await, "removed").await
}
