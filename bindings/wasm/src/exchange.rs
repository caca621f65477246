//! The server's payment gate (`Gate` / `Exchange` / `Step`), with the Node binding's names: the glue
//! (`node/lib/gate.js`, `hono.js`) performs the steps with the runtime's own I/O.

use alloc::sync::Arc;

use paywire_core::credentials::Statement;
use paywire_core::server::gate as core;
use paywire_core::server::routes::{RouteMatching, RoutePattern};
use paywire_core::server::store::{self as store_core, MemoryStore};
use wasm_bindgen::prelude::*;

use crate::credentials::{AccessPolicy, Issuer};
use crate::env::{JsClock, JsRandomness};
use crate::errors::{OrThrow, bad_argument};
use crate::js::{
    bool_member, bytes, header_pairs, hook_verdict, hooks_member, member, optional_string, pairs_to_js, sign_in_member,
    string_member, to_js, u64_member,
};
use crate::messages::{PaymentPayload, PaymentRequirements, SettleResponse, VerifyResponse, getters};
use crate::server::{AcceptedPayment, PriceTag, version_from};

extern crate alloc;

/// A priced route: its price tags, and `pattern` ("GET /weather/:city") matching requests to it.
#[wasm_bindgen]
#[derive(Clone)]
pub struct PricedRoute(pub(crate) core::PricedRoute);

#[wasm_bindgen]
impl PricedRoute {
    /// A route priced by `tags` (copies; see `PriceTag.copy`); `options`: `{description, mimeType,
    /// x402Version, receipts}`.
    pub fn create(tags: Vec<PriceTag>, pattern: Option<String>, options: JsValue) -> Result<PricedRoute, JsValue> {
        let pattern = pattern.as_deref().map(RoutePattern::parse).transpose().or_throw()?;
        let mut route = core::PricedRoute::new(pattern, tags.into_iter().map(|t| t.0).collect());
        route.description = optional_string(&options, "description")?;
        route.mime_type = optional_string(&options, "mimeType")?;
        let version = u64_member(&options, "x402Version")?.map(|v| u32::try_from(v).unwrap_or(u32::MAX));
        route.x402_version = version_from(version)?;
        route.receipts = bool_member(&options, "receipts")?.unwrap_or(true);
        Ok(Self(route))
    }
    /// A copy (see `PriceTag.copy`).
    pub fn copy(&self) -> PricedRoute {
        self.clone()
    }
    /// The pattern, if any.
    #[wasm_bindgen(getter)]
    pub fn pattern(&self) -> JsValue {
        crate::js::opt(self.0.pattern.as_ref().map(|p| p.as_str().to_string()))
    }
}

fn framework(f: &JsValue) -> Result<(Option<String>, bool), JsValue> {
    Ok((optional_string(f, "pattern")?, bool_member(f, "noRoute")?.unwrap_or(false)))
}

fn framework_route(f: &(Option<String>, bool)) -> core::FrameworkRoute<'_> {
    match f {
        (_, true) => core::FrameworkRoute::NoRoute,
        (Some(p), false) => core::FrameworkRoute::Matched(p),
        (None, false) => core::FrameworkRoute::Unknown,
    }
}

fn request_head(head: &JsValue) -> Result<core::RequestHead, JsValue> {
    Ok(core::RequestHead {
        method: string_member(head, "method")?,
        path: string_member(head, "path")?,
        path_and_query: string_member(head, "pathAndQuery")?,
        origin: string_member(head, "origin")?,
        headers: header_pairs(&member(head, "headers"))?,
    })
}

pub(crate) fn now_or_host(now: Option<f64>) -> Result<u64, JsValue> {
    match now {
        None => Ok(paywire_core::Clock::now(&JsClock::default())),
        Some(t) if t.is_nan() || t < 0.0 => Err(bad_argument(format!("time {t} is before 1970"))),
        Some(t) => Ok(t as u64),
    }
}

/// A set of priced routes and how payments for them are taken.
#[wasm_bindgen]
pub struct Gate(core::Gate);

#[wasm_bindgen]
impl Gate {
    /// A gate for `routes` (copies); `options`: `{publicUrl, allowOnchainSignatures, maxRequestBytes,
    /// maxReplayBytes, caseSensitive, externalStore, maxEntries, maxBytes, takeoverAfter, hooks, signIn, passFacilitator,
    /// claimEverySeconds, claimAtAmount, supportedJson}`; `issuer` and
    /// `access` hold at most one `Issuer` and one `AccessPolicy` (copies), `receiver_authorizer` at most one
    /// `LocalSigner`: the key of the batch-settlement offers' receiver authorizer, when the server holds it.
    pub fn create(
        routes: Vec<PricedRoute>,
        options: JsValue,
        issuer: Vec<Issuer>,
        access: Vec<AccessPolicy>,
        receiver_authorizer: Vec<crate::payer::LocalSigner>,
    ) -> Result<Gate, JsValue> {
        let o = &options;
        let gate_options = core::GateOptions {
            public_url: optional_string(o, "publicUrl")?,
            allow_onchain_signatures: bool_member(o, "allowOnchainSignatures")?.unwrap_or(false),
            max_request_bytes: u64_member(o, "maxRequestBytes")?
                .map_or(core::DEFAULT_MAX_REQUEST_BYTES, |n| n as usize),
            max_replay_bytes: u64_member(o, "maxReplayBytes")?.map_or(core::DEFAULT_MAX_REPLAY_BYTES, |n| n as usize),
            matching: RouteMatching { case_sensitive: bool_member(o, "caseSensitive")?.unwrap_or(false) },
            takeover_after: u64_member(o, "takeoverAfter")?.unwrap_or(core::DEFAULT_TAKEOVER_AFTER_SECONDS),
            hooks: hooks_member(o, "hooks")?,
            sign_in: sign_in_member(o, "signIn")?,
            pass_facilitator: optional_string(o, "passFacilitator")?,
            claims: core::ClaimSchedule {
                every_seconds: u64_member(o, "claimEverySeconds")?.unwrap_or(core::DEFAULT_CLAIM_EVERY_SECONDS),
                at_amount: match optional_string(o, "claimAtAmount")? {
                    None => 0,
                    Some(text) => text
                        .parse::<u128>()
                        .map_err(|_| bad_argument("`claimAtAmount` is a decimal number of the token's atomic units"))?,
                },
            },
            supported: optional_string(o, "supportedJson")?
                .as_deref()
                .map(paywire_core::SupportedResponse::from_json)
                .transpose()
                .or_throw()?,
        };
        let store: Option<Arc<dyn store_core::PaymentStore>> = if bool_member(o, "externalStore")?.unwrap_or(false) {
            None
        } else {
            let entries = u64_member(o, "maxEntries")?.map_or(store_core::DEFAULT_MAX_ENTRIES, |n| n as usize);
            let max_bytes =
                member(o, "maxBytes").as_f64().map_or(store_core::DEFAULT_MAX_BYTES, |n| n.max(0.0) as usize);
            Some(Arc::new(MemoryStore::new(entries, max_bytes)))
        };
        let parts = core::GateParts {
            options: gate_options,
            issuer: issuer.into_iter().next().map(|i| i.0),
            access: access.into_iter().next().map(|a| (*a.0).clone()),
            store,
            randomness: Arc::new(JsRandomness),
            receiver_authorizer: receiver_authorizer
                .into_iter()
                .next()
                .map(|s| s.0 as Arc<dyn paywire_core::signer::Signer>),
        };
        core::Gate::new(routes.into_iter().map(|r| r.0).collect(), parts).or_throw().map(Self)
    }
    /// The index of the priced route a request goes to, or undefined when it is free.
    #[wasm_bindgen(js_name = "routeFor")]
    pub fn route_for(&self, method: String, path: String, framework_route_: JsValue) -> Result<JsValue, JsValue> {
        let f = framework(&framework_route_)?;
        Ok(crate::js::opt(self.0.route_for(&method, &path, framework_route(&f)).map(|i| i as u32)))
    }
    /// Starts a request (`head`: `{method, path, pathAndQuery, origin, headers}`); the exchange is undefined
    /// (and the step `passThrough`) when it is free.
    pub fn handle(&self, head: JsValue, framework_route_: JsValue, now: Option<f64>) -> Result<Started, JsValue> {
        let head = request_head(&head)?;
        let f = framework(&framework_route_)?;
        let Some(route) = self.0.route_for(&head.method, &head.path, framework_route(&f)) else {
            let step = core::Step { action: core::Action::PassThrough, shielded: false, logs: Vec::new() };
            return Ok(Started { exchange: None, step: Some(Step(step)) });
        };
        let (exchange, step) = self.0.start(route, head, now_or_host(now)?);
        Ok(Started { exchange: Some(Exchange(exchange)), step: Some(Step(step)) })
    }
    /// Starts a request to priced route `route`, for a route the framework attached the gate to.
    pub fn start(&self, route: u32, head: JsValue, now: Option<f64>) -> Result<Started, JsValue> {
        let route = route as usize;
        if route >= self.0.routes().len() {
            return Err(bad_argument(format!("the gate has {} routes, not {}", self.0.routes().len(), route + 1)));
        }
        let (exchange, step) = self.0.start(route, request_head(&head)?, now_or_host(now)?);
        Ok(Started { exchange: Some(Exchange(exchange)), step: Some(Step(step)) })
    }
    /// The batch-settlement claim: claims every channel's charges at the facilitator and sweeps them to the
    /// receiver. Drive it as a request (store and settle steps); its final `respond` step holds a JSON summary.
    pub fn claim(&self, now: Option<f64>) -> Result<Started, JsValue> {
        let (exchange, step) = self.0.claim(now_or_host(now)?);
        Ok(Started { exchange: Some(Exchange(exchange)), step: Some(Step(step)) })
    }
    /// Whether a batch-settlement claim run is due (the claim schedule): ask after each request and every few
    /// seconds, and run `claim()` when it is.
    #[wasm_bindgen(js_name = "claimDue")]
    pub fn claim_due(&self, now: Option<f64>) -> Result<bool, JsValue> {
        Ok(self.0.claim_due(now_or_host(now)?))
    }
    /// Whether a route offers batch-settlement (then claims are scheduled).
    #[wasm_bindgen(getter, js_name = "offersBatch")]
    pub fn offers_batch(&self) -> bool {
        self.0.offers_batch()
    }
    /// Whether receipts or signed offers will name the request's Host (no public URL set).
    #[wasm_bindgen(getter, js_name = "namesClientHost")]
    pub fn names_client_host(&self) -> bool {
        self.0.names_client_host()
    }
}

/// A started request: its exchange (undefined when free) and first step.
#[wasm_bindgen]
pub struct Started {
    exchange: Option<Exchange>,
    step: Option<Step>,
}

#[wasm_bindgen]
impl Started {
    /// Takes the exchange (once).
    #[wasm_bindgen(js_name = "takeExchange")]
    pub fn take_exchange(&mut self) -> JsValue {
        crate::js::opt(self.exchange.take())
    }
    /// Takes the first step (once; then `done`).
    #[wasm_bindgen(js_name = "takeStep")]
    pub fn take_step(&mut self) -> Step {
        self.step.take().unwrap_or(Step(core::Step { action: core::Action::Done, shielded: false, logs: Vec::new() }))
    }
}

/// One priced request in progress: feed each step's outcome back.
#[wasm_bindgen]
pub struct Exchange(core::Exchange);

impl Exchange {
    fn resume(&mut self, input: core::Input) -> Step {
        Step(self.0.resume(input))
    }
}

#[wasm_bindgen]
impl Exchange {
    /// The request body.
    #[wasm_bindgen(js_name = "feedBody")]
    pub fn feed_body(&mut self, body: &[u8]) -> Step {
        self.resume(core::Input::Body(body.to_vec()))
    }
    /// The body is longer than the step's limit.
    #[wasm_bindgen(js_name = "feedBodyTooLarge")]
    pub fn feed_body_too_large(&mut self) -> Step {
        self.resume(core::Input::BodyTooLarge)
    }
    /// The client went away while the body was read.
    #[wasm_bindgen(js_name = "feedClientGone")]
    pub fn feed_client_gone(&mut self) -> Step {
        self.resume(core::Input::ClientGone)
    }
    /// A store operation's answer (`{entry}` for claim and get, `{replaced}` for replace, `{}` for release).
    #[wasm_bindgen(js_name = "feedStore")]
    pub fn feed_store(&mut self, answer: JsValue) -> Result<Step, JsValue> {
        let answer = match self.0.awaiting_store() {
            Some(core::StoreReply::Entry) => core::StoreAnswer::Entry(
                optional_string(&answer, "entry")?
                    .as_deref()
                    .map(store_core::StoreEntry::from_json)
                    .transpose()
                    .or_throw()?,
            ),
            Some(core::StoreReply::Replaced) => {
                core::StoreAnswer::Replaced(bool_member(&answer, "replaced")?.unwrap_or(false))
            }
            Some(core::StoreReply::Released) => core::StoreAnswer::Released,
            None => return Err(bad_argument("the exchange is not waiting on a store operation")),
        };
        Ok(self.resume(core::Input::Store(answer)))
    }
    /// The store failed (`message` goes to the server's log).
    #[wasm_bindgen(js_name = "feedStoreFailed")]
    pub fn feed_store_failed(&mut self, message: String) -> Step {
        self.resume(core::Input::Store(core::StoreAnswer::Failed(message)))
    }
    /// The facilitator's `/verify` answer.
    #[wasm_bindgen(js_name = "feedVerified")]
    pub fn feed_verified(&mut self, answer: &VerifyResponse) -> Step {
        self.resume(core::Input::Verified(answer.0.clone()))
    }
    /// The facilitator's `/settle` answer.
    #[wasm_bindgen(js_name = "feedSettled")]
    pub fn feed_settled(&mut self, answer: &SettleResponse) -> Step {
        self.resume(core::Input::Settled(answer.0.clone()))
    }
    /// The facilitator call failed; `code` is the `PaywireError` code when it threw one.
    #[wasm_bindgen(js_name = "feedFacilitatorFailed")]
    pub fn feed_facilitator_failed(&mut self, message: String, code: Option<String>) -> Step {
        self.resume(core::Input::FacilitatorFailed { code, message })
    }
    /// The handler's whole response.
    #[wasm_bindgen(js_name = "feedHandled")]
    pub fn feed_handled(&mut self, status: u32, headers: JsValue, body: &[u8]) -> Result<Step, JsValue> {
        let status =
            u16::try_from(status).map_err(|_| bad_argument(format!("status {status} is not an HTTP status")))?;
        let response = paywire_core::http::Response { status, headers: header_pairs(&headers)?, body: body.to_vec() };
        Ok(self.resume(core::Input::Handled(response)))
    }
    /// The handler threw (re-throw it at the `fail` step).
    #[wasm_bindgen(js_name = "feedHandlerFailed")]
    pub fn feed_handler_failed(&mut self) -> Step {
        self.resume(core::Input::HandlerFailed)
    }
    /// What the hooks of a `hook` step decided: `{abort, message, failed}` (absent: go on).
    #[wasm_bindgen(js_name = "feedHooked")]
    pub fn feed_hooked(&mut self, verdict: JsValue) -> Result<Step, JsValue> {
        Ok(self.resume(core::Input::Hooked(hook_verdict(&verdict)?)))
    }
    /// The request was abandoned before a final step: the clean-up's first step.
    pub fn cancel(&mut self) -> Step {
        Step(self.0.cancel())
    }
    /// Whether a final step was returned.
    #[wasm_bindgen(getter)]
    pub fn ended(&self) -> bool {
        self.0.ended()
    }
}

/// What the gate's glue must do next (`kind`), with the data of that kind.
#[wasm_bindgen]
pub struct Step(pub(crate) core::Step);

#[wasm_bindgen]
impl Step {
    /// `passThrough`, `readBody`, `store`, `verify`, `runHandler`, `settle`, `hook`, `respond`, `fail` or `done`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        match &self.0.action {
            core::Action::PassThrough => "passThrough",
            core::Action::ReadBody { .. } => "readBody",
            core::Action::RunHandler(_) => "runHandler",
            action => action.name(),
        }
        .into()
    }
}

getters!(Step {
    #[doc = "Run it to completion even if the request is abandoned."]
    shielded / "shielded" -> bool = |v| v.shielded;
    #[doc = "Lines for the server's log: `[level, message]`, level `warning` or `error`."]
    logs / "logs" -> js_sys::Array = |v| pairs_to_js(&v.logs.iter().map(|l| (l.level.as_str().to_string(), l.message.clone())).collect::<Vec<_>>());
    #[doc = "`readBody`: the most bytes to read."]
    limit / "limit" -> JsValue = |v| crate::js::opt(v.action.read_limit().map(|l| l as f64));
    #[doc = "`store`: `claim`, `get`, `replace` or `release`."]
    op / "op" -> JsValue = |v| crate::js::opt(v.action.store_op().map(|op| op.name().to_string()));
    #[doc = "`store`: the key."]
    key / "key" -> JsValue = |v| crate::js::opt(v.action.store_op().map(|op| op.key().to_string()));
    #[doc = "`store` (replace, release): the token the live entry must have."]
    token / "token" -> JsValue = |v| crate::js::opt((|| v.action.store_op()?.token().map(str::to_string))());
    #[doc = "`store` (claim, replace): the entry to store, as JSON text."]
    entry / "entry" -> JsValue = |v| crate::js::opt((|| v.action.store_op()?.entry().map(store_core::StoreEntry::to_json))());
    #[doc = "`store` (claim, replace): when the entry may be dropped (Unix seconds)."]
    expires_at / "expiresAt" -> JsValue = |v| crate::js::opt((|| v.action.store_op()?.entry().map(|e| e.expires_at as f64))());
    #[doc = "`store` (claim, replace): the entry's state (`in_flight`, `unsettled`, `done`)."]
    state / "state" -> JsValue = |v| crate::js::opt((|| v.action.store_op()?.entry().map(|e| e.record.state.as_str().to_string()))());
    #[doc = "`verify`, `settle`: the payment as received."]
    payment / "payment" -> JsValue = |v| crate::js::opt(v.action.facilitator_call().map(|c| PaymentPayload(c.payment.clone())));
    #[doc = "`verify`, `settle`: the server's offer it pays."]
    requirements / "requirements" -> JsValue = |v| crate::js::opt(v.action.facilitator_call().map(|c| PaymentRequirements(c.requirements.clone())));
    #[doc = "`runHandler`: who paid."]
    payer / "payer" -> JsValue = |v| crate::js::opt(v.action.paid().map(|p| p.payer.clone()));
    #[doc = "`runHandler`: the payment, when the request paid with one."]
    accepted / "accepted" -> JsValue = |v| crate::js::opt((|| v.action.paid()?.payment.clone().map(AcceptedPayment))());
    #[doc = "`runHandler`: the access receipt's payload, when a receipt stood in for a payment."]
    receipt / "receipt" -> JsValue = |v| v.action.paid().and_then(|p| p.receipt.as_ref()).map_or(JsValue::NULL, |r| to_js(&r.to_json()));
    #[doc = "`hook`: the point (`beforeVerify`, ...)."]
    hook_point / "hookPoint" -> JsValue = |v| crate::js::opt(v.action.hook().map(|c| c.point.camel_name()));
    #[doc = "`hook`: what the hooks are told (camel-case members as in every language)."]
    hook_context / "hookContext" -> JsValue = |v| v.action.hook().map_or(JsValue::NULL, |c| to_js(&c.context));
    #[doc = "`respond`: the status."]
    status / "status" -> JsValue = |v| crate::js::opt(v.action.response().map(|r| r.status));
    #[doc = "`respond`: the headers, as `[name, value]` pairs."]
    headers / "headers" -> JsValue = |v| v.action.response().map_or(JsValue::NULL, |r| pairs_to_js(&r.headers).into());
    #[doc = "`respond`: the body."]
    body / "body" -> JsValue = |v| crate::js::opt(v.action.response().map(|r| bytes(&r.body)));
});
