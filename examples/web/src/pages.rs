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

/// What to tell the person who typed a code.
pub(crate) fn describe(e: &FlowError) -> String {
    match e {
        FlowError::InvalidCode { retry_at: Some(t) } => {
            format!("Invalid code. You can try again at {}.", when(*t))
        }
        FlowError::InvalidCode { retry_at: None } => "Invalid code.".to_owned(),
        FlowError::ClockSkew { .. } => {
            "That code is not valid now. Check that your phone's clock is set automatically."
                .to_owned()
        }
        FlowError::Throttled { until } => {
            format!("Too many attempts. Try again at {}.", when(*until))
        }
        FlowError::Locked { until } => {
            format!(
                "Too many failed attempts: two-factor login is locked until {}.",
                when(*until)
            )
        }
        FlowError::Malformed => {
            "Enter the 6-digit code from your app, or a recovery code.".to_owned()
        }
        FlowError::EnrollmentExpired => "This setup expired. Start again.".to_owned(),
        FlowError::NoPendingEnrollment => {
            "This setup is no longer in progress (it was started again elsewhere). Start again."
                .to_owned()
        }
        FlowError::ReauthRequired => {
            "Enter a code from your authenticator app, or a recovery code, to confirm.".to_owned()
        }
        FlowError::CodeAlreadyUsed => {
            "That code was just used to log in. Wait for the next one.".to_owned()
        }
        FlowError::NotEnrolled => "Two-factor authentication is not enabled.".to_owned(),
        FlowError::AlreadyEnrolled => "Two-factor authentication is already on.".to_owned(),
        other => {
            // Details are for the server log, not for the page.
            eprintln!("flow error: {other}");
            "Something went wrong; try again.".to_owned()
        }
    }
}

/// Logs an internal failure and answers 500 without details.
pub(crate) fn server_error(e: impl std::fmt::Display) -> Response {
    eprintln!("internal error: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}
