//! x402 over MCP (the Model Context Protocol): a paid tool call, mapped onto the two exchange machines.
//!
//! The MCP transport of x402 (`specs/transports-v2/mcp.md`) carries the same messages as HTTP in other places:
//! - a paid tool called without payment answers a tool result with `isError: true`, the `PaymentRequired` as
//!   `structuredContent` and the same JSON as text in `content[0]`;
//! - the client calls the tool again with the payment payload as a JSON object in
//!   `params._meta["x402/payment"]`;
//! - the server verifies, runs the tool, settles, and answers the tool's result with the settlement in
//!   `_meta["x402/payment-response"]`; a failed settlement answers the payment-required result, never the
//!   tool's content.
//!
//! Rather than a third copy of the exchange, a tool call is made to look like an HTTP request to the machines
//! that already decide everything: the server's [`Gate`](crate::server::Gate) (bill, offline check, binding to
//! the resource and to the call's arguments, replays, held results, settlement) and the client's
//! [`PaidFetch`](crate::client::PaidFetch) (spend policy, one payment per call, a payment kept for a retry when
//! the outcome is open). A tool is the resource `mcp://tool/{name}` (as the official SDKs name it), called with
//! `POST` and its arguments, in canonical JSON, as the body. The functions here convert both ways; the glue of
//! an MCP SDK only moves the JSON.

use crate::prelude::*;

use serde_json::{Map, Value};

use crate::client::FetchRequest;
use crate::codec::{self, header};
use crate::error::{Error, ErrorCode, Result};
use crate::http::{self, Headers, Response};
use crate::server::PriceTag;
use crate::server::gate::{PricedRoute, RequestHead};

/// The `_meta` key of a tool call's payment (client → server).
pub const PAYMENT_META_KEY: &str = "x402/payment";
/// The `_meta` key of a tool result's settlement (server → client).
pub const PAYMENT_RESPONSE_META_KEY: &str = "x402/payment-response";
/// The origin of tool resources: a tool `name` is the resource `mcp://tool/{name}`.
pub const TOOL_ORIGIN: &str = "mcp://tool";
/// The method a tool call is priced and fingerprinted as (a tool call may change things, as a POST may).
pub const TOOL_METHOD: &str = "POST";
/// Marks a response that holds a tool's own result (as opposed to the gate's answer about the payment).
const RESULT_HEADER: &str = "x-paywire-mcp-result";

/// The resource URL of tool `name`.
pub fn tool_url(name: &str) -> String {
    format!("{TOOL_ORIGIN}/{name}")
}

/// The tool name of a tool resource URL.
fn tool_name(url: &str) -> Result<&str> {
    url.strip_prefix(TOOL_ORIGIN).and_then(|rest| rest.strip_prefix('/')).ok_or_else(|| {
        Error::new(ErrorCode::InvalidArgument, format!("{} is not an MCP tool resource (mcp://tool/...)", url))
    })
}

fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::new(ErrorCode::InvalidJson, format!("the {what} is not a JSON object"))),
        Err(e) => Err(Error::new(ErrorCode::InvalidJson, format!("the {what} is not JSON: {e}"))),
    }
}

/// A JSON value with every object's members sorted by name, so the same arguments give the same bytes
/// whatever order an SDK serialised them in.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(String, Value)> = map.into_iter().collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(members.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The body a tool call is priced, fingerprinted and named as a purchase by: its arguments (a JSON object;
/// empty text or `null` for none) in canonical JSON.
pub fn arguments_body(arguments: &str) -> Result<Vec<u8>> {
    let value = if arguments.trim().is_empty() || arguments.trim() == "null" {
        Value::Object(Map::new())
    } else {
        Value::Object(parse_object(arguments, "tool's arguments")?)
    };
    serde_json::to_vec(&canonical(value))
        .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("cannot serialise the arguments: {e}")))
}

// ---------------------------------------------------------------------------------------------------------
// The paying side.

/// The request the paying client ([`PaidFetch`](crate::client::PaidFetch)) starts for a call of tool `name`
/// with `arguments` (JSON object text): a retry of the same tool with the same arguments is the same purchase,
/// so a payment whose outcome was left open is sent again rather than paying twice.
pub fn tool_request(name: &str, arguments: &str) -> Result<FetchRequest> {
    Ok(FetchRequest {
        method: TOOL_METHOD.into(),
        url: tool_url(name),
        headers: Vec::new(),
        body: Some(arguments_body(arguments)?),
    })
}

/// The `tools/call` params (JSON text: `name`, `arguments`, `_meta`) for a request the paying client asks to
/// send: the caller's own `_meta` (JSON object text, or `None`) with the payment, when the request carries one,
/// as a JSON object under `x402/payment`.
pub fn call_params(request: &FetchRequest, meta: Option<&str>) -> Result<String> {
    let name = tool_name(&request.url)?;
    let arguments: Value = match request.body.as_deref() {
        Some(body) if !body.is_empty() => serde_json::from_slice(body)
            .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("the tool's arguments are not JSON: {e}")))?,
        _ => Value::Object(Map::new()),
    };
    let mut meta = match meta {
        Some(text) if !text.trim().is_empty() && text.trim() != "null" => parse_object(text, "call's _meta")?,
        _ => Map::new(),
    };
    // A payment the caller put in `_meta` itself would be sent beside the machine's: the machine's wins.
    meta.remove(PAYMENT_META_KEY);
    let payment = codec::find_header(&request.headers, header::PAYMENT_SIGNATURE)
        .or_else(|| codec::find_header(&request.headers, header::X_PAYMENT));
    if let Some(value) = payment {
        meta.insert(PAYMENT_META_KEY.into(), codec::decode_header_json(value)?);
    }
    let mut params = Map::new();
    params.insert("name".into(), Value::String(name.into()));
    params.insert("arguments".into(), arguments);
    if !meta.is_empty() {
        params.insert("_meta".into(), Value::Object(meta));
    }
    Ok(Value::Object(params).to_string())
}

/// Whether an object is an x402 bill: it names its version and offers at least one way to pay.
fn is_bill(value: &Value) -> bool {
    value.get("x402Version").is_some_and(Value::is_number)
        && value.get("accepts").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

/// The bill a tool result carries: `structuredContent`, else the JSON text of `content[0]`.
fn bill_of(result: &Map<String, Value>) -> Option<Value> {
    if let Some(structured) = result.get("structuredContent").filter(|v| is_bill(v)) {
        return Some(structured.clone());
    }
    let first = result.get("content")?.as_array()?.first()?;
    if first.get("type").and_then(Value::as_str) != Some("text") {
        return None;
    }
    let parsed: Value = serde_json::from_str(first.get("text")?.as_str()?).ok()?;
    is_bill(&parsed).then_some(parsed)
}

/// The settlement a tool result carries: `_meta["x402/payment-response"]`, else (a failed settlement as the
/// official servers report it) the same member of the bill.
fn settlement_of(result: &Map<String, Value>, bill: Option<&Value>) -> Option<Value> {
    let from_meta = result.get("_meta").and_then(|m| m.get(PAYMENT_RESPONSE_META_KEY));
    from_meta.or_else(|| bill.and_then(|b| b.get(PAYMENT_RESPONSE_META_KEY))).filter(|v| v.is_object()).cloned()
}

/// How the paying client sees a tool result (JSON text), as the response to feed it:
/// - a result with `isError` that carries a bill: 402, the bill as the body;
/// - a result that carries a settlement: that status with `PAYMENT-RESPONSE`;
/// - any other error result: 500 (a paid call that failed without a settlement keeps its payment for a retry:
///   the server may still settle it);
/// - any other result: 200.
pub fn result_response(result: &str) -> Result<Response> {
    let result = parse_object(result, "tool result")?;
    let is_error = result.get("isError").and_then(Value::as_bool).unwrap_or(false);
    let bill = if is_error { bill_of(&result) } else { None };
    let settlement = settlement_of(&result, bill.as_ref());
    let mut headers: Headers = Vec::new();
    if let Some(settlement) = &settlement {
        headers.push((header::PAYMENT_RESPONSE.into(), codec::encode_json_text(&settlement.to_string())));
    }
    let (status, body) = match bill {
        Some(bill) => {
            headers.push(("content-type".into(), "application/json".into()));
            (402, bill.to_string().into_bytes())
        }
        None if is_error && settlement.is_none() => (500, Vec::new()),
        None => (200, Vec::new()),
    };
    Ok(Response { status, headers, body })
}

// ---------------------------------------------------------------------------------------------------------
// The serving side.

/// A priced route for tool `name` (started with [`Gate::start`](crate::server::Gate::start)): its bill
/// describes it as the official SDKs do (`Tool: {name}`, JSON) unless `description` says otherwise.
pub fn tool_route(name: &str, tags: Vec<PriceTag>, description: Option<String>) -> PricedRoute {
    let mut route = PricedRoute::new(None, tags);
    route.description = Some(description.unwrap_or_else(|| format!("Tool: {name}")));
    route.mime_type = Some("application/json".into());
    // A receipt names a URL; tool resources have none a browser could hold.
    route.receipts = false;
    route
}

/// The request head of a call of tool `name` with the call's `_meta` (JSON object text, or `None`): the
/// payment in `x402/payment` (a JSON object, or its JSON or base64 text) becomes the payment header.
pub fn tool_head(name: &str, meta: Option<&str>) -> Result<RequestHead> {
    let mut headers: Headers = Vec::new();
    let meta = match meta {
        Some(text) if !text.trim().is_empty() && text.trim() != "null" => Some(parse_object(text, "call's _meta")?),
        _ => None,
    };
    if let Some(payment) = meta.as_ref().and_then(|m| m.get(PAYMENT_META_KEY)) {
        let value = match payment {
            Value::Null => None,
            Value::String(text) if http::looks_like_json(text) => Some(codec::encode_json_text(text)),
            Value::String(text) => Some(text.clone()),
            other => Some(codec::encode_json_text(&other.to_string())),
        };
        if let Some(value) = value {
            headers.push((header::PAYMENT_SIGNATURE.into(), value));
        }
    }
    let path = format!("/{name}");
    Ok(RequestHead {
        method: TOOL_METHOD.into(),
        path: path.clone(),
        path_and_query: path,
        origin: TOOL_ORIGIN.into(),
        headers,
    })
}

/// The tool's result (JSON text), as the handler's response the gate holds until the payment settles: an
/// error result (`isError`) is a failure, never settled.
pub fn handler_response(result: &str) -> Result<Response> {
    let result = parse_object(result, "tool's result")?;
    let is_error = result.get("isError").and_then(Value::as_bool).unwrap_or(false);
    Ok(Response {
        status: if is_error { 500 } else { 200 },
        headers: vec![("content-type".into(), "application/json".into()), (RESULT_HEADER.into(), "1".into())],
        body: Value::Object(result).to_string().into_bytes(),
    })
}

fn text_content(text: String) -> Value {
    serde_json::json!({ "type": "text", "text": text })
}

/// The tool result (JSON text) for the gate's final response:
/// - the tool's own result, with the settlement as `_meta["x402/payment-response"]` when it was paid;
/// - the bill (402, 400): an error result with the bill as `structuredContent` and as JSON text in
///   `content[0]`, a failed settlement as the bill's `x402/payment-response` (as the official servers), and
///   what went wrong in words in `content[1]`;
/// - any other answer (409: the payment is being processed; 413; 502: the facilitator failed): an error
///   result saying why, with the answer's `{error, message}` as `structuredContent`.
pub fn tool_result(response: &Response) -> Result<String> {
    let settlement = crate::client::read_settlement(&response.headers).ok().flatten();
    if http::header(&response.headers, RESULT_HEADER).is_some() {
        let mut result: Map<String, Value> = match serde_json::from_slice(&response.body) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        if let Some(settlement) = &settlement {
            let value = serde_json::to_value(settlement)
                .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("cannot serialise the settlement: {e}")))?;
            let meta = result.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
            if !meta.is_object() {
                *meta = Value::Object(Map::new());
            }
            if let Value::Object(meta) = meta {
                meta.insert(PAYMENT_RESPONSE_META_KEY.into(), value);
            }
        }
        return Ok(Value::Object(result).to_string());
    }
    let answer: Option<Value> = serde_json::from_slice(&response.body).ok();
    let message = answer
        .as_ref()
        .and_then(|a| a.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("the payment was not accepted ({})", response.status));
    let bill = match http::header(&response.headers, header::PAYMENT_REQUIRED) {
        Some(value) => codec::decode_header_json(value).ok(),
        None => answer.clone().filter(is_bill),
    };
    let mut result = Map::new();
    match bill {
        Some(mut bill) => {
            if let (Some(settlement), Value::Object(members)) = (&settlement, &mut bill)
                && !settlement.success
            {
                let value = serde_json::to_value(settlement)
                    .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("cannot serialise the settlement: {e}")))?;
                members.insert(PAYMENT_RESPONSE_META_KEY.into(), value);
            }
            result.insert("content".into(), Value::Array(vec![text_content(bill.to_string()), text_content(message)]));
            result.insert("structuredContent".into(), bill);
        }
        None => {
            result.insert("content".into(), Value::Array(vec![text_content(message)]));
            if let Some(answer) = answer.filter(Value::is_object) {
                result.insert("structuredContent".into(), answer);
            }
        }
    }
    result.insert("isError".into(), Value::Bool(true));
    Ok(Value::Object(result).to_string())
}
