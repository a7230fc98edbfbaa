//! What tests need from the machine, and the skip rule: outside CI a missing service skips its
//! test with a notice on stderr; with `CI` set (as `.ci/run` does) it fails the run, naming what
//! is missing, so a CI without its database cannot pass by skipping.
// Each helper is used by tests behind a feature; without it, some are unused.
#![allow(dead_code)]

/// Whether this run is CI's (the `CI` environment variable is set and not empty or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports a missing requirement: a notice outside CI, a failure inside.
pub fn missing(what: &str, how: &str) {
    if in_ci() {
        panic!("CI requires {what}, which is missing: {how}");
    }
    // Straight to stderr, past the test harness's output capture, so the notice shows in a plain
    // `cargo test` run and not only with `--nocapture`.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {what} is missing ({how}); this test did not run"
    );
}

/// The URL in environment variable `var` if it is set and its server accepts a connection;
/// otherwise `None` after [`missing`].
pub fn service_url(var: &str, what: &str) -> Option<String> {
    let Some(url) = std::env::var(var).ok().filter(|u| !u.is_empty()) else {
        missing(what, &format!("set {var}"));
        return None;
    };
    let address = host_port(&url);
    let reachable = address.as_deref().is_some_and(|a| {
        use std::net::ToSocketAddrs;
        a.to_socket_addrs().is_ok_and(|mut addrs| {
            addrs.any(|addr| {
                std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))
                    .is_ok()
            })
        })
    });
    if !reachable {
        let at = address.unwrap_or_else(|| "an address that does not parse".to_owned());
        missing(
            what,
            &format!("{var} points at {at}, which does not accept a connection"),
        );
        return None;
    }
    Some(url)
}

/// `host:port` of a `scheme://user:password@host:port/database?options` URL.
fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme {
        "mysql" | "mariadb" => 3306,
        _ => 5432,
    };
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    Some(if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    })
}

#[test]
fn service_addresses_are_read_from_urls() {
    assert_eq!(
        host_port("postgres://postgres@127.0.0.1:5432/test").as_deref(),
        Some("127.0.0.1:5432")
    );
    assert_eq!(
        host_port("postgres://u:p@db.internal/app?sslmode=require").as_deref(),
        Some("db.internal:5432")
    );
    assert_eq!(
        host_port("mysql://root@localhost:3306").as_deref(),
        Some("localhost:3306")
    );
    assert_eq!(host_port("nonsense"), None);
}

/// The PostgreSQL server the tests use (`TWOFACTOR_TEST_POSTGRES_URL`, set by `.ci/run`).
pub fn postgres_url() -> Option<String> {
    service_url("TWOFACTOR_TEST_POSTGRES_URL", "a PostgreSQL server")
}

/// The MySQL or MariaDB server the tests use (`TWOFACTOR_TEST_MYSQL_URL`, set by `.ci/run`).
pub fn mysql_url() -> Option<String> {
    service_url("TWOFACTOR_TEST_MYSQL_URL", "a MySQL or MariaDB server")
}

/// Every audit event a [`RecordingFlow`] emitted, in order.
pub type Events = std::sync::Arc<std::sync::Mutex<Vec<twofactor::AuditEvent>>>;

/// An audit sink that is a boxed closure (so the flow's type can be named).
pub type Audit = Box<dyn Fn(&twofactor::AuditEvent) + Send + Sync>;

/// A flow on a [`twofactor::MemoryStore`] and a manual clock, keeping its audit events.
pub type RecordingFlow =
    twofactor::EnrollmentFlow<twofactor::MemoryStore, twofactor::ManualClock, Audit>;

/// A [`RecordingFlow`] with `config` (its recovery-code KDF made cheap for tests) on `clock`, and
/// the events it records.
pub fn recording_flow(
    clock: &twofactor::ManualClock,
    mut config: twofactor::FlowConfig,
) -> (RecordingFlow, Events) {
    config.kdf = twofactor::KdfParams::argon2id(64, 1, 1).unwrap();
    let events: Events = Events::default();
    let sink = events.clone();
    let audit: Audit =
        Box::new(move |e: &twofactor::AuditEvent| sink.lock().unwrap().push(e.clone()));
    let flow = twofactor::EnrollmentFlow::new(
        twofactor::MemoryStore::new(),
        twofactor::KeyRing::new(twofactor::EncryptionKey::generate(1).unwrap()),
        config,
    )
    .unwrap()
    .with_clock(clock.clone())
    .with_audit(audit);
    (flow, events)
}
