//! The server's payment gate driven by arbitrary requests and arbitrary outcomes: it never panics, every
//! exchange ends, and the handler of a priced route runs only after the facilitator said the payment is valid,
//! whatever hooks decide (`k` go on, `K` abort, `X` a hook raised).
//!
//! Input: lines. 0: method; 1: path (and query); 2: payment header value (`v1:` prefix: `X-PAYMENT`); 3: the
//! clock; then one outcome per line, fed to the steps in order (a letter, then its argument).
#![no_main]
use std::sync::Arc;

use paywire_core::hooks::{HookPoint, HookSet, HookVerdict};
use paywire_core::http::Response;
use paywire_core::server::PriceTag;
use paywire_core::server::gate::{
    Action, FrameworkRoute, Gate, GateOptions, GateParts, Input, PricedRoute, RequestHead, StoreAnswer,
};
use paywire_core::server::routes::RoutePattern;
use paywire_core::server::store::{MemoryStore, PaymentStore, StoreEntry};
use paywire_core::*;

const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

fn gate(own_store: bool, hooks: bool) -> Gate {
    let route = |pattern: &str, price: &str, version: u8| {
        let mut r = PricedRoute::new(
            Some(RoutePattern::parse(pattern).expect("a fixed pattern")),
            vec![PriceTag::new(price, "eip155:84532", PAY_TO)],
        );
        r.x402_version = version;
        r
    };
    let routes =
        vec![route("GET /weather", "$0.01", 2), route("POST /v1/{item}", "$0.02", 1), route("/files/*", "$1", 2)];
    let store: Option<Arc<dyn PaymentStore>> = if own_store { Some(Arc::new(MemoryStore::default())) } else { None };
    let hooks = if hooks {
        HookSet::from_names(HookPoint::ALL.iter().filter(|p| p.is_server()).map(|p| p.name())).expect("known points")
    } else {
        HookSet::NONE
    };
    let options = GateOptions { max_request_bytes: 64, max_replay_bytes: 64, hooks, ..GateOptions::default() };
    Gate::new(
        routes,
        GateParts {
            options,
            issuer: None,
            access: None,
            store,
            randomness: Arc::new(FixedRandomness::new(vec![7])),
            receiver_authorizer: None,
        },
    )
    .expect("a fixed gate")
}

/// One outcome from a script line; `None` when the line names none (a default is fed instead).
fn outcome(line: &str, stored: &Option<StoreEntry>) -> Option<Input> {
    let (kind, arg) = line.split_at(line.char_indices().nth(1).map_or(line.len(), |(i, _)| i));
    Some(match kind {
        "b" => Input::Body(arg.as_bytes().to_vec()),
        "B" => Input::BodyTooLarge,
        "g" => Input::ClientGone,
        "v" => Input::Verified(VerifyResponse::from_json(arg).unwrap_or_else(|_| VerifyResponse::valid(arg))),
        "s" => Input::Settled(SettleResponse::from_json(arg).ok()?),
        "f" => Input::FacilitatorFailed { code: Some(arg.to_owned()).filter(|c| !c.is_empty()), message: arg.into() },
        "h" => Input::Handled(Response {
            status: arg.parse().unwrap_or(200),
            headers: vec![("content-type".into(), "text/plain".into())],
            body: arg.as_bytes().to_vec(),
        }),
        "H" => Input::HandlerFailed,
        "e" => Input::Store(StoreAnswer::Entry(None)),
        "E" => Input::Store(StoreAnswer::Entry(StoreEntry::from_json(arg).ok().or_else(|| stored.clone()))),
        "r" => Input::Store(StoreAnswer::Replaced(true)),
        "R" => Input::Store(StoreAnswer::Replaced(false)),
        "l" => Input::Store(StoreAnswer::Released),
        "x" => Input::Store(StoreAnswer::Failed(arg.into())),
        "k" => Input::Hooked(HookVerdict::Continue),
        "K" => Input::Hooked(HookVerdict::Abort { reason: arg.into(), message: Some(arg.into()) }),
        "X" => Input::Hooked(HookVerdict::Failed(arg.into())),
        _ => return None,
    })
}

/// What a step's action would take when the script has nothing for it: the well-behaved answer.
fn default_for(action: &Action) -> Input {
    match action {
        Action::ReadBody { .. } => Input::Body(Vec::new()),
        Action::Verify(_) => Input::Verified(VerifyResponse::valid(PAY_TO)),
        Action::RunHandler(_) => Input::Handled(Response { status: 200, headers: Vec::new(), body: Vec::new() }),
        Action::Settle(_) => Input::FacilitatorFailed { code: None, message: "down".into() },
        Action::Store(_) => Input::Store(StoreAnswer::Failed("down".into())),
        Action::Hook(_) => Input::Hooked(HookVerdict::Continue),
        _ => Input::ClientGone,
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or("GET").to_owned();
    let target = lines.next().unwrap_or("/weather").to_owned();
    let header = lines.next().unwrap_or("");
    let now = lines.next().and_then(|n| n.parse().ok()).unwrap_or(1_750_000_005);
    let script: Vec<&str> = lines.collect();

    let mut headers = Vec::new();
    match header.strip_prefix("v1:") {
        Some(v1) => headers.push(("X-PAYMENT".to_owned(), v1.to_owned())),
        None if !header.is_empty() => headers.push(("PAYMENT-SIGNATURE".to_owned(), header.to_owned())),
        None => {}
    }
    let path = target.split('?').next().unwrap_or("").to_owned();
    let head = RequestHead {
        method: method.clone(),
        path: path.clone(),
        path_and_query: target.clone(),
        origin: "http://api.test".into(),
        headers,
    };
    let gate = gate(data.len() % 2 == 0, data.len() % 3 == 0);
    let _ = gate.route_for(&method, &path, FrameworkRoute::Matched(&path));
    let (exchange, mut step) = gate.handle(head, FrameworkRoute::Unknown, now);
    let Some(mut exchange) = exchange else {
        assert!(step.action.is_final(), "no exchange, yet a step to take: {:?}", step.action);
        return;
    };
    let mut script = script.into_iter();
    let mut verified_valid = false;
    let mut stored: Option<StoreEntry> = None;
    for _ in 0..64 {
        if step.action.is_final() {
            assert!(exchange.ended(), "a final step left the exchange open");
            return;
        }
        if let Action::RunHandler(_) = &step.action {
            assert!(verified_valid, "the handler of a priced route ran before a valid /verify answer");
        }
        if let Action::Store(op) = &step.action {
            use paywire_core::server::gate::StoreOp;
            if let StoreOp::Claim { entry, .. } | StoreOp::Replace { entry, .. } = op {
                stored = Some(entry.clone());
            }
        }
        let input = script.next().and_then(|l| outcome(l, &stored)).unwrap_or_else(|| default_for(&step.action));
        if let Input::Verified(v) = &input {
            verified_valid |= v.is_valid && matches!(step.action, Action::Verify(_));
        }
        step = exchange.resume(input);
    }
    // Whatever the script, a cancelled exchange ends.
    let last = exchange.cancel();
    assert!(last.action.is_final() && exchange.ended(), "cancel left the exchange open: {:?}", last.action);
});
