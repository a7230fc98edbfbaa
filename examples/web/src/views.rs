//! Pages: the layout (maud templates, which escape every value), the messages, the refusals, and
//! the dates and texts the pages show.
//!
//! No page has inline script or style: the stylesheet and the one script (copy and print the
//! recovery codes) are files under `/static`, so the Content-Security-Policy allows scripts and
//! styles from the site itself only (see [`crate::security_headers`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use twofactor::FlowError;

use crate::accounts::Account;
use crate::session::Login;

/// Why a request is refused, or failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No session this route admits: to the login page.
    NotLoggedIn,
    /// The session's factor stamp was not the user's: the session has been ended.
    Stale,
    /// Two-factor authentication is required now and not set up: this session may only enrol.
    MustEnrol,
    /// Logged in, but not an administrator.
    NotAdmin,
    /// An administrator whose session has not typed a second factor: to the step-up page.
    AdminStepUp,
    /// The form's CSRF token is not the session's.
    BadCsrf,
    /// Something on the server failed; the details are logged, not shown.
    Internal(String),
}

impl Failure {
    /// An internal failure, logged with `e` (which must not hold a secret).
    pub(crate) fn internal(e: impl std::fmt::Display) -> Failure {
        Failure::Internal(e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::NotLoggedIn | Failure::Stale => Redirect::to("/login").into_response(),
            Failure::MustEnrol => Redirect::to("/account/2fa/enable").into_response(),
            Failure::AdminStepUp => Redirect::to("/admin/verify").into_response(),
            Failure::NotAdmin => (
                StatusCode::FORBIDDEN,
                plain_page("Administrators only", "This page is for administrators."),
            )
                .into_response(),
            Failure::BadCsrf => (
                StatusCode::FORBIDDEN,
                plain_page(
                    "Form expired",
                    "This form is no longer valid (or did not come from this site). Go back, reload the page and try again.",
                ),
            )
                .into_response(),
            Failure::Internal(e) => {
                eprintln!("internal error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    plain_page("Something went wrong", "Please try again later."),
                )
                    .into_response()
            }
        }
    }
}

/// A page with a heading and one paragraph, for refusals.
fn plain_page(title: &str, text: &str) -> Markup {
    layout(title, None, None, html! { p { (text) } })
}

/// The hidden field with the session's CSRF token, for every form.
pub(crate) fn csrf_field(login: &Login) -> Markup {
    html! { input type="hidden" name="csrf" value=(login.csrf); }
}

/// A whole page: the navigation (with a logout form when someone is logged in), `title` as the
/// heading, then `body`. `script` pages get the recovery-code script.
pub(crate) fn layout(
    title: &str,
    login: Option<&Login>,
    nav_user: Option<&Account>,
    body: Markup,
) -> Markup {
    page(title, login, nav_user, body, false)
}

/// [`layout`] with the recovery codes' copy and print script.
pub(crate) fn layout_with_script(
    title: &str,
    login: Option<&Login>,
    nav_user: Option<&Account>,
    body: Markup,
) -> Markup {
    page(title, login, nav_user, body, true)
}

fn page(
    title: &str,
    login: Option<&Login>,
    nav_user: Option<&Account>,
    body: Markup,
    script: bool,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · twofactor example" }
                link rel="stylesheet" href="/static/app.css";
                @if script { script src="/static/codes.js" defer {} }
            }
            body {
                header {
                    nav aria-label="Main" {
                        strong { "twofactor example" }
                        @match (nav_user, login) {
                            (Some(a), Some(login)) => {
                                a href="/account" { "Account" }
                                @if a.is_admin { a href="/admin" { "Admin" } }
                                span.spacer {}
                                span { (a.username) }
                                form method="post" action="/logout" {
                                    (csrf_field(login))
                                    button id="logout" { "Log out" }
                                }
                            }
                            _ => {
                                a href="/login" { "Log in" }
                                a href="/signup" { "Sign up" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A message paragraph (`kind` is `ok` or `error`).
pub(crate) fn message(kind: &str, text: &str) -> Markup {
    html! { p class={ "msg " (kind) } id="message" role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// A Unix time as the time of day in UTC, and how many seconds away it is.
pub(crate) fn when(until: u64) -> String {
    let left = until.saturating_sub(now());
    let t = until % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC (in {left} s)",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// A date and time of day (UTC), for lists.
pub(crate) fn date_time(t: u64) -> String {
    let s = t % 86_400;
    format!("{} {:02}:{:02} UTC", date(t), s / 3600, s / 60 % 60)
}

/// The current Unix time in seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What to tell the person who typed a code: the crate's safe text for the error
/// ([`FlowError::user_message`]; its [`FlowError::message_key`] would pick a translation), and
/// when the next attempt is checked while throttled or locked ([`FlowError::retry_after`]).
/// Errors the person cannot fix are logged here, for operators; the page says only that
/// something went wrong.
pub(crate) fn describe(e: &FlowError) -> String {
    if e.message_key() == "internal" {
        eprintln!("flow error: {e}");
    }
    let now = now();
    match e.retry_after(now) {
        Some(wait) => format!(
            "{} Next attempt at {}.",
            e.user_message(),
            when(now.saturating_add(wait.as_secs()))
        ),
        None => e.user_message().to_owned(),
    }
}

/// `response` with the HTTP status for `e` ([`FlowError::http_status`]) and its `Retry-After`
/// header while throttled or locked.
pub(crate) fn with_error_status(response: impl IntoResponse, e: &FlowError) -> Response {
    let mut response = response.into_response();
    *response.status_mut() =
        StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(wait) = e.retry_after(now()) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    }
    response
}

/// The flow errors whose message keys may travel in a redirect's query string (`?msg=error-KEY`,
/// with `&at=TIME` for a retry time): a key names one of these, so a link can only put the
/// crate's own texts on the page.
pub(crate) fn error_from_key(key: &str, at: Option<u64>) -> Option<FlowError> {
    let until = at.unwrap_or(0);
    [
        FlowError::InvalidCode { retry_at: at },
        FlowError::ClockSkew { steps: 0 },
        FlowError::Throttled { until },
        FlowError::Locked { until },
        FlowError::Malformed,
        FlowError::ReauthRequired,
        FlowError::CodeAlreadyUsed,
        FlowError::NoPendingEnrollment,
        FlowError::EnrollmentExpired,
        FlowError::EnrollmentRequired,
        FlowError::NotEnrolled,
        FlowError::AlreadyEnrolled,
        FlowError::TooManyAuthenticators { max: 0 },
        FlowError::UnknownAuthenticator,
        FlowError::LastAuthenticator,
        FlowError::Conflict,
        FlowError::Busy,
        FlowError::Internal("redirect"),
    ]
    .into_iter()
    .find(|e| e.message_key() == key)
}

/// The retry time of `e`, if it has one: what [`error_from_key`] takes back as `at`.
pub(crate) fn retry_at(e: &FlowError) -> Option<u64> {
    let now = now();
    e.retry_after(now)
        .map(|wait| now.saturating_add(wait.as_secs()))
}

/// The date (UTC, `YYYY-MM-DD`) of a Unix time.
pub(crate) fn date(t: u64) -> String {
    // Howard Hinnant's `civil_from_days`.
    let z = i64::try_from(t / 86_400).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Unix time at which the day `YYYY-MM-DD` (UTC) ends, for a "by this date" deadline.
pub(crate) fn end_of_day(text: &str) -> Option<u64> {
    let mut parts = text.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some()
        || !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    // Howard Hinnant's `days_from_civil`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let end = u64::try_from(days.checked_add(1)?.checked_mul(86_400)?).ok()?;
    // A day that does not exist (31 April) would read as the next month's: refuse it.
    (date(end.checked_sub(1)?) == text).then_some(end)
}

/// The last date of a deadline from [`end_of_day`] (the day it ends).
pub(crate) fn deadline_date(deadline: u64) -> String {
    date(deadline.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(end_of_day("2000-02-29"), Some(951_868_800));
        assert_eq!(deadline_date(951_868_800), "2000-02-29");
        assert_eq!(end_of_day("2026-04-31"), None);
        assert_eq!(end_of_day("2026-4-3x"), None);
        assert_eq!(end_of_day("1969-12-31"), None);
        assert_eq!(end_of_day("1970-01-01"), Some(86_400));
        assert_eq!(end_of_day("9223372036854775807-01-01"), None);
        assert_eq!(end_of_day("-5-01-01"), None);
    }

    #[test]
    fn error_keys_name_only_the_crates_errors() {
        let e = error_from_key("locked", Some(5)).unwrap();
        assert!(matches!(e, FlowError::Locked { until: 5 }));
        assert!(error_from_key("<script>", None).is_none());
    }

    #[test]
    fn templates_escape_what_users_typed() {
        let body = html! { p { ("<script>alert(1)</script>") } };
        let page = layout("a \"title\"", None, None, body).into_string();
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("a &quot;title&quot;"));
    }
}
