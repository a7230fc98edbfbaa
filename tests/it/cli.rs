//! The command-line tool, driven as a user would.
#![cfg(feature = "cli")]

use std::process::{Command, Output};

const B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn twofactor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twofactor"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn code_prints_the_code_alone() {
    let out = twofactor(&["code", "--secret", B32, "--time", "59", "--digits", "8"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "94287082\n");
    let out = twofactor(&[
        "code",
        "--secret",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA",
        "--time",
        "1111111109",
        "--digits",
        "8",
        "--algorithm",
        "SHA256",
    ]);
    assert_eq!(stdout(&out), "68084774\n");
    let out = twofactor(&["code", "--secret", B32, "--hotp", "--counter", "9"]);
    assert_eq!(stdout(&out), "520489\n");
    let out = twofactor(&["code", "--secret", B32, "--counter", "1"]);
    assert_eq!(stdout(&out), "287082\n");
    let out = twofactor(&[
        "code", "--secret", B32, "--time", "90", "--period", "60", "--digits", "8",
    ]);
    assert_eq!(stdout(&out), "94287082\n");
}

#[test]
fn verify_exits_0_with_the_step_or_1() {
    let ok = twofactor(&[
        "verify", "--secret", B32, "--code", "94287082", "--time", "59", "--digits", "8",
    ]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(stdout(&ok), "1\n");
    // One step later is still within the default window of 1.
    let ok = twofactor(&[
        "verify", "--secret", B32, "--code", "94287082", "--time", "89", "--digits", "8",
    ]);
    assert_eq!(stdout(&ok), "1\n");
    let late = twofactor(&[
        "verify", "--secret", B32, "--code", "94287082", "--time", "119", "--digits", "8",
        "--window", "0",
    ]);
    assert_eq!(late.status.code(), Some(1));
    assert!(stdout(&late).is_empty());
    let hotp = twofactor(&[
        "verify",
        "--secret",
        B32,
        "--code",
        "969429",
        "--hotp",
        "--counter",
        "0",
        "--window",
        "3",
    ]);
    assert_eq!(
        (hotp.status.code(), stdout(&hotp)),
        (Some(0), "3\n".to_owned())
    );
    let malformed = twofactor(&[
        "verify", "--secret", B32, "--code", "12ab56", "--time", "59",
    ]);
    assert_eq!(malformed.status.code(), Some(1));
}

#[test]
fn secret_uri_and_recovery() {
    let out = twofactor(&["secret"]);
    let secret = stdout(&out).trim().to_owned();
    assert_eq!(secret.len(), 32);
    let out = twofactor(&["secret", "--bytes", "64"]);
    assert_eq!(stdout(&out).trim().len(), 103);
    assert_eq!(
        twofactor(&["secret", "--bytes", "8"]).status.code(),
        Some(2)
    );

    let out = twofactor(&[
        "uri",
        "--secret",
        &secret,
        "--issuer",
        "Example Co",
        "--account",
        "alice@example.com",
    ]);
    assert_eq!(
        stdout(&out),
        format!(
            "otpauth://totp/Example%20Co:alice@example.com?secret={secret}&issuer=Example%20Co&algorithm=SHA1&digits=6&period=30\n"
        )
    );
    let out = twofactor(&[
        "uri",
        "--secret",
        &secret,
        "--issuer",
        "A:B",
        "--account",
        "alice",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = twofactor(&[
        "uri",
        "--secret",
        &secret,
        "--issuer",
        "X",
        "--account",
        "a",
        "--digits",
        "8",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: 8 digits"));

    let out = twofactor(&["recovery", "--count", "4"]);
    let codes: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(codes.len(), 4);
    assert!(codes.iter().all(|c| c.len() == 19));
}

#[test]
fn inspect_prints_one_json_object() {
    let out = twofactor(&[
        "inspect",
        "otpauth://totp/ACME%20Co:john@example.com?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq&issuer=ACME%20Co&algorithm=sha256&digits=8&image=x",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["type"], "totp");
    assert_eq!(v["issuer"], "ACME Co");
    assert_eq!(v["account"], "john@example.com");
    assert_eq!(v["secret"], B32);
    assert_eq!(v["algorithm"], "SHA256");
    assert_eq!(v["digits"], 8);
    assert_eq!(v["period"], 30);
    assert!(v.get("counter").is_none());
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 3, "{warnings:?}");

    let out = twofactor(&[
        "inspect",
        &format!("otpauth://hotp/bob?secret={B32}&counter=5"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["type"], "hotp");
    assert_eq!(v["issuer"], serde_json::Value::Null);
    assert_eq!(v["counter"], 5);
    assert!(v.get("period").is_none());

    let out = twofactor(&["inspect", "otpauth://totp/x?digits=10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid URI"));
}

#[test]
fn qr_renders_locally_in_every_format() {
    let uri = format!("otpauth://totp/Example:alice?secret={B32}&issuer=Example");
    let term = twofactor(&["qr", &uri]);
    assert!(term.status.success());
    assert!(stdout(&term).contains('█'));
    let svg = twofactor(&["qr", &uri, "--format", "svg", "--size", "200"]);
    assert!(stdout(&svg).starts_with("<svg") && stdout(&svg).contains("width=\"200\""));
    let dir = std::env::temp_dir().join(format!("twofactor-cli-qr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("qr.png");
    let png = twofactor(&[
        "qr",
        &uri,
        "--format",
        "png",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(png.status.success());
    assert!(std::fs::read(&file).unwrap().starts_with(b"\x89PNG"));
    let bad = twofactor(&["qr", "https://example.com"]);
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_prints_a_new_sealing_key_or_writes_it_owner_only() {
    let out = twofactor(&["key", "--id", "7"]);
    assert!(out.status.success());
    let printed = stdout(&out);
    let (id, key) = printed.trim().split_once(':').unwrap();
    assert_eq!(id, "7");
    twofactor::EncryptionKey::from_base64(7, key).unwrap();
    // Two runs, two keys.
    assert_ne!(stdout(&twofactor(&["key"])), stdout(&twofactor(&["key"])));

    let dir = std::env::temp_dir().join(format!("twofactor-cli-key-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sealing.key");
    let out = twofactor(&["key", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout(&out).contains(':'), "the key is not printed");
    let text = std::fs::read_to_string(&file).unwrap();
    let (id, key) = text.trim().split_once(':').unwrap();
    assert_eq!(id, "1");
    twofactor::EncryptionKey::from_base64(1, key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // An existing file is never overwritten.
    let again = twofactor(&["key", "--out", file.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    std::fs::remove_dir_all(&dir).unwrap();
}
