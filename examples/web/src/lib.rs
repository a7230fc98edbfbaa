//! The web example's application: routes, pages, sessions, accounts.
//!
//! Everything a real site needs around the 2FA flow is here and real: accounts with Argon2id
//! password hashes in SQLite, sessions in HMAC-signed cookies, a CSRF token on every form, and
//! no-store caching on pages that show secrets. The 2FA decisions are all `EnrollmentFlow`'s.

use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use twofactor::store::ListFilter;
use twofactor::{
    EncryptionKey, Enrollment, EnrollmentFlow, EnrollmentStatus, FlowConfig, FlowError, KdfParams,
    KeyRing, LoginFactor, QrCode, RecoveryCodeSet, SqliteStore, Status,
};

/// Sessions older than this are refused.
const SESSION_MAX_AGE: u64 = 12 * 3600;

/// Application state shared by handlers.
pub struct App {
    flow: EnrollmentFlow<SqliteStore>,
    accounts: Mutex<rusqlite::Connection>,
    cookie_key: Key,
    /// A password hash checked for unknown usernames, so that a login costs one Argon2
    /// derivation whether or not the user exists.
    dummy_hash: String,
}

/// The state handlers receive (a local type, so it can provide the cookie key to the jar).
#[derive(Clone)]
pub struct Shared(Arc<App>);

impl std::ops::Deref for Shared {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl FromRef<Shared> for Key {
    fn from_ref(app: &Shared) -> Key {
        app.0.cookie_key.clone()
    }
}

/// Opens (or creates) the example's database and builds the application.
///
/// `encryption_key` seals 2FA secrets; `cookie_key` (64 bytes) signs session cookies. In
/// production both come from a secret manager.
pub async fn build(
    db_path: &std::path::Path,
    encryption_key: EncryptionKey,
    cookie_key: &[u8],
) -> Result<Shared, Box<dyn std::error::Error>> {
    let store = SqliteStore::open(db_path).await?;
    let mut config = FlowConfig::new("twofactor web example");
    // OWASP's Argon2id minimum for recovery codes too.
    config.kdf = KdfParams::default();
    let flow = EnrollmentFlow::new(store, KeyRing::new(encryption_key), config)?;
    let conn = rusqlite::Connection::open(db_path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS accounts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE,
            password TEXT NOT NULL,
            is_admin INTEGER NOT NULL
        )",
    )?;
    Ok(Shared(Arc::new(App {
        flow,
        accounts: Mutex::new(conn),
        cookie_key: Key::from(cookie_key),
        dummy_hash: hash_password("no such user"),
    })))
}

/// The routes.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/login/2fa", get(second_factor_page).post(second_factor))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/2fa/enable", get(enable_page).post(enable))
        .route("/account/2fa/new-device", post(new_device))
        .route("/account/2fa/disable", post(disable))
        .route("/account/2fa/regenerate", post(regenerate))
        .route("/admin", get(admin))
        .route("/admin/reset", post(admin_reset))
        .route("/admin/require", post(admin_require))
        .with_state(app)
}

// ---------- sessions ----------

/// Where a session is in the login.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// No one logged in (the session still carries a CSRF token for the login forms).
    Anonymous,
    /// Password checked; the second factor is due.
    SecondFactor,
    /// Password checked; 2FA is required and not set up: only enrolment is allowed.
    MustEnrol,
    /// Fully logged in.
    Full,
}

#[derive(Clone, Debug)]
struct Session {
    user: Option<i64>,
    stage: Stage,
    csrf: String,
    issued: u64,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_token() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("OS random generator");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Session {
    fn anonymous() -> Session {
        Session {
            user: None,
            stage: Stage::Anonymous,
            csrf: random_token(),
            issued: now(),
        }
    }

    fn for_user(user: i64, stage: Stage) -> Session {
        // A new token on every privilege change (no session fixation).
        Session {
            user: Some(user),
            stage,
            csrf: random_token(),
            issued: now(),
        }
    }

    fn read(jar: &SignedCookieJar) -> Session {
        let parsed = jar.get("session").and_then(|c| {
            let mut parts = c.value().split('|');
            let user = match parts.next()? {
                "-" => None,
                u => Some(u.parse().ok()?),
            };
            let stage = match parts.next()? {
                "anon" => Stage::Anonymous,
                "2fa" => Stage::SecondFactor,
                "enrol" => Stage::MustEnrol,
                "full" => Stage::Full,
                _ => return None,
            };
            let csrf = parts.next()?.to_owned();
            let issued: u64 = parts.next()?.parse().ok()?;
            (now().saturating_sub(issued) < SESSION_MAX_AGE).then_some(Session {
                user,
                stage,
                csrf,
                issued,
            })
        });
        parsed.unwrap_or_else(Session::anonymous)
    }

    fn write(&self, jar: SignedCookieJar) -> SignedCookieJar {
        let stage = match self.stage {
            Stage::Anonymous => "anon",
            Stage::SecondFactor => "2fa",
            Stage::MustEnrol => "enrol",
            Stage::Full => "full",
        };
        let user = self.user.map_or_else(|| "-".to_owned(), |u| u.to_string());
        let mut cookie = Cookie::new(
            "session",
            format!("{user}|{stage}|{}|{}", self.csrf, self.issued),
        );
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_path("/");
        jar.add(cookie)
    }

    fn csrf_ok(&self, submitted: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }

    fn full_user(&self) -> Option<i64> {
        (self.stage == Stage::Full).then_some(self.user).flatten()
    }
}

// ---------- accounts ----------

#[derive(Clone, Debug)]
struct Account {
    id: i64,
    username: String,
    is_admin: bool,
}

fn flow_id(user: i64) -> String {
    format!("account-{user}")
}

fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("OS random generator");
    let mut out = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .expect("argon2 with default parameters");
    format!(
        "argon2id${}${}",
        data_encoding::BASE64_NOPAD.encode(&salt),
        data_encoding::BASE64_NOPAD.encode(&out)
    )
}

fn check_password(stored: &str, password: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("argon2id"), Some(salt), Some(hash)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (
        data_encoding::BASE64_NOPAD.decode(salt.as_bytes()),
        data_encoding::BASE64_NOPAD.decode(hash.as_bytes()),
    ) else {
        return false;
    };
    let mut out = [0u8; 32];
    if argon2::Argon2::default()
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .is_err()
    {
        return false;
    }
    bool::from(out.ct_eq(hash.as_slice()))
}

impl App {
    fn account(&self, id: i64) -> Option<Account> {
        let conn = self.accounts.lock().ok()?;
        conn.query_row(
            "SELECT id, username, is_admin FROM accounts WHERE id = ?1",
            [id],
            |r| {
                Ok(Account {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    is_admin: r.get(2)?,
                })
            },
        )
        .ok()
    }

    fn all_accounts(&self) -> Vec<Account> {
        let Ok(conn) = self.accounts.lock() else {
            return Vec::new();
        };
        let Ok(mut stmt) = conn.prepare("SELECT id, username, is_admin FROM accounts ORDER BY id")
        else {
            return Vec::new();
        };
        stmt.query_map([], |r| {
            Ok(Account {
                id: r.get(0)?,
                username: r.get(1)?,
                is_admin: r.get(2)?,
            })
        })
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
    }
}

// ---------- pages ----------

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2330}\
    h1{font-size:1.5rem}nav{display:flex;gap:1rem;align-items:center;border-bottom:1px solid #dde;padding-bottom:.6rem}\
    nav form{margin:0}.msg{padding:.6rem .9rem;border-radius:6px;margin:1rem 0}.error{background:#fde8e8;color:#8a1c1c}\
    .ok{background:#e6f6ea;color:#1b5e2b}.status{font-weight:600}input[type=text],input[type=password]{font-size:1.1rem;padding:.4rem;width:16rem}\
    button{font-size:1rem;padding:.4rem .9rem;cursor:pointer}.key{font-family:ui-monospace,monospace;font-size:1.15rem;letter-spacing:.05em;background:#f3f4f8;padding:.3rem .5rem;border-radius:4px}\
    .codes{font-family:ui-monospace,monospace;font-size:1.1rem;columns:2;background:#f3f4f8;padding:1rem 2rem;border-radius:6px}\
    table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #eef}\
    .qr{display:inline-block;border:1px solid #dde;padding:.5rem;background:#fff}";

fn page(title: &str, session: &Session, nav_user: Option<&Account>, body: &str) -> Html<String> {
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

fn message(kind: &str, text: &str) -> String {
    format!("<p class=\"msg {kind}\" id=\"message\">{}</p>", esc(text))
}

fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&session.csrf)
    )
}

/// Adds headers every response gets, and `no-store` (pages with secrets must not be cached).
fn respond(jar: SignedCookieJar, html: Html<String>) -> Response {
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

fn when(until: u64) -> String {
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
fn describe(e: &FlowError) -> String {
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
        FlowError::NotEnrolled => "Two-factor authentication is not enabled.".to_owned(),
        FlowError::AlreadyEnrolled => "Two-factor authentication is already on.".to_owned(),
        other => {
            // Details are for the server log, not for the page.
            eprintln!("flow error: {other}");
            "Something went wrong; try again.".to_owned()
        }
    }
}

fn server_error(e: impl std::fmt::Display) -> Response {
    eprintln!("internal error: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

// ---------- handlers ----------

#[derive(Deserialize)]
pub struct Credentials {
    csrf: String,
    username: String,
    password: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

#[derive(Deserialize)]
pub struct AdminForm {
    csrf: String,
    user: i64,
    #[serde(default)]
    required: Option<String>,
}

#[derive(Deserialize)]
pub struct Msg {
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

async fn home(jar: SignedCookieJar) -> Redirect {
    if Session::read(&jar).full_user().is_some() {
        Redirect::to("/account")
    } else {
        Redirect::to("/login")
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

async fn signup_page(jar: SignedCookieJar) -> Response {
    let session = Session::read(&jar);
    let jar = session.write(jar);
    respond(jar, credentials_page("Sign up", "/signup", &session, ""))
}

async fn signup(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let session = Session::read(&jar);
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
    let hash = hash_password(&form.password);
    let inserted = {
        let Ok(conn) = app.accounts.lock() else {
            return server_error("lock");
        };
        // The first account is the administrator.
        conn.execute(
            "INSERT INTO accounts (username, password, is_admin)
             VALUES (?1, ?2, (SELECT COUNT(*) = 0 FROM accounts))",
            rusqlite::params![username, hash],
        )
        .map(|_| conn.last_insert_rowid())
    };
    match inserted {
        Ok(id) => (
            Session::for_user(id, Stage::Full).write(jar),
            Redirect::to("/account"),
        )
            .into_response(),
        Err(_) => {
            let note = message("error", "That username is taken.");
            respond(
                session.write(jar),
                credentials_page("Sign up", "/signup", &session, &note),
            )
        }
    }
}

async fn login_page(jar: SignedCookieJar) -> Response {
    let session = Session::read(&jar);
    let jar = session.write(jar);
    respond(jar, credentials_page("Log in", "/login", &session, ""))
}

async fn login(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<Credentials>,
) -> Response {
    let session = Session::read(&jar);
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
    let status = match app.flow.status(&flow_id(id)).await {
        Ok(s) => s,
        Err(e) => return server_error(e),
    };
    let (stage, next) = if status.is_active() {
        (Stage::SecondFactor, "/login/2fa")
    } else if status.required {
        (Stage::MustEnrol, "/account/2fa/enable")
    } else {
        (Stage::Full, "/account")
    };
    (Session::for_user(id, stage).write(jar), Redirect::to(next)).into_response()
}

fn second_factor_form(session: &Session, note: &str) -> Html<String> {
    page(
        "Two-factor authentication",
        session,
        None,
        &format!(
            "{note}<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>\
             <form method=\"post\" action=\"/login/2fa\">{}<p><input type=\"text\" name=\"code\" id=\"code\" \
             autocomplete=\"one-time-code\" autofocus required></p><p><button id=\"verify\">Verify</button></p></form>",
            csrf_field(session)
        ),
    )
}

async fn second_factor_page(jar: SignedCookieJar) -> Response {
    let session = Session::read(&jar);
    if session.stage != Stage::SecondFactor {
        return Redirect::to("/login").into_response();
    }
    respond(jar, second_factor_form(&session, ""))
}

async fn second_factor(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    let session = Session::read(&jar);
    let (Stage::SecondFactor, Some(user)) = (session.stage, session.user) else {
        return Redirect::to("/login").into_response();
    };
    if !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    match app.flow.verify(&flow_id(user), &form.code).await {
        Ok(factor) => {
            let target = match factor {
                LoginFactor::RecoveryCode { remaining } => {
                    format!("/account?msg=recovery-{remaining}")
                }
                _ => "/account".to_owned(),
            };
            (
                Session::for_user(user, Stage::Full).write(jar),
                Redirect::to(&target),
            )
                .into_response()
        }
        Err(e) => respond(
            jar,
            second_factor_form(&session, &message("error", &describe(&e))),
        ),
    }
}

async fn logout(jar: SignedCookieJar, Form(form): Form<CsrfForm>) -> Response {
    let session = Session::read(&jar);
    if !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    (Session::anonymous().write(jar), Redirect::to("/login")).into_response()
}

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

async fn account(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Query(q): Query<Msg>,
) -> Response {
    let session = Session::read(&jar);
    let Some(me) = session.full_user().and_then(|u| app.account(u)) else {
        return Redirect::to("/login").into_response();
    };
    let status = match app.flow.status(&flow_id(me.id)).await {
        Ok(s) => s,
        Err(e) => return server_error(e),
    };
    let note = match q.msg.as_deref() {
        Some("disabled") => message("ok", "Two-factor authentication is now off."),
        Some("device") => message(
            "ok",
            "Your new device is set up. Your recovery codes are unchanged.",
        ),
        Some(m) if m.starts_with("recovery-") => match m["recovery-".len()..].parse::<u32>() {
            Ok(left) => message(
                "ok",
                &format!(
                    "Logged in with a recovery code. {left} left; generate new ones if you are running low."
                ),
            ),
            Err(_) => String::new(),
        },
        Some(m) if m.starts_with("error-") => message("error", &error_text(&m["error-".len()..])),
        _ => String::new(),
    };
    let csrf = csrf_field(&session);
    let actions = if status.is_active() {
        format!(
            "<h2>Manage</h2><form method=\"post\" action=\"/account/2fa/regenerate\">{csrf}\
             <label>Current code <input type=\"text\" name=\"code\" id=\"regenerate-code\" autocomplete=\"one-time-code\"></label> \
             <button id=\"regenerate\">New recovery codes</button></form><p></p>\
             <form method=\"post\" action=\"/account/2fa/disable\">{csrf}\
             <label>Current code <input type=\"text\" name=\"code\" id=\"disable-code\" autocomplete=\"one-time-code\"></label> \
             <button id=\"disable\">Turn off 2FA</button></form>\
             <h2>New phone</h2><form method=\"post\" action=\"/account/2fa/new-device\">{csrf}\
             <label>Code from your current device <input type=\"text\" name=\"code\" id=\"new-device-code\" autocomplete=\"one-time-code\"></label> \
             <button id=\"new-device\">Set up a new device</button></form>"
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
            &format!("{note}{}{actions}", status_html(&status)),
        ),
    )
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
                "Your administrator requires two-factor authentication. Set it up to continue.",
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

/// The user allowed on the enrolment pages. A password-only session (2FA required, not set up
/// at login) is re-checked against the current status: if 2FA was turned on since, that session
/// must not be able to replace the device.
async fn enrolling_user(app: &App, session: &Session) -> Option<Account> {
    let account = match session.stage {
        Stage::Full | Stage::MustEnrol => session.user.and_then(|u| app.account(u))?,
        _ => return None,
    };
    if session.stage == Stage::MustEnrol {
        let status = app.flow.status(&flow_id(account.id)).await.ok()?;
        if status.is_active() {
            return None;
        }
    }
    Some(account)
}

async fn enable_page(State(app): State<Shared>, jar: SignedCookieJar) -> Response {
    let session = Session::read(&jar);
    let Some(me) = enrolling_user(&app, &session).await else {
        return Redirect::to("/login").into_response();
    };
    let id = flow_id(me.id);
    // Show the enrolment in progress again (reload), or begin one.
    let enrollment = match app.flow.resume(&id, &me.username).await {
        Ok(Some(e)) => e,
        Ok(None) => match app.flow.begin(&id, &me.username).await {
            Ok(e) => e,
            // A new device needs the current one's code: the account page asks for it.
            Err(FlowError::AlreadyEnrolled) => return Redirect::to("/account").into_response(),
            Err(e) => return server_error(e),
        },
        Err(e) => return server_error(e),
    };
    let required = session.stage == Stage::MustEnrol;
    match enable_html(&session, &me, &enrollment, "", required) {
        Ok(body) => respond(
            jar,
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

async fn enable(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    let session = Session::read(&jar);
    let Some(me) = enrolling_user(&app, &session).await else {
        return Redirect::to("/login").into_response();
    };
    if !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "bad CSRF token").into_response();
    }
    let id = flow_id(me.id);
    match app.flow.confirm(&id, &form.code).await {
        Ok(confirmation) => {
            let session = Session::for_user(me.id, Stage::Full);
            let jar = session.write(jar);
            match confirmation.recovery_codes() {
                Some(set) => respond(jar, codes_page(&session, &me, set, "Your recovery codes")),
                None => (jar, Redirect::to("/account?msg=device")).into_response(),
            }
        }
        Err(e) => {
            let enrollment = match app.flow.resume(&id, &me.username).await {
                Ok(Some(en)) => en,
                Ok(None) => match app.flow.begin(&id, &me.username).await {
                    Ok(en) => en,
                    Err(err) => return server_error(err),
                },
                Err(err) => return server_error(err),
            };
            let required = session.stage == Stage::MustEnrol;
            match enable_html(
                &session,
                &me,
                &enrollment,
                &message("error", &describe(&e)),
                required,
            ) {
                Ok(body) => respond(
                    jar,
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

/// Back to the account page with a message key (never free text: a link must not be able to
/// put arbitrary words on the page).
fn error_redirect(e: &FlowError) -> Redirect {
    let key = match e {
        FlowError::InvalidCode { retry_at: Some(t) } => format!("invalid-{t}"),
        FlowError::InvalidCode { retry_at: None } => "invalid".to_owned(),
        FlowError::ClockSkew { .. } => "skew".to_owned(),
        FlowError::Throttled { until } => format!("throttled-{until}"),
        FlowError::Locked { until } => format!("locked-{until}"),
        FlowError::Malformed => "malformed".to_owned(),
        _ => "failed".to_owned(),
    };
    Redirect::to(&format!("/account?msg=error-{key}"))
}

/// The text for an error message key from [`error_redirect`].
fn error_text(key: &str) -> String {
    let (kind, time) = match key.split_once('-') {
        Some((k, t)) => (k, t.parse::<u64>().ok()),
        None => (key, None),
    };
    let e = match (kind, time) {
        ("invalid", t) => FlowError::InvalidCode { retry_at: t },
        ("skew", _) => FlowError::ClockSkew { steps: 0 },
        ("throttled", Some(until)) => FlowError::Throttled { until },
        ("locked", Some(until)) => FlowError::Locked { until },
        ("malformed", _) => FlowError::Malformed,
        _ => return "That did not work; try again.".to_owned(),
    };
    describe(&e)
}

/// Why a form post by a logged-in user is refused.
enum Refused {
    /// No full session: to the login page.
    NotLoggedIn,
    /// The CSRF token does not match the session's.
    BadCsrf,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotLoggedIn => Redirect::to("/login").into_response(),
            Refused::BadCsrf => (StatusCode::FORBIDDEN, "bad CSRF token").into_response(),
        }
    }
}

/// A logged-in user posting a form: the account, or why the request is refused.
fn logged_in_post(app: &App, session: &Session, csrf: &str) -> Result<Account, Refused> {
    let me = session
        .full_user()
        .and_then(|u| app.account(u))
        .ok_or(Refused::NotLoggedIn)?;
    if !session.csrf_ok(csrf) {
        return Err(Refused::BadCsrf);
    }
    Ok(me)
}

async fn new_device(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    let session = Session::read(&jar);
    let me = match logged_in_post(&app, &session, &form.csrf) {
        Ok(me) => me,
        Err(refused) => return refused.into_response(),
    };
    match app
        .flow
        .begin_new_device(&flow_id(me.id), &me.username, &form.code)
        .await
    {
        Ok(_) => Redirect::to("/account/2fa/enable").into_response(),
        Err(e) => error_redirect(&e).into_response(),
    }
}

async fn disable(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    let session = Session::read(&jar);
    let me = match logged_in_post(&app, &session, &form.csrf) {
        Ok(me) => me,
        Err(refused) => return refused.into_response(),
    };
    match app.flow.disable(&flow_id(me.id), &form.code).await {
        Ok(()) => Redirect::to("/account?msg=disabled").into_response(),
        Err(e) => error_redirect(&e).into_response(),
    }
}

async fn regenerate(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<CodeForm>,
) -> Response {
    let session = Session::read(&jar);
    let me = match logged_in_post(&app, &session, &form.csrf) {
        Ok(me) => me,
        Err(refused) => return refused.into_response(),
    };
    match app
        .flow
        .regenerate_recovery_codes(&flow_id(me.id), &form.code)
        .await
    {
        Ok(set) => respond(
            jar,
            codes_page(&session, &me, &set, "Your new recovery codes"),
        ),
        Err(e) => error_redirect(&e).into_response(),
    }
}

fn admin_user(app: &App, session: &Session) -> Option<Account> {
    session
        .full_user()
        .and_then(|u| app.account(u))
        .filter(|a| a.is_admin)
}

async fn admin(State(app): State<Shared>, jar: SignedCookieJar, Query(q): Query<Msg>) -> Response {
    let session = Session::read(&jar);
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

async fn admin_reset(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<AdminForm>,
) -> Response {
    let session = Session::read(&jar);
    if admin_user(&app, &session).is_none() || !session.csrf_ok(&form.csrf) {
        return (StatusCode::FORBIDDEN, "administrators only").into_response();
    }
    match app.flow.admin_reset(&flow_id(form.user)).await {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => server_error(e),
    }
}

async fn admin_require(
    State(app): State<Shared>,
    jar: SignedCookieJar,
    Form(form): Form<AdminForm>,
) -> Response {
    let session = Session::read(&jar);
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
