//! Runners of the exchange vectors (routes.json, gate.json, client.json): the gate and the paying client
//! replayed move by move through the Rust API. tests/vectors/README.md describes the formats.

use std::collections::HashMap;
use std::sync::Arc;

use paywire_core::client::fetch::{FetchAction, FetchInput, FetchOptions, FetchRequest, PaidFetch};
use paywire_core::client::{Payer, PayerOptions, Policy};
use paywire_core::codec::decode_header_json;
use paywire_core::hooks::{HookCall, HookSet, HookVerdict};
use paywire_core::http::{Headers, Response};
use paywire_core::server::PriceTag;
use paywire_core::server::gate::{
    Action, Exchange, FrameworkRoute, Gate, GateOptions, GateParts, Input, PricedRoute, RequestHead, Step, StoreAnswer,
    StoreOp,
};
use paywire_core::server::routes::{RouteMatching, RoutePattern, RouteTable};
use paywire_core::server::store::MemoryStore;
use paywire_core::*;
use serde_json::Value;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("expected a string, found {v}"))
}

fn pairs(v: &Value) -> Headers {
    v.as_array().map_or_else(Vec::new, |a| a.iter().map(|p| (s(&p[0]).to_string(), s(&p[1]).to_string())).collect())
}

fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    paywire_core::http::header(headers, name)
}

pub fn routes(file: &Value) {
    for c in file["cases"].as_array().unwrap() {
        let name = s(&c["name"]);
        let patterns = c["patterns"].as_array().unwrap().iter().map(|p| RoutePattern::parse(s(p)).unwrap()).collect();
        let table = RouteTable::new(patterns, RouteMatching { case_sensitive: c["caseSensitive"].as_bool().unwrap() });
        for p in c["priced"].as_array().unwrap() {
            let got = table.route_for(s(&p[0]), s(&p[1]));
            assert_eq!(got, Some(p[2].as_u64().unwrap() as usize), "{name}: {} {} must be priced", p[0], p[1]);
        }
        for p in c["free"].as_array().unwrap() {
            assert_eq!(table.route_for(s(&p[0]), s(&p[1])), None, "{name}: {} {} must be free", p[0], p[1]);
        }
        for p in c["framework"].as_array().unwrap() {
            let got = table.route_for_pattern(s(&p[0]), s(&p[1]));
            assert_eq!(got, p[2].as_u64().map(|i| i as usize), "{name}: framework route {} {}", p[0], p[1]);
        }
    }
}

fn gate_of(config: &Value) -> Gate {
    let routes = config["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let tags = r["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| PriceTag::new(s(&t["price"]), s(&t["network"]), s(&t["payTo"])))
                .collect();
            let mut route = PricedRoute::new(Some(RoutePattern::parse(s(&r["pattern"])).unwrap()), tags);
            route.x402_version = r["x402Version"].as_u64().unwrap_or(2) as u8;
            route
        })
        .collect();
    let mut options = GateOptions::default();
    if let Some(n) = config["maxRequestBytes"].as_u64() {
        options.max_request_bytes = n as usize;
    }
    if let Some(n) = config["maxReplayBytes"].as_u64() {
        options.max_replay_bytes = n as usize;
    }
    options.hooks = hook_set(config);
    if let Some(o) = config.get("signIn") {
        let mut sign_in = paywire_core::siwx::SignInOptions::default();
        if let Some(n) = o.get("accessSeconds").and_then(Value::as_u64) {
            sign_in.access_seconds = n;
        }
        if let Some(n) = o.get("maxAgeSeconds").and_then(Value::as_u64) {
            sign_in.max_age_seconds = n;
        }
        options.sign_in = Some(sign_in);
    }
    let external = config["externalStore"].as_bool().unwrap_or(false);
    let store: Option<Arc<dyn paywire_core::server::store::PaymentStore>> =
        if external { None } else { Some(Arc::new(MemoryStore::default())) };
    Gate::new(
        routes,
        GateParts {
            options,
            issuer: None,
            access: None,
            store,
            randomness: Arc::new(Xorshift::default()),
            receiver_authorizer: None,
        },
    )
    .unwrap()
}

/// The hook points a gate or a call registers (`hooks`: snake-case names).
fn hook_set(config: &Value) -> HookSet {
    let names = config.get("hooks").and_then(Value::as_array).into_iter().flatten().map(s);
    HookSet::from_names(names).unwrap()
}

/// A `hooked` input: what the hooks decided.
fn hook_verdict(x: &Value) -> HookVerdict {
    if let Some(abort) = x.get("abort") {
        return HookVerdict::Abort {
            reason: s(&abort["reason"]).into(),
            message: abort.get("message").and_then(Value::as_str).map(str::to_string),
        };
    }
    if let Some(message) = x.get("failed") {
        return HookVerdict::Failed(s(message).into());
    }
    HookVerdict::Continue
}

/// Whether `got` is `want`, an object matching by the members `want` names.
fn matches(got: &Value, want: &Value) -> bool {
    match want.as_object() {
        Some(members) => members.iter().all(|(k, v)| matches(&got[k], v)),
        None => got == want,
    }
}

/// Checks a hook step: its point, members of its context, and members it must have.
fn check_hook(name: &str, call: &HookCall, e: &Value) {
    assert_eq!(call.point.name(), s(&e["point"]), "{name}: hook point");
    let context: Value = serde_json::from_str(&call.context_json()).unwrap();
    for (k, v) in e.get("context").and_then(Value::as_object).into_iter().flatten() {
        assert!(matches(&context[k], v), "{name}: hook context member {k} is not {v} in {context}");
    }
    for k in e.get("contextKeys").and_then(Value::as_array).into_iter().flatten() {
        assert!(context.get(s(k)).is_some_and(|v| !v.is_null()), "{name}: hook context lacks {k}");
    }
}

fn head_of(r: &Value) -> RequestHead {
    RequestHead {
        method: s(&r["method"]).into(),
        path: s(&r["path"]).into(),
        path_and_query: s(&r["pathAndQuery"]).into(),
        origin: s(&r["origin"]).into(),
        headers: pairs(&r["headers"]),
    }
}

fn gate_input(v: &Value) -> Input {
    if let Some(b) = v.get("body") {
        return Input::Body(s(b).as_bytes().to_vec());
    }
    if v.get("bodyTooLarge").is_some() {
        return Input::BodyTooLarge;
    }
    if v.get("clientGone").is_some() {
        return Input::ClientGone;
    }
    if let Some(x) = v.get("verified") {
        return Input::Verified(VerifyResponse::from_json(&x.to_string()).unwrap());
    }
    if let Some(x) = v.get("settled") {
        return Input::Settled(SettleResponse::from_json(&x.to_string()).unwrap());
    }
    if let Some(x) = v.get("facilitatorFailed") {
        return Input::FacilitatorFailed {
            code: x.get("code").and_then(Value::as_str).map(str::to_string),
            message: s(&x["message"]).into(),
        };
    }
    if let Some(x) = v.get("handled") {
        return Input::Handled(Response {
            status: x["status"].as_u64().unwrap() as u16,
            headers: pairs(&x["headers"]),
            body: s(&x["body"]).as_bytes().to_vec(),
        });
    }
    if v.get("handlerFailed").is_some() {
        return Input::HandlerFailed;
    }
    if let Some(x) = v.get("hooked") {
        return Input::Hooked(hook_verdict(x));
    }
    if let Some(x) = v.get("store") {
        if x.get("entry").is_some() {
            assert!(x["entry"].is_null(), "vectors only answer claims and gets with no entry");
            return Input::Store(StoreAnswer::Entry(None));
        }
        if let Some(r) = x.get("replaced") {
            return Input::Store(StoreAnswer::Replaced(r.as_bool().unwrap()));
        }
        if x.get("released").is_some() {
            return Input::Store(StoreAnswer::Released);
        }
        return Input::Store(StoreAnswer::Failed(s(&x["failed"]).into()));
    }
    panic!("unknown gate input {v}")
}

fn check_headers(name: &str, headers: &Headers, e: &Value) {
    if let Some(want) = e.get("headers").and_then(Value::as_object) {
        for (k, v) in want {
            assert_eq!(header(headers, k), Some(s(v)), "{name}: header {k} in {headers:?}");
        }
    }
    for k in e.get("absentHeaders").and_then(Value::as_array).into_iter().flatten() {
        assert_eq!(header(headers, s(k)), None, "{name}: header {k} must be absent");
    }
}

fn check_step(name: &str, step: &Step, e: &Value) {
    let kind = match &step.action {
        Action::PassThrough => "passThrough",
        Action::ReadBody { .. } => "readBody",
        Action::Store(_) => "store",
        Action::Verify(_) => "verify",
        Action::RunHandler(_) => "runHandler",
        Action::Settle(_) => "settle",
        Action::Hook(_) => "hook",
        Action::Respond(_) => "respond",
        Action::Fail => "fail",
        Action::Done => "done",
    };
    assert_eq!(kind, s(&e["action"]), "{name}: step {step:?}");
    if let Some(shielded) = e.get("shielded") {
        assert_eq!(step.shielded, shielded.as_bool().unwrap(), "{name}: shielded");
    }
    for want in e.get("logs").and_then(Value::as_array).into_iter().flatten() {
        assert!(
            step.logs.iter().any(|l| l.message.contains(s(want))),
            "{name}: no log line with {want}: {:?}",
            step.logs
        );
    }
    match &step.action {
        Action::ReadBody { limit } => assert_eq!(*limit as u64, e["limit"].as_u64().unwrap(), "{name}"),
        Action::RunHandler(paid) => {
            if let Some(p) = e.get("payer") {
                assert_eq!(paid.payer, s(p), "{name}");
            }
        }
        Action::Store(op) => {
            let (kind, key, entry) = match op {
                StoreOp::Claim { key, entry } => ("claim", key, Some(entry)),
                StoreOp::Get { key } => ("get", key, None),
                StoreOp::Replace { key, entry, .. } => ("replace", key, Some(entry)),
                StoreOp::Release { key, .. } => ("release", key, None),
            };
            assert_eq!(kind, s(&e["op"]), "{name}");
            if let Some(prefix) = e.get("keyPrefix") {
                assert!(key.starts_with(s(prefix)), "{name}: key {key}");
            }
            if let Some(state) = e.get("state") {
                assert_eq!(entry.unwrap().record.state.as_str(), s(state), "{name}");
            }
        }
        Action::Respond(r) => check_response(name, r, e),
        Action::Hook(call) => check_hook(name, call, e),
        _ => {}
    }
}

fn check_response(name: &str, r: &Response, e: &Value) {
    assert_eq!(r.status as u64, e["status"].as_u64().unwrap(), "{name}: {r:?}");
    check_headers(name, &r.headers, e);
    if let Some(body) = e.get("body") {
        assert_eq!(String::from_utf8_lossy(&r.body), s(body), "{name}");
    }
    if let Some(json) = e.get("json").and_then(Value::as_object) {
        let got: Value = serde_json::from_slice(&r.body).unwrap();
        for (k, v) in json {
            assert_eq!(&got[k], v, "{name}: body member {k}");
        }
    }
    if let Some(bill) = e.get("bill") {
        let got = match header(&r.headers, "payment-required") {
            Some(h) => decode_header_json(h).unwrap(),
            None => serde_json::from_slice(&r.body).unwrap(),
        };
        assert_eq!(&got, bill, "{name}: the bill");
    }
    if let Some(want) = e.get("siwx") {
        let bill = decode_header_json(header(&r.headers, "payment-required").expect("a bill")).unwrap();
        check_siwx(name, &bill, want);
    }
    if let Some(want) = e.get("settlement").and_then(Value::as_object) {
        let h = header(&r.headers, "payment-response").or(header(&r.headers, "x-payment-response"));
        let got = decode_header_json(h.unwrap_or_else(|| panic!("{name}: no settlement header"))).unwrap();
        for (k, v) in want {
            assert_eq!(&got[k], v, "{name}: settlement member {k}");
        }
    }
}

/// Checks a bill's `sign-in-with-x` declaration: its info (but the nonce, which is random), a nonce of 16
/// or more letters and digits, and its chains.
fn check_siwx(name: &str, bill: &Value, want: &Value) {
    let declared = &bill["extensions"]["sign-in-with-x"];
    let info = &declared["info"];
    for k in ["domain", "uri", "issuedAt", "resources"] {
        assert_eq!(&info[k], &want[k], "{name}: sign-in info member {k}");
    }
    assert_eq!(info["version"], "1", "{name}");
    let nonce = info["nonce"].as_str().unwrap_or("");
    assert!(nonce.len() >= 16 && nonce.chars().all(|c| c.is_ascii_alphanumeric()), "{name}: nonce {nonce}");
    let chains: Vec<&Value> = declared["supportedChains"].as_array().unwrap().iter().map(|c| &c["chainId"]).collect();
    let want_chains: Vec<&Value> = want["chains"].as_array().unwrap().iter().collect();
    assert_eq!(chains, want_chains, "{name}: sign-in chains");
    assert!(declared["supportedChains"].as_array().unwrap().iter().all(|c| c["type"] == "eip191"), "{name}");
    assert!(declared["schema"].is_object(), "{name}: the schema");
}

pub fn gate(file: &Value) {
    for c in file["cases"].as_array().unwrap() {
        let name = s(&c["name"]);
        let gate = gate_of(&c["gate"]);
        let mut exchanges: HashMap<String, Exchange> = HashMap::new();
        for (i, m) in c["moves"].as_array().unwrap().iter().enumerate() {
            let label = format!("{name} (move {i})");
            let step = if let Some(x) = m.get("start") {
                let head = head_of(&m["request"]);
                let now = m["now"].as_u64().unwrap();
                let (exchange, step) = gate.handle(head, FrameworkRoute::Unknown, now);
                if let Some(exchange) = exchange {
                    exchanges.insert(s(x).to_string(), exchange);
                }
                step
            } else if let Some(x) = m.get("feed") {
                exchanges.get_mut(s(x)).unwrap().resume(gate_input(&m["input"]))
            } else {
                exchanges.get_mut(s(&m["cancel"])).unwrap().cancel()
            };
            check_step(&label, &step, &m["expect"]);
        }
    }
}

fn payer_of(p: &Value) -> Arc<Payer> {
    let nonce = paywire_core::wire::parse_b256(s(&p["nonce"])).unwrap();
    let policy = match p.get("policy") {
        Some(policy) => Policy::from_json(&policy.to_string()).unwrap(),
        None => Policy::default(),
    };
    let options = PayerOptions { expiry_margin: p["expiryMargin"].as_u64().unwrap(), ..PayerOptions::default() };
    Arc::new(
        Payer::new(
            Arc::new(LocalSigner::from_hex(s(&p["key"])).unwrap()),
            policy,
            Arc::new(FixedClock(p["now"].as_u64().unwrap())),
            Arc::new(FixedRandomness::new(nonce.to_vec())),
        )
        .with_options(options),
    )
}

fn fetch_request(r: &Value) -> FetchRequest {
    FetchRequest {
        method: s(&r["method"]).into(),
        url: s(&r["url"]).into(),
        headers: pairs(&r["headers"]),
        body: r.get("body").map(|b| s(b).as_bytes().to_vec()),
    }
}

fn fetch_options(o: &Value) -> FetchOptions {
    let mut options = FetchOptions::default();
    if let Some(v) = o.get("followRedirects") {
        options.follow_redirects = v.as_bool().unwrap();
    }
    if let Some(v) = o.get("maxRedirects") {
        options.max_redirects = v.as_u64().unwrap() as u32;
    }
    if let Some(v) = o.get("alreadyPaid") {
        options.already_paid = v.as_bool().unwrap();
    }
    if let Some(v) = o.get("signInline") {
        options.sign_inline = v.as_bool().unwrap();
    }
    options.hooks = hook_set(o);
    if let Some(v) = o.get("signIn") {
        options.sign_in = v.as_bool().unwrap();
    }
    for f in o.get("passFacilitators").and_then(Value::as_array).into_iter().flatten() {
        options.pass_facilitators.push(s(f).to_string());
    }
    options
}

fn check_action(name: &str, action: &FetchAction, e: &Value) {
    let kind = match action {
        FetchAction::Send(_) | FetchAction::SendOwn(_) => "send",
        FetchAction::ReadBody => "readBody",
        FetchAction::Sign(_) => "sign",
        FetchAction::Hook(_) => "hook",
        FetchAction::Done(_) => "done",
        FetchAction::Fail(_) => "fail",
        FetchAction::Raise(_) => "raise",
    };
    assert_eq!(kind, s(&e["action"]), "{name}: {action:?}");
    if let Some(own) = e.get("own") {
        assert_eq!(action.own(), own.as_bool().unwrap_or_default(), "{name}: own");
    }
    match action {
        FetchAction::Send(r) | FetchAction::SendOwn(r) => {
            assert_eq!(r.method, s(&e["method"]), "{name}");
            assert_eq!(r.url, s(&e["url"]), "{name}");
            check_headers(name, &r.headers, e);
            if let Some(body) = e.get("body").filter(|b| !b.is_null()) {
                assert_eq!(r.body.as_deref(), Some(s(body).as_bytes()), "{name}");
            }
            if e.get("noBody").is_some() {
                assert_eq!(r.body, None, "{name}");
            }
        }
        FetchAction::Sign(digests) => assert_eq!(digests.len() as u64, e["digests"].as_u64().unwrap(), "{name}"),
        FetchAction::Fail(err) => assert_eq!(err.code().as_str(), s(&e["error"]), "{name}: {err}"),
        FetchAction::Done(o) | FetchAction::Raise(o) => {
            if let Some(paid) = e.get("paid") {
                assert_eq!(o.payment.is_some(), paid.as_bool().unwrap(), "{name}: paid");
            }
            if let Some(open) = e.get("open") {
                assert_eq!(o.open, open.as_bool().unwrap(), "{name}: open");
            }
            if let Some(status) = e.get("paidStatus") {
                assert_eq!(o.paid_status.map(u64::from), status.as_u64(), "{name}: paidStatus");
            }
            if let Some(reused) = e.get("reused") {
                assert_eq!(o.payment.as_ref().map(|p| p.reused), reused.as_bool(), "{name}: reused");
            }
            if let Some(used) = e.get("passUsed") {
                assert_eq!(o.pass_used, used.as_bool().unwrap(), "{name}: passUsed");
            }
            if let Some(signed_in) = e.get("signedIn") {
                assert_eq!(o.signed_in, signed_in.as_bool().unwrap(), "{name}: signedIn");
            }
            if let Some(read) = e.get("bodyRead") {
                assert_eq!(o.body_read, read.as_bool().unwrap(), "{name}: bodyRead");
            }
            if let Some(code) = e.get("unpaid") {
                assert_eq!(o.unpaid.as_ref().map(|u| u.code().as_str()), code.as_str(), "{name}: unpaid");
            }
            if let Some(want) = e.get("settlement").and_then(Value::as_object) {
                let got = serde_json::to_value(o.settlement.as_ref().expect("a settlement")).unwrap();
                for (k, v) in want {
                    assert_eq!(&got[k], v, "{name}: settlement member {k}");
                }
            }
        }
        FetchAction::Hook(call) => check_hook(name, call, e),
        FetchAction::ReadBody => {}
    }
}

pub fn client(file: &Value) {
    for c in file["cases"].as_array().unwrap() {
        let name = s(&c["name"]);
        let payer = payer_of(&c["payer"]);
        let key = LocalSigner::from_hex(s(&c["payer"]["key"])).unwrap();
        let options = fetch_options(&c["options"]);
        let mut calls: HashMap<String, (PaidFetch, FetchAction)> = HashMap::new();
        for (i, m) in c["moves"].as_array().unwrap().iter().enumerate() {
            let label = format!("{name} (move {i})");
            let action = if let Some(x) = m.get("start") {
                let (call, action) = PaidFetch::start(payer.clone(), fetch_request(&m["request"]), options.clone());
                calls.insert(s(x).to_string(), (call, action.clone()));
                action
            } else {
                let (call, last) = calls.get_mut(s(&m["feed"])).unwrap();
                let v = &m["input"];
                let input = if let Some(r) = v.get("response") {
                    FetchInput::Response { status: r["status"].as_u64().unwrap() as u16, headers: pairs(&r["headers"]) }
                } else if let Some(b) = v.get("body") {
                    FetchInput::Body(s(b).as_bytes().to_vec())
                } else if let Some(x) = v.get("hooked") {
                    FetchInput::Hooked(hook_verdict(x))
                } else if v.get("sendFailed").is_some() {
                    FetchInput::SendFailed
                } else if v.get("signWithKey").is_some() {
                    let FetchAction::Sign(digests) = last else { panic!("{label}: nothing to sign") };
                    FetchInput::Signatures(
                        digests.iter().map(|d| key.sign_digest(d).unwrap().as_bytes().to_vec()).collect(),
                    )
                } else {
                    panic!("{label}: unknown client input {v}")
                };
                let action = call.resume(input);
                *last = action.clone();
                action
            };
            check_action(&label, &action, &m["expect"]);
        }
    }
}

/// Unpredictable-enough bytes without an OS source, so the vectors also run without `std`.
struct Xorshift(std::sync::Mutex<u64>);

impl Default for Xorshift {
    fn default() -> Self {
        Xorshift(std::sync::Mutex::new(0x9e37_79b9_7f4a_7c15))
    }
}

impl paywire_core::Randomness for Xorshift {
    fn fill(&self, buf: &mut [u8]) -> paywire_core::Result<()> {
        let mut x = self.0.lock().unwrap();
        for b in buf {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *b = *x as u8;
        }
        Ok(())
    }
}
