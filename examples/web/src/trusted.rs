//! "Remember this browser for 30 days": the trust token's cookie, and the label the user sees in
//! their list of trusted browsers.
//!
//! The token from [`twofactor::EnrollmentFlow::trust_browser`] is itself a credential (256 random
//! bits, stored by the crate only as a hash), so its cookie is not signed: it is `HttpOnly`,
//! `SameSite=Lax`, and over HTTPS `Secure` with the `__Host-` prefix (this host only, path `/`);
//! [`twofactor::EnrollmentFlow::next_step`] checks it after the password.
//! Logging out leaves it in place (the browser stays trusted); revoking it on the account page,
//! turning 2FA off, a new device or an administrator's reset make it worthless.

use axum_extra::extract::cookie::{Cookie, CookieJar};
use twofactor::{BrowserTrusted, TrustToken};

use crate::views::now;

/// The cookie's name: `__Host-trusted_browser` over HTTPS.
fn name(https: bool) -> &'static str {
    if https {
        "__Host-trusted_browser"
    } else {
        "trusted_browser"
    }
}

/// The token the browser sent, if any.
pub(crate) fn token(jar: &CookieJar, https: bool) -> Option<TrustToken> {
    jar.get(name(https))
        .map(|c| c.value())
        .filter(|v| !v.is_empty())
        .map(TrustToken::from_cookie)
}

/// `jar` with the cookie of a browser just trusted, until the trust expires.
pub(crate) fn remember(jar: CookieJar, trusted: &BrowserTrusted, https: bool) -> CookieJar {
    let seconds = trusted.browser.expires_at.saturating_sub(now());
    // The token is URL-safe base64: nothing in it needs quoting.
    let text = format!(
        "{}={}; Max-Age={seconds}; Path=/; HttpOnly; SameSite=Lax{}",
        name(https),
        trusted.token.expose(),
        if https { "; Secure" } else { "" }
    );
    match Cookie::parse(text) {
        Ok(cookie) => jar.add(cookie),
        Err(e) => {
            eprintln!("trusted-browser cookie: {e}");
            jar
        }
    }
}

/// A short label for the browser, from its `User-Agent`: "Firefox on Linux", "Chrome on
/// Windows". Only a hint for the user's list (the header is the browser's to choose).
pub(crate) fn label(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or("");
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chromium/") {
        "Chromium"
    } else if ua.contains("Chrome/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        "A browser"
    };
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "an unknown system"
    };
    format!("{browser} on {os}")
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn labels_name_the_browser_and_the_system() {
        assert_eq!(
            label(Some(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
            )),
            "Chrome on Linux"
        );
        assert_eq!(
            label(Some(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
            )),
            "Firefox on Windows"
        );
        assert_eq!(label(None), "A browser on an unknown system");
    }
}
