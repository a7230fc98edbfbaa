//! Required enrolment with a grace period: the stored per-user requirement (now, by a deadline,
//! off), the application's own policy combined with it (the stricter wins), the one call after
//! the password step, and the stored forms (v1, v2, v3) it is read from.

use crate::support::{Events, RecordingFlow, recording_flow};
use twofactor::flow::{NextStep, Requirement};
use twofactor::store::{ColdFields, SecretStore, StoredStatus};
use twofactor::{AuditEvent, Clock, FlowConfig, FlowError, ManualClock, Totp};

const T0: u64 = 1_800_000_000;
const DAY: u64 = 24 * 3600;

type Flow = RecordingFlow;

fn setup() -> (Flow, ManualClock, Events) {
    let clock = ManualClock::new(T0);
    let (flow, events) = recording_flow(&clock, FlowConfig::new("Example Co"));
    (flow, clock, events)
}

async fn enrol(flow: &Flow, clock: &ManualClock, user: &str) -> Totp {
    let e = flow.begin(user, "someone").await.unwrap();
    let app = e.uri().to_totp().unwrap();
    let code = app.generate_step(app.step_at(clock.now()).unwrap());
    flow.confirm(user, e.ticket(), code.as_str()).await.unwrap();
    clock.advance(30);
    app
}

async fn step(flow: &Flow, user: &str, policy: Option<Requirement>) -> NextStep {
    flow.next_step(user, policy, None).await.unwrap()
}

fn is_continue(s: &NextStep) -> bool {
    matches!(s, NextStep::Continue)
}

fn is_required(s: &NextStep) -> bool {
    matches!(s, NextStep::RequireEnrollment)
}

fn offered(s: &NextStep) -> Option<u64> {
    match s {
        NextStep::OfferEnrollment { deadline } => Some(*deadline),
        _ => None,
    }
}

#[tokio::test]
async fn a_deadline_offers_enrolment_until_it_passes_then_requires_it() {
    let (flow, clock, events) = setup();
    assert!(is_continue(&step(&flow, "u", None).await));

    let deadline = T0 + 14 * DAY;
    flow.admin_require("u", Requirement::By(deadline))
        .await
        .unwrap();
    let status = flow.status("u").await.unwrap();
    assert!(status.required);
    assert_eq!(status.required_by, Some(deadline));
    assert_eq!(status.requirement(), Requirement::By(deadline));
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&AuditEvent::RequirementChanged {
                user_id: "u".into(),
                required: true,
                deadline: Some(deadline),
            })
    );

    // "Set up later", until the deadline.
    assert_eq!(offered(&step(&flow, "u", None).await), Some(deadline));
    clock.set(deadline - 1);
    assert_eq!(offered(&step(&flow, "u", None).await), Some(deadline));
    // From the deadline on, the password step leads only to enrolment.
    clock.set(deadline);
    assert!(is_required(&step(&flow, "u", None).await));
    clock.advance(DAY);
    assert!(is_required(&step(&flow, "u", None).await));

    // A pending enrolment is not an enrolment.
    let e = flow.begin("u", "someone").await.unwrap();
    assert!(is_required(&step(&flow, "u", None).await));

    // Once enrolled, the second factor is asked for.
    let app = e.uri().to_totp().unwrap();
    let code = app.generate_step(app.step_at(clock.now()).unwrap());
    flow.confirm("u", e.ticket(), code.as_str()).await.unwrap();
    assert!(matches!(
        step(&flow, "u", None).await,
        NextStep::SecondFactor
    ));
    assert_eq!(
        flow.status("u").await.unwrap().required_by,
        Some(deadline),
        "enrolling keeps the requirement"
    );
}

#[tokio::test]
async fn the_applications_policy_and_the_stored_requirement_combine_the_stricter_wins() {
    let (flow, clock, _) = setup();
    let (early, late) = (T0 + DAY, T0 + 10 * DAY);

    // Policy alone (no record at all).
    assert!(is_required(&step(&flow, "a", Some(Requirement::Now)).await));
    assert_eq!(
        offered(&step(&flow, "a", Some(Requirement::By(late))).await),
        Some(late)
    );
    assert!(is_continue(&step(&flow, "a", Some(Requirement::Off)).await));
    assert!(
        flow.store().get("a").await.unwrap().is_none(),
        "next_step writes nothing"
    );

    // Stored deadline, policy earlier or later: the earlier wins.
    flow.admin_require("b", Requirement::By(late))
        .await
        .unwrap();
    assert_eq!(
        offered(&step(&flow, "b", Some(Requirement::By(early))).await),
        Some(early)
    );
    flow.admin_require("c", Requirement::By(early))
        .await
        .unwrap();
    assert_eq!(
        offered(&step(&flow, "c", Some(Requirement::By(late))).await),
        Some(early)
    );
    // The policy cannot relax what an administrator stored.
    flow.admin_require("d", Requirement::Now).await.unwrap();
    assert!(is_required(&step(&flow, "d", Some(Requirement::Off)).await));
    assert!(is_required(
        &step(&flow, "d", Some(Requirement::By(late))).await
    ));
    // But it can tighten it.
    assert!(is_required(&step(&flow, "b", Some(Requirement::Now)).await));

    clock.set(early);
    assert!(is_required(&step(&flow, "c", None).await));
    assert_eq!(offered(&step(&flow, "b", None).await), Some(late));
    assert!(is_required(
        &step(&flow, "b", Some(Requirement::By(early))).await
    ));

    // `stricter` is symmetric.
    let all = [
        Requirement::Off,
        Requirement::By(early),
        Requirement::By(late),
        Requirement::Now,
    ];
    for a in all {
        for b in all {
            assert_eq!(a.stricter(b), b.stricter(a));
        }
    }
}

#[tokio::test]
async fn admin_set_required_keeps_working_and_clears_a_deadline() {
    let (flow, _, events) = setup();
    flow.admin_require("u", Requirement::By(T0 + DAY))
        .await
        .unwrap();
    flow.admin_set_required("u", true).await.unwrap();
    let status = flow.status("u").await.unwrap();
    assert_eq!((status.required, status.required_by), (true, None));
    assert!(is_required(&step(&flow, "u", None).await));

    flow.admin_set_required("u", false).await.unwrap();
    let status = flow.status("u").await.unwrap();
    assert_eq!((status.required, status.required_by), (false, None));
    assert_eq!(status.requirement(), Requirement::Off);
    assert!(is_continue(&step(&flow, "u", None).await));

    flow.admin_require("u", Requirement::By(T0 + DAY))
        .await
        .unwrap();
    flow.admin_require("u", Requirement::Off).await.unwrap();
    assert!(is_continue(&step(&flow, "u", None).await));
    let n = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.name() == "requirement_changed")
        .count();
    assert_eq!(n, 5);
}

#[tokio::test]
async fn the_requirement_survives_disable_reset_and_new_devices_and_is_not_a_factor_change() {
    let (flow, clock, _) = setup();
    let app = enrol(&flow, &clock, "u").await;
    let stamp = flow.status("u").await.unwrap().factor_stamp;
    flow.admin_require("u", Requirement::By(T0 + DAY))
        .await
        .unwrap();
    let status = flow.status("u").await.unwrap();
    assert!(status.factor_stamp.matches(&stamp), "not a factor change");
    assert!(matches!(
        step(&flow, "u", None).await,
        NextStep::SecondFactor
    ));

    let code = app.generate_step(app.step_at(clock.now()).unwrap());
    flow.disable("u", code.as_str()).await.unwrap();
    assert_eq!(offered(&step(&flow, "u", None).await), Some(T0 + DAY));
    clock.set(T0 + DAY);
    assert!(is_required(&step(&flow, "u", None).await));

    enrol(&flow, &clock, "u").await;
    flow.admin_reset("u").await.unwrap();
    assert!(is_required(&step(&flow, "u", None).await));
    assert_eq!(flow.status("u").await.unwrap().required_by, Some(T0 + DAY));

    let check = twofactor::flow::check_record(&flow.store().get("u").await.unwrap().unwrap().cold);
    assert!(check.unwrap().state.starts_with("v3|"));
}

#[tokio::test]
async fn records_of_every_stored_version_are_read() {
    let (flow, _, _) = setup();
    // v1 (before stamps), required: required now.
    let mut cold = ColdFields::new(StoredStatus::NotEnrolled, "v1|none".into());
    cold.required = true;
    flow.store().insert("v1", &cold).await.unwrap();
    assert!(is_required(&step(&flow, "v1", None).await));
    assert_eq!(flow.status("v1").await.unwrap().required_by, None);

    // v2, not required.
    let cold = ColdFields::new(
        StoredStatus::NotEnrolled,
        "v2|AAAAAAAAAAAAAAAAAAAAAA|none".into(),
    );
    flow.store().insert("v2", &cold).await.unwrap();
    assert!(is_continue(&step(&flow, "v2", None).await));
    // A deadline upgrades it to v3, keeping the stamp.
    flow.admin_require("v2", Requirement::By(T0 + 5))
        .await
        .unwrap();
    let record = flow.store().get("v2").await.unwrap().unwrap();
    assert_eq!(
        record.cold.state,
        format!("v3|AAAAAAAAAAAAAAAAAAAAAA|by={}|none", T0 + 5)
    );
    // Clearing it writes v2 again (readable by earlier releases).
    flow.admin_require("v2", Requirement::Off).await.unwrap();
    let record = flow.store().get("v2").await.unwrap().unwrap();
    assert_eq!(record.cold.state, "v2|AAAAAAAAAAAAAAAAAAAAAA|none");

    // v3 written by hand.
    let mut cold = ColdFields::new(
        StoredStatus::NotEnrolled,
        format!("v3|AAAAAAAAAAAAAAAAAAAAAA|by={}|none", T0 + 100),
    );
    cold.required = true;
    flow.store().insert("v3", &cold).await.unwrap();
    assert_eq!(offered(&step(&flow, "v3", None).await), Some(T0 + 100));

    // Malformed v3: a typed corruption error, never a guess.
    let cold = ColdFields::new(
        StoredStatus::NotEnrolled,
        "v3|AAAAAAAAAAAAAAAAAAAAAA|by=soon|none".into(),
    );
    flow.store().insert("bad", &cold).await.unwrap();
    let r = flow.next_step("bad", None, None).await;
    assert!(
        matches!(
            r,
            Err(twofactor::FlowError::Store(twofactor::StoreError::Corrupt(
                _
            )))
        ),
        "{r:?}"
    );
}

mod stored_form {
    use proptest::prelude::*;
    use twofactor::flow::check_record;
    use twofactor::store::{ColdFields, StoredStatus};

    const STAMP: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            12 => any::<u64>().prop_map(|n| n.to_string()),
            1 => Just("01".to_owned()),
            1 => Just("-".to_owned()),
            1 => Just(String::new()),
            1 => "[0-9a-z+-]{1,4}",
        ]
    }

    fn item() -> impl Strategy<Value = String> {
        let b64 = |n: usize| proptest::collection::vec(any::<u8>(), n..=n);
        prop_oneof![
            2 => number().prop_map(|n| format!("by={n}")),
            8 => (
                prop_oneof![9 => b64(16), 1 => b64(15)],
                prop_oneof![9 => b64(32), 1 => b64(31)],
                prop_oneof![9 => Just(STAMP.to_owned()), 1 => "[A-Za-z0-9_-]{0,23}"],
                prop_oneof![
                    6 => "[a-zA-Z0-9]{0,20}",
                    2 => "[ -~]{0,20}",
                    2 => "\\PC{0,10}",
                    1 => Just("a\u{7}b".to_owned()),
                ],
                (number(), number(), number()),
            )
                .prop_map(|(id, hash, stamp, label, (c, l, e))| {
                    let enc = |b: &[u8]| data_encoding::BASE64URL_NOPAD.encode(b);
                    format!(
                        "tb={},{},{stamp},{},{c},{l},{e}",
                        enc(&id),
                        enc(&hash),
                        enc(label.as_bytes())
                    )
                }),
            1 => "[a-z=;,0-9|-]{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The metadata of the v3 form: never a panic, and what a check accepts is canonical
        /// (checking it again changes nothing).
        #[test]
        fn v3_metadata_decodes_canonically_or_is_refused(
            items in proptest::collection::vec(item(), 0..5),
            body in prop_oneof![Just("none"), Just("pending|x"), Just("")],
        ) {
            let text = format!("v3|{STAMP}|{}|{body}", items.join(";"));
            for status in [StoredStatus::NotEnrolled, StoredStatus::Pending] {
                let cold = ColdFields::new(status, text.clone());
                if let Ok(canonical) = check_record(&cold) {
                    prop_assert_eq!(check_record(&canonical).ok(), Some(canonical.clone()));
                }
            }
        }
    }
}

#[tokio::test]
async fn disable_is_refused_once_the_requirement_is_due_and_consumes_no_code() {
    let (flow, clock, _) = setup();
    let app = enrol(&flow, &clock, "u").await;
    flow.admin_require("u", Requirement::Now).await.unwrap();
    let code = app.generate_step(app.step_at(clock.now()).unwrap());
    let r = flow.disable("u", code.as_str()).await;
    assert!(matches!(r, Err(FlowError::EnrollmentRequired)), "{r:?}");
    // The refused request consumed nothing: the same code still logs in.
    flow.verify("u", code.as_str()).await.unwrap();
    assert!(flow.status("u").await.unwrap().is_active());

    // Within a grace period the user may still turn it off (and is asked to enrol again).
    clock.advance(30);
    flow.admin_require("u", Requirement::By(clock.now() + DAY))
        .await
        .unwrap();
    let code = app.generate_step(app.step_at(clock.now()).unwrap());
    flow.disable("u", code.as_str()).await.unwrap();
    assert!(offered(&step(&flow, "u", None).await).is_some());
}
