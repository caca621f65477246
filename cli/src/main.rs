//! `paywire`: decode x402 messages, pay a bill, fetch a paid URL, verify a payment, make a key.
//!
//! Exit codes: 0 success (or a valid payment), 1 a well-formed input that is refused (an invalid payment, a
//! bill no offer of which the policy accepts), 2 bad input (undecodable values, bad flags, missing key).

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

mod fetch;

use clap::{Parser, Subcommand};
use paywire_core::client::{PayExtras, Payer, PayerOptions, Policy};
use paywire_core::decode::decode_any;
use paywire_core::error::Category;
use paywire_core::server::check_payment;
use paywire_core::*;
use serde_json::json;

#[derive(Parser)]
#[command(name = "paywire", version, about = "x402 payments from the command line: decode, pay, fetch, verify, keygen")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode any x402 header value or JSON body (a 402 bill, a payment, a receipt, a facilitator answer)
    /// and print it as JSON, naming the message.
    Decode {
        /// The header value or JSON text; `-` reads it from standard input.
        value: String,
    },
    /// Pay a bill: choose an offer, sign it, print the payment header.
    ///
    /// By default only the known stablecoins are paid, at most $1 per payment. Prints
    /// {"header": NAME, "value": VALUE, "payload": {...}}.
    Pay {
        /// Name of the environment variable that holds the payer's private key (hex).
        #[arg(long, value_name = "VAR")]
        key_env: String,
        /// The bill: a PAYMENT-REQUIRED header value or a v1 402 JSON body; `-` reads standard input.
        #[arg(long)]
        bill: String,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Sign as if the time were this Unix timestamp (deterministic output).
        #[arg(long, value_name = "UNIX")]
        now: Option<u64>,
        /// Use this 32-byte nonce instead of a random one (deterministic output).
        #[arg(long, value_name = "0x…")]
        nonce: Option<String>,
        /// Seconds added to the offer's maxTimeoutSeconds for validBefore (0 reproduces the official clients).
        #[arg(long, value_name = "SECONDS", default_value_t = paywire_core::client::DEFAULT_EXPIRY_MARGIN)]
        expiry_margin: u64,
        /// Print only the header value.
        #[arg(long)]
        value_only: bool,
    },
    /// Make an HTTP request and pay the x402 bill if the server answers 402, like curl.
    ///
    /// Prints the response body (or, with --json, the status, headers, body, payment and settlement receipt)
    /// and a line about the payment on standard error. Exits 0 for a 2xx answer, 1 for any other answer or an
    /// offer the policy refuses, 2 for bad input or a server that cannot be reached.
    Fetch {
        /// The URL.
        url: String,
        /// Name of the environment variable that holds the payer's private key (hex).
        #[arg(long, value_name = "VAR")]
        key_env: String,
        /// The HTTP method.
        #[arg(short = 'X', long, default_value = "GET")]
        method: String,
        /// A request header, "Name: value" (repeatable).
        #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The request body; `@FILE` reads it from a file, `-` from standard input.
        #[arg(short = 'd', long)]
        data: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Seconds to wait for each answer (the paid one includes the server's settlement).
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Print {"status", "headers", "body", "payment", "settlement"} as JSON instead of the body.
        #[arg(long)]
        json: bool,
        /// Follow redirects, like curl -L (a payment is never carried across one, and one call pays once).
        #[arg(short = 'L', long)]
        location: bool,
        /// A JSON-RPC endpoint, "eip155:<chain id>=URL" (repeatable): where a bill declares
        /// eip2612GasSponsoring, the payer's Permit2 allowance and EIP-2612 nonce are read there, so a payer who
        /// never approved Permit2 (and holds no gas) pays with a permit the facilitator submits.
        #[arg(long = "rpc-url", value_name = "NETWORK=URL")]
        rpc_urls: Vec<String>,
        /// As --rpc-url, with the URL read from an environment variable, "eip155:<chain id>=VAR" (an RPC URL
        /// often holds an API key, which a command line shows to every user of the machine).
        #[arg(long = "rpc-url-env", value_name = "NETWORK=VAR")]
        rpc_url_envs: Vec<String>,
    },
    /// Verify a payment offline against a bill: match it to an offer, check signature, amounts, payee and
    /// time window. Prints a VerifyResponse; exits 0 if valid, 1 if invalid, 2 on bad input.
    Verify {
        /// The payment: a PAYMENT-SIGNATURE or X-PAYMENT header value (or its JSON).
        #[arg(long)]
        payment: String,
        /// The bill it pays: a PAYMENT-REQUIRED header value or JSON.
        #[arg(long)]
        bill: String,
        /// Verify as if the time were this Unix timestamp.
        #[arg(long, value_name = "UNIX")]
        now: Option<u64>,
    },
    /// Make a new private key and print it with its address.
    Keygen,
    /// Build a bill (what a server answers with 402) for a price, for testing clients.
    ///
    /// Prints {"header": "PAYMENT-REQUIRED", "value": VALUE, "bill": {...}} for v2, and the v1 JSON body
    /// as {"body": {...}} for v1.
    Bill {
        /// Price: a USD amount such as "$0.01" (paid in the network's default stablecoin).
        #[arg(long)]
        price: String,
        /// Network (CAIP-2 or a v1 name).
        #[arg(long)]
        network: String,
        /// Payee address.
        #[arg(long)]
        pay_to: String,
        /// The resource URL.
        #[arg(long, default_value = "https://example.com/resource")]
        resource: String,
        /// x402 version of the bill (1 or 2).
        #[arg(long, default_value_t = 2)]
        x402_version: u8,
        /// Seconds the client has to complete the payment.
        #[arg(long, default_value_t = paywire_core::server::DEFAULT_MAX_TIMEOUT_SECONDS)]
        timeout: u64,
        /// Print only the header value (v2) or the compact JSON body (v1).
        #[arg(long)]
        value_only: bool,
    },
}

/// The spend policy flags of `pay` and `fetch`.
#[derive(clap::Args)]
struct PolicyArgs {
    /// Refuse offers above this many atomic units. When given, it replaces the $1 cap and also allows
    /// tokens outside the default stablecoin table.
    #[arg(long, value_name = "ATOMIC")]
    max_amount: Option<String>,
    /// Pay only on this network (CAIP-2, e.g. eip155:84532).
    #[arg(long, value_name = "CAIP2")]
    network: Option<String>,
}

impl PolicyArgs {
    fn policy(&self) -> Result<Policy, Failure> {
        let mut policy = Policy::default();
        if let Some(max) = &self.max_amount {
            let cap = paywire_core::wire::parse_decimal_u256(max)
                .map_err(|e| Error::new(ErrorCode::InvalidArgument, format!("--max-amount {e}")))?;
            policy.max_amount = Some(cap);
            policy.max_per_payment = None;
            policy.allow_any_asset = true;
        }
        if let Some(n) = &self.network {
            policy.networks = Some(vec![paywire_core::network::chain_id(n)?]);
        }
        Ok(policy)
    }
}

/// A failure and the exit code it deserves.
struct Failure {
    code: u8,
    problem: Problem,
}

/// What went wrong: paywire's error, or something outside paywire (a server that cannot be reached).
enum Problem {
    Paywire(Error),
    Outside(String),
}

impl Failure {
    fn new(code: u8, error: Error) -> Self {
        Failure { code, problem: Problem::Paywire(error) }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::new(2, error)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            match &f.problem {
                Problem::Outside(message) => eprintln!("paywire: {message}"),
                Problem::Paywire(error) if error.refusals().is_empty() => eprintln!("paywire: {error}"),
                Problem::Paywire(error) => {
                    eprintln!("paywire: no offer is acceptable under the payment policy [{}]", error.code());
                    for r in error.refusals() {
                        eprintln!("  offer [{}] {}: {}", r.index, r.offer, r.reasons.join("; "));
                    }
                }
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(command: Command) -> Result<u8, Failure> {
    match command {
        Command::Decode { value } => {
            let decoded = decode_any(&read_arg(&value)?)?;
            print_json(&json!({
                "message": decoded.kind.name(),
                "x402Version": decoded.x402_version,
                "encoding": if decoded.was_base64 { "base64" } else { "json" },
                "decoded": decoded.json,
            }));
            Ok(0)
        }
        Command::Pay { key_env, bill, policy, now, nonce, expiry_margin, value_only } => {
            let signer = signer_from_env(&key_env)?;
            let bill = read_bill(&read_arg(&bill)?)?;
            let policy = policy.policy()?;
            let clock: Arc<dyn Clock> = match now {
                Some(t) => Arc::new(FixedClock(t)),
                None => Arc::new(SystemClock),
            };
            let randomness: Arc<dyn Randomness> = match nonce {
                Some(n) => {
                    let bytes = paywire_core::wire::parse_b256(&n)
                        .map_err(|e| Error::new(ErrorCode::InvalidArgument, format!("--nonce {e}")))?;
                    Arc::new(FixedRandomness::new(bytes.to_vec()))
                }
                None => Arc::new(OsRandomness),
            };
            let payer = Payer::new(Arc::new(signer), policy, clock, randomness)
                .with_options(PayerOptions { expiry_margin, ..Default::default() });
            let header = payer.pay_with(&bill, None, &PayExtras::default()).map_err(|error| {
                let code = if error.code() == ErrorCode::NoAcceptableOffer { 1 } else { 2 };
                Failure::new(code, error)
            })?;
            if value_only {
                println!("{}", header.value);
            } else {
                print_json(
                    &json!({"header": header.name, "value": header.value, "payload": header.payload.to_value()}),
                );
            }
            Ok(0)
        }
        Command::Fetch {
            url,
            key_env,
            method,
            headers,
            data,
            policy,
            timeout,
            json,
            location,
            rpc_urls,
            rpc_url_envs,
        } => {
            let rpc = fetch::rpc_endpoints(&rpc_urls, &rpc_url_envs)?;
            let signer = signer_from_env(&key_env)?;
            let payer =
                Arc::new(Payer::new(Arc::new(signer), policy.policy()?, Arc::new(SystemClock), Arc::new(OsRandomness)));
            let body = data.as_deref().map(read_data).transpose()?;
            let request = fetch::Request { method, url, headers: fetch::parse_headers(&headers)?, body };
            let options = fetch::Options {
                timeout: std::time::Duration::from_secs(timeout),
                as_json: json,
                follow: location,
                rpc,
            };
            fetch::run(payer, request, options)
        }
        Command::Verify { payment, bill, now } => {
            let payment_text = read_arg(&payment)?;
            let payment = PaymentPayload::from_text(&payment_text)?;
            let bill = read_bill(&read_arg(&bill)?)?;
            let now = now.unwrap_or_else(|| SystemClock.now());
            let response = match check_payment(&bill, &payment, now) {
                Ok(accepted) => accepted.verified.to_verify_response(),
                Err(e) if is_input_error(&e) => return Err(e.into()),
                Err(e) => VerifyResponse::invalid(&e),
            };
            print_json(&serde_json::to_value(&response).unwrap_or_default());
            Ok(if response.is_valid { 0 } else { 1 })
        }
        Command::Bill { price, network, pay_to, resource, x402_version, timeout, value_only } => {
            let mut tag = paywire_core::server::PriceTag::new(price, network, pay_to);
            tag.max_timeout_seconds = Some(timeout);
            let bill = paywire_core::server::build_payment_required(x402_version, ResourceInfo::new(resource), &[tag])?;
            let bill_json: serde_json::Value = serde_json::from_str(&bill.to_json()).unwrap_or_default();
            if value_only {
                println!("{}", if x402_version >= 2 { bill.to_header() } else { bill.to_json() });
            } else if x402_version >= 2 {
                print_json(&json!({"header": "PAYMENT-REQUIRED", "value": bill.to_header(), "bill": bill_json}));
            } else {
                print_json(&json!({"body": bill_json}));
            }
            Ok(0)
        }
        Command::Keygen => {
            let signer = LocalSigner::generate(&OsRandomness)?;
            print_json(
                &json!({"address": signer.address().to_checksum(None), "privateKey": signer.secret_hex().as_str()}),
            );
            Ok(0)
        }
    }
}

/// Errors that mean the input could not be used (an unreadable payment, a bill paywire cannot verify
/// against), as opposed to a payment that was read and refused.
fn is_input_error(e: &Error) -> bool {
    matches!(e.code().category(), Category::MalformedInput | Category::Configuration)
}

fn signer_from_env(key_env: &str) -> Result<LocalSigner, Failure> {
    let key = zeroize::Zeroizing::new(std::env::var(key_env).map_err(|_| {
        Error::new(
            ErrorCode::InvalidPrivateKey,
            format!("environment variable {key_env} is not set; put the payer's hex private key in it"),
        )
    })?);
    Ok(LocalSigner::from_hex(&key)?)
}

/// A request body: `@FILE`, `-` (standard input) or the text itself.
fn read_data(data: &str) -> Result<Vec<u8>, Failure> {
    let read = |what: &str, r: std::io::Result<Vec<u8>>| {
        r.map_err(|e| Failure::from(Error::new(ErrorCode::InvalidArgument, format!("cannot read {what}: {e}"))))
    };
    if data == "-" {
        let mut bytes = Vec::new();
        return read("standard input", std::io::stdin().read_to_end(&mut bytes).map(|_| bytes));
    }
    match data.strip_prefix('@') {
        Some(path) => read(path, std::fs::read(path)),
        None => Ok(data.as_bytes().to_vec()),
    }
}

fn read_arg(value: &str) -> Result<String, Failure> {
    if value != "-" {
        return Ok(value.to_string());
    }
    let mut text = String::new();
    std::io::stdin()
        .take(paywire_core::codec::MAX_BODY_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("cannot read standard input: {e}")))?;
    Ok(text)
}

fn read_bill(text: &str) -> Result<PaymentRequired, Failure> {
    let text = text.trim();
    Ok(PaymentRequired::from_text(text)?)
}

fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}
