//! Accounts: usernames and Argon2id password hashes in the `accounts` table.

use subtle::ConstantTimeEq;
use twofactor::{Requirement, Status};

use crate::App;

/// How long a new administrator may wait before setting up 2FA.
const ADMIN_GRACE: u64 = 14 * 24 * 3600;

/// A row of the `accounts` table (without the password hash).
#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub(crate) id: i64,
    pub(crate) username: String,
    /// The first account is the administrator.
    pub(crate) is_admin: bool,
    /// When the account was created (Unix seconds; 0 for accounts from before this column).
    pub(crate) created: u64,
}

impl Account {
    /// The site's own policy for this account, passed to
    /// [`next_step`](twofactor::EnrollmentFlow::next_step): administrators must set up 2FA
    /// within 14 days of signing up; for everyone else, the requirement an administrator stored
    /// for them (on the admin page) decides alone.
    pub(crate) fn policy(&self) -> Option<Requirement> {
        self.is_admin
            .then(|| Requirement::By(self.created.saturating_add(ADMIN_GRACE)))
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
}

/// The account's user id in the 2FA store.
pub(crate) fn flow_id(user: i64) -> String {
    format!("account-{user}")
}

/// Why a password could not be hashed.
#[derive(Debug)]
pub(crate) enum HashError {
    /// The operating system's random generator failed (no salt).
    Random(getrandom::Error),
    /// Argon2 refused to hash.
    Argon2(argon2::Error),
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::Random(e) => write!(f, "password salt: {e}"),
            HashError::Argon2(e) => write!(f, "password hash: {e}"),
        }
    }
}

impl std::error::Error for HashError {}

/// `argon2id$<salt>$<hash>` for a new password, with a random salt.
pub(crate) fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(HashError::Random)?;
    let mut out = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .map_err(HashError::Argon2)?;
    Ok(format!(
        "argon2id${}${}",
        data_encoding::BASE64_NOPAD.encode(&salt),
        data_encoding::BASE64_NOPAD.encode(&out)
    ))
}

/// Whether `password` matches a hash from [`hash_password`].
pub(crate) fn check_password(stored: &str, password: &str) -> bool {
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
    /// The account with this id.
    pub(crate) fn account(&self, id: i64) -> Option<Account> {
        let conn = self.accounts.lock().ok()?;
        conn.query_row(
            "SELECT id, username, is_admin, created FROM accounts WHERE id = ?1",
            [id],
            |r| {
                Ok(Account {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    is_admin: r.get(2)?,
                    created: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
                })
            },
        )
        .ok()
    }

    /// Every account, oldest first.
    pub(crate) fn all_accounts(&self) -> Vec<Account> {
        let Ok(conn) = self.accounts.lock() else {
            return Vec::new();
        };
        let Ok(mut stmt) =
            conn.prepare("SELECT id, username, is_admin, created FROM accounts ORDER BY id")
        else {
            return Vec::new();
        };
        stmt.query_map([], |r| {
            Ok(Account {
                id: r.get(0)?,
                username: r.get(1)?,
                is_admin: r.get(2)?,
                created: r.get::<_, i64>(3)?.try_into().unwrap_or(0),
            })
        })
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
    }
}
