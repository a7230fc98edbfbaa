//! The web example's application: routes, pages, sessions, accounts.
//!
//! Everything a real site needs around the 2FA flow comes from a maintained crate: one SQLite
//! pool (`sqlx`) holds the accounts, the sessions (`tower-sessions`, server-side and revocable)
//! and the 2FA records (`twofactor`'s `SqlxSqliteStore` on the same pool); passwords are hashed
//! by `password-auth` and their step throttled by `governor`; pages are `maud` templates, which
//! escape every value. The 2FA decisions are all `EnrollmentFlow`'s: after the password, one call
//! to `next_step` (with the site's policy, administrators within 14 days of signing up, and the
//! browser's "remember me" cookie) says whether the login is complete, needs the second step,
//! was completed by a trusted browser, offers enrolment before a deadline, or may only enrol;
//! the texts of its errors are the crate's (`FlowError::user_message`).
//!
//! Layout: `session` (what a session holds, its id cycling and CSRF token), `auth` (the gate
//! every authenticated route goes through: it ends sessions whose factor stamp is stale, sends
//! sessions that must enrol to the enrolment page and keeps the admin pages for administrators
//! who typed their second factor), `accounts` (users, their password hashes and the site's 2FA
//! policy), `throttle` (the password step's limits), `trusted` ("remember this browser"),
//! `views` (the layout, refusals, texts and dates), and `routes` (the handlers: `login`,
//! `settings` for the user's own 2FA, `authenticators`, `admin`). This file holds the state,
//! the routes and the headers every response gets.

mod accounts;
mod auth;
mod routes;
mod session;
mod throttle;
mod trusted;
mod views;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore as SessionStore;
use twofactor::{EncryptionKey, EnrollmentFlow, FlowConfig, KeyRing, SqlxSqliteStore};

pub use throttle::{Limit, PasswordLimits};

/// How the site is served.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The site is served over HTTPS (by this process or a proxy in front of it): cookies get
    /// the `Secure` flag and the `__Host-` prefix, and responses the `Strict-Transport-Security`
    /// header.
    pub https: bool,
    /// A proxy in front of the site adds the client's address to `X-Forwarded-For` (and only
    /// it can reach the site): the throttling counts that address instead of the proxy's.
    pub behind_proxy: bool,
    /// The password step's limits.
    pub password_limits: PasswordLimits,
}

/// Application state shared by handlers.
pub struct App {
    flow: EnrollmentFlow<SqlxSqliteStore>,
    pool: SqlitePool,
    throttle: throttle::PasswordThrottle,
    /// A password hash checked for unknown usernames, so that a login costs one Argon2
    /// derivation whether or not the user exists.
    dummy_hash: String,
    options: Options,
}

/// The state handlers receive.
#[derive(Clone)]
pub struct Shared(Arc<App>);

impl std::ops::Deref for Shared {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// The session cookie's name: `__Host-` over HTTPS (the browser then refuses it from anything
/// but this host, over HTTPS, with path `/`).
pub fn session_cookie_name(options: &Options) -> &'static str {
    if options.https {
        "__Host-session"
    } else {
        "session"
    }
}

/// Creates `path` if it does not exist, readable and writable by its owner only, so that the
/// database (and the journal files SQLite creates beside it, which take its permissions) is
/// not readable by other users of the machine; an existing file that others can read or write
/// is made owner-only.
///
/// # Errors
/// The file system's.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => make_private(path),
        Err(e) => Err(e),
    }
}

/// Makes an existing file owner-only if others can read or write it.
///
/// # Errors
/// The file system's.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

/// The site: its state and its router with the session layer.
pub struct Site {
    /// The state (for tests and tasks).
    pub app: Shared,
    /// The routes, sessions and headers.
    pub router: Router,
}

/// Opens (or creates, owner-only) the example's database and builds the site.
///
/// `encryption_key` seals 2FA secrets; in production it comes from a secret manager (see
/// `main.rs`).
///
/// # Errors
/// The database's, or the flow's configuration.
pub async fn build(
    db_path: &Path,
    encryption_key: EncryptionKey,
    options: Options,
) -> Result<Site, Box<dyn std::error::Error>> {
    create_private_file(db_path)?;
    let connect = SqliteConnectOptions::new()
        .filename(db_path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(connect)
        .await?;
    accounts::migrate(&pool).await?;
    let sessions = SessionStore::new(pool.clone());
    sessions.migrate().await?;
    let store = SqlxSqliteStore::new(pool.clone());
    store.migrate().await?;
    let config = FlowConfig::new("twofactor web example");
    let flow = EnrollmentFlow::new(store, KeyRing::new(encryption_key), config)?;
    let app = Shared(Arc::new(App {
        flow,
        pool,
        throttle: throttle::PasswordThrottle::new(options.password_limits),
        dummy_hash: password_auth::generate_hash("no such user"),
        options,
    }));
    // Expired sessions are deleted hourly; idle password buckets forgotten every minute.
    tokio::spawn(
        tower_sessions::session_store::ExpiredDeletion::continuously_delete_expired(
            sessions.clone(),
            tokio::time::Duration::from_secs(3600),
        ),
    );
    let idle = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            idle.throttle.forget_idle();
        }
    });
    let layer = SessionManagerLayer::new(sessions)
        .with_name(session_cookie_name(&options))
        .with_secure(options.https)
        .with_http_only(true)
        // Lax, not Strict: a link from another site must not drop the session (Strict would
        // not send the cookie, and the visit would start a new one). Nothing changes state on
        // a GET, and every form carries the CSRF token, the defence that matters.
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::hours(12),
        ));
    let router = routes(app.clone())
        .layer(layer)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            security_headers,
        ));
    Ok(Site { app, router })
}

/// Serves `router` on `listener` with each request's client address (the password step's
/// throttling needs it).
///
/// # Errors
/// The listener's.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The routes.
fn routes(app: Shared) -> Router {
    use routes::{admin, authenticators, login, settings};
    Router::new()
        .route("/", get(login::home))
        .route("/static/app.css", get(stylesheet))
        .route("/static/codes.js", get(script))
        .route("/signup", get(login::signup_page).post(login::signup))
        .route("/login", get(login::login_page).post(login::login))
        .route(
            "/login/2fa",
            get(login::second_factor_page).post(login::second_factor),
        )
        .route("/logout", post(login::logout))
        .route("/account", get(settings::account))
        .route("/account/2fa/begin", post(settings::begin))
        .route(
            "/account/2fa/enable",
            get(settings::enable_page).post(settings::enable),
        )
        .route("/account/2fa/new-device", post(settings::new_device))
        .route("/account/2fa/disable", post(settings::disable))
        .route("/account/2fa/regenerate", post(settings::regenerate))
        .route("/account/2fa/later", post(settings::enrol_later))
        .route("/account/trusted/revoke", post(settings::revoke_trusted))
        .route(
            "/account/trusted/revoke-all",
            post(settings::revoke_all_trusted),
        )
        .route("/account/authenticators/add", post(authenticators::add))
        .route(
            "/account/authenticators/rename",
            post(authenticators::rename),
        )
        .route(
            "/account/authenticators/remove",
            post(authenticators::remove),
        )
        .route("/admin", get(admin::admin))
        .route("/admin/verify", get(admin::verify_page).post(admin::verify))
        .route("/admin/reset", post(admin::reset))
        .route("/admin/require", post(admin::require))
        .with_state(app)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/app.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/codes.js"),
    )
        .into_response()
}

/// Headers on every response: a Content-Security-Policy that allows only the site's own script
/// and stylesheet (no inline script or style anywhere), no framing, no sniffing, no referrer,
/// `no-store` on every page (some show secrets), and HSTS over HTTPS.
async fn security_headers(
    axum::extract::State(app): axum::extract::State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
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
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if app.options.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
