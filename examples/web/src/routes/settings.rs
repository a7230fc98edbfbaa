//! The account page and the user's own 2FA settings: enable (and the recovery codes shown
//! once), a new device, disable, new recovery codes, trusted browsers.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use twofactor::{
    Authenticator, Enrollment, EnrollmentStatus, FactorStamp, FlowError, QrCode, Reauth,
    RecentVerification, RecoveryCodeSet, Requirement, Status, TrustedBrowser,
};

use crate::Shared;
use crate::accounts::Account;
use crate::auth::{Enrolling, Full, User};
use crate::routes::{CodeForm, CsrfForm, Msg, TrustedForm};
use crate::session::{Login, Stage, Visit};
use crate::views::{
    Failure, csrf_field, date_time, deadline_date, describe, error_from_key, layout,
    layout_with_script, message, now, retry_at, with_error_status,
};

fn status_html(status: &Status) -> Markup {
    html! {
        @match status.enrollment {
            EnrollmentStatus::Active { since, .. } => {
                p.status id="twofa-status" { "2FA enabled" }
                p { "Since " (date_time(since)) ". Recovery codes left: "
                    strong id="recovery-left" { (status.recovery_codes_left.unwrap_or(0)) } "." }
            }
            _ => { p.status id="twofa-status" { "2FA disabled" } }
        }
    }
}

/// The trusted-browser section of the account page: each one (label, created, last used,
/// expires) with its revoke button, and "revoke all".
fn trusted_html(login: &Login, browsers: &[TrustedBrowser]) -> Markup {
    html! {
        h2 { "Trusted browsers" }
        @if browsers.is_empty() {
            p id="no-trusted" { "No browser skips the second step. Tick \u{201c}Remember this browser\u{201d} when you log in to add one." }
        } @else {
            p { "These skip the second step when you log in with your password (changes to your 2FA still ask for a code)." }
            table id="trusted-browsers" {
                tr { th { "Browser" } th { "Trusted since" } th { "Last used" } th { "Expires" } th { span.visually-hidden { "Action" } } }
                @for (i, b) in browsers.iter().enumerate() {
                    tr.trusted-browser {
                        td.label { (b.label) }
                        td { (date_time(b.created_at)) }
                        td id={ "last-used-" (i) } { (b.last_used_at.map_or_else(|| "never".to_owned(), date_time)) }
                        td { (date_time(b.expires_at)) }
                        td { form method="post" action="/account/trusted/revoke" {
                            (csrf_field(login))
                            input type="hidden" name="id" value=(b.id);
                            button.revoke { "Revoke" }
                        } }
                    }
                }
            }
            form method="post" action="/account/trusted/revoke-all" {
                (csrf_field(login))
                p { button id="revoke-all" { "Revoke all" } }
            }
        }
    }
}

/// The authenticator section: each one (name, added, last used) with rename and remove, and the
/// form that adds another.
fn authenticators_html(login: &Login, list: &[Authenticator]) -> Markup {
    html! {
        h2 { "Authenticators" }
        p { "Any of these apps or devices can give the code when you log in." }
        table id="authenticators" {
            tr { th { "Name" } th { "Added" } th { "Last used" } th { "Rename" } th { "Remove" } }
            @for (i, a) in list.iter().enumerate() {
                tr.authenticator {
                    td.name { (a.name) }
                    td { (date_time(a.created_at)) }
                    td { (a.last_used_at.map_or_else(|| "never".to_owned(), date_time)) }
                    td { form method="post" action="/account/authenticators/rename" {
                        (csrf_field(login))
                        input type="hidden" name="id" value=(a.id);
                        label for={ "rename-" (i) } { "New name" } " "
                        input type="text" name="name" id={ "rename-" (i) } .rename-name maxlength="64" required;
                        " " button.rename { "Rename" }
                    } }
                    td { form method="post" action="/account/authenticators/remove" {
                        (csrf_field(login))
                        input type="hidden" name="id" value=(a.id);
                        label for={ "remove-code-" (i) } { "Current code" } " "
                        input type="text" name="code" id={ "remove-code-" (i) } .remove-code autocomplete="one-time-code";
                        " " button.remove { "Remove" }
                    } }
                }
            }
        }
        form method="post" action="/account/authenticators/add" {
            (csrf_field(login))
            p {
                label for="add-name" { "Name of the new authenticator" } " "
                input type="text" name="name" id="add-name" maxlength="64" placeholder="Password manager" required;
            }
            p {
                label for="add-code" { "Current code (not needed within a few minutes of logging in with one)" } " "
                input type="text" name="code" id="add-code" autocomplete="one-time-code";
                " " button id="add-authenticator" { "Add an authenticator" }
            }
        }
    }
}

/// The banners at the top of the account page: 2FA required by a date (until this session
/// chose "later"), and recovery codes running low.
fn banners(login: &Login, me: &Account, status: &Status) -> Markup {
    html! {
        @if let Requirement::By(deadline) = me.requirement(status) {
            @if !status.is_active() && !login.later {
                div.msg.banner id="enrol-banner" role="status" {
                    p { "Set up two-factor authentication by " strong id="enrol-by" { (deadline_date(deadline)) }
                        ". After that date you will have to set it up before you can use your account." }
                    form.inline method="post" action="/account/2fa/begin" {
                        (csrf_field(login)) button id="enrol-now" { "Set up now" }
                    }
                    " "
                    form.inline method="post" action="/account/2fa/later" {
                        (csrf_field(login)) button id="enrol-later" { "Later" }
                    }
                }
            }
        }
        @if status.recovery_codes_low {
            p.msg.banner id="low-codes" role="status" {
                "Only " (status.recovery_codes_left.unwrap_or(0)) " recovery codes left. Generate new ones below so you are not locked out if you lose your phone."
            }
        }
    }
}

fn note(q: &Msg) -> Option<Markup> {
    let text = match q.msg.as_deref()? {
        "disabled" => "Two-factor authentication is now off.".to_owned(),
        "device" => "Your new device is set up. Your recovery codes are unchanged.".to_owned(),
        "trusted" => "Logged in from a trusted browser: no second step was needed.".to_owned(),
        "revoked" => "That browser is no longer trusted.".to_owned(),
        "revoked-all" => "No browser is trusted any more.".to_owned(),
        "renamed" => "Renamed.".to_owned(),
        "removed" => "That authenticator is removed: its codes no longer work.".to_owned(),
        m if m.starts_with("recovery-") => {
            let left: u32 = m["recovery-".len()..].parse().ok()?;
            format!(
                "Logged in with a recovery code. {left} left; generate new ones if you are running low."
            )
        }
        m if m.starts_with("error-") => {
            let e = error_from_key(&m["error-".len()..], q.at)?;
            return Some(message("error", &describe(&e)));
        }
        _ => return None,
    };
    Some(message("ok", &text))
}

pub(crate) async fn account(
    State(app): State<Shared>,
    User {
        visit, me, status, ..
    }: User<Full>,
    Query(q): Query<Msg>,
) -> Result<Markup, Failure> {
    let login = &visit.login;
    let active = if status.is_active() {
        let id = me.flow_id();
        let browsers = app
            .flow
            .trusted_browsers(&id)
            .await
            .map_err(Failure::internal)?;
        let list = app
            .flow
            .authenticators(&id)
            .await
            .map_err(Failure::internal)?;
        Some((browsers, list))
    } else {
        None
    };
    let body = html! {
        @if let Some(note) = note(&q) { (note) }
        (banners(login, &me, &status))
        (status_html(&status))
        @match &active {
            Some((browsers, list)) => {
                (authenticators_html(login, list))
                h2 { "Recovery codes and 2FA" }
                p.hint { "Within a few minutes of logging in with a code these need no new one; after that, type a current code or a recovery code." }
                form method="post" action="/account/2fa/regenerate" {
                    (csrf_field(login))
                    label for="regenerate-code" { "Current code" } " "
                    input type="text" name="code" id="regenerate-code" autocomplete="one-time-code";
                    " " button id="regenerate" { "New recovery codes" }
                }
                p {}
                form method="post" action="/account/2fa/disable" {
                    (csrf_field(login))
                    label for="disable-code" { "Current code" } " "
                    input type="text" name="code" id="disable-code" autocomplete="one-time-code";
                    " " button id="disable" { "Turn off 2FA" }
                }
                h2 { "New phone" }
                form method="post" action="/account/2fa/new-device" {
                    (csrf_field(login))
                    label for="new-device-code" { "Code from your current device" } " "
                    input type="text" name="code" id="new-device-code" autocomplete="one-time-code";
                    " " button id="new-device" { "Set up a new device" }
                }
                (trusted_html(login, browsers))
            }
            None => {
                form method="post" action="/account/2fa/begin" {
                    (csrf_field(login))
                    p { button id="enable" { "Enable two-factor authentication" } }
                }
            }
        }
    };
    Ok(layout("Your account", Some(login), Some(&me), body))
}

/// "Later" on the enrolment banner: this session stops showing it (the deadline stands).
pub(crate) async fn enrol_later(
    user: User<Full>,
    Form(form): Form<CsrfForm>,
) -> Result<Redirect, Failure> {
    user.check_csrf(&form.csrf)?;
    let mut visit = user.visit;
    visit.login.later = true;
    visit.save().await?;
    Ok(Redirect::to("/account"))
}

/// Revokes one of the user's trusted browsers.
pub(crate) async fn revoke_trusted(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<TrustedForm>,
) -> Result<Redirect, Failure> {
    user.check_csrf(&form.csrf)?;
    let revoked = app
        .flow
        .revoke_trusted_browser(&user.me.flow_id(), &form.id)
        .await;
    Ok(back(revoked, "revoked"))
}

/// Revokes every trusted browser of the user.
pub(crate) async fn revoke_all_trusted(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<CsrfForm>,
) -> Result<Redirect, Failure> {
    user.check_csrf(&form.csrf)?;
    let revoked = app.flow.revoke_trusted_browsers(&user.me.flow_id()).await;
    Ok(back(revoked, "revoked-all"))
}

fn enable_html(
    login: &Login,
    me: &Account,
    e: &Enrollment,
    note: Option<Markup>,
    required: bool,
) -> Result<Markup, Failure> {
    let svg = QrCode::new(e.uri()).map_err(Failure::internal)?.to_svg(220);
    let key = e.expose_manual_key();
    Ok(html! {
        @if required {
            (message("error", &format!("{} Set it up to continue.", FlowError::EnrollmentRequired.user_message())))
        }
        @if let Some(note) = note { (note) }
        @if e.is_replacement() { p { "Your current device keeps working until this one is confirmed." } }
        ol {
            li { "Scan this QR code with your authenticator app:" br;
                 span.qr id="qr" { (PreEscaped(&*svg)) } }
            li { "Or type this key: " span.key id="manual-key" { (&*key) } br;
                 small { "(account " em { (me.username) } ", time-based, 6 digits)" } }
            li {
                form method="post" action="/account/2fa/enable" {
                    (csrf_field(login))
                    label for="code" { "Enter the code the app shows:" } " "
                    input type="text" name="code" id="code" autocomplete="one-time-code" inputmode="numeric" required;
                    " " button id="confirm" { "Confirm" }
                }
            }
        }
    })
}

/// The enrolment this session began, if it still exists.
async fn resumed(
    app: &Shared,
    login: &Login,
    me: &Account,
) -> Result<Option<Enrollment>, FlowError> {
    match login.ticket() {
        Some(ticket) => app.flow.resume(&me.flow_id(), &me.username, &ticket).await,
        None => Ok(None),
    }
}

/// Begins an enrolment for this session (a POST: opening a page changes nothing), or goes back
/// to the one it began.
pub(crate) async fn begin(
    State(app): State<Shared>,
    user: User<Enrolling>,
    Form(form): Form<CsrfForm>,
) -> Result<Redirect, Failure> {
    user.check_csrf(&form.csrf)?;
    let User { mut visit, me, .. } = user;
    if resumed(&app, &visit.login, &me)
        .await
        .map_err(Failure::internal)?
        .is_none()
    {
        match app.flow.begin(&me.flow_id(), &me.username).await {
            Ok(enrollment) => {
                visit.login.set_ticket(enrollment.ticket());
                visit.save().await?;
            }
            // A new device needs the current one's code: the account page asks for it.
            Err(FlowError::AlreadyEnrolled) => return Ok(Redirect::to("/account")),
            Err(e) => return Err(Failure::internal(e)),
        }
    }
    Ok(Redirect::to("/account/2fa/enable"))
}

/// The enrolment page: the enrolment this session began (only this session holds its ticket),
/// or a button that begins one.
pub(crate) async fn enable_page(
    State(app): State<Shared>,
    User {
        visit, me, status, ..
    }: User<Enrolling>,
) -> Result<Markup, Failure> {
    let required = visit.login.stage == Stage::MustEnrol || me.must_enrol(&status, now());
    let title = "Set up two-factor authentication";
    let body = match resumed(&app, &visit.login, &me)
        .await
        .map_err(Failure::internal)?
    {
        Some(enrollment) => enable_html(&visit.login, &me, &enrollment, None, required)?,
        None => html! {
            @if required {
                (message("error", &format!("{} Set it up to continue.", FlowError::EnrollmentRequired.user_message())))
            }
            p { "You will scan a QR code with an authenticator app, type one of its codes, then save your recovery codes." }
            form method="post" action="/account/2fa/begin" {
                (csrf_field(&visit.login))
                button id="begin" { "Start" }
            }
        },
    };
    Ok(layout(title, Some(&visit.login), Some(&me), body))
}

fn codes_page(login: &Login, me: &Account, set: &RecoveryCodeSet, heading: &str) -> Markup {
    let text = set.expose_text(&format!("twofactor web example: {}", me.username));
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
    let codes = set.codes();
    layout_with_script(
        heading,
        Some(login),
        Some(me),
        html! {
            (message("ok", "Two-factor authentication is on."))
            p { "Save these recovery codes now: each works once if you lose your phone, and they will not be shown again." }
            div.codes id="recovery-codes" {
                @for c in codes { div.recovery-code { (&*c.expose()) } }
            }
            p.no-print {
                button type="button" id="copy" { "Copy" } " "
                button type="button" id="print" { "Print" } " "
                a id="download" download="recovery-codes.txt" href={ "data:text/plain;charset=utf-8," (data_uri) } { "Download as text" }
            }
            pre id="codes-text" hidden { (&*text) }
            p.no-print { a href="/account" id="done" { "I have saved them" } }
        },
    )
}

pub(crate) async fn enable(
    State(app): State<Shared>,
    user: User<Enrolling>,
    Form(form): Form<CodeForm>,
) -> Result<Response, Failure> {
    user.check_csrf(&form.csrf)?;
    let User {
        mut visit,
        me,
        status,
        ..
    } = user;
    // Without a ticket the session began nothing: the flow refuses (and audits) the attempt.
    let ticket = visit
        .login
        .ticket()
        .unwrap_or_else(|| twofactor::EnrollmentTicket::from_session(""));
    match app.flow.confirm(&me.flow_id(), &ticket, &form.code).await {
        Ok(confirmation) => {
            // The factors changed: a new session id under the new stamp (no ticket, and no
            // proof: a proof from before the change no longer works). Only this session,
            // current when the request began (the gate checked), gets it.
            visit
                .begin(me.id, Stage::Full, confirmation.stamp())
                .await?;
            visit.login.typed_factor = true;
            visit.save().await?;
            Ok(match confirmation.recovery_codes() {
                Some(set) => {
                    codes_page(&visit.login, &me, set, "Your recovery codes").into_response()
                }
                None => Redirect::to("/account?msg=device").into_response(),
            })
        }
        Err(e) => {
            let required = visit.login.stage == Stage::MustEnrol || me.must_enrol(&status, now());
            let Some(enrollment) = resumed(&app, &visit.login, &me)
                .await
                .map_err(Failure::internal)?
            else {
                return Ok(error_redirect(&e).into_response());
            };
            let body = enable_html(
                &visit.login,
                &me,
                &enrollment,
                Some(message("error", &describe(&e))),
                required,
            )?;
            let page = layout(
                "Set up two-factor authentication",
                Some(&visit.login),
                Some(&me),
                body,
            );
            Ok(with_error_status(page, &e))
        }
    }
}

/// Back to the account page with the message `done`, or the error's.
pub(crate) fn back<T>(result: Result<T, FlowError>, done: &str) -> Redirect {
    match result {
        Ok(_) => Redirect::to(&format!("/account?msg={done}")),
        Err(e) => error_redirect(&e),
    }
}

/// Back to the account page with the error's message key ([`FlowError::message_key`]) and its
/// retry time, never free text: a link must not be able to put arbitrary words on the page.
pub(crate) fn error_redirect(e: &FlowError) -> Redirect {
    let at = retry_at(e).map_or_else(String::new, |t| format!("&at={t}"));
    Redirect::to(&format!("/account?msg=error-{}{at}", e.message_key()))
}

/// What a sensitive change is authorised with: the session's login proof (enough on its own for
/// a few minutes after login) with the code the user typed, or the code alone.
pub(crate) fn reauth<'a>(
    proof: Option<&'a RecentVerification>,
    code: &'a str,
) -> Result<Reauth<'a>, FlowError> {
    let typed = !code.trim().is_empty();
    match (proof, typed) {
        (Some(proof), true) => Ok(Reauth::recent(proof).with_factor(code)),
        (Some(proof), false) => Ok(Reauth::recent(proof)),
        (None, true) => Ok(Reauth::factor(code)),
        (None, false) => Err(FlowError::ReauthRequired),
    }
}

pub(crate) async fn new_device(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<CodeForm>,
) -> Result<Redirect, Failure> {
    let (mut visit, me, proof) = user.sensitive(&form.csrf)?;
    let began = async {
        let reauth = reauth(proof.as_ref(), &form.code)?;
        app.flow
            .begin_new_device(&me.flow_id(), &me.username, reauth)
            .await
    };
    to_enrolment(&mut visit, began.await).await
}

/// To the enrolment page with an enrolment just begun (a new device, another authenticator),
/// whose ticket this session keeps; or back to the account page with the error.
pub(crate) async fn to_enrolment(
    visit: &mut Visit,
    began: Result<Enrollment, FlowError>,
) -> Result<Redirect, Failure> {
    match began {
        Ok(enrollment) => {
            visit.login.set_ticket(enrollment.ticket());
            visit.save().await?;
            Ok(Redirect::to("/account/2fa/enable"))
        }
        Err(e) => Ok(error_redirect(&e)),
    }
}

pub(crate) async fn disable(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<CodeForm>,
) -> Result<Redirect, Failure> {
    let (mut visit, me, proof) = user.sensitive(&form.csrf)?;
    let disabled = async {
        let reauth = reauth(proof.as_ref(), &form.code)?;
        app.flow.disable(&me.flow_id(), reauth).await
    };
    factors_changed(&mut visit, disabled.await, "disabled").await
}

/// Back to the account page after a factor change this session made (with the message `done`),
/// or with the error. The session was current when the change began (the gate checked): it keeps
/// going under the new stamp and a new id (every other session of the user ends); its proof died
/// with the old stamp.
pub(crate) async fn factors_changed(
    visit: &mut Visit,
    changed: Result<FactorStamp, FlowError>,
    done: &str,
) -> Result<Redirect, Failure> {
    match changed {
        Ok(stamp) => {
            visit.factors_changed(stamp).await?;
            Ok(Redirect::to(&format!("/account?msg={done}")))
        }
        Err(e) => Ok(error_redirect(&e)),
    }
}

pub(crate) async fn regenerate(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<CodeForm>,
) -> Result<Response, Failure> {
    let (mut visit, me, proof) = user.sensitive(&form.csrf)?;
    let regenerated = async {
        let reauth = reauth(proof.as_ref(), &form.code)?;
        app.flow
            .regenerate_recovery_codes(&me.flow_id(), reauth)
            .await
    };
    match regenerated.await {
        // As for disabling: this session carries on under the new stamp, without its proof.
        Ok(regenerated) => {
            visit.factors_changed(regenerated.stamp).await?;
            Ok(codes_page(
                &visit.login,
                &me,
                &regenerated.codes,
                "Your new recovery codes",
            )
            .into_response())
        }
        Err(e) => Ok(error_redirect(&e).into_response()),
    }
}
