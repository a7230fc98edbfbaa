//! Pages: the HTML layout and its pieces, the security headers, and the user-facing texts.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::SignedCookieJar;
use twofactor::FlowError;

use crate::accounts::Account;
use crate::session::{Session, now};

/// `s` escaped for HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The stylesheet, inline in every page.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2330}\
    h1{font-size:1.5rem}nav{display:flex;gap:1rem;align-items:center;border-bottom:1px solid #dde;padding-bottom:.6rem}\
    nav form{margin:0}.msg{padding:.6rem .9rem;border-radius:6px;margin:1rem 0}.error{background:#fde8e8;color:#8a1c1c}\
    .ok{background:#e6f6ea;color:#1b5e2b}.status{font-weight:600}input[type=text],input[type=password]{font-size:1.1rem;padding:.4rem;width:16rem}\
    button{font-size:1rem;padding:.4rem .9rem;cursor:pointer}.key{font-family:ui-monospace,monospace;font-size:1.15rem;letter-spacing:.05em;background:#f3f4f8;padding:.3rem .5rem;border-radius:4px}\
    .codes{font-family:ui-monospace,monospace;font-size:1.1rem;columns:2;background:#f3f4f8;padding:1rem 2rem;border-radius:6px}\
    table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #eef}\
    .qr{display:inline-block;border:1px solid #dde;padding:.5rem;background:#fff}";

/// A whole page: the navigation (with a logout form when someone is logged in), `title` as the
/// heading, then `body` (HTML).
pub(crate) fn page(
    title: &str,
    session: &Session,
    nav_user: Option<&Account>,
    body: &str,
) -> Html<String> {
    let nav = match nav_user {
        Some(a) => format!(
            "<nav><strong>twofactor example</strong><a href=\"/account\">Account</a>{}<span style=\"flex:1\"></span>\
             <span>{}</span><form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button id=\"logout\">Log out</button></form></nav>",
            if a.is_admin { "<a href=\"/admin\">Admin</a>" } else { "" },
            esc(&a.username),
            esc(&session.csrf)
        ),
        None => "<nav><strong>twofactor example</strong><a href=\"/login\">Log in</a><a href=\"/signup\">Sign up</a></nav>".to_owned(),
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · twofactor example</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>{nav}<h1>{}</h1>{body}</body></html>",
        esc(title),
        esc(title)
    ))
}

/// A message paragraph (`kind` is `ok` or `error`).
pub(crate) fn message(kind: &str, text: &str) -> String {
    format!("<p class=\"msg {kind}\" id=\"message\">{}</p>", esc(text))
}

/// The hidden field with the session's CSRF token, for every form.
pub(crate) fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf)
    )
}

/// Adds headers every response gets, and `no-store` (pages with secrets must not be cached).
pub(crate) fn respond(jar: SignedCookieJar, html: Html<String>) -> Response {
    let mut response = (jar, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
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

/// The HTTP status for a page that shows `e` ([`FlowError::http_status`]), and its
/// `Retry-After` header while throttled or locked.
pub(crate) fn with_error_status(mut response: Response, e: &FlowError) -> Response {
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
        FlowError::Conflict,
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
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
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
    (date(end - 1) == text).then_some(end)
}

/// The last date of a deadline from [`end_of_day`] (the day it ends).
pub(crate) fn deadline_date(deadline: u64) -> String {
    date(deadline.saturating_sub(1))
}

/// Logs an internal failure and answers 500 without details.
pub(crate) fn server_error(e: impl std::fmt::Display) -> Response {
    eprintln!("internal error: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
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
    }

    #[test]
    fn error_keys_name_only_the_crates_errors() {
        let e = error_from_key("locked", Some(5)).unwrap();
        assert!(matches!(e, FlowError::Locked { until: 5 }));
        assert!(error_from_key("<script>", None).is_none());
    }
}
