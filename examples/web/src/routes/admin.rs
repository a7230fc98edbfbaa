//! The administrator's pages: the user list with its filters, resetting 2FA, the policy.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use twofactor::Requirement;
use twofactor::store::ListFilter;

use crate::Shared;
use crate::accounts::flow_id;
use crate::auth::{Admin, User};
use crate::pages::{
    csrf_field, date, deadline_date, end_of_day, esc, message, page, respond, server_error, when,
};
use crate::routes::{AdminForm, Msg};
use crate::session::now;

pub(crate) async fn admin(
    State(app): State<Shared>,
    User { session, me, .. }: User<Admin>,
    jar: SignedCookieJar,
    Query(q): Query<Msg>,
) -> Response {
    let note = match q.msg.as_deref() {
        Some("bad-date") => message("error", "Choose the date by which 2FA is required."),
        Some("own-reset") => message(
            "error",
            "Your own two-factor authentication cannot be reset here: turn it off on your \
             account page, which asks for your second factor.",
        ),
        _ => String::new(),
    };
    let filter = match q.filter.as_deref() {
        Some("enabled") => ListFilter::Active,
        Some("disabled") => ListFilter::NotActive,
        _ => ListFilter::All,
    };
    // Two weeks from today, the date field's default.
    let default_date = date(now().saturating_add(14 * 86_400));
    let mut rows = String::new();
    for account in app.all_accounts() {
        let status = match app.flow.status(&flow_id(account.id)).await {
            Ok(s) => s,
            Err(e) => return server_error(e),
        };
        let keep = match filter {
            ListFilter::Active => status.is_active(),
            ListFilter::NotActive => !status.is_active(),
            _ => true,
        };
        if !keep {
            continue;
        }
        let csrf = csrf_field(&session);
        let policy = match status.requirement() {
            Requirement::Off => "optional".to_owned(),
            Requirement::Now => "required now".to_owned(),
            Requirement::By(deadline) => format!("required by {}", deadline_date(deadline)),
            _ => "required".to_owned(),
        };
        rows.push_str(&format!(
            "<tr class=\"user-row\" data-user=\"{name}\"><td>{name}</td><td class=\"user-status\">{}</td><td>{policy}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/admin/reset\" style=\"display:inline\">{csrf}<input type=\"hidden\" name=\"user\" value=\"{id}\">\
             <button class=\"reset\">Reset 2FA</button></form> \
             <form method=\"post\" action=\"/admin/require\" style=\"display:inline\">{csrf}<input type=\"hidden\" name=\"user\" value=\"{id}\">\
             <label>Require by <input type=\"date\" name=\"by_date\" class=\"require-date\" value=\"{default_date}\"></label> \
             <button class=\"require-by\" name=\"require\" value=\"by\">Require by date</button> \
             <button class=\"require-now\" name=\"require\" value=\"now\">Require now</button> \
             <button class=\"require-off\" name=\"require\" value=\"off\">Off</button></form></td></tr>",
            if status.is_active() { "2FA enabled" } else { "2FA disabled" },
            status.locked_until.map_or_else(String::new, when),
            name = esc(&account.username),
            id = account.id,
        ));
    }
    let body = format!(
        "{note}<p>Filter: <a href=\"/admin\" id=\"filter-all\">all</a> · <a href=\"/admin?filter=enabled\" id=\"filter-enabled\">2FA enabled</a> · \
         <a href=\"/admin?filter=disabled\" id=\"filter-disabled\">2FA not enabled</a></p>\
         <table><tr><th>User</th><th>Status</th><th>Policy</th><th>Locked until</th><th></th></tr>{rows}</table>"
    );
    respond(jar, page("Users", &session, Some(&me), &body))
}

pub(crate) async fn admin_reset(
    State(app): State<Shared>,
    user: User<Admin>,
    Form(form): Form<AdminForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    // Not a way around the administrator's own second factor: turning their own 2FA off is for
    // the account page, which asks for it.
    if form.user == user.me.id {
        return Redirect::to("/admin?msg=own-reset").into_response();
    }
    match app.flow.admin_reset(&flow_id(form.user)).await {
        // Every session of that user is now stale; this one (another user's) is untouched.
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => server_error(e),
    }
}

pub(crate) async fn admin_require(
    State(app): State<Shared>,
    user: User<Admin>,
    Form(form): Form<AdminForm>,
) -> Response {
    if let Err(refused) = user.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let requirement = match (form.require.as_deref(), form.by_date.as_deref()) {
        (Some("now"), _) => Requirement::Now,
        (Some("off"), _) => Requirement::Off,
        (Some("by"), Some(text)) => match end_of_day(text.trim()) {
            Some(deadline) => Requirement::By(deadline),
            None => return Redirect::to("/admin?msg=bad-date").into_response(),
        },
        _ => return Redirect::to("/admin?msg=bad-date").into_response(),
    };
    match app
        .flow
        .admin_require(&flow_id(form.user), requirement)
        .await
    {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => server_error(e),
    }
}
