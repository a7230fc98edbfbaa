//! The tree is the architecture: each layer of `src/` uses only the layers below it.
//!
//! ```text
//! otp  <-  seal  <-  flow  ->  store -> otp
//!  ^                  |
//!  +------------------+        qr -> otp
//! ```
//!
//! Every `crate::` path in a layer's files must name an allowed layer (not a root re-export,
//! which would hide the dependency). Since the allowed directions have no cycle, neither do the
//! layers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each layer and the layers it may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("otp", &[]),
    ("seal", &["otp"]),
    ("store", &["otp"]),
    ("flow", &["otp", "seal", "store"]),
    ("qr", &["otp"]),
    ("axum", &["flow", "store"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line, without a trailing `//` comment (doc comments included).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// The identifiers that follow `crate::` in `text`, with `crate::{a, b}` giving `a` and `b`.
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let preceded_by_ident = rest[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[i + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

#[test]
fn layers_depend_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let layer = first.to_str().unwrap().trim_end_matches(".rs");
        let Some(uses) = allowed.get(layer) else {
            continue; // lib.rs (re-exports only) and the command-line tool (a user of the API)
        };
        checked += 1;
        // Joined so that a `use crate::{...}` list over several lines is read whole.
        let text: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(code)
            .collect::<Vec<_>>()
            .join(" ");
        for target in crate_paths(&text) {
            if target != layer && !uses.contains(&target.as_str()) {
                problems.push(format!(
                    "{}: `crate::{target}` (layer `{layer}` may use {uses:?})",
                    relative.display()
                ));
            }
        }
    }
    assert!(checked >= 30, "only {checked} files found under src/");
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_path_scanner_reads_groups_and_single_paths() {
    assert_eq!(
        crate_paths("use crate::otp::{A, B}; use crate::{seal, store::X}; my_crate::y"),
        ["otp", "seal", "store"]
    );
}
