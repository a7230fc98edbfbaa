//! The web example driven end to end by a real browser (headless Chromium over WebDriver):
//! sign up, enable 2FA by reading the manual key off the page, save the recovery codes, log out,
//! log in with a code, see the same code refused, log in with a recovery code, regenerate,
//! disable, and the admin listing, reset and "2FA required" policy. And two attacks with a
//! copied session cookie, both refused: a user's copy replayed after 2FA was turned off in the
//! original session, and an administrator's copy replayed after they changed a factor (the
//! copies are sent outside the browser too, as a thief would). "Remember this browser": ticked at
//! the second step, the next login skips it until the browser is revoked (one, then all) on the
//! account page. Required enrolment: by a date (a banner, "later"), then now (the session may
//! only enrol, every other page sends it there, and 2FA cannot be turned off once set up).
//!
//! Needs `chromium` and `chromium-driver` (Debian packages, installed by `.ci/run`); skips with
//! a notice when they are missing outside CI. Saves screenshots of the enrolment, recovery-code
//! and trusted-browser pages to `target/web-screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use twofactor_web_example as app;

use std::io::Write;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use twofactor::{EncryptionKey, Secret, Totp, TotpParams};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PASSWORD: &str = "correct horse battery";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether this runs under CI: `CI` set to anything but empty, `0` or `false`.
fn under_ci() -> bool {
    std::env::var_os("CI")
        .is_some_and(|v| !matches!(v.to_str().map(str::trim), Some("" | "0" | "false")))
}

/// Whether Chromium and its driver are installed. When they are not: under CI the test fails,
/// naming what is missing; elsewhere it prints a notice straight to stderr (past the harness's
/// capture, so it shows without `--nocapture`) and is skipped.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(" and ");
    if under_ci() {
        panic!(
            "{missing} missing: chromium and chromium-driver are required under CI (.ci/run installs them)"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {missing} not installed (Debian packages chromium, chromium-driver); the browser test did not run"
    );
    false
}

async fn start_browser(profile: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=900,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        let builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await;
        if let Ok(client) = builder {
            return (driver, client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// The user's authenticator app, built from the key read off the page; it remembers the last
/// step it used so each code is new (a code is accepted once).
struct Phone {
    totp: Totp,
    last_step: Option<u64>,
}

impl Phone {
    fn from_manual_key(key: &str) -> Phone {
        Phone {
            totp: Totp::new(&Secret::from_base32(key).unwrap(), TotpParams::default()),
            last_step: None,
        }
    }

    /// The step of the next code: the current one, or the next if that was used (the window
    /// accepts one step ahead).
    fn next_step(&self) -> u64 {
        let now = self.totp.step_at(now()).unwrap();
        self.last_step.map_or(now, |last| (last + 1).max(now))
    }

    /// A code for a step not used before, which the site then uses up.
    fn fresh_code(&mut self) -> String {
        let step = self.next_step();
        self.last_step = Some(step);
        self.totp.generate_step(step).to_string()
    }

    /// The code [`Phone::fresh_code`] would give, typed where the site does not use it up (a
    /// change that the session's recent login already authorises).
    fn unused_code(&self) -> String {
        self.totp.generate_step(self.next_step()).to_string()
    }

    /// A fresh code the site accepts now: waits while the next unused step is more than one
    /// step ahead of the clock (the window accepts one step ahead, not two).
    async fn code_now(&mut self) -> String {
        while self.next_step() > self.totp.step_at(now()).unwrap() + 1 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.fresh_code()
    }

    fn reuse_last(&self) -> String {
        self.totp.generate_step(self.last_step.unwrap()).to_string()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Site {
    base: String,
    client: Client,
}

/// What the site answered a request made outside the browser.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
}

impl Answer {
    /// Refused and logged out: sent to the login page, with the session cookie cleared.
    fn assert_logged_out(&self, what: &str) {
        assert_eq!(self.status, 303, "{what}: {self:?}");
        assert_eq!(self.location.as_deref(), Some("/login"), "{what}: {self:?}");
        assert!(
            self.set_cookies
                .iter()
                .any(|c| c.starts_with("session=;") && c.contains("Max-Age=0")),
            "{what}: the session cookie is not cleared: {self:?}"
        );
    }
}

impl Site {
    async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks (every click in this test submits a form or follows a link) and waits until the
    /// old document is gone, so that what is read next comes from the new page.
    async fn click(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        for _ in 0..150 {
            if old.tag_name().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} did not load a new page");
    }

    async fn wait_for(&self, id: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("element #{id} did not appear: {e}"));
    }

    /// The element's text, retried while a navigation replaces the page under it.
    async fn text(&self, id: &str) -> String {
        for _ in 0..100 {
            self.wait_for(id).await;
            if let Ok(el) = self.client.find(Locator::Id(id)).await
                && let Ok(text) = el.text().await
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not read #{id}");
    }

    /// Waits (up to 15 s) until element `id` shows text satisfying `ok`; navigation after a click
    /// is asynchronous, and the page before it may have an element with the same id.
    async fn see_where(&self, id: &str, what: &str, ok: impl Fn(&str) -> bool) {
        let mut last = String::new();
        for _ in 0..150 {
            if let Ok(el) = self.client.find(Locator::Id(id)).await
                && let Ok(text) = el.text().await
            {
                if ok(&text) {
                    return;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("#{id} shows {last:?}, expected {what}");
    }

    async fn see(&self, id: &str, want: &str) {
        self.see_where(id, &format!("{want:?}"), |t| t == want)
            .await;
    }

    async fn see_containing(&self, id: &str, part: &str) {
        self.see_where(id, &format!("containing {part:?}"), |t| t.contains(part))
            .await;
    }

    async fn see_starting(&self, id: &str, prefix: &str) {
        self.see_where(id, &format!("starting {prefix:?}"), |t| {
            t.starts_with(prefix)
        })
        .await;
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    async fn credentials(&self, page: &str, user: &str) {
        self.go(page).await;
        self.fill("username", user).await;
        self.fill("password", PASSWORD).await;
        self.click("#submit").await;
    }

    /// The browser's session cookie, as a thief would copy it.
    async fn session_cookie(&self) -> Cookie<'static> {
        self.client.get_named_cookie("session").await.unwrap()
    }

    /// Puts `copied`'s value in the browser's session cookie (set as the site sets it; the
    /// domain is spelt out, which WebDriver requires).
    async fn use_session(&self, copied: &Cookie<'_>) {
        let mut cookie = Cookie::new("session", copied.value().to_owned());
        cookie.set_path("/");
        cookie.set_domain("127.0.0.1");
        cookie.set_http_only(true);
        cookie.set_same_site(axum_extra::extract::cookie::SameSite::Strict);
        self.client.delete_cookie("session").await.unwrap();
        self.client.add_cookie(cookie).await.unwrap();
    }

    /// Attribute `name` of the first element matching `css`.
    async fn attr(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    /// The CSRF token in the page's forms.
    async fn csrf(&self) -> String {
        self.attr("input[name=csrf]", "value").await
    }

    /// A request made outside the browser with `cookie` as the session cookie (as a thief
    /// replaying a copied cookie would), `form` as its urlencoded body.
    async fn raw(&self, method: &str, path: &str, cookie: &Cookie<'_>, form: &str) -> Answer {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<String>();
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("cookie", format!("session={}", cookie.value()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .unwrap();
        let response = client.request(request).await.unwrap();
        let headers = response.headers();
        Answer {
            status: response.status().as_u16(),
            location: headers
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies: headers
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect(),
        }
    }

    /// Ticks a checkbox (no navigation).
    async fn tick(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Asserts that the page (already loaded) has no element `id`.
    async fn absent(&self, id: &str) {
        assert!(
            self.client.find(Locator::Id(id)).await.is_err(),
            "#{id} is on {}",
            self.path().await
        );
    }

    /// From the account page of a user without 2FA: enables it (reading the key off the page),
    /// saves the recovery codes, and returns the user's phone, back on the account page.
    async fn enable_2fa(&self) -> (Phone, Vec<String>) {
        self.click("#enable").await;
        let mut phone = Phone::from_manual_key(&self.text("manual-key").await);
        self.fill("code", &phone.code_now().await).await;
        self.click("#confirm").await;
        let codes = self.recovery_codes().await;
        assert_eq!(codes.len(), 10);
        self.click("#done").await;
        self.see("twofa-status", "2FA enabled").await;
        (phone, codes)
    }

    /// Logs in with the password, then a code, ticking "Remember this browser" if `remember`.
    async fn login_with_code(&self, user: &str, phone: &mut Phone, remember: bool) {
        self.credentials("/login", user).await;
        self.wait_for("code").await;
        assert_eq!(self.path().await, "/login/2fa");
        if remember {
            self.tick("remember").await;
        }
        self.fill("code", &phone.code_now().await).await;
        self.click("#verify").await;
        self.see("twofa-status", "2FA enabled").await;
    }

    async fn logout(&self) {
        self.click("#logout").await;
        self.wait_for("username").await;
    }

    async fn screenshot(&self, dir: &Path, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }

    async fn recovery_codes(&self) -> Vec<String> {
        self.wait_for("recovery-codes").await;
        let mut out = Vec::new();
        for el in self
            .client
            .find_all(Locator::Css(".recovery-code"))
            .await
            .unwrap()
        {
            out.push(el.text().await.unwrap());
        }
        out
    }

    /// (user, status, policy) per row of the admin table; empty while the page is changing.
    async fn user_rows(&self) -> Vec<(String, String, String)> {
        let mut rows = Vec::new();
        let Ok(found) = self.client.find_all(Locator::Css(".user-row")).await else {
            return rows;
        };
        for row in found {
            let name = row.attr("data-user").await.ok().flatten();
            let cells = row.find_all(Locator::Css("td")).await.unwrap_or_default();
            let mut texts = Vec::new();
            for cell in cells.iter().take(3) {
                texts.push(cell.text().await.unwrap_or_default());
            }
            match (name, texts.as_slice()) {
                (Some(n), [_, status, policy]) => rows.push((n, status.clone(), policy.clone())),
                _ => return Vec::new(),
            }
        }
        rows
    }

    /// Polls the admin table until it shows `expected` (navigation after a click is asynchronous).
    async fn rows_become(&self, expected: &[(&str, &str, &str)]) {
        let want: Vec<(String, String, String)> = expected
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        let mut seen = Vec::new();
        for _ in 0..150 {
            seen = self.user_rows().await;
            if seen == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("admin table is {seen:?}, expected {want:?}");
    }
}

/// One browser at a time (the tests run on few cores, and each waits on its pages).
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh site (its own database) in-process on a free port, and a browser on it; the work
/// directory to remove at the end.
async fn open_site(name: &str) -> (Site, Driver, PathBuf) {
    let work =
        std::env::temp_dir().join(format!("twofactor-web-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let state = app::build(
        &work.join("web.sqlite3"),
        EncryptionKey::generate(1).unwrap(),
        &[7u8; 64],
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app::router(state)).await.unwrap() });
    let (driver, client) = start_browser(&work.join("profile")).await;
    (Site { base, client }, driver, work)
}

fn screenshot_dir() -> PathBuf {
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    shots
}

/// "Remember this browser for 30 days": ticked at the second step, the next login from this
/// browser skips it (logging out does not end the trust); revoked on the account page, one or
/// all, the second step is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_browser_skips_the_second_step_until_revoked() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let (site, _driver, work) = open_site("trust").await;

    site.credentials("/signup", "admin").await;
    site.see("twofa-status", "2FA disabled").await;
    site.logout().await;
    site.credentials("/signup", "bob").await;
    let (mut phone, codes) = site.enable_2fa().await;
    site.wait_for("no-trusted").await;
    site.absent("low-codes").await;
    site.logout().await;

    // The box ticked: the account page lists this browser, never used yet.
    site.login_with_code("bob", &mut phone, true).await;
    site.see_containing("trusted-browsers", "Chrome on Linux")
        .await;
    assert_eq!(
        site.text("trusted-browsers")
            .await
            .matches("Chrome on Linux")
            .count(),
        1
    );
    site.see("last-used-0", "never").await;
    // The token's cookie: sent to the login pages only, HttpOnly, SameSite=Lax, for 30 days.
    assert!(
        site.client
            .get_named_cookie("trusted_browser")
            .await
            .is_err(),
        "the trust cookie is sent beyond the login pages"
    );
    site.logout().await;
    let cookie = site
        .client
        .get_named_cookie("trusted_browser")
        .await
        .unwrap();
    assert_eq!(cookie.path(), Some("/login"));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site(),
        Some(axum_extra::extract::cookie::SameSite::Lax)
    );
    let expires = cookie.expires_datetime().unwrap().unix_timestamp();
    let days = (expires - i64::try_from(now()).unwrap()) / 86_400;
    assert!((29..=30).contains(&days), "{days} days");
    site.credentials("/login", "bob").await;
    site.see("twofa-status", "2FA enabled").await;
    site.screenshot(&screenshot_dir(), "trusted-browsers.png")
        .await;

    // Log out and in: the password is enough from this browser.
    site.logout().await;
    site.credentials("/login", "bob").await;
    site.see_containing("message", "trusted browser").await;
    assert_eq!(site.path().await, "/account");
    site.see_where("last-used-0", "a time", |t| t != "never")
        .await;

    // Revoked: the second step is back.
    site.click("tr.trusted-browser button.revoke").await;
    site.see("message", "That browser is no longer trusted.")
        .await;
    site.wait_for("no-trusted").await;
    site.logout().await;
    site.login_with_code("bob", &mut phone, false).await;

    // Trusted again, then "revoke all": the second step again.
    site.logout().await;
    site.login_with_code("bob", &mut phone, true).await;
    site.see_containing("trusted-browsers", "Chrome on Linux")
        .await;
    site.click("#revoke-all").await;
    site.see("message", "No browser is trusted any more.").await;
    site.wait_for("no-trusted").await;
    site.logout().await;
    site.credentials("/login", "bob").await;
    site.wait_for("code").await;
    assert_eq!(site.path().await, "/login/2fa");

    // Logging in by recovery code until 3 are left: the account page says they are running low.
    for (used, code) in codes.iter().take(7).enumerate() {
        if used > 0 {
            site.logout().await;
            site.credentials("/login", "bob").await;
        }
        site.fill("code", code).await;
        site.click("#verify").await;
        let left = 9 - used;
        site.see("recovery-left", &left.to_string()).await;
        if left > 3 {
            site.absent("low-codes").await;
        }
    }
    site.see_containing("low-codes", "Only 3 recovery codes left")
        .await;

    site.client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&work);
}

/// Required enrolment: an administrator requires it by a date (the user sees a banner, and
/// "later" puts it away for the session), then now (the password leads only to enrolment, every
/// other page sends the session there, until 2FA is set up; then it cannot be turned off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_enrolment_with_a_grace_period_then_enforced() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let (site, _driver, work) = open_site("required").await;

    site.credentials("/signup", "admin").await;
    // The site's own policy: administrators within 14 days of signing up.
    site.wait_for("enrol-banner").await;
    let admin_by = site.text("enrol-by").await;
    site.logout().await;
    site.credentials("/signup", "carol").await;
    site.see("twofa-status", "2FA disabled").await;
    site.absent("enrol-banner").await;
    site.logout().await;

    // Required by a date (the form's default: two weeks from today).
    site.credentials("/login", "admin").await;
    site.wait_for("twofa-status").await;
    site.go("/admin").await;
    site.wait_for("filter-all").await;
    let by = site
        .attr("tr[data-user=carol] input.require-date", "value")
        .await;
    assert_eq!(by, admin_by);
    site.click("tr[data-user=carol] button.require-by").await;
    let required_by = format!("required by {by}");
    site.rows_become(&[
        ("admin", "2FA disabled", "optional"),
        ("carol", "2FA disabled", required_by.as_str()),
    ])
    .await;
    site.logout().await;

    // Carol is logged in, with a banner: "set up now" or "later".
    site.credentials("/login", "carol").await;
    site.see("enrol-by", &by).await;
    assert_eq!(site.path().await, "/account");
    site.wait_for("enrol-now").await;
    site.click("#enrol-later").await;
    site.see("twofa-status", "2FA disabled").await;
    site.absent("enrol-banner").await;
    site.go("/account").await;
    site.see("twofa-status", "2FA disabled").await;
    site.absent("enrol-banner").await;
    site.logout().await;

    // Required now.
    site.credentials("/login", "admin").await;
    site.wait_for("twofa-status").await;
    site.go("/admin").await;
    site.wait_for("filter-all").await;
    site.click("tr[data-user=carol] button.require-now").await;
    site.rows_become(&[
        ("admin", "2FA disabled", "optional"),
        ("carol", "2FA disabled", "required now"),
    ])
    .await;
    site.logout().await;

    // The password leads only to enrolment; every other page sends the session back there.
    site.credentials("/login", "carol").await;
    site.wait_for("manual-key").await;
    assert_eq!(site.path().await, "/account/2fa/enable");
    site.see_containing("message", "required for this account")
        .await;
    let key = site.text("manual-key").await;
    for page in ["/account", "/admin", "/"] {
        site.go(page).await;
        site.wait_for("manual-key").await;
        assert_eq!(site.path().await, "/account/2fa/enable", "{page}");
    }
    let session = site.session_cookie().await;
    for page in ["/account", "/admin"] {
        let answer = site.raw("GET", page, &session, "").await;
        assert_eq!(answer.status, 303, "{page}: {answer:?}");
        assert_eq!(
            answer.location.as_deref(),
            Some("/account/2fa/enable"),
            "{page}"
        );
    }

    // Set up: the account is open again; turning 2FA off is refused while it is required.
    assert_eq!(site.text("manual-key").await, key);
    let mut phone = Phone::from_manual_key(&key);
    site.fill("code", &phone.code_now().await).await;
    site.click("#confirm").await;
    assert_eq!(site.recovery_codes().await.len(), 10);
    site.click("#done").await;
    site.see("twofa-status", "2FA enabled").await;
    site.fill("disable-code", &phone.code_now().await).await;
    site.click("#disable").await;
    site.see(
        "message",
        "Two-factor authentication is required for this account.",
    )
    .await;
    site.see("twofa-status", "2FA enabled").await;

    site.client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let work = std::env::temp_dir().join(format!("twofactor-web-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // The application, in-process on a free port.
    let state = app::build(
        &work.join("web.sqlite3"),
        EncryptionKey::generate(1).unwrap(),
        &[7u8; 64],
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app::router(state)).await.unwrap() });

    let (_driver, client) = start_browser(&work.join("profile")).await;
    let site = Site { base, client };

    // The first account is the administrator.
    site.credentials("/signup", "admin").await;
    site.see("twofa-status", "2FA disabled").await;
    site.logout().await;

    // Alice signs up and enables 2FA.
    site.credentials("/signup", "alice").await;
    site.see("twofa-status", "2FA disabled").await;
    site.click("#enable").await;
    let key = site.text("manual-key").await;
    site.wait_for("qr").await;
    site.screenshot(&shots, "enrolment.png").await;
    let mut phone = Phone::from_manual_key(&key);
    // A wrong code first: a clear message, the same secret still on the page.
    let wrong = (0..)
        .map(|n| format!("{:06}", (n * 7_919 + 1) % 1_000_000))
        .find(|c| {
            (-10i64..=10).all(|o| {
                let s = phone
                    .totp
                    .step_at(now())
                    .unwrap()
                    .checked_add_signed(o)
                    .unwrap();
                phone.totp.generate_step(s).to_string() != *c
            })
        })
        .unwrap();
    site.fill("code", &wrong).await;
    site.click("#confirm").await;
    site.see("message", "That code is not valid.").await;
    assert_eq!(site.text("manual-key").await, key);
    site.fill("code", &phone.fresh_code()).await;
    site.click("#confirm").await;
    let codes = site.recovery_codes().await;
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 19));
    site.screenshot(&shots, "recovery-codes.png").await;
    site.click("#done").await;
    site.see("twofa-status", "2FA enabled").await;
    site.see("recovery-left", "10").await;

    // Log out, log in: password, then a code.
    site.logout().await;
    site.credentials("/login", "alice").await;
    site.wait_for("code").await;
    assert_eq!(site.path().await, "/login/2fa");
    let code = phone.fresh_code();
    site.fill("code", &code).await;
    site.click("#verify").await;
    site.see("twofa-status", "2FA enabled").await;

    // The same code again is refused.
    site.logout().await;
    site.credentials("/login", "alice").await;
    site.fill("code", &phone.reuse_last()).await;
    site.click("#verify").await;
    site.see("message", "That code is not valid.").await;
    assert_eq!(site.path().await, "/login/2fa");

    // A recovery code, typed in lower case with spaces.
    site.fill("code", &codes[0].to_lowercase().replace('-', " "))
        .await;
    site.click("#verify").await;
    site.see_containing("message", "9 left").await;
    site.see("recovery-left", "9").await;

    // Regenerate (needs a current code): a new set; the old codes stop working. Minutes after
    // the login, the session's proof of it authorises the change and the code is not used up.
    site.fill("regenerate-code", &phone.unused_code()).await;
    site.click("#regenerate").await;
    let new_codes = site.recovery_codes().await;
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !codes.contains(c)));
    site.click("#done").await;
    site.see("recovery-left", "10").await;

    // A new phone: the current device's code is asked for, then the new one is confirmed and
    // takes over; the recovery codes are kept.
    site.fill("new-device-code", &phone.fresh_code()).await;
    site.click("#new-device").await;
    let new_key = site.text("manual-key").await;
    assert_ne!(new_key, key);
    let mut phone = Phone {
        last_step: phone.last_step,
        ..Phone::from_manual_key(&new_key)
    };
    site.fill("code", &phone.fresh_code()).await;
    site.click("#confirm").await;
    site.see_containing("message", "new device is set up").await;
    site.see("recovery-left", "10").await;

    // Disable: a wrong code is refused, a current one works.
    site.fill("disable-code", &wrong).await;
    site.click("#disable").await;
    site.see_starting("message", "That code is not valid").await;
    site.see("twofa-status", "2FA enabled").await;
    // A copy of this session, taken before 2FA is turned off (attack B).
    let copied = site.session_cookie().await;
    let copied_csrf = site.csrf().await;
    site.fill("disable-code", &phone.fresh_code()).await;
    site.click("#disable").await;
    site.see("twofa-status", "2FA disabled").await;

    // Attack B: the copy went stale when 2FA was turned off, so it cannot set up the thief's
    // device (which would give it a new, current session): refused and logged out, as on the
    // account page.
    site.raw("GET", "/account/2fa/enable", &copied, "")
        .await
        .assert_logged_out("stale session, GET /account/2fa/enable");
    site.raw(
        "POST",
        "/account/2fa/enable",
        &copied,
        &format!("csrf={copied_csrf}&code=123456"),
    )
    .await
    .assert_logged_out("stale session, POST /account/2fa/enable");
    site.raw("GET", "/account", &copied, "")
        .await
        .assert_logged_out("stale session, GET /account");

    // Enable again, for the admin part.
    site.click("#enable").await;
    let mut phone = Phone {
        last_step: phone.last_step,
        ..Phone::from_manual_key(&site.text("manual-key").await)
    };
    site.fill("code", &phone.fresh_code()).await;
    site.click("#confirm").await;
    assert_eq!(site.recovery_codes().await.len(), 10);
    site.go("/account").await;
    site.see("twofa-status", "2FA enabled").await;
    site.logout().await;

    // Throttling, as the user sees it: five free failures, then a delay, then refusals unchecked.
    site.credentials("/login", "alice").await;
    site.wait_for("code").await;
    for attempt in 1..=6 {
        site.fill("code", &wrong).await;
        site.click("#verify").await;
        let text = site.text("message").await;
        if attempt <= 5 {
            assert_eq!(text, "That code is not valid.", "attempt {attempt}");
        } else {
            assert!(
                text.starts_with("That code is not valid. Next attempt at "),
                "{text}"
            );
        }
    }
    site.fill("code", &phone.fresh_code()).await;
    site.click("#verify").await;
    site.see_starting(
        "message",
        "Too many attempts. Wait a moment and try again. Next attempt at ",
    )
    .await;
    site.go("/login").await;

    // The administrator's page: listing, filters, reset, the required policy.
    site.credentials("/login", "admin").await;
    site.wait_for("twofa-status").await;
    site.go("/admin").await;
    site.rows_become(&[
        ("admin", "2FA disabled", "optional"),
        ("alice", "2FA enabled", "optional"),
    ])
    .await;
    site.click("#filter-enabled").await;
    site.rows_become(&[("alice", "2FA enabled", "optional")])
        .await;
    site.click("#filter-disabled").await;
    site.rows_become(&[("admin", "2FA disabled", "optional")])
        .await;
    site.click("#filter-all").await;
    site.rows_become(&[
        ("admin", "2FA disabled", "optional"),
        ("alice", "2FA enabled", "optional"),
    ])
    .await;
    site.click("tr[data-user=alice] button.reset").await;
    site.rows_become(&[
        ("admin", "2FA disabled", "optional"),
        ("alice", "2FA disabled", "optional"),
    ])
    .await;
    site.click("tr[data-user=alice] button.require-now").await;
    site.rows_become(&[
        ("admin", "2FA disabled", "optional"),
        ("alice", "2FA disabled", "required now"),
    ])
    .await;
    site.logout().await;

    // Alice is now sent to enrolment right after her password.
    site.credentials("/login", "alice").await;
    site.wait_for("manual-key").await;
    assert_eq!(site.path().await, "/account/2fa/enable");
    site.see_containing("message", "required for this account")
        .await;
    let _ = phone.fresh_code();

    // The administrator sets up 2FA, and a thief copies their session cookie (and the CSRF token
    // on the page).
    site.logout().await;
    site.credentials("/login", "admin").await;
    site.see("twofa-status", "2FA disabled").await;
    site.click("#enable").await;
    let mut admin_phone = Phone::from_manual_key(&site.text("manual-key").await);
    site.fill("code", &admin_phone.fresh_code()).await;
    site.click("#confirm").await;
    assert_eq!(site.recovery_codes().await.len(), 10);
    site.go("/admin").await;
    let admin_table = [
        ("admin", "2FA enabled", "optional"),
        ("alice", "2FA disabled", "required now"),
    ];
    site.rows_become(&admin_table).await;
    let stolen = site.session_cookie().await;
    let stolen_csrf = site.csrf().await;
    let admin_id = site
        .attr("tr[data-user=admin] input[name=user]", "value")
        .await;

    // The administrator changes a factor (new recovery codes): every other session of theirs
    // is stale now, this one carries on.
    site.go("/account").await;
    site.fill("regenerate-code", &admin_phone.fresh_code())
        .await;
    site.click("#regenerate").await;
    assert_eq!(site.recovery_codes().await.len(), 10);
    let current = site.session_cookie().await;

    // Attack A: the stolen copy cannot reset the administrator's own 2FA (nor take the new stamp
    // that would make it current), nor use any admin page: refused and logged out.
    let reset = format!("csrf={stolen_csrf}&user={admin_id}");
    site.raw("POST", "/admin/reset", &stolen, &reset)
        .await
        .assert_logged_out("stale admin session, POST /admin/reset");
    site.raw("POST", "/admin/require", &stolen, &reset)
        .await
        .assert_logged_out("stale admin session, POST /admin/require");
    site.raw("GET", "/admin", &stolen, "")
        .await
        .assert_logged_out("stale admin session, GET /admin");
    // In the browser too: the copied cookie loads the login page, logged out.
    site.use_session(&stolen).await;
    site.go("/admin").await;
    site.wait_for("username").await;
    assert_eq!(site.path().await, "/login");
    let after = site.session_cookie().await;
    assert!(after.value().contains("anon"), "{after:?}");
    site.go("/account").await;
    site.wait_for("username").await;
    assert_eq!(site.path().await, "/login");

    // The administrator's own session still works, with 2FA still on. Resetting their own 2FA
    // from the admin page is refused: that is the account page's disable, behind the second
    // factor.
    site.use_session(&current).await;
    site.go("/admin").await;
    site.rows_become(&admin_table).await;
    site.click("tr[data-user=admin] button.reset").await;
    site.see_containing("message", "turn it off on your account page")
        .await;
    site.rows_become(&admin_table).await;
    site.go("/account").await;
    site.see("twofa-status", "2FA enabled").await;

    site.client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&work);
}
