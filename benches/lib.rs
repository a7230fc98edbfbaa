//! Benches of `twofactor`, each against a peer or a floor measured in the same run:
//!
//! - `cargo bench -p twofactor-benches --bench verify`: code verification against totp-rs and a
//!   six-compression floor;
//! - `cargo bench -p twofactor-benches --bench flow`: a login end to end through each store
//!   (PostgreSQL when `TWOFACTOR_BENCH_POSTGRES_URL` or `TWOFACTOR_TEST_POSTGRES_URL` is set).
//!
//! Then `python3 benches/summarize.py` prints the medians from `target/criterion`. This library
//! target is empty; it exists because a package needs one.
