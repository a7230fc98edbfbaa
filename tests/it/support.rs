//! What tests need from the machine, and the skip rule: outside CI a missing service skips its
//! test with a notice on stderr; with `CI` set (as `.ci/run` does) it fails the run, naming what
//! is missing, so a CI without its database cannot pass by skipping.

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

/// The URL in environment variable `var`, or `None` after [`missing`].
pub fn service_url(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing(what, &format!("set {var}"));
            None
        }
    }
}

/// The PostgreSQL server the tests use (`TWOFACTOR_TEST_POSTGRES_URL`, set by `.ci/run`).
pub fn postgres_url() -> Option<String> {
    service_url("TWOFACTOR_TEST_POSTGRES_URL", "a PostgreSQL server")
}
