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

/// Review finding: `%73ecret` is `secret` (RFC 3986 §2.3, §6.2.2.2), so a URI cannot smuggle a
/// second secret past this parser that another parser would read.
#[test]
fn percent_encoded_parameter_names_are_decoded_before_matching() {
    const OTHER: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    // The attack, exactly: a second secret behind an encoded name.
    let attack = format!("otpauth://totp/A:b?secret={B32}&%73ecret={OTHER}");
    let err = parse(&attack).unwrap_err();
    assert_eq!(err, UriError::DuplicateParameter("secret"));
    // The refusal names the parameter, never either secret.
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(B32) && !shown.contains(OTHER), "{shown}");
    }
    // Either order, any encoded letter, any case of the escape and of the name.
    for text in [
        format!("otpauth://totp/A:b?%73ecret={OTHER}&secret={B32}"),
        format!("otpauth://totp/A:b?secret={B32}&s%65cr%65t={OTHER}"),
        format!("otpauth://totp/A:b?secret={B32}&%53%45%43%52%45%54={OTHER}"),
        format!("otpauth://totp/A:b?secret={B32}&%73ECRET={OTHER}"),
    ] {
        assert_eq!(
            parse(&text).unwrap_err(),
            UriError::DuplicateParameter("secret"),
            "{text}"
        );
    }
    assert_eq!(
        parse(&format!(
            "otpauth://totp/A:b?secret={B32}&issuer=A&%69ssuer=B"
        ))
        .unwrap_err(),
        UriError::DuplicateParameter("issuer")
    );
    // Alone, an encoded name is the parameter itself.
    let u = parse(&format!(
        "otpauth://totp/A:b?%73ecret={B32}&issuer=A&%64igits=8"
    ))
    .unwrap();
    assert_eq!(u.secret(), &secret());
    assert_eq!(u.digits(), Digits::EIGHT);
    assert_eq!(u.warnings(), vec![UriWarning::Digits(Digits::EIGHT)]);
    // Unknown names are reported decoded.
    let u = parse(&format!(
        "otpauth://totp/A:b?secret={B32}&issuer=A&%69mage=x&c%6Flor=red&caf%C3%A9=1"
    ))
    .unwrap();
    assert_eq!(
        u.warnings(),
        vec![
            UriWarning::UnknownParameter("image".into()),
            UriWarning::UnknownParameter("color".into()),
            UriWarning::UnknownParameter("café".into()),
        ]
    );
    // A malformed escape or invalid UTF-8 in a name is the typed encoding error.
    for text in [
        format!("otpauth://totp/A:b?secret={B32}&%2=x"),
        format!("otpauth://totp/A:b?%7secret={B32}"),
        format!("otpauth://totp/A:b?secret={B32}&x%zz=1"),
        format!("otpauth://totp/A:b?secret={B32}&%"),
        format!("otpauth://totp/A:b?secret={B32}&%FF=1"),
        format!("otpauth://totp/A:b?secret={B32}&%C3=1"),
    ] {
        assert_eq!(parse(&text).unwrap_err(), UriError::Encoding, "{text}");
    }
}

/// Review finding: `encoder=steam` (Steam Guard's five-character codes, as KeePassXC writes it)
/// must not be read as ordinary TOTP, which would yield wrong codes.
#[test]
fn parameters_that_change_the_code_computation_are_refused() {
    let err = parse(&format!(
        "otpauth://totp/Steam:bob?secret={B32}&issuer=Steam&encoder=steam"
    ))
    .unwrap_err();
    assert_eq!(
        err,
        UriError::UnsupportedEncoding {
            parameter: "encoder",
            value: "steam".into(),
        }
    );
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(B32), "{shown}");
    }
    assert!(err.to_string().contains("encoder=steam"));
    // As KeePassXC writes it (digits=5 would be refused anyway; the encoder is the reason given).
    assert_eq!(
        parse(&format!(
            "otpauth://totp/Steam:bob?secret={B32}&period=30&digits=5&issuer=Steam&encoder=steam"
        ))
        .unwrap_err(),
        UriError::UnsupportedEncoding {
            parameter: "encoder",
            value: "steam".into(),
        }
    );
    // Any value, any spelling of the name, on HOTP too, and whether or not a secret follows:
    // there is no standard value to tolerate.
    let cases = [
        (
            format!("otpauth://totp/A:b?secret={B32}&ENCODER=Steam"),
            "Steam",
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&%65ncoder=steam"),
            "steam",
        ),
        (format!("otpauth://totp/A:b?secret={B32}&encoder="), ""),
        (format!("otpauth://totp/A:b?secret={B32}&encoder"), ""),
        (
            format!("otpauth://totp/A:b?secret={B32}&encoder=default"),
            "default",
        ),
        (
            format!("otpauth://totp/A:b?secret={B32}&encoder=st%0Aeam"),
            "steam",
        ),
        (
            format!("otpauth://hotp/A:b?secret={B32}&counter=1&encoder=steam"),
            "steam",
        ),
        ("otpauth://totp/A:b?encoder=steam".to_owned(), "steam"),
    ];
    for (text, value) in cases {
        assert_eq!(
            parse(&text).unwrap_err(),
            UriError::UnsupportedEncoding {
                parameter: "encoder",
                value: value.into(),
            },
            "{text}"
        );
    }
    // Given twice, it is ambiguous before it is unsupported; malformed, it is malformed.
    assert_eq!(
        parse(&format!(
            "otpauth://totp/A:b?secret={B32}&encoder=steam&encoder=steam"
        ))
        .unwrap_err(),
        UriError::DuplicateParameter("encoder")
    );
    assert_eq!(
        parse(&format!("otpauth://totp/A:b?secret={B32}&encoder=%2")).unwrap_err(),
        UriError::Encoding
    );
    // Steam's own URI type was refused before, and still is.
    assert_eq!(
        parse(&format!("otpauth://steam/Steam:bob?secret={B32}")).unwrap_err(),
        UriError::Type
    );
}

/// Review finding: an empty account name is imported, but not without a word.
#[test]
fn an_empty_account_name_is_tolerated_with_a_warning() {
    let u = parse(&format!("otpauth://totp/ACME:?secret={B32}")).unwrap();
    assert_eq!((u.issuer(), u.account()), (Some("ACME"), ""));
    assert_eq!(u.warnings(), vec![UriWarning::EmptyAccountName]);
    assert!(!UriWarning::EmptyAccountName.to_string().is_empty());
    // Spaces only after the colon, and the issuer as a parameter.
    let u = parse(&format!(
        "otpauth://totp/ACME:%20%20?secret={B32}&issuer=ACME"
    ))
    .unwrap();
    assert_eq!(u.account(), "");
    assert_eq!(u.warnings(), vec![UriWarning::EmptyAccountName]);
    // An empty label, and no label at all.
    let u = parse(&format!("otpauth://totp/?secret={B32}")).unwrap();
    assert_eq!(
        u.warnings(),
        vec![UriWarning::MissingIssuer, UriWarning::EmptyAccountName]
    );
    let u = parse(&format!("otpauth://totp?secret={B32}&issuer=ACME")).unwrap();
    assert_eq!(u.warnings(), vec![UriWarning::EmptyAccountName]);
    // Re-encoded, it stays empty and keeps its warning.
    let again = parse(
        &parse(&format!("otpauth://totp/ACME:?secret={B32}"))
            .unwrap()
            .expose_uri(),
    )
    .unwrap();
    assert_eq!(again.account(), "");
    assert_eq!(again.warnings(), vec![UriWarning::EmptyAccountName]);
    // A named account gets no such warning; the builder still refuses empty names.
    let u = parse(&format!("otpauth://totp/ACME:bob?secret={B32}")).unwrap();
    assert!(u.warnings().is_empty());
    assert_eq!(OtpAuthUri::totp(secret(), "").unwrap_err(), UriError::Name);
    assert_eq!(
        OtpAuthUri::totp(secret(), "  ").unwrap_err(),
        UriError::Name
    );
    assert_eq!(
        OtpAuthUri::hotp(secret(), "", 0).unwrap_err(),
        UriError::Name
    );
}

#[test]
fn a_uri_exactly_at_the_length_limit_parses_and_one_byte_more_does_not() {
    let base = format!("otpauth://totp/Example:alice?secret={B32}&issuer=Example&image=");
    let at_limit = format!(
        "{base}{}",
        "E".repeat(twofactor::otp::MAX_URI_LEN - base.len())
    );
    assert_eq!(at_limit.len(), twofactor::otp::MAX_URI_LEN);
    assert_eq!(parse(&at_limit).unwrap().account(), "alice");
    assert_eq!(
        parse(&format!("{at_limit}E")).unwrap_err(),
        UriError::TooLong
    );
}

#[test]
fn a_secret_of_exactly_128_bits_draws_no_short_secret_warning() {
    // 16 bytes: the minimum, not below it.
    let uri =
        parse("otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY&issuer=Example")
            .unwrap();
    assert_eq!(uri.warnings(), Vec::<UriWarning>::new());
}

#[test]
fn a_plus_in_the_label_is_a_plus_and_in_the_query_a_space() {
    let uri = parse(&format!(
        "otpauth://totp/alice+work?secret={B32}&issuer=Example+Co"
    ))
    .unwrap();
    assert_eq!(uri.account(), "alice+work");
    assert_eq!(uri.issuer(), Some("Example Co"));
}

#[test]
fn names_of_exactly_the_name_limit_are_kept_and_one_byte_more_is_refused() {
    let max = twofactor::otp::MAX_NAME_LEN;
    let name = "a".repeat(max);
    let built = OtpAuthUri::totp(secret(), &name).unwrap();
    assert_eq!(built.account(), name);
    assert_eq!(
        OtpAuthUri::totp(secret(), &format!("{name}a")).unwrap_err(),
        UriError::TooLong
    );
    let parsed = parse(&format!("otpauth://totp/{name}?secret={B32}")).unwrap();
    assert_eq!(parsed.account(), name);
    assert_eq!(
        parse(&format!("otpauth://totp/{name}a?secret={B32}")).unwrap_err(),
        UriError::TooLong
    );
}
