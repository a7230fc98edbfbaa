//! The account page and the user's own 2FA settings: enable (and the recovery codes shown
//! once), a new device, disable, new recovery codes.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use twofactor::{
    Enrollment, EnrollmentStatus, EnrollmentTicket, FlowError, QrCode, Reauth, RecoveryCodeSet,
    Requirement, Status, TrustedBrowser,
};

use crate::accounts::{Account, flow_id};
use crate::auth::{Enrolling, Full, User};
use crate::pages::{
    csrf_field, date, deadline_date, describe, error_from_key, esc, message, page, respond,
    retry_at, server_error, when,
};
use crate::routes::{CodeForm, CsrfForm, Msg, TrustedForm};
use crate::session::{Session, Stage, now};
use crate::{App, Shared};

fn status_html(status: &Status) -> String {
    match status.enrollment {
        EnrollmentStatus::Active { since, .. } => format!(
            "<p class=\"status\" id=\"twofa-status\">2FA enabled</p><p>Since {}. Recovery codes left: \
             <strong id=\"recovery-left\">{}</strong>.</p>",
            when(since).split(" (").next().unwrap_or(""),
            status.recovery_codes_left.unwrap_or(0)
        ),
        _ => "<p class=\"status\" id=\"twofa-status\">2FA disabled</p>".to_owned(),
    }
}

/// A date and time of day (UTC) for the trusted-browser list.
fn stamp_text(t: u64) -> String {
    format!("{} {}", date(t), when(t).split(" (").next().unwrap_or(""))
}

/// The trusted-browser section of the account page: each one (label, created, last used,
/// expires) with its revoke button, and "revoke all".
fn trusted_html(session: &Session, browsers: &[TrustedBrowser]) -> String {
    let csrf = csrf_field(session);
    if browsers.is_empty() {
        return "<h2>Trusted browsers</h2><p id=\"no-trusted\">No browser skips the second step. \
                Tick \u{201c}Remember this browser\u{201d} when you log in to add one.</p>"
            .to_owned();
    }
    let rows: String = browsers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "<tr class=\"trusted-browser\"><td class=\"label\">{}</td><td>{}</td><td id=\"last-used-{i}\">{}</td><td>{}</td>\
                 <td><form method=\"post\" action=\"/account/trusted/revoke\">{csrf}\
                 <input type=\"hidden\" name=\"id\" value=\"{}\"><button class=\"revoke\">Revoke</button></form></td></tr>",
                esc(&b.label),
                stamp_text(b.created_at),
                b.last_used_at.map_or_else(|| "never".to_owned(), stamp_text),
                stamp_text(b.expires_at),
                esc(&b.id),
            )
        })
        .collect();
    format!(
        "<h2>Trusted browsers</h2><p>These skip the second step when you log in with your password \
         (changes to your 2FA still ask for a code).</p>\
         <table id=\"trusted-browsers\"><tr><th>Browser</th><th>Trusted since</th><th>Last used</th><th>Expires</th><th></th></tr>{rows}</table>\
         <form method=\"post\" action=\"/account/trusted/revoke-all\">{csrf}<p><button id=\"revoke-all\">Revoke all</button></p></form>"
    )
}

/// The banners at the top of the account page: 2FA required by a date (until this session
/// chose "later"), and recovery codes running low.
fn banners(session: &Session, me: &Account, status: &Status) -> String {
    let mut out = String::new();
    if let Requirement::By(deadline) = me.requirement(status)
        && !status.is_active()
        && !session.later
    {
        out.push_str(&format!(
            "<div class=\"msg banner\" id=\"enrol-banner\"><p>Set up two-factor authentication by \
             <strong id=\"enrol-by\">{}</strong>. After that date you will have to set it up before you can use your account.</p>\
             <p><a href=\"/account/2fa/enable\" id=\"enrol-now\">Set up now</a> \
             <form method=\"post\" action=\"/account/2fa/later\" style=\"display:inline\">{}\
             <button id=\"enrol-later\">Later</button></form></p></div>",
            deadline_date(deadline),
            csrf_field(session),
        ));
    }
    if status.recovery_codes_low {
        out.push_str(&format!(
            "<p class=\"msg banner\" id=\"low-codes\">Only {} recovery codes left. Generate new ones below \
             so you are not locked out if you lose your phone.</p>",
            status.recovery_codes_left.unwrap_or(0)
        ));
    }
    out
}

pub(crate) async fn account(
    State(app): State<Shared>,
    User {
        session,
        me,
        status,
        ..
    }: User<Full>,
    jar: SignedCookieJar,
    Query(q): Query<Msg>,
) -> Response {
    let note = match q.msg.as_deref() {
        Some("disabled") => message("ok", "Two-factor authentication is now off."),
        Some("device") => message(
            "ok",
            "Your new device is set up. Your recovery codes are unchanged.",
        ),
        Some("trusted") => message(
            "ok",
            "Logged in from a trusted browser: no second step was needed.",
        ),
        Some("revoked") => message("ok", "That browser is no longer trusted."),
        Some("revoked-all") => message("ok", "No browser is trusted any more."),
        Some(m) if m.starts_with("recovery-") => match m["recovery-".len()..].parse::<u32>() {
            Ok(left) => message(
                "ok",
                &format!(
                    "Logged in with a recovery code. {left} left; generate new ones if you are running low."
                ),
            ),
            Err(_) => String::new(),
        },
        Some(m) if m.starts_with("error-") => match error_from_key(&m["error-".len()..], q.at) {
            Some(e) => message("error", &describe(&e)),
            None => String::new(),
        },
        _ => String::new(),
    };
    let csrf = csrf_field(&session);
    let actions = if status.is_active() {
        let browsers = match app.flow.trusted_browsers(&flow_id(me.id)).await {
            Ok(b) => b,
            Err(e) => return server_error(e),
        };
        format!(
            "<h2>Manage</h2><form method=\"post\" action=\"/account/2fa/regenerate\">{csrf}\
             <label>Current code <input type=\"text\" name=\"code\" id=\"regenerate-code\" autocomplete=\"one-time-code\"></label> \
             <button id=\"regenerate\">New recovery codes</button></form><p></p>\
             <form method=\"post\" action=\"/account/2fa/disable\">{csrf}\
             <label>Current code <input type=\"text\" name=\"code\" id=\"disable-code\" autocomplete=\"one-time-code\"></label> \
             <button id=\"disable\">Turn off 2FA</button></form>\
             <h2>New phone</h2><form method=\"post\" action=\"/account/2fa/new-device\">{csrf}\
             <label>Code from your current device <input type=\"text\" name=\"code\" id=\"new-device-code\" autocomplete=\"one-time-code\"></label> \
             <button id=\"new-device\">Set up a new device</button></form>{}",
            trusted_html(&session, &browsers)
        )
    } else {
        "<p><a href=\"/account/2fa/enable\" id=\"enable\">Enable two-factor authentication</a></p>"
            .to_owned()
    };
    respond(
        jar,
        page(
            "Your account",
            &session,
            Some(&me),
            &format!(
                "{note}{}{}{actions}",
                banners(&session, &me, &status),
                status_html(&status)
            ),
        ),
    )
}

/// "Later" on the enrolment banner: this session stops showing it (the deadline stands).
pub(crate) async fn enrol_later(
    user: User<Full>,
    jar: SignedCookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let mut session = user.session;
    session.later = true;
    (session.write(jar), Redirect::to("/account")).into_response()
}

/// Revokes one of the user's trusted browsers.
pub(crate) async fn revoke_trusted(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<TrustedForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    match app
        .flow
        .revoke_trusted_browser(&flow_id(user.me.id), &form.id)
        .await
    {
        Ok(_) => Redirect::to("/account?msg=revoked").into_response(),
        Err(e) => error_redirect(&e).into_response(),
    }
}

/// Revokes every trusted browser of the user.
pub(crate) async fn revoke_all_trusted(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    match app.flow.revoke_trusted_browsers(&flow_id(user.me.id)).await {
        Ok(_) => Redirect::to("/account?msg=revoked-all").into_response(),
        Err(e) => error_redirect(&e).into_response(),
    }
}

fn enable_html(
    session: &Session,
    me: &Account,
    e: &Enrollment,
    note: &str,
    required: bool,
) -> Result<String, twofactor::QrError> {
    let svg = QrCode::new(e.uri())?.to_svg(220);
    let key = e.expose_manual_key();
    Ok(format!(
        "{}{note}<p>{}</p><ol><li>Scan this QR code with your authenticator app:<br><span class=\"qr\" id=\"qr\">{}</span></li>\
         <li>Or type this key: <span class=\"key\" id=\"manual-key\">{}</span><br><small>(account <em>{}</em>, time-based, 6 digits)</small></li>\
         <li>Enter the code the app shows:<form method=\"post\" action=\"/account/2fa/enable\">{}\
         <input type=\"text\" name=\"code\" id=\"code\" autocomplete=\"one-time-code\" inputmode=\"numeric\" required> \
         <button id=\"confirm\">Confirm</button></form></li></ol>",
        if required {
            message(
                "error",
                &format!(
                    "{} Set it up to continue.",
                    FlowError::EnrollmentRequired.user_message()
                ),
            )
        } else {
            String::new()
        },
        if e.is_replacement() {
            "Your current device keeps working until this one is confirmed."
        } else {
            ""
        },
        &*svg,
        esc(&key),
        esc(&me.username),
        csrf_field(session)
    ))
}

/// The enrolment this session began, to show again (a reload, a wrong first code); or, when the
/// session holds no ticket or its enrolment is gone (expired, or begun again elsewhere), a new one,
/// whose ticket goes into the session.
///
/// # Errors
/// [`FlowError::AlreadyEnrolled`] when 2FA is on and this session began no new device.
async fn enrollment_for(
    app: &App,
    session: &mut Session,
    me: &Account,
) -> Result<Enrollment, FlowError> {
    let id = flow_id(me.id);
    if let Some(ticket) = &session.ticket
        && let Some(enrollment) = app.flow.resume(&id, &me.username, ticket).await?
    {
        return Ok(enrollment);
    }
    let enrollment = app.flow.begin(&id, &me.username).await?;
    session.ticket = Some(enrollment.ticket().clone());
    Ok(enrollment)
}

/// The enrolment page, for a full session or a password-only one that must enrol (the gate has
/// ended either if the user's factors changed since it saw them).
pub(crate) async fn enable_page(
    State(app): State<Shared>,
    User {
        mut session,
        me,
        status,
        ..
    }: User<Enrolling>,
    jar: SignedCookieJar,
) -> Response {
    // Show the enrolment in progress again (reload), or begin one.
    let enrollment = match enrollment_for(&app, &mut session, &me).await {
        Ok(e) => e,
        // A new device needs the current one's code: the account page asks for it.
        Err(FlowError::AlreadyEnrolled) => return Redirect::to("/account").into_response(),
        Err(e) => return server_error(e),
    };
    let required = session.stage == Stage::MustEnrol || me.must_enrol(&status, now());
    match enable_html(&session, &me, &enrollment, "", required) {
        Ok(body) => respond(
            session.write(jar),
            page(
                "Set up two-factor authentication",
                &session,
                Some(&me),
                &body,
            ),
        ),
        Err(e) => server_error(e),
    }
}

fn codes_page(
    session: &Session,
    me: &Account,
    set: &RecoveryCodeSet,
    heading: &str,
) -> Html<String> {
    let text = set.expose_text(&format!("twofactor web example: {}", me.username));
    let items: String = set
        .codes()
        .iter()
        .map(|c| format!("<div class=\"recovery-code\">{}</div>", esc(&c.expose())))
        .collect();
    let data_uri: String = text
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    page(
        heading,
        session,
        Some(me),
        &format!(
            "{}<p>Save these recovery codes now: each works once if you lose your phone, and they will not be shown again.</p>\
             <div class=\"codes\" id=\"recovery-codes\">{items}</div>\
             <p><button id=\"copy\" onclick=\"navigator.clipboard.writeText(document.getElementById('codes-text').textContent);this.textContent='Copied'\">Copy</button> \
             <a id=\"download\" download=\"recovery-codes.txt\" href=\"data:text/plain;charset=utf-8,{data_uri}\">Download as text</a></p>\
             <pre id=\"codes-text\" hidden>{}</pre><p><a href=\"/account\" id=\"done\">I have saved them</a></p>",
            message("ok", "Two-factor authentication is on."),
            esc(&text)
        ),
    )
}

pub(crate) async fn enable(
    State(app): State<Shared>,
    user: User<Enrolling>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let User {
        mut session,
        me,
        status,
        ..
    } = user;
    let id = flow_id(me.id);
    // Without a ticket the session began nothing: the flow refuses (and audits) the attempt.
    let ticket = session
        .ticket
        .clone()
        .unwrap_or_else(|| EnrollmentTicket::from_session(""));
    match app.flow.confirm(&id, &ticket, &form.code).await {
        Ok(confirmation) => {
            // The factors changed: a new session under the new stamp (no ticket, and no proof:
            // a proof from before the change no longer works). Only this session, current when
            // the request began (the gate checked), gets it.
            let session = match Session::for_user(me.id, Stage::Full, confirmation.stamp()) {
                Ok(session) => session,
                Err(e) => return server_error(e),
            };
            let jar = session.write(jar);
            match confirmation.recovery_codes() {
                Some(set) => respond(jar, codes_page(&session, &me, set, "Your recovery codes")),
                None => (jar, Redirect::to("/account?msg=device")).into_response(),
            }
        }
        Err(e) => {
            let enrollment = match enrollment_for(&app, &mut session, &me).await {
                Ok(en) => en,
                Err(FlowError::AlreadyEnrolled) => {
                    return error_redirect(&e).into_response();
                }
                Err(err) => return server_error(err),
            };
            let required = session.stage == Stage::MustEnrol || me.must_enrol(&status, now());
            match enable_html(
                &session,
                &me,
                &enrollment,
                &message("error", &describe(&e)),
                required,
            ) {
                Ok(body) => respond(
                    session.write(jar),
                    page(
                        "Set up two-factor authentication",
                        &session,
                        Some(&me),
                        &body,
                    ),
                ),
                Err(err) => server_error(err),
            }
        }
    }
}

/// Back to the account page with the error's message key ([`FlowError::message_key`]) and its
/// retry time, never free text: a link must not be able to put arbitrary words on the page.
fn error_redirect(e: &FlowError) -> Redirect {
    let at = retry_at(e).map_or_else(String::new, |t| format!("&at={t}"));
    Redirect::to(&format!("/account?msg=error-{}{at}", e.message_key()))
}

/// What a sensitive change is authorised with: the session's login proof (enough on its own for
/// a few minutes after login) with the code the user typed, or the code alone.
fn reauth<'a>(session: &'a Session, code: &'a str) -> Result<Reauth<'a>, FlowError> {
    let typed = !code.trim().is_empty();
    match (&session.proof, typed) {
        (Some(proof), true) => Ok(Reauth::recent(proof).with_factor(code)),
        (Some(proof), false) => Ok(Reauth::recent(proof)),
        (None, true) => Ok(Reauth::factor(code)),
        (None, false) => Err(FlowError::ReauthRequired),
    }
}

pub(crate) async fn new_device(
    State(app): State<Shared>,
    user: User<Full>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let User {
        mut session, me, ..
    } = user;
    let began = match reauth(&session, &form.code) {
        Ok(reauth) => {
            app.flow
                .begin_new_device(&flow_id(me.id), &me.username, reauth)
                .await
        }
        Err(e) => Err(e),
    };
    match began {
        // The enrolment page shows it to this session, which holds its ticket.
        Ok(enrollment) => {
            session.ticket = Some(enrollment.ticket().clone());
            (session.write(jar), Redirect::to("/account/2fa/enable")).into_response()
        }
        Err(e) => error_redirect(&e).into_response(),
    }
}

pub(crate) async fn disable(
    State(app): State<Shared>,
    user: User<Full>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let User {
        mut session, me, ..
    } = user;
    let disabled = match reauth(&session, &form.code) {
        Ok(reauth) => app.flow.disable(&flow_id(me.id), reauth).await,
        Err(e) => Err(e),
    };
    match disabled {
        // This session made the change, and was current when it began (the gate checked): it
        // keeps going under the new stamp (other sessions of the user end); its proof died with
        // the old stamp.
        Ok(stamp) => {
            session.stamp = Some(stamp);
            session.proof = None;
            (session.write(jar), Redirect::to("/account?msg=disabled")).into_response()
        }
        Err(e) => error_redirect(&e).into_response(),
    }
}

pub(crate) async fn regenerate(
    State(app): State<Shared>,
    user: User<Full>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let User {
        mut session, me, ..
    } = user;
    let regenerated = match reauth(&session, &form.code) {
        Ok(reauth) => {
            app.flow
                .regenerate_recovery_codes(&flow_id(me.id), reauth)
                .await
        }
        Err(e) => Err(e),
    };
    match regenerated {
        // As for disabling: this session carries on under the new stamp, without its proof.
        Ok(regenerated) => {
            session.stamp = Some(regenerated.stamp);
            session.proof = None;
            respond(
                session.write(jar),
                codes_page(&session, &me, &regenerated.codes, "Your new recovery codes"),
            )
        }
        Err(e) => error_redirect(&e).into_response(),
    }
}
