//! The integration tests: one binary, a module per concern.
//!
//! Services (PostgreSQL, oathtool) are found through [`support`]: outside CI a missing one skips
//! its test with a visible notice; with `CI` set, it fails the run.
// Tests report by panicking: unwrap and expect are how they say what they expected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod hooked;
mod support;

// The pure core.
mod oathtool;
mod properties;
mod rfc_vectors;
mod uri;
mod verify;

// Stores: each runs the public conformance kit.
mod store_memory;
mod store_mysql;
mod store_postgres;
mod store_sqlite;
mod store_sqlx_postgres;
mod store_sqlx_sqlite;

// The flow.
mod authenticators;
mod enumeration;
mod flow;
mod flow_model;
mod flow_servers;
mod import;
mod replaced;
mod required;
#[cfg(feature = "serde")]
mod serde_outcomes;
mod sessions;
mod throttling;
mod tokens;
mod trust;

// Around it.
mod cli;
mod layout;
mod qr;
mod seal;
