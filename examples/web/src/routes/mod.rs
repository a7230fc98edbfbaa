//! The request handlers, by concern, and the forms they receive.

pub(crate) mod admin;
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
    #[serde(default)]
    pub(crate) required: Option<String>,
}

/// The query string of the account and admin pages.
#[derive(Deserialize)]
pub(crate) struct Msg {
    #[serde(default)]
    pub(crate) msg: Option<String>,
    #[serde(default)]
    pub(crate) filter: Option<String>,
}
