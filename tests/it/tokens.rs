//! The values an application keeps in its session, in their public forms: the text they are
//! kept as, and what `Debug` shows of them.

use twofactor::{
    Clock, EncryptionKey, EnrollmentFlow, FactorStamp, FlowConfig, KdfParams, KeyRing, ManualClock,
    MemoryStore, Reauth, RecentVerification,
};

const STAMP: &str = "AAECAwQFBgcICQoLDA0ODw";

#[test]
fn a_factor_stamp_prints_its_text() {
    let stamp: FactorStamp = STAMP.parse().unwrap();
    assert_eq!(stamp.to_string(), STAMP);
    assert_eq!(format!("{stamp:?}"), format!("FactorStamp({STAMP})"));
}

#[cfg(feature = "serde")]
#[test]
fn a_factor_stamp_serializes_as_its_text() {
    let stamp: FactorStamp = STAMP.parse().unwrap();
    let json = serde_json::to_string(&stamp).unwrap();
    assert_eq!(json, format!("\"{STAMP}\""));
    assert_eq!(serde_json::from_str::<FactorStamp>(&json).unwrap(), stamp);
    assert!(serde_json::from_str::<FactorStamp>("\"not a stamp\"").is_err());
}

#[test]
fn reauth_never_prints_the_factor() {
    let text = format!("{:?}", Reauth::factor("ABCD-EFGH-JKMN-PQRS"));
    assert!(text.starts_with("Reauth"), "{text}");
    assert!(
        text.contains("[redacted]") && !text.contains("ABCD"),
        "{text}"
    );
}

#[tokio::test]
async fn a_proof_kept_as_text_still_proves() {
    let clock = ManualClock::new(1_700_000_010);
    let mut config = FlowConfig::new("Example Co");
    config.kdf = KdfParams::argon2id(64, 1, 1).unwrap();
    let flow = EnrollmentFlow::new(
        MemoryStore::new(),
        KeyRing::new(EncryptionKey::generate(1).unwrap()),
        config,
    )
    .unwrap()
    .with_clock(clock.clone());
    let e = flow.begin("u1", "u1").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let code = app.generate_at(clock.now()).unwrap();
    flow.confirm("u1", e.ticket(), code.as_str()).await.unwrap();
    clock.advance(30);
    let code = app.generate_at(clock.now()).unwrap();
    let login = flow.verify("u1", code.as_str()).await.unwrap();

    // What the session stores, and what comes back from it.
    let text = login.proof.expose().to_owned();
    assert!(text.len() > 40, "{text}");
    let back = RecentVerification::from_session(&text);
    assert_eq!(back.expose(), text);
    assert!(
        flow.regenerate_recovery_codes("u1", &back).await.is_ok(),
        "the proof read back from its text is refused"
    );
}
