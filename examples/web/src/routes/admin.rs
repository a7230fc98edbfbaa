//! The administrator's pages: the user list with its filters, resetting 2FA, the policy.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use twofactor::store::ListFilter;

use crate::accounts::{Account, flow_id};
use crate::pages::{csrf_field, esc, page, respond, server_error, when};
use crate::routes::{AdminForm, Msg};
use crate::session::Session;
use crate::{App, Shared};

fn admin_user(app: &App, session: &Session) -> Option<Account> {
    session
        .full_user()
        .and_then(|u| app.account(u))
        .filter(|a| a.is_admin)
}

pub(crate) async fn admin(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Query(q): Query<Msg>,
) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    let Some(me) = admin_user(&app, &session) else {
        return (StatusCode::FORBIDDEN, "administrators only").into_response();
    };
    let filter = match q.filter.as_deref() {
        Some("enabled") => ListFilter::Active,
        Some("disabled") => ListFilter::NotActive,
        _ => ListFilter::All,
    };
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
        rows.push_str(&format!(
            "<tr class=\"user-row\" data-user=\"{name}\"><td>{name}</td><td class=\"user-status\">{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/admin/reset\" style=\"display:inline\">{csrf}<input type=\"hidden\" name=\"user\" value=\"{id}\">\
             <button class=\"reset\">Reset 2FA</button></form> \
             <form method=\"post\" action=\"/admin/require\" style=\"display:inline\">{csrf}<input type=\"hidden\" name=\"user\" value=\"{id}\">{}\
             <button class=\"require\">{}</button></form></td></tr>",
            if status.is_active() { "2FA enabled" } else { "2FA disabled" },
            if status.required { "required" } else { "optional" },
            status.locked_until.map_or_else(String::new, when),
            if status.required { "" } else { "<input type=\"hidden\" name=\"required\" value=\"1\">" },
            if status.required { "Make optional" } else { "Require 2FA" },
            name = esc(&account.username),
            id = account.id,
        ));
    }
    let body = format!(
        "<p>Filter: <a href=\"/admin\" id=\"filter-all\">all</a> · <a href=\"/admin?filter=enabled\" id=\"filter-enabled\">2FA enabled</a> · \
         <a href=\"/admin?filter=disabled\" id=\"filter-disabled\">2FA not enabled</a></p>\
         <table><tr><th>User</th><th>Status</th><th>Policy</th><th>Locked until</th><th></th></tr>{rows}</table>"
    );
    respond(jar, page("Users", &session, Some(&me), &body))
}

pub(crate) async fn admin_reset(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<AdminForm>,
) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    let Some(me) = admin_user(&app, &session).filter(|_| session.csrf_ok(&form.csrf)) else {
        return (StatusCode::FORBIDDEN, "administrators only").into_response();
    };
    match app.flow.admin_reset(&flow_id(form.user)).await {
        // Every session of the user is now stale; an administrator resetting their own 2FA
        // keeps this one, under the new stamp.
        Ok(stamp) if form.user == me.id => {
            let mut session = session;
            session.stamp = Some(stamp);
            session.proof = None;
            (session.write(jar), Redirect::to("/admin")).into_response()
        }
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => server_error(e),
    }
}

pub(crate) async fn admin_require(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<AdminForm>,
) -> Response {
    let session = match Session::read(&jar) {
        Ok(session) => session,
        Err(e) => return server_error(e),
    };
    if admin_user(&app, &session).is_none() || !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "administrators only").into_response();
    }
    match app
        .flow
        .admin_set_required(&flow_id(form.user), form.required.is_some())
        .await
    {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => server_error(e),
    }
}
