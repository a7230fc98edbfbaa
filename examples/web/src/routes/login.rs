//! Signing up, logging in (password, then the second factor) and out.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{CookieJar, SignedCookieJar};
use twofactor::{LoginFactor, NextStep};

use crate::Shared;
use crate::accounts::{check_password, flow_id, hash_password};
use crate::pages::{
    csrf_field, describe, esc, message, page, respond, server_error, with_error_status,
};
use crate::routes::{CodeForm, Credentials, CsrfForm};
use crate::session::{Session, Stage, now};
use crate::trusted;

pub(crate) async fn home(jar: SignedCookieJar) -> Response {
    match Session::read(&jar) {
        Ok(session) if session.full_user().is_some() => Redirect::to("/account").into_response(),
        Ok(session) if session.stage == Stage::MustEnrol => {
            Redirect::to("/account/2fa/enable").into_response()
        }
        Ok(_) => Redirect::to("/login").into_response(),
        Err(e) => server_error(e),
    }
}

fn credentials_page(title: &str, action: &str, session: &Session, note: &str) -> Html<String> {
    page(
        title,
        session,
        None,
        &format!(
            "{note}<form method=\"post\" action=\"{action}\">{}\
             <p><label>Username<br><input type=\"text\" name=\"username\" id=\"username\" autocomplete=\"username\" required></label></p>\
             <p><label>Password<br><input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"{}\" required></label></p>\
             <p><button id=\"submit\">{}</button></p></form>",
            csrf_field(session),
            if action == "/signup" {
                "new-password"
            } else {
                "current-password"
            },
            esc(title)
        ),
    )
}

pub(crate) async fn signup_page(jar: SignedCookieJar) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    let jar = session.write(jar);
    respond(jar, credentials_page("Sign up", "/signup", &session, ""))
}

pub(crate) async fn signup(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    if !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    let username = form.username.trim().to_lowercase();
    let valid = (3..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !valid || form.password.len() < 8 {
        let note = message(
            "error",
            "Usernames are 3 to 32 letters, digits or ._-@; passwords at least 8 characters.",
        );
        return respond(
            session.write(jar),
            credentials_page("Sign up", "/signup", &session, &note),
        );
    }
    let hash = match hash_password(&form.password) {
        Ok(hash) => hash,
        Err(e) => return server_error(e),
    };
    let inserted = {
        let Ok(conn) = app.accounts.lock() else {
            return server_error("lock");
        };
        // The first account is the administrator.
        conn.execute(
            "INSERT INTO accounts (username, password, is_admin, created)
             VALUES (?1, ?2, (SELECT COUNT(*) = 0 FROM accounts), ?3)",
            rusqlite::params![username, hash, i64::try_from(now()).unwrap_or(i64::MAX)],
        )
        .map(|_| conn.last_insert_rowid())
    };
    match inserted {
        Ok(id) => {
            let stamp = match app.flow.status(&flow_id(id)).await {
                Ok(s) => s.factor_stamp,
                Err(e) => return server_error(e),
            };
            match Session::for_user(id, Stage::Full, stamp) {
                Ok(session) => (session.write(jar), Redirect::to("/account")).into_response(),
                Err(e) => server_error(e),
            }
        }
        Err(_) => {
            let note = message("error", "That username is taken.");
            respond(
                session.write(jar),
                credentials_page("Sign up", "/signup", &session, &note),
            )
        }
    }
}

pub(crate) async fn login_page(jar: SignedCookieJar) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    let jar = session.write(jar);
    respond(jar, credentials_page("Log in", "/login", &session, ""))
}

pub(crate) async fn login(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    plain: CookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    if !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    let username = form.username.trim().to_lowercase();
    let row: Option<(i64, String)> = {
        let Ok(conn) = app.accounts.lock() else {
            return server_error("lock");
        };
        conn.query_row(
            "SELECT id, password FROM accounts WHERE username = ?1",
            [&username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    };
    // Hash even for unknown users, so timing does not reveal which usernames exist.
    let ok = match &row {
        Some((_, stored)) => check_password(stored, &form.password),
        None => {
            let _ = check_password(&app.dummy_hash, &form.password);
            false
        }
    };
    let Some((id, _)) = row.filter(|_| ok) else {
        let note = message("error", "Wrong username or password.");
        return respond(
            session.write(jar),
            credentials_page("Log in", "/login", &session, &note),
        );
    };
    let Some(me) = app.account(id) else {
        return server_error("account vanished");
    };
    // The one decision after the password: the site's policy for this account, the stored
    // requirement, the user's 2FA, and this browser's "remember me" cookie if it sent one.
    let token = trusted::token(&plain);
    let step = match app
        .flow
        .next_step(&flow_id(id), me.policy(), token.as_ref())
        .await
    {
        Ok(step) => step,
        Err(e) => return server_error(e),
    };
    let (stage, next, stamp) = match step {
        NextStep::Trusted(login) => (Stage::Full, "/account?msg=trusted", Some(login.stamp)),
        NextStep::SecondFactor => (Stage::SecondFactor, "/login/2fa", None),
        // The account page shows the "set up by <date>" banner.
        NextStep::Continue | NextStep::OfferEnrollment { .. } => (Stage::Full, "/account", None),
        NextStep::RequireEnrollment => (Stage::MustEnrol, "/account/2fa/enable", None),
        _ => return server_error("unknown next step"),
    };
    let stamp = match stamp {
        Some(stamp) => stamp,
        None => match app.flow.status(&flow_id(id)).await {
            Ok(s) => s.factor_stamp,
            Err(e) => return server_error(e),
        },
    };
    match Session::for_user(id, stage, stamp) {
        Ok(session) => (session.write(jar), Redirect::to(next)).into_response(),
        Err(e) => server_error(e),
    }
}

fn second_factor_form(session: &Session, note: &str) -> Html<String> {
    page(
        "Two-factor authentication",
        session,
        None,
        &format!(
            "{note}<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>\
             <form method=\"post\" action=\"/login/2fa\">{}<p><input type=\"text\" name=\"code\" id=\"code\" \
             autocomplete=\"one-time-code\" autofocus required aria-label=\"Code\"></p>\
             <p><label><input type=\"checkbox\" name=\"remember\" id=\"remember\" value=\"1\"> \
             Remember this browser for 30 days</label></p><p><button id=\"verify\">Verify</button></p></form>",
            csrf_field(session)
        ),
    )
}

pub(crate) async fn second_factor_page(jar: SignedCookieJar) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    if session.stage != Stage::SecondFactor {
        return Redirect::to("/login").into_response();
    }
    respond(jar, second_factor_form(&session, ""))
}

pub(crate) async fn second_factor(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    plain: CookieJar,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    let (Stage::SecondFactor, Some(user)) = (session.stage, session.user) else {
        return Redirect::to("/login").into_response();
    };
    if !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    let id = flow_id(user);
    match app.flow.verify(&id, &form.code).await {
        Ok(verified) => {
            // "Remember this browser": a token behind this login's proof, as a cookie for the
            // login pages. Not trusting it is no reason to refuse the login.
            let mut plain = plain;
            if form.remember.is_some() {
                let agent = headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok());
                match app
                    .flow
                    .trust_browser(&id, &verified.proof, &trusted::label(agent), None)
                    .await
                {
                    Ok(trust) => plain = trusted::remember(plain, &trust, app.secure_cookies),
                    Err(e) => eprintln!("trusting a browser: {e}"),
                }
            }
            let target = match verified.factor {
                LoginFactor::RecoveryCode { remaining } => {
                    format!("/account?msg=recovery-{remaining}")
                }
                _ => "/account".to_owned(),
            };
            // The stamp ends this session when the user's factors change elsewhere; the proof
            // lets it make sensitive changes for a few minutes.
            match Session::for_user(user, Stage::Full, verified.stamp) {
                Ok(mut session) => {
                    session.proof = Some(verified.proof);
                    (plain, session.write(jar), Redirect::to(&target)).into_response()
                }
                Err(e) => server_error(e),
            }
        }
        Err(e) => with_error_status(
            respond(
                jar,
                second_factor_form(&session, &message("error", &describe(&e))),
            ),
            &e,
        ),
    }
}

pub(crate) async fn logout(jar: SignedCookieJar, Form(form): Form<CsrfForm>) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    if !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    match Session::anonymous() {
        Ok(session) => (session.write(jar), Redirect::to("/login")).into_response(),
        Err(e) => server_error(e),
    }
}
