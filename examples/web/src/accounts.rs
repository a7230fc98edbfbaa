//! Accounts: usernames and password hashes (`password-auth`: Argon2id in the PHC string format)
//! in the `accounts` table, on the application's one SQLite pool.

use sqlx::SqlitePool;
use twofactor::{Requirement, Status};

use crate::views::Failure;

/// How long a new administrator may wait before setting up 2FA.
const ADMIN_GRACE: u64 = 14 * 24 * 3600;

/// A row of the `accounts` table (without the password hash).
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct Account {
    pub(crate) id: i64,
    pub(crate) username: String,
    /// The first account is the administrator.
    pub(crate) is_admin: bool,
    /// When the account was created (Unix seconds).
    pub(crate) created: i64,
}

impl Account {
    /// The site's own policy for this account, passed to
    /// [`next_step`](twofactor::EnrollmentFlow::next_step): administrators must set up 2FA
    /// within 14 days of signing up; for everyone else, the requirement an administrator stored
    /// for them (on the admin page) decides alone.
    pub(crate) fn policy(&self) -> Option<Requirement> {
        self.is_admin.then(|| {
            Requirement::By(
                u64::try_from(self.created)
                    .unwrap_or(0)
                    .saturating_add(ADMIN_GRACE),
            )
        })
    }

    /// What applies to this account: the stricter of the site's policy and the stored
    /// requirement (as `next_step` decides).
    pub(crate) fn requirement(&self, status: &Status) -> Requirement {
        let stored = status.requirement();
        self.policy().map_or(stored, |p| p.stricter(stored))
    }

    /// Whether this account must set up 2FA before anything else: not enrolled, and required
    /// now (or the deadline passed).
    pub(crate) fn must_enrol(&self, status: &Status, now: u64) -> bool {
        !status.is_active() && self.requirement(status).is_due(now)
    }

    /// The account's user id in the 2FA store.
    pub(crate) fn flow_id(&self) -> String {
        flow_id(self.id)
    }
}

/// An account's user id in the 2FA store.
pub(crate) fn flow_id(user: i64) -> String {
    format!("account-{user}")
}

/// The table, created when missing.
pub(crate) async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS accounts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE,
            password TEXT NOT NULL,
            is_admin INTEGER NOT NULL,
            created INTEGER NOT NULL
        )",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A PHC-format hash of `password` (Argon2id, a random salt), computed off the async executor.
pub(crate) async fn hash_password(password: String) -> Result<String, Failure> {
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password))
        .await
        .map_err(Failure::internal)
}

/// Whether `password` matches `stored`, checked off the async executor.
pub(crate) async fn check_password(stored: String, password: String) -> Result<bool, Failure> {
    tokio::task::spawn_blocking(move || password_auth::verify_password(password, &stored).is_ok())
        .await
        .map_err(Failure::internal)
}

/// The account with this id.
pub(crate) async fn by_id(pool: &SqlitePool, id: i64) -> Result<Option<Account>, Failure> {
    sqlx::query_as("SELECT id, username, is_admin, created FROM accounts WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(Failure::internal)
}

/// The id and password hash of the account with this username.
pub(crate) async fn credentials(
    pool: &SqlitePool,
    username: &str,
) -> Result<Option<(i64, String)>, Failure> {
    sqlx::query_as("SELECT id, password FROM accounts WHERE username = ?")
        .bind(username)
        .fetch_optional(pool)
        .await
        .map_err(Failure::internal)
}

/// Creates an account (the first one is the administrator); `None` if the username is taken.
pub(crate) async fn create(
    pool: &SqlitePool,
    username: &str,
    hash: &str,
    now: u64,
) -> Result<Option<i64>, Failure> {
    let inserted = sqlx::query(
        "INSERT INTO accounts (username, password, is_admin, created)
         VALUES (?, ?, (SELECT COUNT(*) = 0 FROM accounts), ?)",
    )
    .bind(username)
    .bind(hash)
    .bind(i64::try_from(now).unwrap_or(i64::MAX))
    .execute(pool)
    .await;
    match inserted {
        Ok(done) => Ok(Some(done.last_insert_rowid())),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(Failure::internal(e)),
    }
}

/// Up to `limit` accounts after id `after`, in id order (keyset paging on the primary key).
pub(crate) async fn page(
    pool: &SqlitePool,
    after: i64,
    limit: i64,
) -> Result<Vec<Account>, Failure> {
    sqlx::query_as(
        "SELECT id, username, is_admin, created FROM accounts WHERE id > ? ORDER BY id LIMIT ?",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Failure::internal)
}
