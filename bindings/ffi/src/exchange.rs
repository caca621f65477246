//! The exchange machines for Swift and Kotlin: `Gate` / `Exchange` (the server's payment gate, stepped with
//! `GateStep`s) and `PaidFetch` (the paying client, stepped with `FetchStep`s). Every decision is the core's;
//! the glue in `kotlin/` and `swift/` performs the steps for its HTTP stack.

use std::sync::{Arc, Mutex};

use paywire_core::client::fetch as fetch_core;
use paywire_core::credentials::Statement;
use paywire_core::server::gate as core;
use paywire_core::server::routes::{RouteMatching, RoutePattern};
use paywire_core::server::store::{self as store_core, MemoryStore};
use paywire_core::siwx;

use crate::convert::{HttpHeader, header_pairs};
use crate::credentials::{AccessPolicy, Issuer};
use crate::error::{ErrorDetails, Result, bad_argument};
use crate::getters::getters;
use crate::hooks::{HookContext, HookPoint, HookVerdict, hook_set};
use crate::messages::{PaymentPayload, PaymentRequirements, SettleResponse, VerifyResponse};
use crate::payer::{Payer, PaymentHeader};
use crate::server::{AcceptedPayment, PriceTag};

fn headers_out(headers: &[(String, String)]) -> Vec<HttpHeader> {
    headers.iter().map(|(name, value)| HttpHeader { name: name.clone(), value: value.clone() }).collect()
}

/// What a route's bill says besides its offers.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RouteOptions {
    /// The resource's description.
    #[uniffi(default = None)]
    pub description: Option<String>,
    /// The resource's MIME type.
    #[uniffi(default = None)]
    pub mime_type: Option<String>,
    /// 2, or 1 for v1 clients.
    #[uniffi(default = 2)]
    pub x402_version: u8,
    /// Whether an access receipt may stand in for a payment.
    #[uniffi(default = true)]
    pub receipts: bool,
}

/// A priced route: its price tags, and a `pattern` ("GET /weather/{city}") matching requests to it.
#[derive(Debug, uniffi::Object)]
pub struct PricedRoute(core::PricedRoute);

#[uniffi::export]
impl PricedRoute {
    /// A route priced by `tags`; without a pattern, the glue starts it for the route it is attached to.
    #[uniffi::constructor(default(pattern = None, options = None))]
    pub fn new(tags: Vec<Arc<PriceTag>>, pattern: Option<String>, options: Option<RouteOptions>) -> Result<Arc<Self>> {
        let pattern = pattern.as_deref().map(RoutePattern::parse).transpose()?;
        let mut route = core::PricedRoute::new(pattern, tags.iter().map(|t| t.0.clone()).collect());
        if let Some(o) = options {
            paywire_core::server::check_version(o.x402_version)?;
            route.description = o.description;
            route.mime_type = o.mime_type;
            route.x402_version = o.x402_version;
            route.receipts = o.receipts;
        }
        Ok(Arc::new(Self(route)))
    }
}

/// How a gate takes payments.
#[derive(Debug, Clone, uniffi::Record)]
pub struct GateOptions {
    /// The app's external origin: bills, offers and receipts name it instead of the request's Host.
    #[uniffi(default = None)]
    pub public_url: Option<String>,
    /// Pass smart-wallet signatures on to the facilitator instead of refusing them offline.
    #[uniffi(default = false)]
    pub allow_onchain_signatures: bool,
    /// The largest request body a priced route reads (default 10 MiB).
    #[uniffi(default = None)]
    pub max_request_bytes: Option<u64>,
    /// The largest response held for answering a retry again (default 1 MiB).
    #[uniffi(default = None)]
    pub max_replay_bytes: Option<u64>,
    /// Paths are matched with letter case.
    #[uniffi(default = false)]
    pub case_sensitive: bool,
    /// Hand every record operation to the glue (a store shared by processes).
    #[uniffi(default = false)]
    pub external_store: bool,
    /// Seconds after which a payment left in flight (its process died mid-request) is taken over by a retry
    /// of the same request (default 300).
    #[uniffi(default = None)]
    pub takeover_after: Option<u64>,
    /// The points the glue runs hooks at: `Hook` steps come only for these.
    #[uniffi(default = None)]
    pub hooks: Option<Vec<HookPoint>>,
    /// Sign-in-with-x: bills declare it, and a wallet that paid for a resource signs in to it again without
    /// paying (none: off).
    #[uniffi(default = None)]
    pub sign_in: Option<SignInOptions>,
    /// Where a client gets a pass (a facilitator's base URL), named in bills with the issuers `access`
    /// trusts.
    #[uniffi(default = None)]
    pub pass_facilitator: Option<String>,
    /// batch-settlement claims by time: once the oldest charge not claimed is this many seconds old (what an
    /// earlier process left counts as served at the first check; default 300; 0: not by time; above half a
    /// route's withdraw delay: refused).
    #[uniffi(default = None)]
    pub claim_every_seconds: Option<u64>,
    /// batch-settlement claims by amount: once the charges since the last claim reach this many atomic units
    /// (decimal; default: not by amount).
    #[uniffi(default = None)]
    pub claim_at_amount: Option<String>,
    /// The facilitator's `/supported` answer as JSON: fills in what price tags leave out (an upto tag's
    /// `facilitatorAddress`, a batch-settlement tag's `receiverAuthorizer`).
    #[uniffi(default = None)]
    pub supported_json: Option<String>,
}

/// Sign-in-with-x settings.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SignInOptions {
    /// The line the wallet shows.
    #[uniffi(default = None)]
    pub statement: Option<String>,
    /// How long a payment lets its wallet sign in again, in seconds (default a day).
    #[uniffi(default = 86400)]
    pub access_seconds: u64,
    /// How old a sign-in may be, in seconds.
    #[uniffi(default = 300)]
    pub max_age_seconds: u64,
    /// A sign-in expires this long after it was asked for (none: no expiry).
    #[uniffi(default = None)]
    pub expiration_seconds: Option<u64>,
}

impl From<SignInOptions> for siwx::SignInOptions {
    fn from(o: SignInOptions) -> Self {
        siwx::SignInOptions {
            statement: o.statement,
            access_seconds: o.access_seconds,
            max_age_seconds: o.max_age_seconds,
            expiration_seconds: o.expiration_seconds,
        }
    }
}

/// A request as the gate sees it. Printed, it shows the method, path, origin and header names only.
#[derive(Clone, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct RequestHead {
    /// The method.
    pub method: String,
    /// The path as the router matches it, percent-encoded as sent.
    pub path: String,
    /// The path and query as sent, from the app's origin.
    pub path_and_query: String,
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The headers.
    pub headers: Vec<HttpHeader>,
}

impl std::fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&core::RequestHead::from(self.clone()), f)
    }
}

impl From<RequestHead> for core::RequestHead {
    fn from(h: RequestHead) -> Self {
        core::RequestHead {
            method: h.method,
            path: h.path,
            path_and_query: h.path_and_query,
            origin: h.origin,
            headers: header_pairs(&h.headers),
        }
    }
}

/// A set of priced routes and how payments for them are taken.
#[derive(uniffi::Object)]
pub struct Gate(core::Gate);

/// A started request: its exchange (none when the request is free) and first step.
#[derive(uniffi::Record)]
pub struct Started {
    /// The exchange, or none when the request is free (the step is `PassThrough`).
    pub exchange: Option<Arc<Exchange>>,
    /// The first step.
    pub step: GateStep,
}

#[uniffi::export]
impl Gate {
    /// A gate for `routes`; `receiver_authorizer` is the key of the batch-settlement offers' receiver
    /// authorizer when the server holds it (it signs their claims and payers' refunds).
    #[uniffi::constructor(default(issuer = None, access = None, receiver_authorizer = None))]
    pub fn new(
        routes: Vec<Arc<PricedRoute>>,
        options: GateOptions,
        issuer: Option<Arc<Issuer>>,
        access: Option<Arc<AccessPolicy>>,
        receiver_authorizer: Option<Arc<crate::signer::LocalSigner>>,
    ) -> Result<Arc<Self>> {
        let gate_options = core::GateOptions {
            public_url: options.public_url,
            allow_onchain_signatures: options.allow_onchain_signatures,
            max_request_bytes: options.max_request_bytes.map_or(core::DEFAULT_MAX_REQUEST_BYTES, |n| n as usize),
            max_replay_bytes: options.max_replay_bytes.map_or(core::DEFAULT_MAX_REPLAY_BYTES, |n| n as usize),
            matching: RouteMatching { case_sensitive: options.case_sensitive },
            takeover_after: options.takeover_after.unwrap_or(core::DEFAULT_TAKEOVER_AFTER_SECONDS),
            hooks: hook_set(options.hooks),
            sign_in: options.sign_in.map(Into::into),
            pass_facilitator: options.pass_facilitator,
            claims: core::ClaimSchedule {
                every_seconds: options.claim_every_seconds.unwrap_or(core::DEFAULT_CLAIM_EVERY_SECONDS),
                at_amount: match options.claim_at_amount.as_deref() {
                    None => 0,
                    Some(text) => text.parse::<u128>().map_err(|_| {
                        paywire_core::Error::new(
                            paywire_core::ErrorCode::InvalidArgument,
                            "claim_at_amount is a decimal number of the token's atomic units",
                        )
                    })?,
                },
            },
            supported: options.supported_json.as_deref().map(paywire_core::SupportedResponse::from_json).transpose()?,
        };
        let store: Option<Arc<dyn store_core::PaymentStore>> =
            if options.external_store { None } else { Some(Arc::new(MemoryStore::default())) };
        let parts = core::GateParts {
            options: gate_options,
            issuer: issuer.map(|i| i.shared()),
            access: access.map(|a| a.policy()),
            store,
            randomness: Arc::new(paywire_core::OsRandomness),
            receiver_authorizer: receiver_authorizer.map(|s| s.0.clone() as Arc<dyn paywire_core::signer::Signer>),
        };
        Ok(Arc::new(Self(core::Gate::new(routes.iter().map(|r| r.0.clone()).collect(), parts)?)))
    }
    /// The index of the priced route a request goes to, or none when it is free. `framework_pattern` is the
    /// pattern of the route the framework routes it to, when it can say; `framework_no_route` says no route
    /// takes it.
    #[uniffi::method(default(framework_pattern = None, framework_no_route = false))]
    pub fn route_for(
        &self,
        method: String,
        path: String,
        framework_pattern: Option<String>,
        framework_no_route: bool,
    ) -> Option<u32> {
        let framework = match (framework_no_route, &framework_pattern) {
            (true, _) => core::FrameworkRoute::NoRoute,
            (false, Some(p)) => core::FrameworkRoute::Matched(p),
            (false, None) => core::FrameworkRoute::Unknown,
        };
        self.0.route_for(&method, &path, framework).map(|i| i as u32)
    }
    /// Starts a request to priced route `route` at Unix time `now` (default: the system clock).
    #[uniffi::method(default(now = None))]
    pub fn start(&self, route: u32, head: RequestHead, now: Option<u64>) -> Result<Started> {
        if route as usize >= self.0.routes().len() {
            return Err(bad_argument(format!("the gate has {} routes, not {}", self.0.routes().len(), route + 1)));
        }
        let now = now.unwrap_or_else(|| paywire_core::Clock::now(&paywire_core::SystemClock));
        let (exchange, step) = self.0.start(route as usize, head.into(), now);
        Ok(Started { exchange: Some(Arc::new(Exchange(Mutex::new(exchange)))), step: GateStep::from(step) })
    }
    /// The batch-settlement claim: claims every channel's charges at the facilitator and sweeps them to the
    /// receiver. Drive it as a request (store and settle steps); its final `Respond` step holds a JSON summary.
    #[uniffi::method(default(now = None))]
    pub fn claim(&self, now: Option<u64>) -> Started {
        let now = now.unwrap_or_else(|| paywire_core::Clock::now(&paywire_core::SystemClock));
        let (exchange, step) = self.0.claim(now);
        Started { exchange: Some(Arc::new(Exchange(Mutex::new(exchange)))), step: GateStep::from(step) }
    }
    /// Whether a route offers batch-settlement (then claims are scheduled).
    pub fn offers_batch(&self) -> bool {
        self.0.offers_batch()
    }
    /// Whether a batch-settlement claim run is due (the claim schedule): ask after each request and every few
    /// seconds, and run `claim()` when it is.
    #[uniffi::method(default(now = None))]
    pub fn claim_due(&self, now: Option<u64>) -> bool {
        self.0.claim_due(now.unwrap_or_else(|| paywire_core::Clock::now(&paywire_core::SystemClock)))
    }
    /// `route_for` then `start`: no exchange and a `PassThrough` step when the request is free.
    #[uniffi::method(default(framework_pattern = None, framework_no_route = false, now = None))]
    pub fn handle(
        &self,
        head: RequestHead,
        framework_pattern: Option<String>,
        framework_no_route: bool,
        now: Option<u64>,
    ) -> Result<Started> {
        match self.route_for(head.method.clone(), head.path.clone(), framework_pattern, framework_no_route) {
            Some(route) => self.start(route, head, now),
            None => Ok(Started {
                exchange: None,
                step: GateStep { action: GateAction::PassThrough, shielded: false, logs: Vec::new() },
            }),
        }
    }
}

/// A store operation's answer, for gates with an external store.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum StoreAnswer {
    /// A claim's or a get's answer: the live entry's JSON, if any.
    Entry {
        /// The entry's JSON text.
        entry: Option<String>,
    },
    /// A replace's answer.
    Replaced {
        /// Whether it was done.
        done: bool,
    },
    /// A release is done.
    Released,
    /// The store failed (the message goes to the server's log).
    Failed {
        /// What happened.
        message: String,
    },
}

/// One priced request in progress: feed each step's outcome back.
#[derive(uniffi::Object)]
pub struct Exchange(Mutex<core::Exchange>);

impl Exchange {
    fn resume(&self, input: core::Input) -> GateStep {
        let mut exchange = self.0.lock().unwrap_or_else(|p| p.into_inner());
        GateStep::from(exchange.resume(input))
    }
}

#[uniffi::export]
impl Exchange {
    /// The request body.
    pub fn feed_body(&self, body: Vec<u8>) -> GateStep {
        self.resume(core::Input::Body(body))
    }
    /// The body is longer than the step's limit.
    pub fn feed_body_too_large(&self) -> GateStep {
        self.resume(core::Input::BodyTooLarge)
    }
    /// The client went away while the body was read.
    pub fn feed_client_gone(&self) -> GateStep {
        self.resume(core::Input::ClientGone)
    }
    /// A store operation's answer.
    pub fn feed_store(&self, answer: StoreAnswer) -> Result<GateStep> {
        let answer = match answer {
            StoreAnswer::Entry { entry } => {
                core::StoreAnswer::Entry(entry.as_deref().map(store_core::StoreEntry::from_json).transpose()?)
            }
            StoreAnswer::Replaced { done } => core::StoreAnswer::Replaced(done),
            StoreAnswer::Released => core::StoreAnswer::Released,
            StoreAnswer::Failed { message } => core::StoreAnswer::Failed(message),
        };
        Ok(self.resume(core::Input::Store(answer)))
    }
    /// The facilitator's `/verify` answer, as its JSON text.
    pub fn feed_verified(&self, answer_json: String) -> Result<GateStep> {
        Ok(self.resume(core::Input::Verified(paywire_core::VerifyResponse::from_json(&answer_json)?)))
    }
    /// The facilitator's `/verify` answer.
    pub fn feed_verify_response(&self, answer: VerifyResponse) -> GateStep {
        self.resume(core::Input::Verified(answer.into()))
    }
    /// The facilitator's `/settle` answer.
    pub fn feed_settled(&self, answer: Arc<SettleResponse>) -> GateStep {
        self.resume(core::Input::Settled(answer.0.clone()))
    }
    /// The facilitator call failed; `code` is the paywire error code when it threw one.
    #[uniffi::method(default(code = None))]
    pub fn feed_facilitator_failed(&self, message: String, code: Option<String>) -> GateStep {
        self.resume(core::Input::FacilitatorFailed { code, message })
    }
    /// The handler's whole response.
    pub fn feed_handled(&self, status: u16, headers: Vec<HttpHeader>, body: Vec<u8>) -> GateStep {
        let response = paywire_core::http::Response { status, headers: header_pairs(&headers), body };
        self.resume(core::Input::Handled(response))
    }
    /// The handler threw (rethrow it at the `Fail` step).
    pub fn feed_handler_failed(&self) -> GateStep {
        self.resume(core::Input::HandlerFailed)
    }
    /// What the hooks of a `Hook` step decided.
    pub fn feed_hooked(&self, verdict: HookVerdict) -> GateStep {
        self.resume(core::Input::Hooked(verdict.into()))
    }
    /// The request was abandoned before a final step: the clean-up's first step.
    pub fn cancel(&self) -> GateStep {
        let mut exchange = self.0.lock().unwrap_or_else(|p| p.into_inner());
        GateStep::from(exchange.cancel())
    }
}

getters!(Exchange {
    /// Whether a final step was returned.
    ended -> bool = |v| v.lock().unwrap_or_else(|p| p.into_inner()).ended();
});

/// A store operation, for gates with an external store.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum StoreOp {
    /// Store `entry` under `key` unless a live entry is there; answer `Entry` with the live one.
    Claim {
        /// The key.
        key: String,
        /// The entry's JSON text.
        entry: String,
        /// When it may be dropped (Unix seconds).
        expires_at: u64,
    },
    /// The live entry under `key`; answer `Entry`.
    Get {
        /// The key.
        key: String,
    },
    /// Store `entry` if the live entry has `token`; answer `Replaced`.
    Replace {
        /// The key.
        key: String,
        /// The token the live entry must have.
        token: String,
        /// The new entry's JSON text.
        entry: String,
        /// When it may be dropped (Unix seconds).
        expires_at: u64,
    },
    /// Forget the entry if it has `token`; answer `Released`.
    Release {
        /// The key.
        key: String,
        /// The token the entry must have.
        token: String,
    },
}

/// What the handler is told about the payment.
#[derive(uniffi::Record)]
pub struct Paid {
    /// Who paid.
    pub payer: String,
    /// The payment, when the request paid with one.
    pub payment: Option<Arc<AcceptedPayment>>,
    /// The access receipt's payload as JSON text, when a receipt stood in for a payment.
    pub receipt_json: Option<String>,
}

/// What the gate's glue must do next.
// uniffi carries a record in an enum by value (no boxes); a step lives for one move of the glue.
#[allow(clippy::large_enum_variant)]
#[derive(uniffi::Enum)]
pub enum GateAction {
    /// Final: the request is not priced; run the app as usual.
    PassThrough,
    /// Read the whole body, at most `limit` bytes.
    ReadBody {
        /// The most bytes to read.
        limit: u64,
    },
    /// Perform a store operation.
    Store {
        /// The operation.
        op: StoreOp,
    },
    /// Ask the facilitator's `/verify`.
    Verify {
        /// The payment as received.
        payment: Arc<PaymentPayload>,
        /// The server's offer it pays.
        requirements: Arc<PaymentRequirements>,
    },
    /// Run the handler with the body read before; capture its whole response without sending it.
    RunHandler {
        /// What the handler is told about the payment.
        paid: Paid,
    },
    /// Ask the facilitator's `/settle`.
    Settle {
        /// The payment as received.
        payment: Arc<PaymentPayload>,
        /// The server's offer it pays.
        requirements: Arc<PaymentRequirements>,
    },
    /// Run the hooks registered at `point`, in order, and feed what they decided.
    Hook {
        /// Where the exchange is.
        point: HookPoint,
        /// What the hooks are told.
        context: HookContext,
    },
    /// Final: send this response as it is.
    Respond {
        /// The status.
        status: u16,
        /// The headers.
        headers: Vec<HttpHeader>,
        /// The body.
        body: Vec<u8>,
    },
    /// Final: the handler failed; rethrow its error.
    Fail,
    /// Final: nothing to send.
    Done,
}

/// A line for the server's log.
#[derive(uniffi::Record)]
pub struct LogLine {
    /// `warning` or `error`.
    pub level: String,
    /// What happened.
    pub message: String,
}

/// One step of an exchange.
#[derive(uniffi::Record)]
pub struct GateStep {
    /// What to do.
    pub action: GateAction,
    /// Run it to completion even if the request is abandoned.
    pub shielded: bool,
    /// Lines for the server's log.
    pub logs: Vec<LogLine>,
}

impl From<core::Step> for GateStep {
    fn from(step: core::Step) -> Self {
        let action = match step.action {
            core::Action::PassThrough => GateAction::PassThrough,
            core::Action::ReadBody { limit } => GateAction::ReadBody { limit: limit as u64 },
            core::Action::Store(op) => GateAction::Store {
                op: match op {
                    core::StoreOp::Claim { key, entry } => {
                        StoreOp::Claim { key, expires_at: entry.expires_at, entry: entry.to_json() }
                    }
                    core::StoreOp::Get { key } => StoreOp::Get { key },
                    core::StoreOp::Replace { key, token, entry } => {
                        StoreOp::Replace { key, token, expires_at: entry.expires_at, entry: entry.to_json() }
                    }
                    core::StoreOp::Release { key, token } => StoreOp::Release { key, token },
                },
            },
            core::Action::Verify(call) => GateAction::Verify {
                payment: Arc::new(PaymentPayload(call.payment)),
                requirements: Arc::new(PaymentRequirements(call.requirements)),
            },
            core::Action::Settle(call) => GateAction::Settle {
                payment: Arc::new(PaymentPayload(call.payment)),
                requirements: Arc::new(PaymentRequirements(call.requirements)),
            },
            core::Action::RunHandler(paid) => GateAction::RunHandler {
                paid: Paid {
                    payer: paid.payer,
                    payment: paid.payment.map(|p| Arc::new(AcceptedPayment(p))),
                    receipt_json: paid.receipt.map(|r| r.to_json().to_string()),
                },
            },
            core::Action::Respond(r) => {
                GateAction::Respond { status: r.status, headers: headers_out(&r.headers), body: r.body }
            }
            core::Action::Hook(call) => {
                GateAction::Hook { point: call.point.into(), context: HookContext::from(&*call) }
            }
            core::Action::Fail => GateAction::Fail,
            core::Action::Done => GateAction::Done,
        };
        let logs = step
            .logs
            .into_iter()
            .map(|l| LogLine { level: l.level.as_str().to_string(), message: l.message })
            .collect();
        GateStep { action, shielded: step.shielded, logs }
    }
}

/// A request for `PaidFetch.start`. Printed, it shows the method, the URL's origin and the header names only: a
/// URL may carry an API key (a JSON-RPC endpoint's), and headers a payment or the caller's credentials.
#[derive(Clone, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct FetchRequest {
    /// The method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The headers.
    pub headers: Vec<HttpHeader>,
    /// The body (none: no body).
    pub body: Option<Vec<u8>>,
}

/// How one call behaves. Printed, it shows the networks of `rpc_urls`, not their URLs (which often carry an API
/// key), and the facilitators' URLs without credentials or query.
#[derive(Clone, uniffi::Record)]
#[uniffi::export(Debug)]
pub struct FetchOptions {
    /// Follow redirects (the machine follows them; the glue's stack must not).
    #[uniffi(default = true)]
    pub follow_redirects: bool,
    /// The most redirects followed.
    #[uniffi(default = 20)]
    pub max_redirects: u32,
    /// The request continues a call that already paid.
    #[uniffi(default = false)]
    pub already_paid: bool,
    /// Sign with the payer's own signer; otherwise a `Sign` step asks the glue.
    #[uniffi(default = true)]
    pub sign_inline: bool,
    /// The points the glue runs hooks at: `Hook` steps come only for these.
    #[uniffi(default = None)]
    pub hooks: Option<Vec<HookPoint>>,
    /// Sign in where a bill offers sign-in-with-x (a wallet that paid gets the resource again unpaid).
    #[uniffi(default = true)]
    pub sign_in: bool,
    /// Facilitators (base URLs) the client may ask for a pass when a bill names one (none: no passes).
    #[uniffi(default = None)]
    pub pass_facilitators: Option<Vec<String>>,
    /// JSON-RPC URLs by network (`eip155:<chain id>`): where a bill declares `eip2612GasSponsoring`, the
    /// machine reads through them what an EIP-2612 permit for Permit2 needs (none: no reads, no permit).
    #[uniffi(default = None)]
    pub rpc_urls: Option<std::collections::HashMap<String, String>>,
}

impl std::fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let request = fetch_core::FetchRequest {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: header_pairs(&self.headers),
            body: self.body.clone(),
        };
        std::fmt::Debug::fmt(&request, f)
    }
}

impl std::fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut networks: Option<Vec<&str>> =
            self.rpc_urls.as_ref().map(|urls| urls.keys().map(String::as_str).collect());
        if let Some(n) = networks.as_mut() {
            n.sort_unstable();
        }
        let facilitators: Option<Vec<String>> = self
            .pass_facilitators
            .as_ref()
            .map(|urls| urls.iter().map(|u| paywire_core::facilitator::redact_url(u)).collect());
        f.debug_struct("FetchOptions")
            .field("follow_redirects", &self.follow_redirects)
            .field("max_redirects", &self.max_redirects)
            .field("already_paid", &self.already_paid)
            .field("sign_inline", &self.sign_inline)
            .field("hooks", &self.hooks)
            .field("sign_in", &self.sign_in)
            .field("pass_facilitators", &facilitators)
            .field("rpc_networks", &networks)
            .finish()
    }
}

/// What a call paid, with its final response.
#[derive(uniffi::Record)]
pub struct FetchOutcome {
    /// The payment sent, if the call paid.
    pub payment: Option<Arc<PaymentHeader>>,
    /// The paid request's settlement receipt, when readable.
    pub settlement: Option<Arc<SettleResponse>>,
    /// The status that answered the paid request.
    pub paid_status: Option<u16>,
    /// The payment may still settle (a retry of the purchase reuses it).
    pub open: bool,
    /// Why a final 402 was not paid.
    pub unpaid: Option<ErrorDetails>,
    /// The final response's body was read (hand those bytes to the caller).
    pub body_read: bool,
    /// The final answer came to a sign-in (sign-in-with-x), without a payment.
    pub signed_in: bool,
    /// The final answer came to a pass the payer held, without a payment.
    pub pass_used: bool,
}

/// What the paying client's glue must do next.
// uniffi carries a record in an enum by value (no boxes); a step lives for one move of the glue.
#[allow(clippy::large_enum_variant)]
#[derive(uniffi::Enum)]
pub enum FetchStep {
    /// Send this request without following redirects; feed its status and headers.
    Send {
        /// The request.
        request: FetchRequest,
        /// The request is the machine's own (a pass, a chain read): its body is never the caller's, so keep it
        /// as bytes for the `ReadBody` step.
        own: bool,
        /// The most milliseconds the send may take, its answer included (the machine's own requests), or null
        /// (the caller's timeouts).
        timeout_ms: Option<u64>,
        /// The most bytes to read of its answer's body (the machine's own requests; a longer body is fed as an
        /// empty one), or null (no limit).
        body_limit: Option<u64>,
    },
    /// Read the last response's body and feed it.
    ReadBody,
    /// Sign these digests (65-byte signatures, in order) and feed them.
    Sign {
        /// The digests.
        digests: Vec<Vec<u8>>,
    },
    /// Run the hooks registered at `point`, in order, and feed what they decided.
    Hook {
        /// Where the call is.
        point: HookPoint,
        /// What the hooks are told.
        context: HookContext,
    },
    /// Final: the last response is the answer.
    Done {
        /// What was paid.
        outcome: FetchOutcome,
    },
    /// Final: throw this error.
    Fail {
        /// The error.
        error: ErrorDetails,
    },
    /// Final: rethrow the error the last send failed with.
    Raise {
        /// What was paid (the outcome is open when the failed send carried a payment).
        outcome: FetchOutcome,
    },
}

fn outcome(o: fetch_core::FetchOutcome) -> FetchOutcome {
    FetchOutcome {
        payment: o.payment.map(|p| Arc::new(PaymentHeader(p))),
        settlement: o.settlement.map(|s| Arc::new(SettleResponse(s))),
        paid_status: o.paid_status,
        open: o.open,
        unpaid: o.unpaid.as_ref().map(ErrorDetails::from),
        body_read: o.body_read,
        signed_in: o.signed_in,
        pass_used: o.pass_used,
    }
}

impl From<fetch_core::FetchAction> for FetchStep {
    fn from(action: fetch_core::FetchAction) -> Self {
        let (own, timeout_ms, body_limit) = (action.own(), action.timeout_ms(), action.body_limit());
        match action {
            fetch_core::FetchAction::Send(r) | fetch_core::FetchAction::SendOwn(r) => FetchStep::Send {
                own,
                timeout_ms,
                body_limit: body_limit.map(|n| n as u64),
                request: FetchRequest { method: r.method, url: r.url, headers: headers_out(&r.headers), body: r.body },
            },
            fetch_core::FetchAction::ReadBody => FetchStep::ReadBody,
            fetch_core::FetchAction::Sign(d) => FetchStep::Sign { digests: d.iter().map(|d| d.to_vec()).collect() },
            fetch_core::FetchAction::Hook(call) => {
                FetchStep::Hook { point: call.point.into(), context: HookContext::from(&*call) }
            }
            fetch_core::FetchAction::Done(o) => FetchStep::Done { outcome: outcome(*o) },
            fetch_core::FetchAction::Fail(e) => FetchStep::Fail { error: ErrorDetails::from(&e) },
            fetch_core::FetchAction::Raise(o) => FetchStep::Raise { outcome: outcome(*o) },
        }
    }
}

/// One HTTP call paid once.
#[derive(uniffi::Object)]
pub struct PaidFetch(Mutex<fetch_core::PaidFetch>);

/// A started call and its first step.
#[derive(uniffi::Record)]
pub struct FetchStarted {
    /// The call.
    pub call: Arc<PaidFetch>,
    /// Its first step.
    pub step: FetchStep,
}

impl PaidFetch {
    fn resume(&self, input: fetch_core::FetchInput) -> FetchStep {
        FetchStep::from(self.0.lock().unwrap_or_else(|p| p.into_inner()).resume(input))
    }
}

/// Starts the cooperative refund of the batch-settlement channel behind `url` (a GET of it): `amount` units
/// (decimal), or everything the server did not charge. Drive it as a paid call; its outcome's settlement is
/// the refund's receipt, its `unpaid` error the server's refusal.
#[uniffi::export(default(amount = None))]
pub fn start_refund(payer: Arc<Payer>, url: String, amount: Option<String>) -> Result<FetchStarted> {
    let amount = amount.map(|a| a.parse::<u128>()).transpose().map_err(|_| {
        paywire_core::Error::new(
            paywire_core::ErrorCode::InvalidArgument,
            "a refund amount is a decimal number of units",
        )
    })?;
    let request = fetch_core::FetchRequest { method: "GET".into(), url, headers: Vec::new(), body: None };
    let options =
        fetch_core::FetchOptions { sign_in: false, refund: Some(amount), ..fetch_core::FetchOptions::default() };
    let (call, action) = fetch_core::PaidFetch::start(payer.shared(), request, options);
    Ok(FetchStarted { call: Arc::new(PaidFetch(Mutex::new(call))), step: FetchStep::from(action) })
}

/// Checks JSON-RPC URLs by network as [`start_paid_fetch`] will: throws `invalid_argument` for a network not
/// written `eip155:<chain id>` or a URL that is not absolute http(s); the message never holds the URL.
#[uniffi::export]
pub fn check_rpc_urls(rpc_urls: std::collections::HashMap<String, String>) -> Result<()> {
    paywire_core::client::RpcEndpoints::new(rpc_urls)?;
    Ok(())
}

/// Starts a call of `request` paid by `payer`; throws for an RPC URL that is not usable (bad network name or
/// not an absolute http(s) URL).
#[uniffi::export]
pub fn start_paid_fetch(payer: Arc<Payer>, request: FetchRequest, options: FetchOptions) -> Result<FetchStarted> {
    let request = fetch_core::FetchRequest {
        method: request.method,
        url: request.url,
        headers: header_pairs(&request.headers),
        body: request.body,
    };
    let options = fetch_core::FetchOptions {
        follow_redirects: options.follow_redirects,
        max_redirects: options.max_redirects,
        already_paid: options.already_paid,
        sign_inline: options.sign_inline,
        hooks: hook_set(options.hooks),
        sign_in: options.sign_in,
        pass_facilitators: options.pass_facilitators.unwrap_or_default(),
        refund: None,
        rpc: paywire_core::client::RpcEndpoints::new(options.rpc_urls.unwrap_or_default())?,
    };
    let (call, action) = fetch_core::PaidFetch::start(payer.shared(), request, options);
    Ok(FetchStarted { call: Arc::new(PaidFetch(Mutex::new(call))), step: FetchStep::from(action) })
}

#[uniffi::export]
impl PaidFetch {
    /// A response's status and headers (its body not read yet).
    pub fn feed_response(&self, status: u16, headers: Vec<HttpHeader>) -> FetchStep {
        self.resume(fetch_core::FetchInput::Response { status, headers: header_pairs(&headers) })
    }
    /// The last response's body.
    pub fn feed_body(&self, body: Vec<u8>) -> FetchStep {
        self.resume(fetch_core::FetchInput::Body(body))
    }
    /// The send failed.
    pub fn feed_send_failed(&self) -> FetchStep {
        self.resume(fetch_core::FetchInput::SendFailed)
    }
    /// The signatures of a `Sign` step, in order.
    pub fn feed_signatures(&self, signatures: Vec<Vec<u8>>) -> FetchStep {
        self.resume(fetch_core::FetchInput::Signatures(signatures))
    }
    /// The signer failed.
    pub fn feed_sign_failed(&self, message: String) -> FetchStep {
        let error = paywire_core::Error::new(paywire_core::ErrorCode::SignerFailed, message);
        self.resume(fetch_core::FetchInput::SignFailed(error))
    }
    /// What the hooks of a `Hook` step decided.
    pub fn feed_hooked(&self, verdict: HookVerdict) -> FetchStep {
        self.resume(fetch_core::FetchInput::Hooked(verdict.into()))
    }
}
