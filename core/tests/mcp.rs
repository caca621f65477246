//! A paid MCP tool call through the core's two machines and the MCP mapping: the paying client and the gate
//! joined only by the JSON an MCP session would carry.

use std::sync::Arc;

use paywire_core::client::{FetchAction, FetchInput, FetchOptions, PaidFetch, Payer, Policy};
use paywire_core::mcp;
use paywire_core::server::PriceTag;
use paywire_core::server::gate::{Action, Gate, GateOptions, GateParts, Input, Step};
use paywire_core::server::store::MemoryStore;
use paywire_core::*;
use serde_json::{Value, json};

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const NOW: u64 = 1_750_000_000;
const PAYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

fn payer() -> Arc<Payer> {
    Arc::new(Payer::new(
        Arc::new(LocalSigner::from_hex(KEY).unwrap()),
        Policy::default(),
        Arc::new(FixedClock(NOW)),
        Arc::new(FixedRandomness::new((1..=64).collect())),
    ))
}

fn gate() -> Gate {
    let route = mcp::tool_route("get_weather", vec![PriceTag::new("$0.01", "eip155:84532", PAY_TO)], None);
    let parts = GateParts {
        options: GateOptions::default(),
        issuer: None,
        access: None,
        store: Some(Arc::new(MemoryStore::default())),
        randomness: Arc::new(FixedRandomness::new((1..=255).collect())),
        receiver_authorizer: None,
    };
    Gate::new(vec![route], parts).unwrap()
}

/// What the facilitator says in these tests.
#[derive(Clone, Copy)]
enum Settles {
    Yes,
    No,
}

/// Serves one `tools/call` (params JSON) on `gate`: the MCP server's glue, with a facilitator that accepts
/// every payment and settles as `settles` says. Returns the result JSON and how often the tool ran.
fn serve(gate: &Gate, params: &str, settles: Settles, runs: &mut u32) -> Value {
    let params: Value = serde_json::from_str(params).unwrap();
    let name = params["name"].as_str().unwrap();
    let meta = params.get("_meta").map(Value::to_string);
    let arguments = params["arguments"].to_string();
    let head = mcp::tool_head(name, meta.as_deref()).unwrap();
    let (mut exchange, mut step): (_, Step) = gate.start(0, head, NOW);
    loop {
        let input = match step.action {
            Action::ReadBody { .. } => Input::Body(mcp::arguments_body(&arguments).unwrap()),
            Action::Verify(_) => Input::Verified(VerifyResponse::valid(PAYER)),
            Action::RunHandler(_) => {
                *runs += 1;
                let city = serde_json::from_str::<Value>(&arguments).unwrap()["city"].clone();
                let result = json!({"content": [{"type": "text", "text": format!("sunny in {city}")}]});
                Input::Handled(mcp::handler_response(&result.to_string()).unwrap())
            }
            Action::Settle(_) => Input::Settled(
                SettleResponse::from_json(&match settles {
                    Settles::Yes => json!({"success": true, "transaction": "0x01", "network": "eip155:84532", "payer": PAYER}),
                    Settles::No => json!({"success": false, "errorReason": "insufficient_funds", "transaction": "", "network": "eip155:84532"}),
                }.to_string())
                .unwrap(),
            ),
            Action::Respond(response) => {
                return serde_json::from_str(&mcp::tool_result(&response).unwrap()).unwrap();
            }
            other => panic!("unexpected step {}", other.name()),
        };
        step = exchange.resume(input);
    }
}

/// Calls a tool as the paying MCP client's glue does; returns the last result and the outcome.
fn call(
    payer: &Arc<Payer>,
    gate: &Gate,
    arguments: Value,
    settles: Settles,
    runs: &mut u32,
) -> (Value, Option<client::FetchOutcome>) {
    let request = mcp::tool_request("get_weather", &arguments.to_string()).unwrap();
    let (mut fetch, mut action) = PaidFetch::start(payer.clone(), request, FetchOptions::default());
    let mut last: Option<(Value, Vec<u8>)> = None;
    loop {
        action = match action {
            FetchAction::Send(request) => {
                let params = mcp::call_params(&request, Some(r#"{"progressToken": 7}"#)).unwrap();
                let sent: Value = serde_json::from_str(&params).unwrap();
                assert_eq!(sent["_meta"]["progressToken"], 7, "the caller's _meta is kept");
                let result = serve(gate, &params, settles, runs);
                let response = mcp::result_response(&result.to_string()).unwrap();
                last = Some((result, response.body.clone()));
                fetch.resume(FetchInput::Response { status: response.status, headers: response.headers })
            }
            FetchAction::ReadBody => fetch.resume(FetchInput::Body(last.as_ref().unwrap().1.clone())),
            FetchAction::Done(outcome) => return (last.unwrap().0, Some(*outcome)),
            FetchAction::Fail(e) => panic!("the call failed: {e}"),
            other => panic!("unexpected action {}", other.name()),
        };
    }
}

#[test]
fn an_unpaid_call_gets_the_bill_as_the_official_servers_send_it() {
    let gate = gate();
    let mut runs = 0;
    let result = serve(&gate, r#"{"name":"get_weather","arguments":{"city":"Paris"}}"#, Settles::Yes, &mut runs);
    assert_eq!(runs, 0);
    assert_eq!(result["isError"], true);
    let bill = &result["structuredContent"];
    assert_eq!(bill["x402Version"], 2);
    assert_eq!(bill["resource"]["url"], "mcp://tool/get_weather");
    assert_eq!(bill["resource"]["description"], "Tool: get_weather");
    assert_eq!(bill["resource"]["mimeType"], "application/json");
    assert_eq!(bill["accepts"][0]["amount"], "10000");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, bill, "content[0] is the same bill as JSON text");
}

#[test]
fn a_paid_call_runs_once_and_carries_its_settlement() {
    let gate = gate();
    let payer = payer();
    let mut runs = 0;
    let (result, outcome) = call(&payer, &gate, json!({"city": "Paris"}), Settles::Yes, &mut runs);
    let outcome = outcome.unwrap();
    assert_eq!(runs, 1);
    assert_eq!(result["content"][0]["text"], "sunny in \"Paris\"");
    assert!(result.get("isError").is_none());
    let settlement = &result["_meta"][mcp::PAYMENT_RESPONSE_META_KEY];
    assert_eq!(settlement["success"], true);
    assert_eq!(settlement["transaction"], "0x01");
    assert!(outcome.payment.is_some());
    assert_eq!(outcome.settlement.unwrap().transaction, "0x01");
    assert!(!outcome.open);
}

#[test]
fn a_failed_settlement_returns_the_bill_and_never_the_content() {
    let gate = gate();
    let payer = payer();
    let mut runs = 0;
    let (result, outcome) = call(&payer, &gate, json!({"city": "Oslo"}), Settles::No, &mut runs);
    assert_eq!(runs, 1, "the tool ran, its content was held");
    assert_eq!(result["isError"], true);
    assert!(!result.to_string().contains("sunny"), "no content without settlement: {result}");
    let bill = &result["structuredContent"];
    assert_eq!(bill["error"], "insufficient_funds");
    assert_eq!(bill[mcp::PAYMENT_RESPONSE_META_KEY]["success"], false);
    let outcome = outcome.unwrap();
    assert_eq!(outcome.paid_status, Some(402));
    assert!(outcome.unpaid.is_some(), "a second bill in the same call is not paid");
}

#[test]
fn a_payment_is_bound_to_its_tool_and_arguments() {
    let gate = gate();
    let payer = payer();
    let mut runs = 0;
    // Capture a payment by calling once.
    let request = mcp::tool_request("get_weather", r#"{"city":"Rome"}"#).unwrap();
    let bill_result = serve(&gate, &mcp::call_params(&request, None).unwrap(), Settles::Yes, &mut runs);
    let bill = PaymentRequired::from_json(&bill_result["structuredContent"].to_string()).unwrap();
    let payment = payer.pay(&bill, None).unwrap();
    let payment_json: Value = serde_json::from_str(&codec::decode_header_text(&payment.value).unwrap()).unwrap();
    let params =
        |args: Value, meta: Value| json!({"name": "get_weather", "arguments": args, "_meta": meta}).to_string();
    // Paid and served.
    let first =
        serve(&gate, &params(json!({"city": "Rome"}), json!({"x402/payment": payment_json})), Settles::Yes, &mut runs);
    assert_eq!(first["_meta"][mcp::PAYMENT_RESPONSE_META_KEY]["success"], true, "{first}");
    assert_eq!(runs, 1);
    // The same payment for other arguments: refused, the tool never runs.
    let other =
        serve(&gate, &params(json!({"city": "Lima"}), json!({"x402/payment": payment_json})), Settles::Yes, &mut runs);
    assert_eq!(other["isError"], true);
    assert_eq!(runs, 1);
    // The same call again (an answer lost on the way): the held result, not a second run or charge.
    let again =
        serve(&gate, &params(json!({"city": "Rome"}), json!({"x402/payment": payment_json})), Settles::Yes, &mut runs);
    assert_eq!(again, first);
    assert_eq!(runs, 1);
    // Members in another order are the same arguments.
    let body = mcp::arguments_body(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap();
    assert_eq!(body, br#"{"a":{"c":3,"d":2},"b":1}"#);
    // For another tool's resource: refused.
    let mut wrong = payment_json.clone();
    wrong["resource"]["url"] = json!("mcp://tool/other");
    let refused =
        serve(&gate, &params(json!({"city": "Rome"}), json!({"x402/payment": wrong})), Settles::Yes, &mut runs);
    assert_eq!(refused["isError"], true);
    assert_eq!(runs, 1);
}

#[test]
fn explicit_nulls_and_text_payments_are_read() {
    let gate = gate();
    let payer = payer();
    let mut runs = 0;
    let request = mcp::tool_request("get_weather", r#"{"city":"Bern"}"#).unwrap();
    let bill_result = serve(&gate, &mcp::call_params(&request, None).unwrap(), Settles::Yes, &mut runs);
    let bill = PaymentRequired::from_json(&bill_result["structuredContent"].to_string()).unwrap();
    let payment = payer.pay(&bill, None).unwrap();
    let mut payment_json: Value = serde_json::from_str(&codec::decode_header_text(&payment.value).unwrap()).unwrap();
    payment_json["extensions"] = Value::Null;
    payment_json["resource"]["serviceName"] = Value::Null;
    let params = json!({"name": "get_weather", "arguments": {"city": "Bern"}, "_meta": {"x402/payment": payment_json.to_string()}});
    let served = serve(&gate, &params.to_string(), Settles::Yes, &mut runs);
    assert_eq!(served["_meta"][mcp::PAYMENT_RESPONSE_META_KEY]["success"], true, "{served}");
    // `x402/payment: null` is no payment.
    let unpaid = json!({"name": "get_weather", "arguments": {}, "_meta": {"x402/payment": null}});
    assert_eq!(serve(&gate, &unpaid.to_string(), Settles::Yes, &mut runs)["isError"], true);
    // Garbage is refused with the bill, never a panic.
    for junk in [json!("not json"), json!(12), json!({"x402Version": 2}), json!([1, 2])] {
        let params = json!({"name": "get_weather", "arguments": {}, "_meta": {"x402/payment": junk}});
        let result = serve(&gate, &params.to_string(), Settles::Yes, &mut runs);
        assert_eq!(result["isError"], true, "{junk}");
        assert!(result["structuredContent"]["accepts"].is_array(), "{junk}: {result}");
    }
    assert_eq!(runs, 1);
}

#[test]
fn results_are_read_as_the_official_clients_read_them() {
    // structuredContent first, else content[0]'s text.
    let bill = json!({"x402Version": 2, "accepts": [{"scheme": "exact"}], "resource": {"url": "mcp://tool/t"}});
    let text_only = json!({"isError": true, "content": [{"type": "text", "text": bill.to_string()}]});
    let response = mcp::result_response(&text_only.to_string()).unwrap();
    assert_eq!(response.status, 402);
    assert_eq!(serde_json::from_slice::<Value>(&response.body).unwrap(), bill);
    // An error without a bill: 500 (a payment it answers stays kept for a retry).
    let error = json!({"isError": true, "content": [{"type": "text", "text": "boom"}]});
    assert_eq!(mcp::result_response(&error.to_string()).unwrap().status, 500);
    // A result that is not an error is never a bill, whatever its text.
    let plain = json!({"content": [{"type": "text", "text": bill.to_string()}]});
    assert_eq!(mcp::result_response(&plain.to_string()).unwrap().status, 200);
    assert!(mcp::result_response("[]").is_err());
    assert!(mcp::call_params(&client::FetchRequest { url: "https://x/".into(), ..Default::default() }, None).is_err());
}
