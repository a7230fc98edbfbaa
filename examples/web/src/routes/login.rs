//! Signing up, logging in (password, then the second factor) and out.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::{Markup, html};
use twofactor::{LoginFactor, NextStep};

use crate::Shared;
use crate::accounts::{self, flow_id};
use crate::routes::{CodeForm, Credentials, CsrfForm};
use crate::session::{Login, Stage, Visit};
use crate::throttle::client_address;
use crate::trusted;
use crate::views::{Failure, csrf_field, describe, layout, message, now, when, with_error_status};

pub(crate) async fn home(visit: Visit) -> Redirect {
    match visit.login.stage {
        Stage::Full => Redirect::to("/account"),
        Stage::MustEnrol => Redirect::to("/account/2fa/enable"),
        Stage::SecondFactor => Redirect::to("/login/2fa"),
        Stage::Anonymous => Redirect::to("/login"),
    }
}

fn credentials_page(title: &str, action: &str, login: &Login, note: Option<Markup>) -> Markup {
    let new = action == "/signup";
    layout(
        title,
        None,
        None,
        html! {
            @if let Some(note) = note { (note) }
            form method="post" action=(action) {
                (csrf_field(login))
                p { label for="username" { "Username" } br;
                    input type="text" name="username" id="username" autocomplete="username" required; }
                p { label for="password" { "Password" } br;
                    input type="password" name="password" id="password"
                        autocomplete=(if new { "new-password" } else { "current-password" }) required; }
                @if new { p.hint { "3 to 32 letters, digits or ._-@; a password of at least 8 characters." } }
                p { button id="submit" { (title) } }
            }
        },
    )
}

pub(crate) async fn signup_page(visit: Visit) -> Markup {
    credentials_page("Sign up", "/signup", &visit.login, None)
}

/// The answer to a throttled form: 429, `Retry-After`, and the form again with the time of the
/// next attempt.
fn throttled(wait: std::time::Duration, form: impl FnOnce(Markup) -> Markup) -> Response {
    let seconds = wait.as_secs().max(1);
    let note = message(
        "error",
        &format!(
            "Too many attempts. Next attempt at {}.",
            when(now().saturating_add(seconds))
        ),
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds.to_string())],
        form(note),
    )
        .into_response()
}

/// Signs up. Usernames are public here, as on most sites: "That username is taken" says one
/// exists. Sign-ups are throttled per address (each hashes a password).
pub(crate) async fn signup(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mut visit: Visit,
    Form(form): Form<Credentials>,
) -> Result<Response, Failure> {
    visit.check_csrf(&form.csrf)?;
    let address = client_address(peer, &headers, app.options.behind_proxy);
    if let Err(wait) = app.throttle.sign_up(address) {
        return Ok(throttled(wait, |note| {
            credentials_page("Sign up", "/signup", &visit.login, Some(note))
        }));
    }
    let username = form.username.trim().to_lowercase();
    let valid = (3..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !valid || form.password.chars().count() < 8 || form.password.len() > 1024 {
        let note = message(
            "error",
            "Usernames are 3 to 32 letters, digits or ._-@; passwords at least 8 characters.",
        );
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            credentials_page("Sign up", "/signup", &visit.login, Some(note)),
        )
            .into_response());
    }
    let hash = accounts::hash_password(form.password).await?;
    let Some(id) = accounts::create(&app.pool, &username, &hash, now()).await? else {
        let note = message("error", "That username is taken.");
        return Ok((
            StatusCode::CONFLICT,
            credentials_page("Sign up", "/signup", &visit.login, Some(note)),
        )
            .into_response());
    };
    let stamp = app
        .flow
        .status(&flow_id(id))
        .await
        .map_err(Failure::internal)?
        .factor_stamp;
    visit.begin(id, Stage::Full, stamp).await?;
    Ok(Redirect::to("/account").into_response())
}

pub(crate) async fn login_page(visit: Visit) -> Markup {
    credentials_page("Log in", "/login", &visit.login, None)
}

pub(crate) async fn login(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mut visit: Visit,
    jar: CookieJar,
    Form(form): Form<Credentials>,
) -> Result<Response, Failure> {
    visit.check_csrf(&form.csrf)?;
    let username = form.username.trim().to_lowercase();
    // Throttled per username (existing or not) and per address, before any hashing; the same
    // answer whether or not the account exists.
    let address = client_address(peer, &headers, app.options.behind_proxy);
    if let Err(wait) = app.throttle.attempt(&username, address) {
        return Ok(throttled(wait, |note| {
            credentials_page("Log in", "/login", &visit.login, Some(note))
        }));
    }
    // No account has a longer password (sign-up refuses one): not worth hashing.
    let password = if form.password.len() > 1024 {
        String::new()
    } else {
        form.password
    };
    let row = accounts::credentials(&app.pool, &username).await?;
    // Hash even for unknown users, so timing does not reveal which usernames exist.
    let (id, stored) = match row {
        Some((id, stored)) => (Some(id), stored),
        None => (None, app.dummy_hash.clone()),
    };
    let ok = accounts::check_password(stored, password).await?;
    let Some(id) = id.filter(|_| ok) else {
        let note = message("error", "Wrong username or password.");
        return Ok((
            StatusCode::UNAUTHORIZED,
            credentials_page("Log in", "/login", &visit.login, Some(note)),
        )
            .into_response());
    };
    let me = accounts::by_id(&app.pool, id)
        .await?
        .ok_or(Failure::NotLoggedIn)?;
    // The one decision after the password: the site's policy for this account, the stored
    // requirement, the user's 2FA, and this browser's "remember me" cookie if it sent one.
    let token = trusted::token(&jar, app.options.https);
    let step = app
        .flow
        .next_step(&me.flow_id(), me.policy(), token.as_ref())
        .await
        .map_err(Failure::internal)?;
    let (stage, next, stamp) = match step {
        NextStep::Trusted(login) => (Stage::Full, "/account?msg=trusted", Some(login.stamp)),
        NextStep::SecondFactor => (Stage::SecondFactor, "/login/2fa", None),
        // The account page shows the "set up by <date>" banner.
        NextStep::Continue | NextStep::OfferEnrollment { .. } => (Stage::Full, "/account", None),
        NextStep::RequireEnrollment => (Stage::MustEnrol, "/account/2fa/enable", None),
        _ => return Err(Failure::internal("unknown next step")),
    };
    let stamp = match stamp {
        Some(stamp) => stamp,
        None => {
            app.flow
                .status(&me.flow_id())
                .await
                .map_err(Failure::internal)?
                .factor_stamp
        }
    };
    // A new session id at each step of the login.
    visit.begin(id, stage, stamp).await?;
    Ok(Redirect::to(next).into_response())
}

fn second_factor_form(login: &Login, note: Option<Markup>) -> Markup {
    layout(
        "Two-factor authentication",
        None,
        None,
        html! {
            @if let Some(note) = note { (note) }
            form method="post" action="/login/2fa" {
                (csrf_field(login))
                p { label for="code" { "Enter the 6-digit code from your authenticator app, or one of your recovery codes." } }
                p { input type="text" name="code" id="code" autocomplete="one-time-code" autofocus required; }
                p { label { input type="checkbox" name="remember" id="remember" value="1"; " Remember this browser for 30 days" } }
                p { button id="verify" { "Verify" } }
            }
        },
    )
}

pub(crate) async fn second_factor_page(visit: Visit) -> Response {
    if visit.login.stage != Stage::SecondFactor {
        return Redirect::to("/login").into_response();
    }
    second_factor_form(&visit.login, None).into_response()
}

pub(crate) async fn second_factor(
    State(app): State<Shared>,
    mut visit: Visit,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, Failure> {
    let (Stage::SecondFactor, Some(user)) = (visit.login.stage, visit.login.user) else {
        return Ok(Redirect::to("/login").into_response());
    };
    visit.check_csrf(&form.csrf)?;
    let id = flow_id(user);
    let verified = match app.flow.verify(&id, &form.code).await {
        Ok(verified) => verified,
        Err(e) => {
            let page = second_factor_form(&visit.login, Some(message("error", &describe(&e))));
            return Ok(with_error_status(page, &e));
        }
    };
    // "Remember this browser": a token behind this login's proof, as a cookie. Not trusting it
    // is no reason to refuse the login.
    let mut jar = jar;
    if form.remember.is_some() {
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        match app
            .flow
            .trust_browser(&id, &verified.proof, &trusted::label(agent), None)
            .await
        {
            Ok(trust) => jar = trusted::remember(jar, &trust, app.options.https),
            Err(e) => eprintln!("trusting a browser: {e}"),
        }
    }
    let target = match verified.factor {
        LoginFactor::RecoveryCode { remaining } => format!("/account?msg=recovery-{remaining}"),
        _ => "/account".to_owned(),
    };
    // The stamp ends this session when the user's factors change elsewhere; the proof lets it
    // make sensitive changes for a few minutes.
    visit.begin(user, Stage::Full, verified.stamp).await?;
    visit.login.set_proof(&verified.proof);
    visit.login.typed_factor = true;
    visit.save().await?;
    Ok((jar, Redirect::to(&target)).into_response())
}

/// Ends the session (deleted on the server: a copy of its cookie opens nothing).
pub(crate) async fn logout(visit: Visit, Form(form): Form<CsrfForm>) -> Result<Redirect, Failure> {
    visit.check_csrf(&form.csrf)?;
    visit.end().await?;
    Ok(Redirect::to("/login"))
}
