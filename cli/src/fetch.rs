//! `paywire fetch`: one HTTP request, its 402 paid and the request retried once, as every paywire client does.

use std::time::Duration;

use paywire_core::client::{Payer, carries_payment, outcome_is_open, purchase_key, read_settlement};
use paywire_core::exact::ExactOffer;
use paywire_core::{Error, ErrorCode, PaymentRequired, PaymentRequirements};
use serde_json::json;

use crate::{Failure, Problem};

/// What to send.
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An answer, read whole.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Parses `-H "Name: value"` flags.
pub fn parse_headers(flags: &[String]) -> Result<Vec<(String, String)>, Failure> {
    flags
        .iter()
        .map(|h| match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.trim().to_string())),
            _ => Err(Error::new(ErrorCode::InvalidArgument, format!("--header {h:?} is not \"Name: value\"")).into()),
        })
        .collect()
}

/// Sends the request, pays a 402 bill under the payer's policy, sends the paid request, and prints the answer.
pub fn run(payer: &Payer, request: &Request, timeout: Duration, as_json: bool) -> Result<u8, Failure> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        // A payment header must never follow a redirect to another origin.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| transport_failure(&request.url, &e))?;
    let first = send(&client, request, None)?;
    if first.status != 402 || carries_payment(&request.headers) {
        return Ok(output(&first, None, as_json));
    }
    let bill = match PaymentRequired::from_response(&first.headers, &first.body) {
        Ok(bill) => bill,
        Err(e) => {
            eprintln!("paywire: the 402 is not an x402 bill, so nothing was paid: {e}");
            return Ok(output(&first, None, as_json));
        }
    };
    let key = purchase_key(&request.method, &request.url, &request.body);
    let header = payer.pay(&bill, Some(&key)).map_err(|error| {
        let code = if error.code() == ErrorCode::NoAcceptableOffer { 1 } else { 2 };
        Failure::new(code, error)
    })?;
    eprintln!("paywire: paying {} from {}", describe(&header.requirements), header.payer.to_checksum(None));
    let retry = format!("-H '{}: {}'", header.name, header.value);
    let paid = send(&client, request, Some((header.name, &header.value))).inspect_err(|_| {
        // The server may have settled the payment before the connection failed: a new run would sign a new
        // one, so say how to send this one again.
        eprintln!("paywire: the paid request's outcome is unknown; to retry without paying twice, add {retry}");
    })?;
    let settlement = match read_settlement(&paid.headers) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("paywire: the server's settlement receipt is unreadable: {e}");
            None
        }
    };
    match &settlement {
        Some(s) if s.success => eprintln!("paywire: settled on {} in transaction {}", s.network, s.transaction),
        Some(s) => eprintln!(
            "paywire: not settled [{}] {}{}",
            s.error_reason.as_deref().unwrap_or("unknown"),
            s.error_message.as_deref().unwrap_or(""),
            if s.transaction.is_empty() { String::new() } else { format!(" (transaction {})", s.transaction) }
        ),
        None if paid.status == 402 => {
            let reason = PaymentRequired::from_response(&paid.headers, &paid.body).ok().and_then(|b| b.error);
            eprintln!("paywire: the server refused the payment: {}", reason.as_deref().unwrap_or("no reason given"));
        }
        None => eprintln!("paywire: the server answered {} without a settlement receipt", paid.status),
    }
    if outcome_is_open(paid.status, settlement.as_ref()) {
        eprintln!(
            "paywire: the outcome is open (HTTP {}): the payment may still settle; to retry without paying \
             twice, add {retry}",
            paid.status
        );
    }
    let payment = json!({
        "header": header.name,
        "value": header.value,
        "payer": header.payer.to_checksum(None),
        "accepted": header.requirements.to_value(),
    });
    let receipt = settlement.map(|s| serde_json::to_value(s).unwrap_or_default());
    Ok(output(&paid, Some((payment, receipt)), as_json))
}

fn send(
    client: &reqwest::blocking::Client,
    request: &Request,
    payment: Option<(&str, &str)>,
) -> Result<Answer, Failure> {
    let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
        Failure::from(Error::new(ErrorCode::InvalidArgument, format!("-X {:?} is not an HTTP method", request.method)))
    })?;
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some((name, value)) = payment {
        builder = builder.header(name, value);
    }
    if !request.body.is_empty() {
        builder = builder.body(request.body.clone());
    }
    let response = builder.send().map_err(|e| transport_failure(&request.url, &e))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = response.bytes().map_err(|e| transport_failure(&request.url, &e))?.to_vec();
    Ok(Answer { status, headers, body })
}

fn transport_failure(url: &str, e: &reqwest::Error) -> Failure {
    // reqwest's Display omits the cause ("error sending request"); the sources say what happened.
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    if e.is_builder() {
        return Failure::from(Error::new(ErrorCode::InvalidArgument, format!("{url}: {detail}")));
    }
    Failure { code: 2, problem: Problem::Outside(format!("the request failed: {detail}")) }
}

fn describe(offer: &PaymentRequirements) -> String {
    // The offer was just paid, so it resolves; the fallback only keeps this total.
    let amount = ExactOffer::resolve(offer).map_or_else(|_| offer.summary(), |o| o.amount_text());
    format!("{amount} on {} to {}", offer.network(), offer.pay_to())
}

/// Prints the answer and returns the exit code: 0 for 2xx, else 1.
fn output(answer: &Answer, paid: Option<(serde_json::Value, Option<serde_json::Value>)>, as_json: bool) -> u8 {
    use std::io::Write;
    if as_json {
        let (payment, settlement) = paid.unwrap_or((serde_json::Value::Null, None));
        let headers: serde_json::Map<_, _> =
            answer.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        crate::print_json(&json!({
            "status": answer.status,
            "headers": headers,
            "body": String::from_utf8_lossy(&answer.body),
            "payment": payment,
            "settlement": settlement,
        }));
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&answer.body).and_then(|_| out.flush());
    }
    if (200..300).contains(&answer.status) { 0 } else { 1 }
}
