//! Throttling as the audit trail sees it: the lock is reported once, when it falls.

use std::sync::{Arc, Mutex};

use twofactor::{
    AuditEvent, Clock, EncryptionKey, EnrollmentFlow, FlowConfig, FlowError, KdfParams, KeyRing,
    ManualClock, MemoryStore, ThrottlePolicy,
};

#[tokio::test]
async fn the_lock_is_audited_when_it_falls() {
    let clock = ManualClock::new(1_700_000_010);
    let mut config = FlowConfig::new("Example Co");
    config.kdf = KdfParams::argon2id(64, 1, 1).unwrap();
    // One free failure, then 10 s; locked for an hour at the third.
    config.throttle = ThrottlePolicy::new(1, 10, 10, 3, 3600).unwrap();
    let events: Arc<Mutex<Vec<AuditEvent>>> = Arc::default();
    let sink = events.clone();
    let audit: Box<dyn Fn(&AuditEvent) + Send + Sync> =
        Box::new(move |e: &AuditEvent| sink.lock().unwrap().push(e.clone()));
    let flow = EnrollmentFlow::new(
        MemoryStore::new(),
        KeyRing::new(EncryptionKey::generate(1).unwrap()),
        config,
    )
    .unwrap()
    .with_clock(clock.clone())
    .with_audit(audit);
    let e = flow.begin("u1", "u1").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let code = app.generate_at(clock.now()).unwrap();
    flow.confirm("u1", e.ticket(), code.as_str()).await.unwrap();
    let wrong = if code.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let locks = |events: &Arc<Mutex<Vec<AuditEvent>>>| {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, AuditEvent::Locked { .. }))
            .count()
    };

    clock.advance(60);
    assert!(matches!(
        flow.verify("u1", wrong).await,
        Err(FlowError::InvalidCode { retry_at: None })
    ));
    clock.advance(60);
    assert!(matches!(
        flow.verify("u1", wrong).await,
        Err(FlowError::InvalidCode { retry_at: Some(_) })
    ));
    assert_eq!(locks(&events), 0, "no lock before the limit");
    clock.advance(60);
    assert!(matches!(
        flow.verify("u1", wrong).await,
        Err(FlowError::Locked { .. })
    ));
    assert_eq!(
        locks(&events),
        1,
        "the third failure locks, and says so once"
    );
}
