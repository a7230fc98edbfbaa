//! Sealed secrets through the public API: records of the first format (`v1`, ChaCha20-Poly1305)
//! still open and move to the current one (`v2`, AES-256-GCM-SIV); no change to any byte of a
//! record's text opens it; decoding any text never panics. The known-answer records come from
//! another implementation (Python `cryptography` on OpenSSL), as in the unit tests.

use proptest::prelude::*;
use twofactor::store::{ReplaceEffects, SecretStore};
use twofactor::{
    Clock, EncryptionKey, EnrollmentFlow, FlowConfig, KdfParams, KeyRing, ManualClock, MemoryStore,
    SealError, SealedSecret, Secret, Totp, TotpParams,
};

/// Key `0x42` × 32 with id 7, nonce `00 01 .. 0b`, user `alice`, secret [`SECRET`].
const SECRET: &[u8] = b"12345678901234567890";
const V1: &str = "v1.7.AAECAwQFBgcICQoL.1XJncq8PRGRQYez88g4OhBGgqWw6hL+Bj+55VS2cEpifU4BY";
const V2: &str = "v2.7.AAECAwQFBgcICQoL.kWOX/g0aalhy/jHtL+7v/pMaXKAZe+7AIdX2Ge6N7Il8vuci";
const T0: u64 = 1_700_000_010;

fn key() -> EncryptionKey {
    EncryptionKey::from_bytes(7, &[0x42; 32]).unwrap()
}

fn secret() -> Secret {
    Secret::danger_from_bytes_allow_80_bit(SECRET).unwrap()
}

#[test]
fn v1_records_open_and_reseal_as_v2() {
    let ring = KeyRing::new(key());
    let v1 = SealedSecret::decode(V1).unwrap();
    assert_eq!(ring.open("alice", &v1).unwrap(), secret());
    assert!(
        ring.needs_reseal(&v1),
        "an old format, even under the current key"
    );
    let resealed = ring.reseal("alice", &v1).unwrap();
    let text = resealed.encode();
    assert!(text.starts_with("v2.7."), "{text}");
    assert!(!ring.needs_reseal(&resealed));
    assert_eq!(
        ring.open("alice", &SealedSecret::decode(&text).unwrap())
            .unwrap(),
        secret()
    );

    let v2 = SealedSecret::decode(V2).unwrap();
    assert_eq!(ring.open("alice", &v2).unwrap(), secret());
    assert!(!ring.needs_reseal(&v2));
    let rotated = KeyRing::new(EncryptionKey::generate(8).unwrap())
        .with_old_key(key())
        .unwrap();
    for old in [&v1, &v2] {
        assert!(rotated.needs_reseal(old));
        let moved = rotated.reseal("alice", old).unwrap();
        assert!(moved.encode().starts_with("v2.8."));
        assert_eq!(rotated.open("alice", &moved).unwrap(), secret());
    }
}

#[test]
fn another_users_record_does_not_open() {
    let ring = KeyRing::new(key());
    for text in [V1, V2] {
        let sealed = SealedSecret::decode(text).unwrap();
        for user in ["bob", "Alice", "alice ", "", "alic"] {
            assert_eq!(
                ring.open(user, &sealed),
                Err(SealError::Authentication),
                "{text} for {user:?}"
            );
            assert_eq!(ring.reseal(user, &sealed), Err(SealError::Authentication));
        }
    }
}

/// Every single-character change of a record's text (format tag, key id, nonce, ciphertext,
/// separators) is refused with a `SealError`, by the decoder or by the AEAD.
#[test]
fn no_changed_byte_opens() {
    let other = EncryptionKey::generate(8).unwrap();
    let ring = KeyRing::new(key()).with_old_key(other.clone()).unwrap();
    let fresh = KeyRing::new(key())
        .seal("alice", &secret())
        .unwrap()
        .encode();
    let replacements = b"AB/+019vV.8x\0-_=";
    for text in [V1, V2, fresh.as_str()] {
        assert_eq!(
            ring.open("alice", &SealedSecret::decode(text).unwrap())
                .unwrap(),
            secret()
        );
        for i in 0..text.len() {
            for &r in replacements {
                let mut bytes = text.as_bytes().to_vec();
                if bytes[i] == r {
                    continue;
                }
                bytes[i] = r;
                let changed = String::from_utf8(bytes).unwrap();
                let opened = SealedSecret::decode(&changed).and_then(|s| ring.open("alice", &s));
                assert!(opened.is_err(), "{changed} opened");
            }
        }
    }
    // Relabelling the format, or naming another key the ring holds, fails authentication.
    for (from, to) in [(V1, "v2."), (V2, "v1.")] {
        let changed = format!("{to}{}", &from[3..]);
        let sealed = SealedSecret::decode(&changed).unwrap();
        assert_eq!(ring.open("alice", &sealed), Err(SealError::Authentication));
    }
    let sealed = SealedSecret::decode(&V2.replacen(".7.", ".8.", 1)).unwrap();
    assert_eq!(ring.open("alice", &sealed), Err(SealError::Authentication));
    let sealed = SealedSecret::decode(&V2.replacen(".7.", ".9.", 1)).unwrap();
    assert_eq!(ring.open("alice", &sealed), Err(SealError::UnknownKey(9)));
}

/// A login over a record still holding a v1 secret works, `reseal_all` moves it to v2 once, and
/// logins go on working.
#[tokio::test]
async fn reseal_all_moves_v1_records_to_v2() {
    let clock = ManualClock::new(T0);
    let store = MemoryStore::new();
    let mut config = FlowConfig::new("Example Co");
    config.kdf = KdfParams::argon2id(64, 1, 1).unwrap();
    let flow = EnrollmentFlow::new(store.clone(), KeyRing::new(key()), config)
        .unwrap()
        .with_clock(clock.clone());
    let e = flow.begin("alice", "alice@example.com").await.unwrap();
    let enrolled = e.uri().to_totp().unwrap();
    let code = enrolled.generate_at(clock.now()).unwrap().to_string();
    flow.confirm("alice", e.ticket(), &code).await.unwrap();

    // Swap the enrolled secret for the v1 record of another secret, as a store written before
    // format v2 holds it.
    let record = store.get("alice").await.unwrap().unwrap();
    let sealed = sealed_values(&record.cold.state);
    assert_eq!(sealed.len(), 1, "{}", record.cold.state);
    assert!(sealed[0].starts_with("v2.7."));
    let mut cold = record.cold.clone();
    cold.state = cold.state.replacen(&sealed[0], V1, 1);
    store
        .replace("alice", record.version, &cold, ReplaceEffects::default())
        .await
        .unwrap();

    let app = Totp::new(&secret(), TotpParams::default());
    clock.advance(30);
    let code = app.generate_at(clock.now()).unwrap().to_string();
    flow.verify("alice", &code).await.unwrap();

    assert_eq!(flow.reseal_all().await.unwrap(), 1);
    assert_eq!(flow.reseal_all().await.unwrap(), 0);
    let state = store.get("alice").await.unwrap().unwrap().cold.state;
    let sealed = sealed_values(&state);
    assert_eq!(sealed.len(), 1, "{state}");
    assert!(sealed[0].starts_with("v2.7."), "{state}");
    assert_ne!(sealed[0], V2, "a fresh nonce");

    clock.advance(30);
    let code = app.generate_at(clock.now()).unwrap().to_string();
    flow.verify("alice", &code).await.unwrap();
}

/// The sealed values in an enrolment state's text.
fn sealed_values(state: &str) -> Vec<String> {
    state
        .split(['|', ','])
        .filter(|field| SealedSecret::decode(field).is_ok())
        .map(str::to_owned)
        .collect()
}

proptest! {
    #[test]
    fn decoding_any_text_never_panics(text in any::<String>()) {
        if let Ok(sealed) = SealedSecret::decode(&text) {
            prop_assert_eq!(sealed.encode(), text);
        }
    }

    #[test]
    fn decoding_near_records_never_panics_and_keeps_one_text(
        base in prop::sample::select(vec![V1, V2]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..4),
    ) {
        let ring = KeyRing::new(key());
        let mut chars: Vec<char> = base.chars().collect();
        let len = chars.len();
        for (at, c) in edits {
            chars[at.index(len)] = c;
        }
        let text: String = chars.into_iter().collect();
        if let Ok(sealed) = SealedSecret::decode(&text) {
            prop_assert_eq!(sealed.encode(), text.clone());
            if text != base {
                prop_assert!(ring.open("alice", &sealed).is_err(), "{} opened", text);
            }
        }
    }
}
