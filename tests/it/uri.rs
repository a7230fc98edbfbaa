//! otpauth:// URIs: building, parsing what real URIs contain, and typed refusals.

use twofactor::{
    Algorithm, Digits, IssuerPolicy, OtpAuthUri, OtpKind, ParamError, ParseOptions, Period, Secret,
    SecretError, UriError, UriWarning,
};

/// 160-bit secret used throughout.
const B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn secret() -> Secret {
    Secret::from_base32(B32).unwrap()
}

fn parse(uri: &str) -> Result<OtpAuthUri, UriError> {
    OtpAuthUri::parse(uri)
}

#[test]
fn built_uris_put_the_secret_first_and_encode_spaces_as_percent_20() {
    let uri = OtpAuthUri::totp(secret(), "alice smith@example.com")
        .unwrap()
        .with_issuer("Big Corp & Sons")
        .unwrap();
    let text = uri.expose_uri();
    assert_eq!(
        &*text,
        "otpauth://totp/Big%20Corp%20%26%20Sons:alice%20smith@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Big%20Corp%20%26%20Sons&algorithm=SHA1&digits=6&period=30"
    );
    assert!(!text.contains('+'));
    assert_eq!(parse(&text).unwrap(), uri);
}

#[test]
fn hotp_and_non_default_settings_round_trip_with_warnings() {
    let uri = OtpAuthUri::hotp(Secret::generate(Algorithm::Sha512).unwrap(), "bob", 42)
        .unwrap()
        .with_issuer("Société Générale")
        .unwrap()
        .with_algorithm(Algorithm::Sha512)
        .with_digits(Digits::EIGHT);
    let text = uri.expose_uri();
    assert!(text.starts_with("otpauth://hotp/Soci%C3%A9t%C3%A9%20G%C3%A9n%C3%A9rale:bob?secret="));
    assert!(text.ends_with("&algorithm=SHA512&digits=8&counter=42"));
    let back = parse(&text).unwrap();
    assert_eq!(back, uri);
    assert_eq!(back.kind(), OtpKind::Hotp { counter: 42 });
    assert_eq!(
        back.warnings(),
        vec![
            UriWarning::Algorithm(Algorithm::Sha512),
            UriWarning::Digits(Digits::EIGHT),
            UriWarning::Hotp,
        ]
    );

    let slow = OtpAuthUri::totp(secret(), "carol")
        .unwrap()
        .with_period(Period::new(60).unwrap());
    assert_eq!(
        slow.warnings(),
        vec![
            UriWarning::Period(Period::new(60).unwrap()),
            UriWarning::MissingIssuer
        ]
    );
    assert!(slow.warnings().iter().all(|w| !w.to_string().is_empty()));
}

#[test]
fn the_builder_refuses_colons_and_empty_names() {
    assert_eq!(
        OtpAuthUri::totp(secret(), "a:b").unwrap_err(),
        UriError::Name
    );
    assert_eq!(OtpAuthUri::totp(secret(), "").unwrap_err(), UriError::Name);
    assert_eq!(
        OtpAuthUri::totp(secret(), " alice").unwrap_err(),
        UriError::Name
    );
    assert_eq!(
        OtpAuthUri::totp(secret(), "alice\n").unwrap_err(),
        UriError::Name
    );
    let base = OtpAuthUri::totp(secret(), "alice").unwrap();
    assert_eq!(base.clone().with_issuer("A:B").unwrap_err(), UriError::Name);
    assert_eq!(
        base.with_issuer(&"x".repeat(300)).unwrap_err(),
        UriError::TooLong
    );
}

/// The example from the Key Uri Format page (an 80-bit secret, as its example uses).
#[test]
fn the_key_uri_format_example() {
    let uri =
        parse("otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example")
            .unwrap();
    assert_eq!(uri.issuer(), Some("Example"));
    assert_eq!(uri.account(), "alice@google.com");
    assert_eq!(uri.secret().bits(), 80);
    assert_eq!(uri.warnings(), vec![UriWarning::ShortSecret { bits: 80 }]);
    // Without the import allowance, 80 bits are refused.
    let strict = ParseOptions {
        allow_80_bit_secrets: false,
        ..ParseOptions::default()
    };
    assert_eq!(
        OtpAuthUri::parse_with(
            "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
            strict
        )
        .unwrap_err(),
        UriError::Secret(SecretError::TooShort {
            bits: 80,
            min_bits: 128
        })
    );
}

#[test]
fn what_real_uris_contain() {
    // Lower-case and hyphenated algorithm names.
    let u = parse(&format!("otpauth://totp/A:b?secret={B32}&algorithm=sha256")).unwrap();
    assert_eq!(u.algorithm(), Algorithm::Sha256);
    let u = parse(&format!("otpauth://totp/A:b?secret={B32}&algorithm=SHA-1")).unwrap();
    assert_eq!(u.algorithm(), Algorithm::Sha1);
    // Upper-case scheme, type and parameter names.
    let u = parse(&format!("OTPAUTH://TOTP/A:b?SECRET={B32}&Digits=8")).unwrap();
    assert_eq!(u.digits(), Digits::EIGHT);
    // A padded, lower-case, spaced secret.
    let u = parse("otpauth://totp/A:b?secret=gezd%20gnbv%20gy3t%20qojq%20gezdgnbvgy3tqojq====")
        .unwrap();
    assert_eq!(u.secret(), &secret());
    // Percent-encoded colon, and spaces after it.
    let u = parse(&format!(
        "otpauth://totp/ACME%20Co%3A%20%20john@example.com?secret={B32}"
    ))
    .unwrap();
    assert_eq!(
        (u.issuer(), u.account()),
        (Some("ACME Co"), "john@example.com")
    );
    let u = parse(&format!("otpauth://totp/ACME:  john?secret={B32}")).unwrap();
    assert_eq!((u.issuer(), u.account()), (Some("ACME"), "john"));
    // A label without issuer, and no label at all.
    let u = parse(&format!("otpauth://totp/john?secret={B32}&issuer=ACME")).unwrap();
    assert_eq!((u.issuer(), u.account()), (Some("ACME"), "john"));
    let u = parse(&format!("otpauth://totp/?secret={B32}")).unwrap();
    assert_eq!((u.issuer(), u.account()), (None, ""));
    let u = parse(&format!("otpauth://totp?secret={B32}&issuer=ACME")).unwrap();
    assert_eq!((u.issuer(), u.account()), (Some("ACME"), ""));
    // Unknown parameters are ignored and named in the warnings.
    let u = parse(&format!(
        "otpauth://totp/A:b?secret={B32}&issuer=A&image=https%3A%2F%2Fx%2Fy.png&lock=true&color=ff0000"
    ))
    .unwrap();
    assert_eq!(
        u.warnings(),
        vec![
            UriWarning::UnknownParameter("image".into()),
            UriWarning::UnknownParameter("lock".into()),
            UriWarning::UnknownParameter("color".into()),
        ]
    );
    // `+` for a space in a parameter value, as form encoders write it.
    let u = parse(&format!(
        "otpauth://totp/Big%20Corp:b?secret={B32}&issuer=Big+Corp"
    ))
    .unwrap();
    assert_eq!(u.issuer(), Some("Big Corp"));
    assert!(!u.warnings().contains(&UriWarning::IssuerMismatch));
    // A period on an HOTP URI is ignored; a fragment is ignored.
    let u = parse(&format!(
        "otpauth://hotp/A:b?secret={B32}&counter=7&period=60#frag"
    ))
    .unwrap();
    assert_eq!(u.kind(), OtpKind::Hotp { counter: 7 });
    // Surrounding white space (pasted text).
    assert!(parse(&format!("  otpauth://totp/A:b?secret={B32}\n")).is_ok());
}

#[test]
fn conflicting_issuers_follow_the_policy() {
    let text = format!("otpauth://totp/Label%20Co:bob?secret={B32}&issuer=Param%20Co");
    let lenient = parse(&text).unwrap();
    assert_eq!(lenient.issuer(), Some("Param Co"));
    assert!(lenient.warnings().contains(&UriWarning::IssuerMismatch));
    let strict = ParseOptions {
        issuer_policy: IssuerPolicy::Strict,
        ..ParseOptions::default()
    };
    assert_eq!(
        OtpAuthUri::parse_with(&text, strict).unwrap_err(),
        UriError::IssuerMismatch
    );
    // Agreeing issuers are fine under either policy.
    let agreeing = format!("otpauth://totp/Co:bob?secret={B32}&issuer=Co");
    assert!(OtpAuthUri::parse_with(&agreeing, strict).is_ok());
}

#[test]
fn typed_refusals() {
    let cases: Vec<(String, UriError)> = vec![
        (format!("https://totp/A:b?secret={B32}"), UriError::Scheme),
        ("otpauth:/totp/A:b".into(), UriError::Scheme),
        (format!("otpauth://xotp/A:b?secret={B32}"), UriError::Type),
        (format!("otpauth:///A:b?secret={B32}"), UriError::Type),
        (
            "otpauth://totp/A:b?issuer=A".into(),
            UriError::MissingSecret,
        ),
        (
            "otpauth://totp/A:b?secret=GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ".into(),
            UriError::Secret(SecretError::InvalidBase32 { position: 15 }),
        ),
        (
            "otpauth://totp/A:b?secret=".into(),
            UriError::Secret(SecretError::TooShort {
                bits: 0,
                min_bits: 80,
            }),
        ),
        (
            format!("otpauth://hotp/A:b?secret={B32}"),
            UriError::MissingCounter,
        ),
        (
            format!("otpauth://hotp/A:b?secret={B32}&counter=-1"),
            UriError::Counter,
        ),
        (
            format!("otpauth://hotp/A:b?secret={B32}&counter=18446744073709551616"),
            UriError::Counter,
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&digits=10"),
            UriError::Param(ParamError::Digits(10)),
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&digits=5"),
            UriError::Param(ParamError::Digits(5)),
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&period=0"),
            UriError::Param(ParamError::Period),
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&period=abc"),
            UriError::Param(ParamError::Period),
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&algorithm=MD5"),
            UriError::Param(ParamError::Algorithm),
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&secret={B32}"),
            UriError::DuplicateParameter("secret"),
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&Issuer=x&issuer=y"),
            UriError::DuplicateParameter("issuer"),
        ),
        (
            format!("otpauth://totp/A:b:c?secret={B32}"),
            UriError::Label,
        ),
        (
            format!("otpauth://totp/A%3Ab%3Ac?secret={B32}"),
            UriError::Label,
        ),
        (
            format!("otpauth://totp/A:b%0A?secret={B32}"),
            UriError::Label,
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&issuer=A%0A"),
            UriError::Label,
        ),
        (
            format!("otpauth://totp/A%zz:b?secret={B32}"),
            UriError::Encoding,
        ),
        (
            format!("otpauth://totp/A%FF:b?secret={B32}"),
            UriError::Encoding,
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&issuer=%"),
            UriError::Encoding,
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&x={}", "y".repeat(5000)),
            UriError::TooLong,
        ),
        (
            format!("otpauth://totp/{}:b?secret={B32}", "y".repeat(300)),
            UriError::TooLong,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse(&text).err(), Some(want), "{text}");
    }
}

#[test]
fn debug_never_shows_the_secret() {
    let uri = OtpAuthUri::totp(secret(), "alice").unwrap();
    let printed = format!("{uri:?}");
    assert!(printed.contains("[redacted]"));
    assert!(!printed.contains(B32));
}

#[test]
fn uris_become_verifiers() {
    let uri = parse(&format!("otpauth://totp/A:b?secret={B32}&digits=8")).unwrap();
    let totp = uri.to_totp().unwrap();
    assert_eq!(totp.generate_at(59).unwrap().as_str(), "94287082");
    assert!(uri.to_hotp().is_none());
    let uri = parse(&format!("otpauth://hotp/A:b?secret={B32}&counter=0")).unwrap();
    assert_eq!(uri.to_hotp().unwrap().generate(0).as_str(), "755224");
    assert!(uri.to_totp().is_none());
}
