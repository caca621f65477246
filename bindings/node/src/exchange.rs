//! The exchange machines for Node: `Gate` / `Exchange` / `Step` (the server's payment gate) and `PaidFetch`
//! / `FetchStep` (the paying client). Every decision is the core's; `lib/gate.js` and `lib/fetch.js` perform
//! the steps for Express, Hono, Fastify and fetch.

use std::sync::Arc;

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use paywire_core::client::fetch as fetch_core;
use paywire_core::credentials::Statement;
use paywire_core::hooks::{self, HookSet};
use paywire_core::server::gate as core;
use paywire_core::server::routes::{RouteMatching, RoutePattern};
use paywire_core::server::store::{self as store_core, MemoryStore};
use paywire_core::siwx;
use serde_json::Value;

use crate::convert::{bytes, header_pairs, now_or_system};
use crate::credentials::{AccessPolicy, Issuer};
use crate::errors::{OrThrow, bad_argument, error_value};
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequirements, SettleResponse, VerifyResponse};
use crate::payer::{Payer, PaymentHeader};
use crate::server::{AcceptedPayment, PriceTag};

/// What a route's bill says besides its offers.
#[napi(object)]
pub struct RouteOptions {
    /// The resource's description.
    pub description: Option<String>,
    /// The resource's MIME type.
    pub mime_type: Option<String>,
    /// 2 (default), or 1 for v1 clients.
    pub x402_version: Option<u32>,
    /// Whether an access receipt may stand in for a payment (default true).
    pub receipts: Option<bool>,
}

/// A priced route: its price tags, and `pattern` ("GET /weather/:city") matching requests to it.
#[napi]
pub struct PricedRoute(pub(crate) core::PricedRoute);

#[napi]
impl PricedRoute {
    /// A route priced by `tags`; without a pattern, the glue starts it for the framework route it is attached
    /// to.
    #[napi(constructor)]
    pub fn new(tags: Vec<&PriceTag>, pattern: Option<String>, options: Option<RouteOptions>) -> napi::Result<Self> {
        let pattern = pattern.as_deref().map(RoutePattern::parse).transpose().or_throw()?;
        let mut route = core::PricedRoute::new(pattern, tags.into_iter().map(|t| t.0.clone()).collect());
        if let Some(o) = options {
            route.description = o.description;
            route.mime_type = o.mime_type;
            let version = o.x402_version.unwrap_or(2);
            let version =
                u8::try_from(version).map_err(|_| bad_argument(format!("x402Version {version} does not exist")))?;
            paywire_core::server::check_version(version).or_throw()?;
            route.x402_version = version;
            route.receipts = o.receipts.unwrap_or(true);
        }
        Ok(Self(route))
    }
}

getters!(PricedRoute {
    #[doc = "The pattern, if any."]
    pattern -> Option<String> = |v| v.pattern.as_ref().map(|p| p.as_str().to_string());
});

/// How a gate takes payments.
#[napi(object)]
pub struct GateOptions {
    /// The app's external origin: bills, offers and receipts name it instead of the request's Host.
    pub public_url: Option<String>,
    /// Pass smart-wallet signatures on to the facilitator instead of refusing them offline.
    pub allow_onchain_signatures: Option<bool>,
    /// The largest request body a priced route reads (default 10 MiB).
    pub max_request_bytes: Option<u32>,
    /// The largest response held for answering a retry again (default 1 MiB).
    pub max_replay_bytes: Option<u32>,
    /// Paths are matched with letter case (default false: matching without case only bills more).
    pub case_sensitive: Option<bool>,
    /// Hand every record operation to the glue (a store shared by processes).
    pub external_store: Option<bool>,
    /// The memory store's bound on records.
    pub max_entries: Option<u32>,
    /// The memory store's bound on held bytes.
    pub max_bytes: Option<f64>,
    /// Seconds after which a payment left in flight (its process died mid-request) is taken over by a retry
    /// of the same request (default 300).
    pub takeover_after: Option<u32>,
    /// The hook points the glue runs hooks at (`beforeVerify`, ...): `hook` steps come only for these.
    pub hooks: Option<Vec<String>>,
    /// Sign-in-with-x: bills declare it, and a wallet that paid for a resource signs in to it again without
    /// paying (absent: off).
    pub sign_in: Option<SignInOptions>,
    /// Where a client gets a pass (a facilitator's base URL), named in bills with the issuers `access` trusts.
    pub pass_facilitator: Option<String>,
    /// batch-settlement claims by time: once the oldest charge not claimed is this many seconds old (what an
    /// earlier process left counts as served at the first check; default 300; 0: not by time).
    pub claim_every_seconds: Option<u32>,
    /// batch-settlement claims by amount: once the charges since the last claim reach this many atomic units
    /// (decimal; default 0: not by amount).
    pub claim_at_amount: Option<String>,
    /// The facilitator's `/supported` answer as JSON: fills in what price tags leave out (an upto tag's
    /// `facilitatorAddress`, a batch-settlement tag's `receiverAuthorizer`).
    pub supported_json: Option<String>,
}

/// Sign-in-with-x settings (absent members take their defaults).
#[napi(object)]
pub struct SignInOptions {
    /// The line the wallet shows.
    pub statement: Option<String>,
    /// How long a payment lets its wallet sign in again (default a day).
    pub access_seconds: Option<u32>,
    /// How old a sign-in may be (default 300 s).
    pub max_age_seconds: Option<u32>,
    /// A sign-in expires this long after it was asked for (default: no expiry).
    pub expiration_seconds: Option<u32>,
}

impl SignInOptions {
    fn into_core(self) -> siwx::SignInOptions {
        let defaults = siwx::SignInOptions::default();
        siwx::SignInOptions {
            statement: self.statement,
            access_seconds: self.access_seconds.map_or(defaults.access_seconds, u64::from),
            max_age_seconds: self.max_age_seconds.map_or(defaults.max_age_seconds, u64::from),
            expiration_seconds: self.expiration_seconds.map(u64::from),
        }
    }
}

/// The framework's word on a request's route.
#[napi(object)]
pub struct FrameworkRoute {
    /// The framework routes it to the route with this pattern.
    pub pattern: Option<String>,
    /// No route takes it (the framework answers 404, 405 or a redirect itself).
    pub no_route: Option<bool>,
}

fn framework(f: &Option<FrameworkRoute>) -> core::FrameworkRoute<'_> {
    match f {
        Some(FrameworkRoute { no_route: Some(true), .. }) => core::FrameworkRoute::NoRoute,
        Some(FrameworkRoute { pattern: Some(p), .. }) => core::FrameworkRoute::Matched(p),
        _ => core::FrameworkRoute::Unknown,
    }
}

/// A request as the gate sees it.
#[napi(object)]
pub struct RequestHead {
    /// The method.
    pub method: String,
    /// The path as the router matches it, percent-encoded as sent.
    pub path: String,
    /// The path and query as sent, from the app's origin.
    pub path_and_query: String,
    /// `scheme://host[:port]`.
    pub origin: String,
    /// The headers, as `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
}

impl RequestHead {
    fn into_core(self) -> napi::Result<core::RequestHead> {
        Ok(core::RequestHead {
            method: self.method,
            path: self.path,
            path_and_query: self.path_and_query,
            origin: self.origin,
            headers: header_pairs(self.headers)?,
        })
    }
}

/// A set of priced routes and how payments for them are taken.
#[napi]
pub struct Gate(core::Gate);

#[napi]
impl Gate {
    /// A gate for `routes`; `receiverAuthorizer` is the key of the batch-settlement offers' receiver authorizer
    /// when the server holds it (it signs their claims and payers' refunds).
    #[napi(constructor)]
    pub fn new(
        routes: Vec<&PricedRoute>,
        options: Option<GateOptions>,
        issuer: Option<&Issuer>,
        access: Option<&AccessPolicy>,
        receiver_authorizer: Option<&crate::payer::LocalSigner>,
    ) -> napi::Result<Self> {
        let o = options.unwrap_or(GateOptions {
            public_url: None,
            allow_onchain_signatures: None,
            max_request_bytes: None,
            max_replay_bytes: None,
            case_sensitive: None,
            external_store: None,
            max_entries: None,
            max_bytes: None,
            takeover_after: None,
            hooks: None,
            sign_in: None,
            pass_facilitator: None,
            claim_every_seconds: None,
            claim_at_amount: None,
            supported_json: None,
        });
        let at_amount = match o.claim_at_amount.as_deref() {
            None => 0,
            Some(text) => text
                .parse::<u128>()
                .map_err(|_| {
                    paywire_core::Error::new(
                        paywire_core::ErrorCode::InvalidArgument,
                        "claimAtAmount is a decimal number of the token's atomic units",
                    )
                })
                .or_throw()?,
        };
        let gate_options = core::GateOptions {
            public_url: o.public_url,
            allow_onchain_signatures: o.allow_onchain_signatures.unwrap_or(false),
            max_request_bytes: o.max_request_bytes.map_or(core::DEFAULT_MAX_REQUEST_BYTES, |n| n as usize),
            max_replay_bytes: o.max_replay_bytes.map_or(core::DEFAULT_MAX_REPLAY_BYTES, |n| n as usize),
            matching: RouteMatching { case_sensitive: o.case_sensitive.unwrap_or(false) },
            takeover_after: o.takeover_after.map_or(core::DEFAULT_TAKEOVER_AFTER_SECONDS, u64::from),
            hooks: HookSet::from_names(o.hooks.unwrap_or_default()).or_throw()?,
            sign_in: o.sign_in.map(SignInOptions::into_core),
            pass_facilitator: o.pass_facilitator,
            claims: core::ClaimSchedule {
                every_seconds: o.claim_every_seconds.map_or(core::DEFAULT_CLAIM_EVERY_SECONDS, u64::from),
                at_amount,
            },
            supported: o
                .supported_json
                .as_deref()
                .map(paywire_core::SupportedResponse::from_json)
                .transpose()
                .or_throw()?,
        };
        let store: Option<Arc<dyn store_core::PaymentStore>> = if o.external_store.unwrap_or(false) {
            None
        } else {
            let entries = o.max_entries.map_or(store_core::DEFAULT_MAX_ENTRIES, |n| n as usize);
            let bytes = o.max_bytes.map_or(store_core::DEFAULT_MAX_BYTES, |n| n.max(0.0) as usize);
            Some(Arc::new(MemoryStore::new(entries, bytes)))
        };
        let parts = core::GateParts {
            options: gate_options,
            issuer: issuer.map(Issuer::shared),
            access: access.map(AccessPolicy::policy),
            store,
            randomness: Arc::new(paywire_core::OsRandomness),
            receiver_authorizer: receiver_authorizer.map(|s| s.0.clone() as Arc<dyn paywire_core::signer::Signer>),
        };
        core::Gate::new(routes.into_iter().map(|r| r.0.clone()).collect(), parts).or_throw().map(Self)
    }
    /// The index of the priced route a request goes to, or null when it is free.
    #[napi]
    pub fn route_for(&self, method: String, path: String, framework_route: Option<FrameworkRoute>) -> Option<u32> {
        self.0.route_for(&method, &path, framework(&framework_route)).map(|i| i as u32)
    }
    /// Starts a request; the exchange is null (and the step `passThrough`) when it is free.
    #[napi]
    pub fn handle(
        &self,
        head: RequestHead,
        framework_route: Option<FrameworkRoute>,
        now: Option<i64>,
    ) -> napi::Result<Started> {
        let route = self.0.route_for(&head.method, &head.path, framework(&framework_route));
        let Some(route) = route else {
            let step = core::Step { action: core::Action::PassThrough, shielded: false, logs: Vec::new() };
            return Ok(Started { exchange: None, step: Step(step) });
        };
        let (exchange, step) = self.0.start(route, head.into_core()?, now_or_system(now)?);
        Ok(Started { exchange: Some(Exchange { inner: exchange }), step: Step(step) })
    }
    /// Starts a request to priced route `route`, for a route the framework attached the gate to.
    #[napi]
    pub fn start(&self, route: u32, head: RequestHead, now: Option<i64>) -> napi::Result<Started> {
        let route = route as usize;
        if route >= self.0.routes().len() {
            return Err(bad_argument(format!("the gate has {} routes, not {}", self.0.routes().len(), route + 1)));
        }
        let (exchange, step) = self.0.start(route, head.into_core()?, now_or_system(now)?);
        Ok(Started { exchange: Some(Exchange { inner: exchange }), step: Step(step) })
    }
    /// The batch-settlement claim: claims every channel's charges at the facilitator and sweeps them to the
    /// receiver. Drive it as a request (store and settle steps); its final `respond` step holds a JSON summary.
    #[napi]
    pub fn claim(&self, now: Option<i64>) -> napi::Result<Started> {
        let (exchange, step) = self.0.claim(now_or_system(now)?);
        Ok(Started { exchange: Some(Exchange { inner: exchange }), step: Step(step) })
    }
    /// Whether a batch-settlement claim run is due (the claim schedule): ask after each request and every few
    /// seconds, and run `claim()` when it is.
    #[napi]
    pub fn claim_due(&self, now: Option<i64>) -> napi::Result<bool> {
        Ok(self.0.claim_due(now_or_system(now)?))
    }
}

getters!(Gate {
    #[doc = "Whether receipts or signed offers will name the request's Host (no public URL set)."]
    names_client_host -> bool = |v| v.names_client_host();
    #[doc = "Whether a route offers batch-settlement (then claims are scheduled)."]
    offers_batch -> bool = |v| v.offers_batch();
});

/// A started request: its exchange (null when free) and first step.
#[napi]
pub struct Started {
    exchange: Option<Exchange>,
    step: Step,
}

#[napi]
impl Started {
    /// Takes the exchange (once).
    #[napi]
    pub fn take_exchange(&mut self) -> Option<Exchange> {
        self.exchange.take()
    }
    /// Takes the first step (once).
    #[napi]
    pub fn take_step(&mut self) -> Step {
        Step(std::mem::replace(
            &mut self.step.0,
            core::Step { action: core::Action::Done, shielded: false, logs: Vec::new() },
        ))
    }
}

/// One priced request in progress: feed each step's outcome back.
#[napi]
pub struct Exchange {
    inner: core::Exchange,
}

impl Exchange {
    fn resume(&mut self, input: core::Input) -> Step {
        Step(self.inner.resume(input))
    }
}

/// A store operation's answer: `entry` for claim and get (absent: none), `replaced` for replace.
#[napi(object)]
pub struct StoreAnswer {
    /// The live entry's JSON, for claim and get.
    pub entry: Option<String>,
    /// Whether a replace was done.
    pub replaced: Option<bool>,
}

#[napi]
impl Exchange {
    /// The request body.
    #[napi]
    pub fn feed_body(&mut self, body: Uint8Array) -> Step {
        self.resume(core::Input::Body(body.to_vec()))
    }
    /// The body is longer than the step's limit.
    #[napi]
    pub fn feed_body_too_large(&mut self) -> Step {
        self.resume(core::Input::BodyTooLarge)
    }
    /// The client went away while the body was read.
    #[napi]
    pub fn feed_client_gone(&mut self) -> Step {
        self.resume(core::Input::ClientGone)
    }
    /// A store operation's answer.
    #[napi]
    pub fn feed_store(&mut self, answer: StoreAnswer) -> napi::Result<Step> {
        let answer = match self.inner.awaiting_store() {
            Some(core::StoreReply::Entry) => core::StoreAnswer::Entry(
                answer.entry.as_deref().map(store_core::StoreEntry::from_json).transpose().or_throw()?,
            ),
            Some(core::StoreReply::Replaced) => core::StoreAnswer::Replaced(answer.replaced.unwrap_or(false)),
            Some(core::StoreReply::Released) => core::StoreAnswer::Released,
            None => return Err(bad_argument("the exchange is not waiting on a store operation")),
        };
        Ok(self.resume(core::Input::Store(answer)))
    }
    /// The store failed (`message` goes to the server's log).
    #[napi]
    pub fn feed_store_failed(&mut self, message: String) -> Step {
        self.resume(core::Input::Store(core::StoreAnswer::Failed(message)))
    }
    /// The facilitator's `/verify` answer.
    #[napi]
    pub fn feed_verified(&mut self, answer: &VerifyResponse) -> Step {
        self.resume(core::Input::Verified(answer.0.clone()))
    }
    /// The facilitator's `/settle` answer.
    #[napi]
    pub fn feed_settled(&mut self, answer: &SettleResponse) -> Step {
        self.resume(core::Input::Settled(answer.0.clone()))
    }
    /// The facilitator call failed; `code` is the `PaywireError` code when it threw one.
    #[napi]
    pub fn feed_facilitator_failed(&mut self, message: String, code: Option<String>) -> Step {
        self.resume(core::Input::FacilitatorFailed { code, message })
    }
    /// The handler's whole response.
    #[napi]
    pub fn feed_handled(&mut self, status: u32, headers: Vec<Vec<String>>, body: Uint8Array) -> napi::Result<Step> {
        let status =
            u16::try_from(status).map_err(|_| bad_argument(format!("status {status} is not an HTTP status")))?;
        let response = paywire_core::http::Response { status, headers: header_pairs(headers)?, body: body.to_vec() };
        Ok(self.resume(core::Input::Handled(response)))
    }
    /// The handler threw (re-throw it at the `fail` step).
    #[napi]
    pub fn feed_handler_failed(&mut self) -> Step {
        self.resume(core::Input::HandlerFailed)
    }
    /// What the hooks of a `hook` step decided (absent: go on).
    #[napi]
    pub fn feed_hooked(&mut self, verdict: Option<HookVerdict>) -> Step {
        self.resume(core::Input::Hooked(HookVerdict::into_core(verdict)))
    }
    /// The request was abandoned before a final step: the clean-up's first step.
    #[napi]
    pub fn cancel(&mut self) -> Step {
        Step(self.inner.cancel())
    }
    /// Whether a final step was returned.
    #[napi(getter)]
    pub fn ended(&self) -> bool {
        self.inner.ended()
    }
}

/// What the gate's glue must do next (`kind`), with the data of that kind.
#[napi]
pub struct Step(pub(crate) core::Step);

#[napi]
impl Step {
    /// `passThrough`, `readBody`, `store`, `verify`, `runHandler`, `settle`, `hook`, `respond`, `fail` or `done`.
    #[napi(getter)]
    pub fn kind(&self) -> &'static str {
        match &self.0.action {
            core::Action::PassThrough => "passThrough",
            core::Action::ReadBody { .. } => "readBody",
            core::Action::RunHandler(_) => "runHandler",
            action => action.name(),
        }
    }
}

getters!(Step {
    #[doc = "Run it to completion even if the request is abandoned."]
    shielded -> bool = |v| v.shielded;
    #[doc = "Lines for the server's log: `[level, message]`, level `warning` or `error`."]
    logs -> Vec<Vec<String>> = |v| v.logs.iter().map(|l| vec![l.level.as_str().to_string(), l.message.clone()]).collect();
    #[doc = "`readBody`: the most bytes to read."]
    limit -> Option<f64> = |v| v.action.read_limit().map(|l| l as f64);
    #[doc = "`store`: `claim`, `get`, `replace` or `release`."]
    op -> Option<&'static str> = |v| v.action.store_op().map(core::StoreOp::name);
    #[doc = "`store`: the key."]
    key -> Option<String> = |v| v.action.store_op().map(|op| op.key().to_string());
    #[doc = "`store` (replace, release): the token the live entry must have."]
    token -> Option<String> = |v| v.action.store_op()?.token().map(str::to_string);
    #[doc = "`store` (claim, replace): the entry to store, as JSON text (one format in every language)."]
    entry -> Option<String> = |v| v.action.store_op()?.entry().map(store_core::StoreEntry::to_json);
    #[doc = "`store` (claim, replace): when the entry may be dropped (Unix seconds)."]
    expires_at -> Option<f64> = |v| v.action.store_op()?.entry().map(|e| e.expires_at as f64);
    #[doc = "`store` (claim, replace): the entry's state (`in_flight`, `unsettled`, `done`)."]
    state -> Option<&'static str> = |v| v.action.store_op()?.entry().map(|e| e.record.state.as_str());
    #[doc = "`verify`, `settle`: the payment as received."]
    payment -> Option<PaymentPayload> = |v| v.action.facilitator_call().map(|c| PaymentPayload(c.payment.clone()));
    #[doc = "`verify`, `settle`: the server's offer it pays."]
    requirements -> Option<PaymentRequirements> = |v| v.action.facilitator_call().map(|c| PaymentRequirements(c.requirements.clone()));
    #[doc = "`runHandler`: who paid."]
    payer -> Option<String> = |v| v.action.paid().map(|p| p.payer.clone());
    #[doc = "`runHandler`: the payment, when the request paid with one."]
    accepted -> Option<AcceptedPayment> = |v| v.action.paid()?.payment.clone().map(AcceptedPayment);
    #[doc = "`runHandler`: the access receipt's payload, when a receipt stood in for a payment."]
    receipt -> Option<Value> = |v| v.action.paid()?.receipt.as_ref().map(Statement::to_json);
    #[doc = "`hook`: the point (`beforeVerify`, `afterVerify`, `verifyFailure`, `beforeSettle`, `afterSettle`, `settleFailure`)."]
    hook_point -> Option<String> = |v| v.action.hook().map(|c| c.point.camel_name());
    #[doc = "`hook`: what the hooks are told (camel-case members as in every language)."]
    hook_context -> Option<Value> = |v| v.action.hook().map(|c| c.context.clone());
    #[doc = "`respond`: the status."]
    status -> Option<u32> = |v| v.action.response().map(|r| u32::from(r.status));
    #[doc = "`respond`: the headers, as `[name, value]` pairs."]
    headers -> Option<Vec<Vec<String>>> = |v| v.action.response().map(|r| r.headers.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect());
    #[doc = "`respond`: the body."]
    body -> Option<Uint8Array> = |v| v.action.response().map(|r| bytes(&r.body));
});

/// A request for `PaidFetch.start`.
#[napi(object)]
pub struct FetchRequest {
    /// The method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The headers, as `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    /// The body (absent: no body).
    pub body: Option<Uint8Array>,
}

/// How one call behaves.
#[napi(object)]
pub struct FetchOptions {
    /// Follow redirects (the machine follows them; the glue's fetch must not). Default true.
    pub follow_redirects: Option<bool>,
    /// The most redirects followed (default 20).
    pub max_redirects: Option<u32>,
    /// The request continues a call that already paid.
    pub already_paid: Option<bool>,
    /// Sign with the payer's own signer (a `LocalSigner`); otherwise a `sign` step. Default true.
    pub sign_inline: Option<bool>,
    /// The hook points the glue runs hooks at (`beforePaymentCreation`, ...): `hook` steps come only for these.
    pub hooks: Option<Vec<String>>,
    /// Sign in where a bill offers sign-in-with-x (default true).
    pub sign_in: Option<bool>,
    /// Facilitators (base URLs) the client may ask for a pass when a bill names one (default: none).
    pub pass_facilitators: Option<Vec<String>>,
    /// Ask for the cooperative refund of the URL's batch-settlement channel instead of paying.
    pub refund: Option<bool>,
    /// The units to refund (decimal; default: everything unclaimed).
    pub refund_amount: Option<String>,
    /// JSON-RPC URLs by network (`eip155:<chain id>`): where a bill declares `eip2612GasSponsoring`, the
    /// machine reads through them what an EIP-2612 permit for Permit2 needs (default: none).
    pub rpc_urls: Option<std::collections::HashMap<String, String>>,
}

/// What the hooks of a `hook` step decided: `abort` (a reason, with an optional `message`), `failed` (a hook
/// threw: what it said), or neither (go on).
#[napi(object)]
pub struct HookVerdict {
    /// A hook aborted with this reason.
    pub abort: Option<String>,
    /// What a person is told about the abort.
    pub message: Option<String>,
    /// A hook threw; what it said, for the log.
    pub failed: Option<String>,
}

impl HookVerdict {
    fn into_core(verdict: Option<HookVerdict>) -> hooks::HookVerdict {
        match verdict {
            Some(HookVerdict { failed: Some(failed), .. }) => hooks::HookVerdict::Failed(failed),
            Some(HookVerdict { abort: Some(reason), message, .. }) => hooks::HookVerdict::Abort { reason, message },
            _ => hooks::HookVerdict::Continue,
        }
    }
}

/// One HTTP call paid once.
#[napi]
pub struct PaidFetch(fetch_core::PaidFetch);

#[napi]
impl PaidFetch {
    /// Starts a call; `takeStep()` on the result gives the first step.
    #[napi]
    pub fn start(payer: &Payer, request: FetchRequest, options: Option<FetchOptions>) -> napi::Result<FetchStarted> {
        let o = options.unwrap_or(FetchOptions {
            follow_redirects: None,
            max_redirects: None,
            already_paid: None,
            sign_inline: None,
            hooks: None,
            sign_in: None,
            pass_facilitators: None,
            refund: None,
            refund_amount: None,
            rpc_urls: None,
        });
        let options = fetch_core::FetchOptions {
            follow_redirects: o.follow_redirects.unwrap_or(true),
            max_redirects: o.max_redirects.unwrap_or(fetch_core::DEFAULT_MAX_REDIRECTS),
            already_paid: o.already_paid.unwrap_or(false),
            sign_inline: o.sign_inline.unwrap_or(true),
            hooks: HookSet::from_names(o.hooks.unwrap_or_default()).or_throw()?,
            sign_in: o.sign_in.unwrap_or(true),
            pass_facilitators: o.pass_facilitators.unwrap_or_default(),
            refund: match o.refund.unwrap_or(false) {
                false => None,
                true => Some(
                    o.refund_amount
                        .map(|a| a.parse::<u128>())
                        .transpose()
                        .map_err(|_| {
                            paywire_core::Error::new(
                                paywire_core::ErrorCode::InvalidArgument,
                                "refundAmount is a decimal number of units",
                            )
                        })
                        .or_throw()?,
                ),
            },
            rpc: paywire_core::client::RpcEndpoints::new(o.rpc_urls.unwrap_or_default()).or_throw()?,
        };
        let request = fetch_core::FetchRequest {
            method: request.method,
            url: request.url,
            headers: header_pairs(request.headers)?,
            body: request.body.map(|b| b.to_vec()),
        };
        let (call, action) = fetch_core::PaidFetch::start(payer.shared(), request, options);
        Ok(FetchStarted { call: Some(PaidFetch(call)), step: Some(FetchStep(action)) })
    }
    /// A response's status and headers (its body not read yet).
    #[napi]
    pub fn feed_response(&mut self, status: u32, headers: Vec<Vec<String>>) -> napi::Result<FetchStep> {
        let status =
            u16::try_from(status).map_err(|_| bad_argument(format!("status {status} is not an HTTP status")))?;
        let headers = header_pairs(headers)?;
        Ok(FetchStep(self.0.resume(fetch_core::FetchInput::Response { status, headers })))
    }
    /// The last response's body.
    #[napi]
    pub fn feed_body(&mut self, body: Uint8Array) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::Body(body.to_vec())))
    }
    /// The send failed.
    #[napi]
    pub fn feed_send_failed(&mut self) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::SendFailed))
    }
    /// The signatures of a `sign` step, in order.
    #[napi]
    pub fn feed_signatures(&mut self, signatures: Vec<Uint8Array>) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::Signatures(signatures.iter().map(|s| s.to_vec()).collect())))
    }
    /// The signer failed.
    #[napi]
    pub fn feed_sign_failed(&mut self, message: String) -> FetchStep {
        let error = paywire_core::Error::new(paywire_core::ErrorCode::SignerFailed, message);
        FetchStep(self.0.resume(fetch_core::FetchInput::SignFailed(error)))
    }
    /// What the hooks of a `hook` step decided (absent: go on).
    #[napi]
    pub fn feed_hooked(&mut self, verdict: Option<HookVerdict>) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::Hooked(HookVerdict::into_core(verdict))))
    }
}

/// A started call and its first step.
#[napi]
pub struct FetchStarted {
    call: Option<PaidFetch>,
    step: Option<FetchStep>,
}

#[napi]
impl FetchStarted {
    /// Takes the call (once).
    #[napi]
    pub fn take_call(&mut self) -> Option<PaidFetch> {
        self.call.take()
    }
    /// Takes the first step (once).
    #[napi]
    pub fn take_step(&mut self) -> Option<FetchStep> {
        self.step.take()
    }
}

/// What the paying client's glue must do next (`kind`), with the data of that kind.
#[napi]
pub struct FetchStep(pub(crate) fetch_core::FetchAction);

#[napi]
impl FetchStep {
    /// `send`, `readBody`, `sign`, `hook`, `done`, `fail` or `raise`.
    #[napi(getter)]
    pub fn kind(&self) -> &'static str {
        match &self.0 {
            fetch_core::FetchAction::ReadBody => "readBody",
            action => action.name(),
        }
    }
    /// `send`: whether the request is the machine's own (a pass, a chain read): its body is never the caller's.
    #[napi(getter)]
    pub fn own(&self) -> bool {
        self.0.own()
    }
    /// `send`: the most milliseconds the send may take, its answer included (the machine's own requests), or
    /// absent (the caller's timeouts).
    #[napi(getter)]
    pub fn timeout_ms(&self) -> Option<u32> {
        self.0.timeout_ms().map(|ms| u32::try_from(ms).unwrap_or(u32::MAX))
    }
    /// `send`: the most bytes to read of its answer's body (the machine's own requests; a longer body is fed
    /// as an empty one), or absent (no limit).
    #[napi(getter)]
    pub fn body_limit(&self) -> Option<u32> {
        self.0.body_limit().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }
    /// `send`: the method.
    #[napi(getter)]
    pub fn method(&self) -> Option<String> {
        self.0.request().map(|r| r.method.clone())
    }
    /// `send`: the URL.
    #[napi(getter)]
    pub fn url(&self) -> Option<String> {
        self.0.request().map(|r| r.url.clone())
    }
    /// `send`: the headers, as `[name, value]` pairs.
    #[napi(getter)]
    pub fn headers(&self) -> Option<Vec<Vec<String>>> {
        self.0.request().map(|r| r.headers.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect())
    }
    /// `send`: the body (absent: no body).
    #[napi(getter)]
    pub fn body(&self) -> Option<Uint8Array> {
        self.0.request().and_then(|r| r.body.as_deref()).map(bytes)
    }
    /// `hook`: the point (`beforePaymentCreation`, `afterPaymentCreation`, `paymentCreationFailure`).
    #[napi(getter)]
    pub fn hook_point(&self) -> Option<String> {
        self.0.hook().map(|c| c.point.camel_name())
    }
    /// `hook`: what the hooks are told (camel-case members as in every language).
    #[napi(getter)]
    pub fn hook_context(&self) -> Option<Value> {
        self.0.hook().map(|c| c.context.clone())
    }
    /// `sign`: the digests to sign, in order.
    #[napi(getter)]
    pub fn digests(&self) -> Vec<Uint8Array> {
        self.0.digests().iter().map(|d| bytes(d.as_slice())).collect()
    }
    /// `fail`: the error to throw (`{code, message, category, payer, refusals}`).
    #[napi(getter)]
    pub fn error(&self) -> Option<Value> {
        self.0.error().map(error_value)
    }
    /// `done`, `raise`: the payment sent, if the call paid.
    #[napi(getter)]
    pub fn payment(&self) -> Option<PaymentHeader> {
        self.0.outcome().and_then(|o| o.payment.clone()).map(PaymentHeader)
    }
    /// `done`, `raise`: the paid request's settlement receipt, when readable.
    #[napi(getter)]
    pub fn settlement(&self) -> Option<SettleResponse> {
        self.0.outcome().and_then(|o| o.settlement.clone()).map(SettleResponse)
    }
    /// `done`, `raise`: the status that answered the paid request.
    #[napi(getter)]
    pub fn paid_status(&self) -> Option<u32> {
        self.0.outcome().and_then(|o| o.paid_status).map(u32::from)
    }
    /// `done`, `raise`: the payment may still settle (a retry of the purchase reuses it).
    #[napi(getter)]
    pub fn open(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.open)
    }
    /// `done`: why a final 402 was not paid (`{code, message, ...}`).
    #[napi(getter)]
    pub fn unpaid(&self) -> Option<Value> {
        self.0.outcome().and_then(|o| o.unpaid.as_ref()).map(error_value)
    }
    /// `done`: the final response's body was read (hand those bytes to the caller).
    #[napi(getter)]
    pub fn body_read(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.body_read)
    }
    /// `done`: the final answer came to a sign-in (sign-in-with-x), without a payment.
    #[napi(getter)]
    pub fn signed_in(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.signed_in)
    }
    /// `done`: the final answer came to a pass the payer held, without a payment.
    #[napi(getter)]
    pub fn pass_used(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.pass_used)
    }
}

/// Names a purchase (method, URL, body digest): a retry of the same purchase reuses its payment.
#[napi]
pub fn purchase_key(method: String, url: String, body: Option<Uint8Array>) -> String {
    paywire_core::client::purchase_key(&method, &url, body.as_deref().unwrap_or_default())
}

/// Checks JSON-RPC URLs by network as `PaidFetch.start({rpcUrls})` will: throws `invalid_argument` for a
/// network not written `eip155:<chain id>` or a URL not absolute http(s); the message never holds the URL.
#[napi]
pub fn check_rpc_urls(rpc_urls: std::collections::HashMap<String, String>) -> napi::Result<()> {
    paywire_core::client::RpcEndpoints::new(rpc_urls).or_throw().map(drop)
}
