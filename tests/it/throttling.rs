//! Throttling as the audit trail sees it: the lock is reported once, when it falls.

use crate::support::{Events, RecordingFlow, recording_flow};
use twofactor::{AuditEvent, Clock, FlowConfig, FlowError, ManualClock, ThrottlePolicy};

/// A user enrolled under `policy`, on a manual clock, with every audit event kept.
struct Enrolled {
    flow: RecordingFlow,
    clock: ManualClock,
    events: Events,
    app: twofactor::Totp,
    /// A code that is not the current one.
    wrong: &'static str,
}

async fn enrolled(policy: ThrottlePolicy) -> Enrolled {
    let clock = ManualClock::new(1_700_000_010);
    let mut config = FlowConfig::new("Example Co");
    config.throttle = policy;
    let (flow, events) = recording_flow(&clock, config);
    let e = flow.begin("u1", "u1").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let code = app.generate_at(clock.now()).unwrap();
    flow.confirm("u1", e.ticket(), code.as_str()).await.unwrap();
    let wrong = if code.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };
    Enrolled {
        flow,
        clock,
        events,
        app,
        wrong,
    }
}

#[tokio::test]
async fn the_lock_is_audited_when_it_falls() {
    // One free failure, then 10 s; locked for an hour at the third.
    let Enrolled {
        flow,
        clock,
        events,
        app,
        wrong,
    } = enrolled(ThrottlePolicy::new(1, 10, 10, 3, 3600).unwrap()).await;
    let locks = |events: &Events| {
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
    // An attempt during the lock is refused unchecked, even with the right code, and the
    // refusal is audited (after the store call that read the record, not inside it).
    clock.advance(60);
    let right = app.generate_at(clock.now()).unwrap();
    assert!(matches!(
        flow.verify("u1", right.as_str()).await,
        Err(FlowError::Locked { .. })
    ));
    assert_eq!(locks(&events), 2, "the refusal during the lock is audited");
}

#[tokio::test]
async fn a_refusal_during_a_delay_is_audited() {
    let Enrolled {
        flow,
        clock,
        events,
        wrong,
        ..
    } = enrolled(ThrottlePolicy::new(1, 10, 10, 100, 3600).unwrap()).await;
    clock.advance(60);
    for _ in 0..2 {
        assert!(flow.verify("u1", wrong).await.is_err());
    }
    let throttled = |events: &Events| {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, AuditEvent::Throttled { user_id, .. } if user_id == "u1"))
            .count()
    };
    let before = throttled(&events);
    assert!(matches!(
        flow.verify("u1", wrong).await,
        Err(FlowError::Throttled { .. })
    ));
    assert_eq!(throttled(&events), before + 1);
}
