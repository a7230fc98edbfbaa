//! The administrator's pages: the user list with its filters and pages, resetting 2FA, the
//! policy. Only for administrators with 2FA on whose session typed a second factor: one who
//! logged in from a trusted browser types a code on the step-up page first, and one without 2FA
//! is sent to set it up.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use twofactor::Requirement;

use crate::Shared;
use crate::accounts::{self, flow_id};
use crate::auth::{Admin, Full, User};
use crate::routes::{AdminForm, CodeForm, Msg};
use crate::views::{
    Failure, csrf_field, date, deadline_date, describe, end_of_day, layout, message, now, when,
    with_error_status,
};

/// Accounts per page of the list.
const PAGE: usize = 20;

pub(crate) async fn admin(
    State(app): State<Shared>,
    User { visit, me, .. }: User<Admin>,
    Query(q): Query<Msg>,
) -> Result<Markup, Failure> {
    let note = match q.msg.as_deref() {
        Some("bad-date") => Some(message(
            "error",
            "Choose the date by which 2FA is required.",
        )),
        Some("own-reset") => Some(message(
            "error",
            "Your own two-factor authentication cannot be reset here: turn it off on your \
             account page, which asks for your second factor.",
        )),
        _ => None,
    };
    let filter = ["enabled", "disabled"]
        .into_iter()
        .find(|f| q.filter.as_deref() == Some(*f))
        .unwrap_or("all");
    let keep = |active: bool| match filter {
        "enabled" => active,
        "disabled" => !active,
        _ => true,
    };
    // Keyset paging on the account id: a page costs the same wherever it is in the list.
    let mut rows = Vec::new();
    let mut after = q.after.unwrap_or(0);
    let mut more = false;
    'pages: loop {
        let chunk = accounts::page(&app.pool, after, 100).await?;
        let Some(last) = chunk.last() else { break };
        after = last.id;
        for account in chunk {
            let status = app
                .flow
                .status(&flow_id(account.id))
                .await
                .map_err(Failure::internal)?;
            if keep(status.is_active()) {
                if rows.len() == PAGE {
                    more = true;
                    break 'pages;
                }
                rows.push((account, status));
            }
        }
    }
    let next = rows.last().map(|(a, _)| a.id).filter(|_| more);
    let default_date = date(now().saturating_add(14 * 86_400));
    let body = html! {
        @if let Some(note) = note { (note) }
        p { "Filter: "
            a href="/admin" id="filter-all" { "all" } " · "
            a href="/admin?filter=enabled" id="filter-enabled" { "2FA enabled" } " · "
            a href="/admin?filter=disabled" id="filter-disabled" { "2FA not enabled" } }
        table {
            tr { th { "User" } th { "Status" } th { "Policy" } th { "Locked until" } th { "Actions" } }
            @for (account, status) in &rows {
                tr.user-row data-user=(account.username) {
                    td { (account.username) }
                    td.user-status { (if status.is_active() { "2FA enabled" } else { "2FA disabled" }) }
                    td { (match status.requirement() {
                        Requirement::Off => "optional".to_owned(),
                        Requirement::Now => "required now".to_owned(),
                        Requirement::By(deadline) => format!("required by {}", deadline_date(deadline)),
                        _ => "required".to_owned(),
                    }) }
                    td { (status.locked_until.map_or_else(String::new, when)) }
                    td {
                        form.inline method="post" action="/admin/reset" {
                            (csrf_field(&visit.login))
                            input type="hidden" name="user" value=(account.id);
                            button.reset { "Reset 2FA" }
                        }
                        " "
                        form.inline method="post" action="/admin/require" {
                            (csrf_field(&visit.login))
                            input type="hidden" name="user" value=(account.id);
                            label for={ "by-" (account.id) } { "Require by" } " "
                            input type="date" name="by_date" id={ "by-" (account.id) } .require-date value=(default_date);
                            " " button.require-by name="require" value="by" { "Require by date" }
                            " " button.require-now name="require" value="now" { "Require now" }
                            " " button.require-off name="require" value="off" { "Off" }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next {
            p { a id="next-page" href={ "/admin?filter=" (filter) "&after=" (next) } { "Next page" } }
        }
    };
    Ok(layout("Users", Some(&visit.login), Some(&me), body))
}

fn verify_form(
    login: &crate::session::Login,
    me: &accounts::Account,
    note: Option<Markup>,
) -> Markup {
    layout(
        "Confirm it is you",
        Some(login),
        Some(me),
        html! {
            @if let Some(note) = note { (note) }
            form method="post" action="/admin/verify" {
                (csrf_field(login))
                p { label for="code" { "The admin pages need your second factor in this session. Enter a code from your authenticator app." } }
                p { input type="text" name="code" id="code" autocomplete="one-time-code" required; }
                p { button id="verify" { "Verify" } }
            }
        },
    )
}

/// The step-up page: an administrator whose session has not typed a second factor types one;
/// one without 2FA is told to set it up first.
pub(crate) async fn verify_page(
    User {
        visit, me, status, ..
    }: User<Full>,
) -> Result<Response, Failure> {
    if !me.is_admin {
        return Err(Failure::NotAdmin);
    }
    if !status.is_active() {
        let body = html! {
            (message("error", "The admin pages need two-factor authentication: set it up on your account page first."))
            p { a href="/account" { "To your account" } }
        };
        return Ok((
            axum::http::StatusCode::FORBIDDEN,
            layout(
                "Two-factor authentication needed",
                Some(&visit.login),
                Some(&me),
                body,
            ),
        )
            .into_response());
    }
    if visit.login.typed_factor {
        return Ok(Redirect::to("/admin").into_response());
    }
    Ok(verify_form(&visit.login, &me, None).into_response())
}

pub(crate) async fn verify(
    State(app): State<Shared>,
    user: User<Full>,
    Form(form): Form<CodeForm>,
) -> Result<Response, Failure> {
    user.check_csrf(&form.csrf)?;
    let User { mut visit, me, .. } = user;
    if !me.is_admin {
        return Err(Failure::NotAdmin);
    }
    match app.flow.verify(&me.flow_id(), &form.code).await {
        Ok(verified) => {
            // A privilege change: a new session id, the proof of this factor.
            visit
                .begin(me.id, crate::session::Stage::Full, verified.stamp)
                .await?;
            visit.login.set_proof(&verified.proof);
            visit.login.typed_factor = true;
            visit.save().await?;
            Ok(Redirect::to("/admin").into_response())
        }
        Err(e) => Ok(with_error_status(
            verify_form(&visit.login, &me, Some(message("error", &describe(&e)))),
            &e,
        )),
    }
}

pub(crate) async fn reset(
    State(app): State<Shared>,
    user: User<Admin>,
    Form(form): Form<AdminForm>,
) -> Result<Redirect, Failure> {
    user.check_csrf(&form.csrf)?;
    // Not a way around the administrator's own second factor: turning their own 2FA off is for
    // the account page, which asks for it.
    if form.user == user.me.id {
        return Ok(Redirect::to("/admin?msg=own-reset"));
    }
    // Every session of that user is now stale and ends on its next request.
    app.flow
        .admin_reset(&flow_id(form.user))
        .await
        .map_err(Failure::internal)?;
    Ok(Redirect::to("/admin"))
}

pub(crate) async fn require(
    State(app): State<Shared>,
    user: User<Admin>,
    Form(form): Form<AdminForm>,
) -> Result<Redirect, Failure> {
    user.check_csrf(&form.csrf)?;
    let requirement = match (form.require.as_deref(), form.by_date.as_deref()) {
        (Some("now"), _) => Requirement::Now,
        (Some("off"), _) => Requirement::Off,
        (Some("by"), Some(text)) => match end_of_day(text.trim()) {
            Some(deadline) => Requirement::By(deadline),
            None => return Ok(Redirect::to("/admin?msg=bad-date")),
        },
        _ => return Ok(Redirect::to("/admin?msg=bad-date")),
    };
    app.flow
        .admin_require(&flow_id(form.user), requirement)
        .await
        .map_err(Failure::internal)?;
    Ok(Redirect::to("/admin"))
}
