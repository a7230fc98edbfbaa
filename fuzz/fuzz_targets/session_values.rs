//! Values read back from the session (recent-verification proofs, enrolment tickets): never
//! panic, and no text but the one the flow issued proves anything. A proof is fuzzed through
//! `disable`, which it alone would authorise; a ticket through `confirm`.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use twofactor::{
    Clock, EncryptionKey, EnrollmentFlow, EnrollmentTicket, FlowConfig, FlowError, KdfParams,
    KeyRing, ManualClock, MemoryStore, Reauth, RecentVerification,
};

type Flow = EnrollmentFlow<MemoryStore, ManualClock>;

/// Outside a tokio runtime the flow over `MemoryStore` never waits: one poll finishes it.
fn run<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the flow over MemoryStore waited"),
    }
}

struct Setup {
    flow: Flow,
    /// The proof the flow issued to "active" and the ticket it gave "pending".
    proof: String,
    ticket: String,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let clock = ManualClock::new(1_800_000_000);
        let mut config = FlowConfig::new("Fuzz");
        config.kdf = KdfParams::argon2id(64, 1, 1).expect("a valid cost");
        let keys = KeyRing::new(EncryptionKey::generate(1).expect("a key"));
        let flow = EnrollmentFlow::new(MemoryStore::new(), keys, config)
            .expect("a flow")
            .with_clock(clock.clone());
        let begun = run(flow.begin("active", "active")).expect("begin");
        let app = begun.uri().to_totp().expect("the app");
        let code = app.generate_at(clock.now()).expect("a code");
        run(flow.confirm("active", begun.ticket(), code.as_str())).expect("confirm");
        clock.advance(30);
        let code = app.generate_at(clock.now()).expect("a code");
        let login = run(flow.verify("active", code.as_str())).expect("login");
        let pending = run(flow.begin("pending", "pending")).expect("begin");
        Setup {
            proof: login.proof.expose().to_owned(),
            ticket: pending.ticket().expose().to_owned(),
            flow,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let setup = setup();
    if text != setup.proof {
        let proof = RecentVerification::from_session(text);
        assert!(matches!(
            run(setup.flow.disable("active", Reauth::recent(&proof))),
            Err(FlowError::ReauthRequired)
        ));
    }
    if text != setup.ticket {
        let ticket = EnrollmentTicket::from_session(text);
        assert!(run(setup.flow.confirm("pending", &ticket, "000000")).is_err());
    }
});
