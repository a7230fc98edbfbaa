//! The quickstart lives in `quickstart.rs` beside this file: `cargo run --example quickstart`.
//! This library target is empty; it exists because a package needs one.
