//! The request handlers, by concern, and the forms they receive.

pub(crate) mod admin;
pub(crate) mod authenticators;
pub(crate) mod login;
pub(crate) mod settings;

use serde::Deserialize;

/// The sign-up and login forms.
#[derive(Deserialize)]
pub(crate) struct Credentials {
    pub(crate) csrf: String,
    pub(crate) username: String,
    pub(crate) password: String,
}

/// A form with a one-time or recovery code.
#[derive(Deserialize)]
pub(crate) struct CodeForm {
    pub(crate) csrf: String,
    pub(crate) code: String,
    /// The second step's "remember this browser" box, when ticked.
    #[serde(default)]
    pub(crate) remember: Option<String>,
}

/// A form naming one trusted browser (its id from the list, not its token).
#[derive(Deserialize)]
pub(crate) struct TrustedForm {
    pub(crate) csrf: String,
    pub(crate) id: String,
}

/// A form naming one authenticator: to rename it (`name`) or remove it (`code`, or the
/// session's recent second factor).
#[derive(Deserialize)]
pub(crate) struct AuthenticatorForm {
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) code: String,
}

/// A form with nothing but the CSRF token (logout).
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

/// An administrator's action on a user.
#[derive(Deserialize)]
pub(crate) struct AdminForm {
    pub(crate) csrf: String,
    pub(crate) user: i64,
    /// The requirement to store: `now`, `by` (with `by_date`) or `off`.
    #[serde(default)]
    pub(crate) require: Option<String>,
    /// The deadline's date, `YYYY-MM-DD` (UTC), for `require=by`.
    #[serde(default)]
    pub(crate) by_date: Option<String>,
}

/// The query string of the account and admin pages.
#[derive(Deserialize)]
pub(crate) struct Msg {
    #[serde(default)]
    pub(crate) msg: Option<String>,
    #[serde(default)]
    pub(crate) filter: Option<String>,
    /// The retry time of an error in `msg`.
    #[serde(default)]
    pub(crate) at: Option<u64>,
    /// The admin list's page: accounts after this id.
    #[serde(default)]
    pub(crate) after: Option<i64>,
}
