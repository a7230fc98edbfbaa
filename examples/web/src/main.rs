//! A small but complete website with two-factor authentication, on the SQLite store.
//!
//! Run: `cargo run -p twofactor-web-example`, then open the address it prints.
//!
//! Sign up (the first account is the administrator), enable 2FA from the account page by scanning
//! the QR code, save the recovery codes, log out and in again; tick "Remember this browser for 30
//! days" at the second step to skip it next time (the account page lists trusted browsers to
//! revoke). The account page warns when recovery codes run low. The admin page lists users,
//! resets 2FA and requires it per user: by a date (the user sees a "set up by" banner and may
//! choose "later"), now (the password leads only to enrolment), or not. Administrators must set up
//! 2FA within 14 days of signing up.
//!
//! Keys: the 2FA secrets' encryption key and the cookie-signing key are generated on the first
//! run and kept in `<database>.keys` (readable by the owner only). In production, load them from
//! your secret manager instead.

use twofactor_web_example as app;

use std::io::Write;

use twofactor::EncryptionKey;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = std::path::PathBuf::from(
        std::env::var("TWOFACTOR_WEB_DB").unwrap_or_else(|_| "twofactor-web.sqlite3".to_owned()),
    );
    let (encryption_key, cookie_key) = load_or_create_keys(&db.with_extension("keys"))?;
    let app = app::build(&db, encryption_key, &cookie_key).await?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "twofactor web example listening on http://{}",
        listener.local_addr()?
    );
    println!("database: {}", db.display());
    axum::serve(listener, app::router(app)).await?;
    Ok(())
}

/// Reads the two keys from `path`, or creates them (owner-only permissions).
fn load_or_create_keys(
    path: &std::path::Path,
) -> Result<(EncryptionKey, Vec<u8>), Box<dyn std::error::Error>> {
    use data_encoding::BASE64_NOPAD;
    if let Ok(text) = std::fs::read_to_string(path) {
        let mut lines = text.lines();
        let key = EncryptionKey::from_base64(1, lines.next().ok_or("missing encryption key")?)?;
        let cookie = BASE64_NOPAD.decode(lines.next().ok_or("missing cookie key")?.as_bytes())?;
        return Ok((key, cookie));
    }
    let key = EncryptionKey::generate(1)?;
    let mut cookie = vec![0u8; 64];
    getrandom::fill(&mut cookie)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(
        file,
        "{}\n{}",
        &*key.expose_base64(),
        BASE64_NOPAD.encode(&cookie)
    )?;
    Ok((key, cookie))
}
