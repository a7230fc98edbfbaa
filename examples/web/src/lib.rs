//! The web example's application: routes, pages, sessions, accounts.
//!
//! Everything a real site needs around the 2FA flow is here and real: accounts with Argon2id
//! password hashes in SQLite, sessions in HMAC-signed cookies, a CSRF token on every form, and
//! no-store caching on pages that show secrets. The 2FA decisions are all `EnrollmentFlow`'s:
//! after the password, one call to `next_step` (with the site's policy, administrators within 14
//! days of signing up, and the browser's "remember me" cookie) says whether the login is complete,
//! needs the second step, was completed by a trusted browser, offers enrolment before a deadline,
//! or may only enrol; the texts of its errors are the crate's (`FlowError::user_message`).
//!
//! Layout: `session` (the signed session cookie and its CSRF token), `auth` (the gate every
//! authenticated route goes through: it ends sessions whose factor stamp is stale and sends
//! sessions that must enrol to the enrolment page), `accounts` (users, their password hashes and
//! the site's 2FA policy), `trusted` ("remember this browser": the token's cookie and the label
//! from the `User-Agent`), `pages` (HTML layout, headers, error texts, dates), and `routes` (the
//! handlers: `login`, `settings` for the user's own 2FA and trusted browsers, `admin`). This
//! file holds the state and the routes.
//!
//! Set `TWOFACTOR_WEB_TLS=1` when a TLS-terminating proxy serves the site: the trusted-browser
//! cookie then gets the `Secure` flag.

mod accounts;
mod auth;
mod pages;
mod routes;
mod session;
mod trusted;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use axum_extra::extract::cookie::Key;
use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, KdfParams, KeyRing, SqliteStore};

use crate::accounts::hash_password;
use crate::routes::admin::{admin, admin_require, admin_reset};
use crate::routes::login::{
    home, login, login_page, logout, second_factor, second_factor_page, signup, signup_page,
};
use crate::routes::settings::{
    account, disable, enable, enable_page, enrol_later, new_device, regenerate, revoke_all_trusted,
    revoke_trusted,
};

/// Application state shared by handlers.
pub struct App {
    flow: EnrollmentFlow<SqliteStore>,
    accounts: Mutex<rusqlite::Connection>,
    cookie_key: Key,
    /// A password hash checked for unknown usernames, so that a login costs one Argon2
    /// derivation whether or not the user exists.
    dummy_hash: String,
    /// Cookies get the `Secure` flag: the site is served over TLS (by a proxy in front of it),
    /// as `TWOFACTOR_WEB_TLS=1` says.
    secure_cookies: bool,
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
            is_admin INTEGER NOT NULL,
            created INTEGER NOT NULL DEFAULT 0
        )",
    )?;
    // A database from before the `created` column: add it (the error when it exists is fine).
    let _ = conn.execute(
        "ALTER TABLE accounts ADD COLUMN created INTEGER NOT NULL DEFAULT 0",
        [],
    );
    Ok(Shared(Arc::new(App {
        flow,
        accounts: Mutex::new(conn),
        cookie_key: Key::from(cookie_key),
        dummy_hash: hash_password("no such user")?,
        secure_cookies: std::env::var("TWOFACTOR_WEB_TLS").is_ok_and(|v| v == "1"),
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
        .route("/account/2fa/later", post(enrol_later))
        .route("/account/trusted/revoke", post(revoke_trusted))
        .route("/account/trusted/revoke-all", post(revoke_all_trusted))
        .route("/admin", get(admin))
        .route("/admin/reset", post(admin_reset))
        .route("/admin/require", post(admin_require))
        .with_state(app)
}
