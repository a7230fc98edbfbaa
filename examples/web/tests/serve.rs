//! The binary as its README runs it: over HTTP, and over HTTPS with the self-signed option
//! (`TWOFACTOR_WEB_TLS=self-signed`), answering with the security headers and cookie flags each
//! mode needs; the database and the development key created readable by their owner only; a
//! key given in `TWOFACTOR_KEY` used as given, and a malformed one refused at start.
//!
//! Needs `curl` (on every machine of this kind; under CI a missing one fails the test).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn under_ci() -> bool {
    std::env::var_os("CI")
        .is_some_and(|v| !matches!(v.to_str().map(str::trim), Some("" | "0" | "false")))
}

fn curl_available() -> bool {
    if Command::new("curl").arg("--version").output().is_ok() {
        return true;
    }
    assert!(!under_ci(), "curl missing: required under CI");
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: curl not installed; the served binary was not checked"
    );
    false
}

fn workdir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("twofactor-web-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the binary with `env` on a free port; returns it and the address it printed.
fn start(dir: &Path, env: &[(&str, &str)]) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_twofactor-web-example"));
    command
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("TWOFACTOR_WEB_DB", dir.join("web.sqlite3"))
        .env_remove("TWOFACTOR_KEY")
        .env_remove("TWOFACTOR_KEY_FILE")
        .env_remove("TWOFACTOR_WEB_TLS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(at) = line.find("listening on ") {
            let address = line[at + "listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            return (server, address);
        }
    }
    panic!("the server did not print its address");
}

/// `curl -si` of `url` (`-k`: the self-signed certificate): the status line and headers.
fn head(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sk", "-D", "-", "-o", "/dev/null", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {url}: {out:?}");
    String::from_utf8(out.stdout).unwrap().to_lowercase()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn over_http_with_the_security_headers_and_owner_only_files() {
    if !curl_available() {
        return;
    }
    let dir = workdir("http");
    // A database file others can read (as an older version made it) is made owner-only.
    std::fs::write(dir.join("web.sqlite3"), b"").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let readable = std::fs::Permissions::from_mode(0o644);
        std::fs::set_permissions(dir.join("web.sqlite3"), readable).unwrap();
    }
    let (_server, address) = start(&dir, &[]);
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    let headers = head(&format!("{address}/login"));
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains(
            "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self';"
        ),
        "{headers}"
    );
    assert!(!headers.contains("unsafe-inline"), "{headers}");
    assert!(headers.contains("cache-control: no-store"), "{headers}");
    assert!(headers.contains("x-content-type-options: nosniff"));
    assert!(headers.contains("referrer-policy: no-referrer"));
    assert!(!headers.contains("strict-transport-security"), "{headers}");
    let cookie = headers
        .lines()
        .find(|l| l.starts_with("set-cookie: session="))
        .unwrap_or_else(|| panic!("no session cookie: {headers}"));
    assert!(cookie.contains("httponly") && cookie.contains("samesite=lax"));
    assert!(!cookie.contains("secure"), "{cookie}");
    // The script and stylesheet are files (no inline script anywhere).
    assert!(head(&format!("{address}/static/codes.js")).contains("text/javascript"));
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join("web.sqlite3")), 0o600);
        assert_eq!(mode(&dir.join("web.key")), 0o600);
    }
    let key = std::fs::read_to_string(dir.join("web.key")).unwrap();
    twofactor::EncryptionKey::from_tagged(&key).unwrap();
    drop(_server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn over_https_with_a_self_signed_certificate_host_cookies_and_hsts() {
    if !curl_available() {
        return;
    }
    let dir = workdir("https");
    let key = twofactor::EncryptionKey::generate(4).unwrap().to_tagged();
    let (_server, address) = start(
        &dir,
        &[
            ("TWOFACTOR_WEB_TLS", "self-signed"),
            ("TWOFACTOR_KEY", &key),
        ],
    );
    assert!(address.starts_with("https://127.0.0.1:"), "{address}");
    let headers = head(&format!("{address}/login"));
    assert!(
        headers.starts_with("http/2 200") || headers.starts_with("http/1.1 200"),
        "{headers}"
    );
    assert!(
        headers.contains("strict-transport-security: max-age=31536000; includesubdomains"),
        "{headers}"
    );
    let cookie = headers
        .lines()
        .find(|l| l.starts_with("set-cookie: __host-session="))
        .unwrap_or_else(|| panic!("no __Host- session cookie: {headers}"));
    assert!(
        cookie.contains("secure") && cookie.contains("path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("domain="), "{cookie}");
    // The key came from the environment: no development key file was made.
    assert!(!dir.join("web.key").exists());
    // Plain HTTP to the HTTPS port gets no page.
    let plain = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(address.replace("https://", "http://") + "/login")
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200");
    drop(_server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_key_is_refused_at_start() {
    let dir = workdir("badkey");
    let out = Command::new(env!("CARGO_BIN_EXE_twofactor-web-example"))
        .current_dir(&dir)
        .env("TWOFACTOR_WEB_DB", dir.join("web.sqlite3"))
        .env("TWOFACTOR_KEY", "not a key")
        .env_remove("TWOFACTOR_KEY_FILE")
        .env("PORT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TWOFACTOR_KEY"), "{stderr}");
    assert!(
        !stderr.contains("not a key"),
        "the value is not echoed: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
