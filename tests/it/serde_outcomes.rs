//! Feature `serde`: the outcomes an application shows or logs serialize, secrets never do, and
//! the factor stamp round-trips through a session.

use crate::support::recording_flow;
use twofactor::flow::{NextStep, Requirement};
use twofactor::{Clock, FactorStamp, FlowConfig, ManualClock};

#[tokio::test]
async fn status_next_step_and_audit_events_serialize_without_secrets() {
    let clock = ManualClock::new(1_800_000_000);
    let (flow, events) = recording_flow(&clock, FlowConfig::new("Example Co"));

    let enrollment = flow.begin("u", "alice").await.unwrap();
    let key = enrollment.expose_manual_key().replace(' ', "");
    let app = enrollment.uri().to_totp().unwrap();
    let first = app.generate_at(clock.now()).unwrap().to_string();
    let confirmed = flow
        .confirm("u", enrollment.ticket(), &first)
        .await
        .unwrap();
    let codes: Vec<String> = confirmed
        .recovery_codes()
        .unwrap()
        .codes()
        .iter()
        .map(|c| c.expose().to_string())
        .collect();
    clock.advance(30);
    let second = app.generate_at(clock.now()).unwrap().to_string();
    flow.verify("u", &second).await.unwrap();
    flow.verify("u", &codes[0]).await.unwrap();
    flow.verify("u", "000000").await.unwrap_err();

    let status = flow.status("u").await.unwrap();
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["user_id"], "u");
    assert_eq!(json["factor_stamp"], status.factor_stamp.to_string());
    assert_eq!(json["recovery_codes_left"], 9);
    let stamp: FactorStamp = serde_json::from_value(json["factor_stamp"].clone()).unwrap();
    assert_eq!(stamp, status.factor_stamp);
    assert!(serde_json::from_str::<FactorStamp>("\"not a stamp\"").is_err());

    let step = flow.next_step("u", None, None).await.unwrap();
    assert!(matches!(step, NextStep::SecondFactor));
    assert_eq!(serde_json::to_value(&step).unwrap(), "SecondFactor");
    let policy: Requirement =
        serde_json::from_value(serde_json::to_value(Requirement::By(7)).unwrap()).unwrap();
    assert_eq!(policy, Requirement::By(7));

    let events = events.lock().unwrap();
    assert!(events.len() >= 5);
    let all = serde_json::to_string(&*events).unwrap();
    assert!(all.contains("\"user_id\":\"u\""));
    for secret in [key.as_str(), first.as_str(), second.as_str()]
        .into_iter()
        .chain(codes.iter().map(String::as_str))
    {
        assert!(
            !all.contains(secret),
            "a secret or code in a serialized event"
        );
    }
}
