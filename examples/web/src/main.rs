//! A small but complete website with two-factor authentication, on one SQLite database.
//!
//! Run: `cargo run -p twofactor-web-example`, then open the address it prints.
//!
//! Sign up (the first account is the administrator), enable 2FA from the account page by scanning
//! the QR code, save the recovery codes, log out and in again; tick "Remember this browser for 30
//! days" at the second step to skip it next time (the account page lists trusted browsers to
//! revoke). Add, rename and remove authenticators on the account page. The admin page (after the
//! administrator's own second factor) lists users, resets 2FA and requires it per user: by a
//! date (the user sees a "set up by" banner and may choose "later"), now (the password leads
//! only to enrolment), or not. Administrators must set up 2FA within 14 days of signing up.
//!
//! Environment:
//! - `TWOFACTOR_WEB_DB`: the database file (default `twofactor-web.sqlite3`, created readable by
//!   its owner only).
//! - `TWOFACTOR_KEY` (`ID:BASE64`, as `twofactor key` prints) or `TWOFACTOR_KEY_FILE` (a file
//!   holding it, as `twofactor key --out FILE` writes): the key that seals the 2FA secrets. With
//!   neither, a development key is made on the first run in `<database>.key` (owner-only) and
//!   used from then on (not with `TWOFACTOR_WEB_TLS=proxy`); in production, give the key from
//!   your secret manager.
//! - `TWOFACTOR_WEB_TLS`: `self-signed` serves HTTPS with a certificate made at start for
//!   `localhost` and `127.0.0.1` (for local testing; the browser will warn); `proxy` says a
//!   TLS-terminating proxy serves the site (and adds the client's address to
//!   `X-Forwarded-For`, which the throttling then counts). Either way cookies get `Secure` and
//!   the `__Host-` prefix, and responses HSTS.
//! - `PORT`: the port on 127.0.0.1 (default 3000).

use twofactor_web_example as web;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use twofactor::EncryptionKey;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = std::path::PathBuf::from(
        std::env::var("TWOFACTOR_WEB_DB").unwrap_or_else(|_| "twofactor-web.sqlite3".to_owned()),
    );
    let tls = std::env::var("TWOFACTOR_WEB_TLS").unwrap_or_default();
    // Behind a proxy the site is in production: no development key.
    let key = load_key(&db.with_extension("key"), tls != "proxy")?;
    let https = match tls.as_str() {
        "" => false,
        "self-signed" | "proxy" => true,
        other => {
            return Err(
                format!("TWOFACTOR_WEB_TLS: {other:?} is neither self-signed nor proxy").into(),
            );
        }
    };
    let options = web::Options {
        https,
        behind_proxy: tls == "proxy",
        ..web::Options::default()
    };
    let site = web::build(&db, key, options).await?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    println!("database: {}", db.display());
    if tls == "self-signed" {
        let config = self_signed()?;
        println!("twofactor web example listening on https://{address} (self-signed certificate)");
        axum_server::bind_rustls(
            address,
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
        )
        .serve(
            site.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await?;
    } else {
        let listener = tokio::net::TcpListener::bind(address).await?;
        println!(
            "twofactor web example listening on http://{}",
            listener.local_addr()?
        );
        web::serve(listener, site.router).await?;
    }
    Ok(())
}

/// The sealing key: from `TWOFACTOR_KEY`, the file `TWOFACTOR_KEY_FILE` names, or (development)
/// `dev_file`, made on the first run when `dev` allows.
fn load_key(dev_file: &Path, dev: bool) -> Result<EncryptionKey, Box<dyn std::error::Error>> {
    if let Ok(text) = std::env::var("TWOFACTOR_KEY") {
        return parse_key(&text).map_err(|e| format!("TWOFACTOR_KEY: {e}").into());
    }
    if let Ok(path) = std::env::var("TWOFACTOR_KEY_FILE") {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        return parse_key(&text).map_err(|e| format!("{path}: {e}").into());
    }
    if !dev {
        return Err(
            "set TWOFACTOR_KEY or TWOFACTOR_KEY_FILE (no development key behind a proxy)".into(),
        );
    }
    if let Ok(text) = std::fs::read_to_string(dev_file) {
        web::make_private(dev_file)?;
        return parse_key(&text).map_err(|e| format!("{}: {e}", dev_file.display()).into());
    }
    let key = EncryptionKey::generate(1)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(dev_file)?;
    writeln!(file, "{}", &*key.to_tagged())?;
    eprintln!(
        "made a development sealing key in {} (owner-only); in production set TWOFACTOR_KEY or TWOFACTOR_KEY_FILE",
        dev_file.display()
    );
    Ok(key)
}

/// `ID:BASE64` as a key.
fn parse_key(text: &str) -> Result<EncryptionKey, twofactor::SealError> {
    EncryptionKey::from_tagged(text)
}

/// A TLS configuration with a certificate made now for `localhost` and `127.0.0.1`.
fn self_signed() -> Result<rustls::ServerConfig, Box<dyn std::error::Error>> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
