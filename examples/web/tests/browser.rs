//! The web example driven end to end by a real browser (headless Chromium over WebDriver):
//! sign up, enable 2FA by reading the manual key off the page, save the recovery codes, log out,
//! log in with a code, see the same code refused, log in with a recovery code, regenerate, add,
//! rename and remove authenticators, a new device, disable, and the admin listing, reset and
//! "2FA required" policy behind the administrator's own second factor. "Remember this browser":
//! ticked at the second step, the next login skips it until the browser is revoked (one, then
//! all). Required enrolment: by a date (a banner, "later"), then now (the session may only enrol,
//! every other page sends it there, and 2FA cannot be turned off once set up).
//!
//! And the attacks, each refused, in the browser and replayed outside it as a thief would: a
//! password-only session reading or confirming another session's pending secret; a session
//! cookie copied before logout; old sessions after a factor change (2FA turned off, new recovery
//! codes); the second step skipped by requesting a protected page; forms without their CSRF
//! token; a non-admin, and an administrator without 2FA, on the admin page; password guessing
//! (throttled, alike for accounts that exist and those that do not).
//!
//! Every page is checked with axe-core (WCAG 2 A and AA rules: labels, headings, contrast, ...)
//! in the same browser session, from `tests/a11y/node_modules` (`npm ci --prefix
//! examples/web/tests/a11y`, run by `.ci/run`).
//!
//! Needs `chromium` and `chromium-driver` (Debian packages, installed by `.ci/run`); skips with
//! a notice when they are missing outside CI. Saves screenshots of the enrolment, recovery-code,
//! second-step, trusted-browser and admin pages to `target/web-screenshots/`, or to
//! `docs/images/` (the README's) with `TWOFACTOR_UPDATE_SCREENSHOTS=1`.

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

/// axe-core's script, installed by `npm ci --prefix examples/web/tests/a11y`.
const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/a11y/node_modules/axe-core/axe.min.js"
);

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
    retry_after: Option<String>,
    body: String,
    /// The session id the request carried.
    sent: String,
}

impl Answer {
    /// Refused and logged out: sent to the login page, with the session cookie cleared.
    fn assert_logged_out(&self, what: &str) {
        assert_eq!(self.status, 303, "{what}: {self:?}");
        assert_eq!(self.location.as_deref(), Some("/login"), "{what}: {self:?}");
        // The session is gone from the server: the cookie is removed, or replaced by a new
        // anonymous session's, never kept.
        assert!(
            self.set_cookies.iter().any(|c| c.starts_with("session=")),
            "{what}: the session cookie is kept: {self:?}"
        );
        assert_ne!(
            self.session().as_deref(),
            Some(self.sent.as_str()),
            "{what}: the session lives on: {self:?}"
        );
    }

    /// The session cookie this answer set (a new or cycled session id).
    fn session(&self) -> Option<String> {
        self.set_cookies
            .iter()
            .find_map(|c| c.strip_prefix("session="))
            .and_then(|c| c.split(';').next())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The CSRF token in the page's forms.
    fn csrf(&self) -> String {
        let field = "name=\"csrf\" value=\"";
        let at = self.body.find(field).unwrap() + field.len();
        self.body[at..].split('"').next().unwrap().to_owned()
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
        cookie.set_same_site(axum_extra::extract::cookie::SameSite::Lax);
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
        self.raw_session(method, path, cookie.value(), form).await
    }

    /// A request made outside the browser with the session id `session` (empty: none).
    async fn raw_session(&self, method: &str, path: &str, session: &str, form: &str) -> Answer {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<String>();
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("cookie", format!("session={session}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .unwrap();
        let response = client.request(request).await.unwrap();
        let headers = response.headers().clone();
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        Answer {
            status,
            location: headers
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies: headers
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect(),
            retry_after: headers
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: String::from_utf8_lossy(&body).into_owned(),
            sent: session.to_owned(),
        }
    }

    /// A session outside the browser logged in with `user`'s password (the CSRF token read off
    /// the login page, as a script would): its session id and the answer to the password.
    async fn raw_login(&self, user: &str, password: &str) -> (String, Answer) {
        let page = self.raw_session("GET", "/login", "", "").await;
        let session = page.session().unwrap();
        let answer = self
            .raw_session(
                "POST",
                "/login",
                &session,
                &format!("csrf={}&username={user}&password={password}", page.csrf()),
            )
            .await;
        (answer.session().unwrap_or(session), answer)
    }

    /// Runs axe-core on the page (WCAG 2 A and AA rules) and fails on any violation. Under CI
    /// axe-core must be installed; elsewhere a missing one is reported once and skipped.
    async fn check_a11y(&self, page: &str) {
        if let Some(violations) = self.a11y_violations().await {
            assert!(violations.is_empty(), "{page}: {violations:#?}");
        }
    }

    /// axe-core's WCAG 2 A and AA violations on the page; `None` when axe-core is not
    /// installed outside CI.
    async fn a11y_violations(&self) -> Option<Vec<String>> {
        let Ok(axe) = std::fs::read_to_string(AXE) else {
            assert!(
                !under_ci(),
                "{AXE} missing: .ci/run installs it with npm ci"
            );
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: axe-core not installed (npm ci --prefix examples/web/tests/a11y); no accessibility checks"
                );
            });
            return None;
        };
        self.client
            .execute(&format!("{axe}\nreturn true;"), vec![])
            .await
            .unwrap();
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                   .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        Some(serde_json::from_value(found).unwrap())
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
    open_site_with(name, app::Options::default()).await
}

/// [`open_site`] with these options.
async fn open_site_with(name: &str, options: app::Options) -> (Site, Driver, PathBuf) {
    let work =
        std::env::temp_dir().join(format!("twofactor-web-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let db = work.join("web.sqlite3");
    let site = app::build(&db, EncryptionKey::generate(1).unwrap(), options)
        .await
        .unwrap();
    // The database is readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "database file mode {mode:o}");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { app::serve(listener, site.router).await.unwrap() });
    let (driver, client) = start_browser(&work.join("profile")).await;
    (Site { base, client }, driver, work)
}

/// Where screenshots go: the README's `docs/images/` with
/// `TWOFACTOR_UPDATE_SCREENSHOTS=1`, otherwise `target/web-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shots = if std::env::var("TWOFACTOR_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        root.join("docs/images")
    } else {
        root.join("target/web-screenshots")
    };
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
    // Bob logs in more often than the password step's default limit allows in a minute.
    let mut options = app::Options::default();
    options.password_limits.per_account.burst = 50;
    let (site, _driver, work) = open_site_with("trust", options).await;

    // The accessibility check finds what it should: a field without a label.
    site.go("/static/app.css").await;
    site.client
        .execute(
            "document.documentElement.innerHTML = '<head><title>t</title></head><body><main><h1>t</h1><input type=text></main></body>'; return true;",
            vec![],
        )
        .await
        .unwrap();
    if let Some(found) = site.a11y_violations().await {
        assert!(
            found.iter().any(|v| v.starts_with("label")),
            "axe-core missed an unlabelled field: {found:?}"
        );
    }

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
    // The token's cookie: HttpOnly, SameSite=Lax, for 30 days, and survives logging out.
    site.logout().await;
    let cookie = site
        .client
        .get_named_cookie("trusted_browser")
        .await
        .unwrap();
    assert_eq!(cookie.path(), Some("/"));
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
    site.check_a11y("account page with trusted browsers").await;

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
    site.check_a11y("account page with the enrolment banner")
        .await;
    // The admin pages need the administrator's own second factor: set it up.
    let (mut admin_phone, _) = site.enable_2fa().await;
    site.logout().await;
    site.credentials("/signup", "carol").await;
    site.see("twofa-status", "2FA disabled").await;
    site.absent("enrol-banner").await;
    site.logout().await;

    // Required by a date (the form's default: two weeks from today).
    site.login_with_code("admin", &mut admin_phone, false).await;
    site.go("/admin").await;
    site.wait_for("filter-all").await;
    let by = site
        .attr("tr[data-user=carol] input.require-date", "value")
        .await;
    assert_eq!(by, admin_by);
    site.click("tr[data-user=carol] button.require-by").await;
    let required_by = format!("required by {by}");
    site.rows_become(&[
        ("admin", "2FA enabled", "optional"),
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
    site.login_with_code("admin", &mut admin_phone, false).await;
    site.go("/admin").await;
    site.wait_for("filter-all").await;
    site.click("tr[data-user=carol] button.require-now").await;
    site.rows_become(&[
        ("admin", "2FA enabled", "optional"),
        ("carol", "2FA disabled", "required now"),
    ])
    .await;
    site.logout().await;

    // The password leads only to enrolment; every other page sends the session back there.
    site.credentials("/login", "carol").await;
    site.wait_for("begin").await;
    assert_eq!(site.path().await, "/account/2fa/enable");
    site.see_containing("message", "required for this account")
        .await;
    site.check_a11y("enrolment required, before it begins")
        .await;
    site.click("#begin").await;
    site.wait_for("manual-key").await;
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
    site.logout().await;

    // The admin list pages by 20 (keyset on the account id): 22 accounts, two pages.
    for n in 1..=20 {
        let page = site.raw_session("GET", "/signup", "", "").await;
        let form = format!(
            "csrf={}&username=user{n:02}&password={PASSWORD}",
            page.csrf()
        );
        let answer = site
            .raw_session("POST", "/signup", &page.session().unwrap(), &form)
            .await;
        assert_eq!(answer.location.as_deref(), Some("/account"), "{answer:?}");
    }
    site.login_with_code("admin", &mut admin_phone, false).await;
    site.go("/admin").await;
    site.wait_for("next-page").await;
    let first = site.user_rows().await;
    assert_eq!(first.len(), 20);
    assert_eq!(first[0].0, "admin");
    site.click("#next-page").await;
    site.wait_for("filter-all").await;
    let second = site.user_rows().await;
    let names: Vec<&str> = second.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["user19", "user20"]);
    site.absent("next-page").await;

    site.client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let (site, _driver, work) = open_site("journey").await;
    let shots = screenshot_dir();

    // The first account is the administrator. Without 2FA, the admin pages are refused.
    site.go("/signup").await;
    site.wait_for("username").await;
    site.check_a11y("sign-up page").await;
    site.credentials("/signup", "admin").await;
    site.see("twofa-status", "2FA disabled").await;
    site.check_a11y("account page without 2FA").await;
    site.go("/admin").await;
    site.see_containing("message", "need two-factor authentication")
        .await;
    assert_eq!(site.path().await, "/admin/verify");
    site.check_a11y("admin page refused without 2FA").await;
    let admin_session = site.session_cookie().await;
    let answer = site.raw("GET", "/admin/verify", &admin_session, "").await;
    assert_eq!(answer.status, 403, "{answer:?}");
    let answer = site.raw("GET", "/admin", &admin_session, "").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location.as_deref(), Some("/admin/verify"));
    site.go("/account").await;
    site.logout().await;

    // Alice signs up and enables 2FA. Opening the enrolment page changes nothing: it offers a
    // button; the secret is made by a POST, for this session only.
    site.credentials("/signup", "alice").await;
    site.see("twofa-status", "2FA disabled").await;
    let before = site.session_cookie().await;
    site.go("/account/2fa/enable").await;
    site.wait_for("begin").await;
    site.click("#begin").await;
    let key = site.text("manual-key").await;
    site.wait_for("qr").await;
    site.screenshot(&shots, "enrolment.png").await;
    site.check_a11y("enrolment page").await;
    let mut phone = Phone::from_manual_key(&key);

    // Attack: another session of Alice's, with only her password, cannot read or confirm the
    // secret this session is setting up.
    let (other, answer) = site.raw_login("alice", PASSWORD).await;
    assert_eq!(answer.location.as_deref(), Some("/account"), "{answer:?}");
    assert_ne!(other, before.value(), "a new session id at login");
    let page = site
        .raw_session("GET", "/account/2fa/enable", &other, "")
        .await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(&key),
        "another session sees the pending secret"
    );
    assert!(page.body.contains("id=\"begin\""));
    let confirm = format!("csrf={}&code={}", page.csrf(), phone.unused_code());
    let answer = site
        .raw_session("POST", "/account/2fa/enable", &other, &confirm)
        .await;
    assert_ne!(answer.status, 200, "{answer:?}");
    assert!(!answer.body.contains("recovery-codes"), "{answer:?}");

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
    site.check_a11y("recovery codes").await;
    site.click("#done").await;
    site.see("twofa-status", "2FA enabled").await;
    site.see("recovery-left", "10").await;
    site.check_a11y("account page with 2FA").await;
    // The other session went stale when 2FA was turned on: ended.
    site.raw_session("GET", "/account", &other, "")
        .await
        .assert_logged_out("the other session after 2FA was turned on");

    // Log out, log in: password, then a code. The session id changes at each step.
    site.logout().await;
    let anonymous = site.session_cookie().await;
    site.credentials("/login", "alice").await;
    site.wait_for("code").await;
    assert_eq!(site.path().await, "/login/2fa");
    let password_only = site.session_cookie().await;
    assert_ne!(password_only.value(), anonymous.value());
    site.screenshot(&shots, "second-step.png").await;
    site.check_a11y("second step").await;
    // Attack: the second step skipped by asking for a protected page.
    for page in ["/account", "/account/2fa/enable", "/admin"] {
        let answer = site.raw("GET", page, &password_only, "").await;
        assert_eq!(answer.status, 303, "{page}: {answer:?}");
        assert_eq!(answer.location.as_deref(), Some("/login"), "{page}");
    }
    site.go("/account").await;
    site.wait_for("username").await;
    assert_eq!(site.path().await, "/login");
    site.credentials("/login", "alice").await;
    site.wait_for("code").await;
    let code = phone.fresh_code();
    site.fill("code", &code).await;
    site.click("#verify").await;
    site.see("twofa-status", "2FA enabled").await;
    assert_ne!(site.session_cookie().await.value(), password_only.value());

    // Attack: a form without its CSRF token (or with another session's) is refused.
    let full = site.session_cookie().await;
    let answer = site
        .raw("POST", "/account/2fa/disable", &full, "code=")
        .await;
    assert_eq!(answer.status, 422, "no token at all: {answer:?}");
    let answer = site
        .raw(
            "POST",
            "/account/2fa/disable",
            &full,
            "csrf=0123456789abcdef0123456789abcdef&code=",
        )
        .await;
    assert_eq!(answer.status, 403, "a forged token: {answer:?}");
    let answer = site
        .raw(
            "POST",
            "/account/trusted/revoke-all",
            &full,
            &format!("csrf={}", page.csrf()),
        )
        .await;
    assert_eq!(answer.status, 403, "another session's token: {answer:?}");
    site.go("/account").await;
    site.see("twofa-status", "2FA enabled").await;

    // Attack: a session cookie copied before logout opens nothing after it.
    let copied = site.session_cookie().await;
    site.logout().await;
    site.raw("GET", "/account", &copied, "")
        .await
        .assert_logged_out("a cookie copied before logout");

    // The same code again is refused.
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

    // Several authenticators: add a password manager (its own secret, confirmed with its
    // code), rename it, log in with it, remove it.
    site.fill("add-name", "Password manager").await;
    site.fill("add-code", &phone.fresh_code()).await;
    site.click("#add-authenticator").await;
    let manager_key = site.text("manual-key").await;
    assert_ne!(manager_key, key);
    let mut manager = Phone::from_manual_key(&manager_key);
    site.fill("code", &manager.fresh_code()).await;
    site.click("#confirm").await;
    site.see_containing("message", "set up").await;
    site.see_containing("authenticators", "Password manager")
        .await;
    assert_eq!(
        site.client
            .find_all(Locator::Css("tr.authenticator"))
            .await
            .unwrap()
            .len(),
        2
    );
    site.fill("rename-1", "Laptop").await;
    site.click("tr.authenticator:nth-of-type(3) button.rename")
        .await;
    site.see("message", "Renamed.").await;
    site.see_containing("authenticators", "Laptop").await;
    site.check_a11y("account page with two authenticators")
        .await;
    site.logout().await;
    site.credentials("/login", "alice").await;
    site.fill("code", &manager.code_now().await).await;
    site.click("#verify").await;
    site.see("twofa-status", "2FA enabled").await;
    site.fill("remove-code-1", &phone.code_now().await).await;
    site.click("tr.authenticator:nth-of-type(3) button.remove")
        .await;
    site.see(
        "message",
        "That authenticator is removed: its codes no longer work.",
    )
    .await;
    assert_eq!(
        site.client
            .find_all(Locator::Css("tr.authenticator"))
            .await
            .unwrap()
            .len(),
        1
    );

    // A new phone: the current device's code is asked for, then the new one is confirmed and
    // takes over; the recovery codes are kept.
    site.fill("new-device-code", &phone.code_now().await).await;
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
    // A copy of this session, taken before 2FA is turned off.
    let copied = site.session_cookie().await;
    let copied_csrf = site.csrf().await;
    site.fill("disable-code", &phone.code_now().await).await;
    site.click("#disable").await;
    site.see("twofa-status", "2FA disabled").await;

    // Attack: the copy went stale when 2FA was turned off, so it cannot set up the thief's
    // device (which would give it a new, current session): refused and ended.
    site.raw(
        "POST",
        "/account/2fa/begin",
        &copied,
        &format!("csrf={copied_csrf}"),
    )
    .await
    .assert_logged_out("stale session, POST /account/2fa/begin");
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
    site.fill("code", &phone.code_now().await).await;
    site.click("#confirm").await;
    assert_eq!(site.recovery_codes().await.len(), 10);
    site.go("/account").await;
    site.see("twofa-status", "2FA enabled").await;
    // Attack: a user who is not an administrator, on the admin page.
    let alice = site.session_cookie().await;
    let answer = site.raw("GET", "/admin", &alice, "").await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.body.contains("Administrators only"), "{answer:?}");
    site.go("/account").await;
    site.logout().await;

    // Throttling of the second step, as the user sees it: five free failures, then a delay,
    // then refusals unchecked.
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

    // Throttling of the password step: guesses at one account name run dry after ten, the
    // right password included; an account name that does not exist answers alike.
    site.credentials("/signup", "erin").await;
    site.see("twofa-status", "2FA disabled").await;
    site.logout().await;
    for user in ["erin", "nobody"] {
        for attempt in 1..=10 {
            let (_, answer) = site.raw_login(user, "wrong password").await;
            assert_eq!(answer.status, 401, "{user}, attempt {attempt}");
            assert!(answer.body.contains("Wrong username or password."));
        }
        let (_, answer) = site.raw_login(user, PASSWORD).await;
        assert_eq!(answer.status, 429, "{user}: {answer:?}");
        let wait: u64 = answer.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(answer.body.contains("Too many attempts. Next attempt at"));
    }

    // The administrator sets up 2FA; the admin page asks for the second factor of this session.
    site.credentials("/login", "admin").await;
    site.see("twofa-status", "2FA disabled").await;
    let (mut admin_phone, _) = site.enable_2fa().await;
    site.logout().await;
    site.login_with_code("admin", &mut admin_phone, false).await;
    site.go("/admin").await;
    site.rows_become(&[
        ("admin", "2FA enabled", "optional"),
        ("alice", "2FA enabled", "optional"),
        ("erin", "2FA disabled", "optional"),
    ])
    .await;
    site.screenshot(&shots, "admin.png").await;
    site.check_a11y("admin page").await;
    site.click("#filter-enabled").await;
    site.rows_become(&[
        ("admin", "2FA enabled", "optional"),
        ("alice", "2FA enabled", "optional"),
    ])
    .await;
    site.click("#filter-disabled").await;
    site.rows_become(&[("erin", "2FA disabled", "optional")])
        .await;
    site.click("#filter-all").await;
    site.click("tr[data-user=alice] button.reset").await;
    site.rows_become(&[
        ("admin", "2FA enabled", "optional"),
        ("alice", "2FA disabled", "optional"),
        ("erin", "2FA disabled", "optional"),
    ])
    .await;
    site.click("tr[data-user=alice] button.require-now").await;
    site.rows_become(&[
        ("admin", "2FA enabled", "optional"),
        ("alice", "2FA disabled", "required now"),
        ("erin", "2FA disabled", "optional"),
    ])
    .await;
    site.click("#filter-disabled").await;
    site.rows_become(&[
        ("alice", "2FA disabled", "required now"),
        ("erin", "2FA disabled", "optional"),
    ])
    .await;
    site.logout().await;

    // Alice is now sent to enrolment right after her password.
    site.credentials("/login", "alice").await;
    site.wait_for("begin").await;
    assert_eq!(site.path().await, "/account/2fa/enable");
    site.see_containing("message", "required for this account")
        .await;
    let _ = phone.fresh_code();
    site.go("/account").await;
    site.wait_for("begin").await;
    site.logout().await;

    // A thief copies the administrator's session cookie (and the CSRF token on the page).
    site.login_with_code("admin", &mut admin_phone, false).await;
    site.go("/admin").await;
    let admin_table = [
        ("admin", "2FA enabled", "optional"),
        ("alice", "2FA disabled", "required now"),
        ("erin", "2FA disabled", "optional"),
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

    // Attack: the stolen copy cannot reset the administrator's own 2FA (nor take the new stamp
    // that would make it current), nor use any admin page: refused and ended.
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
    site.check_a11y("login page").await;

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

    // From a trusted browser the password is enough for the account, not for the admin pages:
    // they ask for a code first.
    site.logout().await;
    site.login_with_code("admin", &mut admin_phone, true).await;
    site.logout().await;
    site.credentials("/login", "admin").await;
    site.see_containing("message", "trusted browser").await;
    site.go("/admin").await;
    site.wait_for("code").await;
    assert_eq!(site.path().await, "/admin/verify");
    site.check_a11y("admin step-up").await;
    site.fill("code", &admin_phone.code_now().await).await;
    site.click("#verify").await;
    site.rows_become(&admin_table).await;

    site.client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&work);
}
