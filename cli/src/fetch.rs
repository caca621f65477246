//! `paywire fetch`: one HTTP call driven by the core's paying machine (`client::PaidFetch`), as every paywire
//! client is: a 402 paid once, the payment sent only to the URL that billed it, never across a redirect.

use std::sync::Arc;
use std::time::Duration;

use paywire_core::client::{
    FetchAction, FetchInput, FetchOptions, FetchOutcome, FetchRequest, PaidFetch, Payer, RpcEndpoints,
};
use paywire_core::exact::ExactOffer;
use paywire_core::{Error, ErrorCode, PaymentRequired, PaymentRequirements};
use serde_json::json;

use crate::{Failure, Problem};

/// What to send.
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// An answer: its head, and its body once read.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    response: Option<reqwest::blocking::Response>,
    body: Option<Vec<u8>>,
    /// The most bytes to read of the body (the machine's own request: at most this plus one are read, and the
    /// core takes a longer answer as none).
    limit: Option<usize>,
}

impl Answer {
    fn read(&mut self, url: &str) -> Result<&[u8], Failure> {
        if self.body.is_none() {
            let bytes = match (self.response.take(), self.limit) {
                (Some(r), None) => r.bytes().map_err(|e| transport_failure(Some(url), e))?.to_vec(),
                (Some(r), Some(limit)) => {
                    use std::io::Read;
                    let mut bytes = Vec::new();
                    r.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(|e| Failure {
                        code: 2,
                        problem: Problem::Outside(format!("reading an answer failed: {e}")),
                    })?;
                    bytes
                }
                (None, _) => Vec::new(),
            };
            self.body = Some(bytes);
        }
        Ok(self.body.as_deref().unwrap_or_default())
    }
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

/// How the call is made.
pub struct Options {
    /// Seconds to wait for each answer.
    pub timeout: Duration,
    /// Print the answer as JSON.
    pub as_json: bool,
    /// Follow redirects.
    pub follow: bool,
    /// Where to read a chain (`--rpc-url`, `--rpc-url-env`).
    pub rpc: RpcEndpoints,
}

/// The JSON-RPC endpoints of `--rpc-url NETWORK=URL` and `--rpc-url-env NETWORK=VAR` flags.
pub fn rpc_endpoints(urls: &[String], envs: &[String]) -> Result<RpcEndpoints, Failure> {
    let split = |flag: &str, value: &str| {
        value.split_once('=').map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).ok_or_else(|| {
            // The value may hold an API key: the message names the flag, not the value.
            Failure::from(Error::new(ErrorCode::InvalidArgument, format!("{flag} takes eip155:<chain id>=...")))
        })
    };
    let mut endpoints = Vec::new();
    for value in urls {
        endpoints.push(split("--rpc-url", value)?);
    }
    for value in envs {
        let (network, var) = split("--rpc-url-env", value)?;
        let url = std::env::var(&var).map_err(|_| {
            // A variable's name is shown only when it looks like one (not a URL pasted in its place).
            let named = var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let what = if named { format!("environment variable {var}") } else { "the environment variable".into() };
            Error::new(ErrorCode::InvalidArgument, format!("{what} named by --rpc-url-env is not set"))
        })?;
        endpoints.push((network, url));
    }
    Ok(RpcEndpoints::new(endpoints)?)
}

/// Makes the call, paying a 402 bill under the payer's policy, and prints the answer.
pub fn run(payer: Arc<Payer>, request: Request, options: Options) -> Result<u8, Failure> {
    let Options { timeout, as_json, follow, rpc } = options;
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        // The machine follows redirects (-L); reqwest never does, so a payment header never reaches a redirect.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| transport_failure(Some(&request.url), e))?;
    let start =
        FetchRequest { method: request.method, url: request.url.clone(), headers: request.headers, body: request.body };
    let options = FetchOptions { follow_redirects: follow, rpc, ..FetchOptions::default() };
    let (mut call, mut action) = PaidFetch::start(payer, start, options);
    let mut last: Option<Answer> = None;
    let mut sent_payment: Option<(String, String)> = None;
    // Whether the last send was the machine's own (a chain read, a pass).
    let mut own = false;
    loop {
        let (action_own, action_timeout, action_limit) = (action.own(), action.timeout_ms(), action.body_limit());
        action = match action {
            FetchAction::Send(hop) | FetchAction::SendOwn(hop) => {
                own = action_own;
                sent_payment = hop
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("payment-signature") || k.eq_ignore_ascii_case("x-payment"))
                    .cloned();
                // The machine's own request: the core's deadline, or --timeout if shorter.
                let own_timeout =
                    action_timeout.map(|ms| ms.min(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)));
                match send(&client, &hop, own_timeout, action_limit) {
                    Ok(answer) => {
                        let input = FetchInput::Response { status: answer.status, headers: answer.headers.clone() };
                        last = Some(answer);
                        call.resume(input)
                    }
                    Err(failure) => {
                        let next = call.resume(FetchInput::SendFailed);
                        let FetchAction::Raise(outcome) = &next else {
                            // A side request that failed lets the call go on.
                            action = next;
                            continue;
                        };
                        if outcome.open
                            && let Some((name, value)) = &sent_payment
                        {
                            // The server may have settled the payment before the connection failed: a new run
                            // would sign a new one, so say how to send this one again.
                            eprintln!(
                                "paywire: the paid request's outcome is unknown; to retry without paying twice, add \
                                 -H '{name}: {value}'"
                            );
                        }
                        return Err(failure);
                    }
                }
            }
            FetchAction::ReadBody => {
                let answer = last.as_mut().ok_or_else(|| internal("no response to read"))?;
                let body = match answer.read(&request.url) {
                    Ok(body) => body.to_vec(),
                    // The machine's own request (a chain read, a pass) whose answer broke off: as no answer.
                    Err(_) if own => Vec::new(),
                    Err(failure) => return Err(failure),
                };
                call.resume(FetchInput::Body(body))
            }
            FetchAction::Sign(_) => call.resume(FetchInput::SignFailed(internal_error("unexpected signing step"))),
            // The command registers no hooks, so the machine asks for none; going on is what no hook means.
            FetchAction::Hook(_) => call.resume(FetchInput::Hooked(paywire_core::hooks::HookVerdict::Continue)),
            FetchAction::Fail(error) => {
                let code = if error.code() == ErrorCode::NoAcceptableOffer { 1 } else { 2 };
                return Err(Failure::new(code, error));
            }
            FetchAction::Raise(_) => {
                return Err(internal("the paying machine asked to rethrow a send that did not fail"));
            }
            FetchAction::Done(outcome) => {
                let mut answer = last.ok_or_else(|| internal("no response"))?;
                answer.read(&request.url)?;
                report(&answer, &outcome, sent_payment.as_ref());
                return Ok(output(&answer, &outcome, as_json));
            }
        };
    }
}

/// Says on standard error what was paid and what became of it.
fn report(answer: &Answer, outcome: &FetchOutcome, sent: Option<&(String, String)>) {
    if let Some(unpaid) = &outcome.unpaid
        && answer.status == 402
    {
        eprintln!("paywire: nothing was paid: {}", unpaid.message());
    }
    let Some(header) = &outcome.payment else { return };
    eprintln!("paywire: paid {} from {}", describe(&header.requirements), header.payer.to_checksum(None));
    match &outcome.settlement {
        Some(s) if s.success => eprintln!("paywire: settled on {} in transaction {}", s.network, s.transaction),
        Some(s) => eprintln!(
            "paywire: not settled [{}] {}{}",
            s.error_reason.as_deref().unwrap_or("unknown"),
            s.error_message.as_deref().unwrap_or(""),
            if s.transaction.is_empty() { String::new() } else { format!(" (transaction {})", s.transaction) }
        ),
        None if outcome.paid_status == Some(402) => {
            let body = answer.body.as_deref().unwrap_or_default();
            let reason = PaymentRequired::from_response(&answer.headers, body).ok().and_then(|b| b.error);
            eprintln!("paywire: the server refused the payment: {}", reason.as_deref().unwrap_or("no reason given"));
        }
        None => eprintln!(
            "paywire: the server answered {} without a settlement receipt",
            outcome.paid_status.unwrap_or(answer.status)
        ),
    }
    if outcome.open
        && let Some((name, value)) = sent
    {
        eprintln!(
            "paywire: the outcome is open (HTTP {}): the payment may still settle; to retry without paying twice, \
             add -H '{name}: {value}'",
            outcome.paid_status.unwrap_or(answer.status)
        );
    }
}

fn internal_error(what: &str) -> Error {
    Error::new(ErrorCode::InvalidArgument, format!("paywire fetch: {what} (a bug in paywire)"))
}

fn internal(what: &str) -> Failure {
    Failure { code: 2, problem: Problem::Outside(internal_error(what).message().to_string()) }
}

/// Sends one hop; `timeout_ms` and `limit` are the core's for its own requests (a chain read, a pass), whose URL is
/// never shown (an RPC endpoint's may hold an API key).
fn send(
    client: &reqwest::blocking::Client,
    hop: &FetchRequest,
    timeout_ms: Option<u64>,
    limit: Option<usize>,
) -> Result<Answer, Failure> {
    let method = reqwest::Method::from_bytes(hop.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
        Failure::from(Error::new(ErrorCode::InvalidArgument, format!("-X {:?} is not an HTTP method", hop.method)))
    })?;
    let shown = if timeout_ms.is_some() { None } else { Some(hop.url.as_str()) };
    let mut builder = client.request(method, &hop.url);
    if let Some(ms) = timeout_ms {
        builder = builder.timeout(Duration::from_millis(ms));
    }
    for (name, value) in &hop.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &hop.body {
        builder = builder.body(body.clone());
    }
    let response = builder.send().map_err(|e| transport_failure(shown, e))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Ok(Answer { status, headers, response: Some(response), body: None, limit })
}

fn transport_failure(url: Option<&str>, e: reqwest::Error) -> Failure {
    // reqwest's Display omits the cause ("error sending request"); the sources say what happened. Its URL is
    // left out: it may be an RPC endpoint's, with an API key in it.
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    if e.is_builder() {
        let what = url.unwrap_or("a URL of the machine's own (an RPC endpoint or a pass facilitator)");
        return Failure::from(Error::new(ErrorCode::InvalidArgument, format!("{what}: {detail}")));
    }
    Failure { code: 2, problem: Problem::Outside(format!("the request failed: {detail}")) }
}

fn describe(offer: &PaymentRequirements) -> String {
    // The offer was just paid, so it resolves; the fallback only keeps this total.
    let amount = ExactOffer::resolve(offer).map_or_else(|_| offer.summary(), |o| o.amount_text());
    format!("{amount} on {} to {}", offer.network(), offer.pay_to())
}

/// Prints the answer and returns the exit code: 0 for 2xx, else 1.
fn output(answer: &Answer, outcome: &FetchOutcome, as_json: bool) -> u8 {
    use std::io::Write;
    let body = answer.body.as_deref().unwrap_or_default();
    if as_json {
        let payment = outcome.payment.as_ref().map_or(serde_json::Value::Null, |h| {
            json!({
                "header": h.name,
                "value": h.value,
                "payer": h.payer.to_checksum(None),
                "accepted": h.requirements.to_value(),
            })
        });
        let settlement = outcome.settlement.as_ref().map(|s| serde_json::to_value(s).unwrap_or_default());
        let headers: serde_json::Map<_, _> =
            answer.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        crate::print_json(&json!({
            "status": answer.status,
            "headers": headers,
            "body": String::from_utf8_lossy(body),
            "payment": payment,
            "settlement": settlement,
        }));
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(body).and_then(|_| out.flush());
    }
    if (200..300).contains(&answer.status) { 0 } else { 1 }
}
