//! The exchange machines for Python: `Gate` / `Exchange` / `Step` (the server's payment gate) and
//! `PaidFetch` / `FetchStep` (the paying client). Every decision is the core's; the glue in `paywire.asgi`,
//! `paywire.wsgi`, `paywire.httpx` and `paywire.requests` performs the steps.

use std::sync::Arc;

use paywire_core::client::fetch as fetch_core;
use paywire_core::credentials::Statement;
use paywire_core::hooks::{HookSet, HookVerdict};
use paywire_core::server::gate as core;
use paywire_core::server::routes::{RouteMatching, RoutePattern};
use paywire_core::server::store::{self as store_core, MemoryStore};
use paywire_core::siwx;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert::{headers_from_py, now_or_system, to_py};
use crate::credentials::{AccessPolicy, Issuer};
use crate::errors::{OrRaise, bad_argument, py_err};
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequirements, SettleResponse, VerifyResponse};
use crate::payer::{Payer, PaymentHeader};
use crate::server::{AcceptedPayment, PriceTag};

/// A priced route: its price tags, and what its bill says. `pattern` ("GET /weather/{city}") is how the gate
/// matches requests to it; without one, the glue starts it for a framework route it is attached to.
#[pyclass(frozen, from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct PricedRoute(pub(crate) core::PricedRoute);

#[pymethods]
impl PricedRoute {
    #[new]
    #[pyo3(signature = (tags, pattern=None, *, description=None, mime_type=None, x402_version=2, receipts=true))]
    fn new(
        py: Python<'_>,
        tags: Vec<PriceTag>,
        pattern: Option<&str>,
        description: Option<String>,
        mime_type: Option<String>,
        x402_version: u8,
        receipts: bool,
    ) -> PyResult<Self> {
        paywire_core::server::check_version(x402_version).or_raise(py)?;
        let pattern = pattern.map(RoutePattern::parse).transpose().or_raise(py)?;
        let mut route = core::PricedRoute::new(pattern, tags.into_iter().map(|t| t.0).collect());
        route.description = description;
        route.mime_type = mime_type;
        route.x402_version = x402_version;
        route.receipts = receipts;
        Ok(Self(route))
    }
}

getters!(PricedRoute {
    /// The pattern, if any.
    pattern -> Option<&str> = |v| v.pattern.as_ref().map(RoutePattern::as_str);
});

/// The framework's word on a request's route: unknown (`None`), no route (`no_route`), or its pattern.
fn framework<'a>(pattern: Option<&'a str>, no_route: bool) -> core::FrameworkRoute<'a> {
    match (no_route, pattern) {
        (true, _) => core::FrameworkRoute::NoRoute,
        (false, Some(p)) => core::FrameworkRoute::Matched(p),
        (false, None) => core::FrameworkRoute::Unknown,
    }
}

/// A set of priced routes and how payments for them are taken.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct Gate(core::Gate);

#[pymethods]
impl Gate {
    /// A gate for `routes` (`PricedRoute`s). `external_store` hands every record operation to the glue (a
    /// store shared by processes); otherwise records live in this process's memory, bounded by
    /// `max_entries` and `max_bytes`. `supported` (the facilitator's `SupportedResponse`) fills in what price
    /// tags leave out: an upto tag's `facilitatorAddress`, a batch-settlement tag's `receiverAuthorizer`.
    #[new]
    #[pyo3(signature = (routes, *, public_url=None, issuer=None, access=None, allow_onchain_signatures=false,
        max_request_bytes=core::DEFAULT_MAX_REQUEST_BYTES, max_replay_bytes=core::DEFAULT_MAX_REPLAY_BYTES,
        case_sensitive=false, external_store=false, max_entries=store_core::DEFAULT_MAX_ENTRIES,
        max_bytes=store_core::DEFAULT_MAX_BYTES, takeover_after=core::DEFAULT_TAKEOVER_AFTER_SECONDS, hooks=Vec::new(), sign_in=false,
        sign_in_statement=None, sign_in_access_seconds=siwx::DEFAULT_ACCESS_SECONDS,
        sign_in_max_age_seconds=siwx::DEFAULT_MAX_AGE_SECONDS, sign_in_expiration_seconds=None,
        pass_facilitator=None, receiver_authorizer=None,
        claim_every_seconds=core::DEFAULT_CLAIM_EVERY_SECONDS, claim_at_amount=0, supported=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        routes: Vec<PricedRoute>,
        public_url: Option<String>,
        issuer: Option<&Issuer>,
        access: Option<&AccessPolicy>,
        allow_onchain_signatures: bool,
        max_request_bytes: usize,
        max_replay_bytes: usize,
        case_sensitive: bool,
        external_store: bool,
        max_entries: usize,
        max_bytes: usize,
        takeover_after: u64,
        hooks: Vec<String>,
        sign_in: bool,
        sign_in_statement: Option<String>,
        sign_in_access_seconds: u64,
        sign_in_max_age_seconds: u64,
        sign_in_expiration_seconds: Option<u64>,
        pass_facilitator: Option<String>,
        receiver_authorizer: Option<Bound<'_, PyAny>>,
        claim_every_seconds: u64,
        claim_at_amount: u128,
        supported: Option<PyRef<'_, crate::messages::SupportedResponse>>,
    ) -> PyResult<Self> {
        let hooks = HookSet::from_names(&hooks).or_raise(py)?;
        let receiver_authorizer = receiver_authorizer.as_ref().map(crate::signing::signer_from_py).transpose()?;
        let sign_in = sign_in.then_some(siwx::SignInOptions {
            statement: sign_in_statement,
            access_seconds: sign_in_access_seconds,
            max_age_seconds: sign_in_max_age_seconds,
            expiration_seconds: sign_in_expiration_seconds,
        });
        let options = core::GateOptions {
            public_url,
            allow_onchain_signatures,
            max_request_bytes,
            max_replay_bytes,
            matching: RouteMatching { case_sensitive },
            takeover_after,
            hooks,
            sign_in,
            pass_facilitator,
            claims: core::ClaimSchedule { every_seconds: claim_every_seconds, at_amount: claim_at_amount },
            supported: supported.map(|s| s.0.clone()),
        };
        let store: Option<Arc<dyn store_core::PaymentStore>> =
            if external_store { None } else { Some(Arc::new(MemoryStore::new(max_entries, max_bytes))) };
        let parts = core::GateParts {
            options,
            issuer: issuer.map(Issuer::shared),
            access: access.map(AccessPolicy::policy),
            store,
            randomness: Arc::new(paywire_core::OsRandomness),
            receiver_authorizer,
        };
        core::Gate::new(routes.into_iter().map(|r| r.0).collect(), parts).or_raise(py).map(Self)
    }

    /// The index of the priced route a request goes to, or None when it is free.
    #[pyo3(signature = (method, path, *, framework_pattern=None, framework_no_route=false))]
    fn route_for(
        &self,
        method: &str,
        path: &str,
        framework_pattern: Option<&str>,
        framework_no_route: bool,
    ) -> Option<usize> {
        self.0.route_for(method, path, framework(framework_pattern, framework_no_route))
    }

    /// Starts a request: `(Exchange, Step)`, or `(None, Step)` whose kind is "pass_through" when it is free.
    #[pyo3(signature = (method, path, path_and_query, origin, headers, *, framework_pattern=None,
        framework_no_route=false, now=None))]
    #[allow(clippy::too_many_arguments)]
    fn handle(
        &self,
        method: String,
        path: String,
        path_and_query: String,
        origin: String,
        headers: &Bound<'_, PyAny>,
        framework_pattern: Option<&str>,
        framework_no_route: bool,
        now: Option<u64>,
    ) -> PyResult<(Option<Exchange>, Step)> {
        let route = self.0.route_for(&method, &path, framework(framework_pattern, framework_no_route));
        let Some(route) = route else {
            return Ok((
                None,
                Step(core::Step { action: core::Action::PassThrough, shielded: false, logs: Vec::new() }),
            ));
        };
        let head = core::RequestHead { method, path, path_and_query, origin, headers: headers_from_py(headers)? };
        let (exchange, step) = self.0.start(route, head, now_or_system(now));
        Ok((Some(Exchange { inner: exchange }), Step(step)))
    }

    /// Starts a request to priced route `route` (an index into the routes given), for a route the framework
    /// attached the gate to.
    #[pyo3(signature = (route, method, path_and_query, origin, headers, *, now=None))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        py: Python<'_>,
        route: usize,
        method: String,
        path_and_query: String,
        origin: String,
        headers: &Bound<'_, PyAny>,
        now: Option<u64>,
    ) -> PyResult<(Exchange, Step)> {
        if route >= self.0.routes().len() {
            return Err(bad_argument(py, format!("the gate has {} routes, not {}", self.0.routes().len(), route + 1)));
        }
        let path = path_and_query.split('?').next().unwrap_or("").to_string();
        let head = core::RequestHead { method, path, path_and_query, origin, headers: headers_from_py(headers)? };
        let (exchange, step) = self.0.start(route, head, now_or_system(now));
        Ok((Exchange { inner: exchange }, Step(step)))
    }

    /// The batch-settlement claim: claims every channel's charges at the facilitator and sweeps them to the
    /// receiver. Drive it as a request (store and settle steps); its final "respond" step holds a JSON summary.
    #[pyo3(signature = (*, now=None))]
    fn claim(&self, now: Option<u64>) -> (Exchange, Step) {
        let (exchange, step) = self.0.claim(now_or_system(now));
        (Exchange { inner: exchange }, Step(step))
    }

    /// Whether a batch-settlement claim run is due (the claim schedule): ask after each request and every few
    /// seconds, and run `claim()` when it is.
    #[pyo3(signature = (*, now=None))]
    fn claim_due(&self, now: Option<u64>) -> bool {
        self.0.claim_due(now_or_system(now))
    }
}

getters!(Gate {
    /// Whether receipts or signed offers will name the request's Host (no public URL set).
    names_client_host -> bool = |v| v.names_client_host();
    /// Whether a route offers batch-settlement (then claims are scheduled).
    offers_batch -> bool = |v| v.offers_batch();
});

/// One priced request in progress: feed each step's outcome back with the `feed_*` method of its kind.
#[pyclass(module = "paywire._paywire")]
pub struct Exchange {
    inner: core::Exchange,
}

impl Exchange {
    fn resume(&mut self, input: core::Input) -> Step {
        Step(self.inner.resume(input))
    }
}

#[pymethods]
impl Exchange {
    /// The request body (a "read_body" step).
    fn feed_body(&mut self, body: Vec<u8>) -> Step {
        self.resume(core::Input::Body(body))
    }
    /// The body is longer than the step's limit.
    fn feed_body_too_large(&mut self) -> Step {
        self.resume(core::Input::BodyTooLarge)
    }
    /// The client went away while the body was read.
    fn feed_client_gone(&mut self) -> Step {
        self.resume(core::Input::ClientGone)
    }
    /// A store operation's answer: a `StoreEntry` or None for "claim" and "get", a bool for "replace",
    /// anything for "release".
    fn feed_store(&mut self, py: Python<'_>, answer: &Bound<'_, PyAny>) -> PyResult<Step> {
        let answer = match self.inner.awaiting_store() {
            Some(core::StoreReply::Entry) if answer.is_none() => core::StoreAnswer::Entry(None),
            Some(core::StoreReply::Entry) => {
                core::StoreAnswer::Entry(Some(answer.cast::<StoreEntry>()?.get().0.clone()))
            }
            Some(core::StoreReply::Replaced) => core::StoreAnswer::Replaced(answer.extract()?),
            Some(core::StoreReply::Released) => core::StoreAnswer::Released,
            None => return Err(bad_argument(py, "the exchange is not waiting on a store operation")),
        };
        Ok(self.resume(core::Input::Store(answer)))
    }
    /// The store failed (`message` goes to the server's log).
    fn feed_store_failed(&mut self, message: String) -> Step {
        self.resume(core::Input::Store(core::StoreAnswer::Failed(message)))
    }
    /// The facilitator's `/verify` answer.
    fn feed_verified(&mut self, answer: &VerifyResponse) -> Step {
        self.resume(core::Input::Verified(answer.0.clone()))
    }
    /// The facilitator's `/settle` answer.
    fn feed_settled(&mut self, answer: &SettleResponse) -> Step {
        self.resume(core::Input::Settled(answer.0.clone()))
    }
    /// The facilitator call failed; `code` is the `PaywireError` code when it raised one.
    #[pyo3(signature = (message, code=None))]
    fn feed_facilitator_failed(&mut self, message: String, code: Option<String>) -> Step {
        self.resume(core::Input::FacilitatorFailed { code, message })
    }
    /// The handler's whole response.
    fn feed_handled(&mut self, status: u16, headers: &Bound<'_, PyAny>, body: Vec<u8>) -> PyResult<Step> {
        let response = paywire_core::http::Response { status, headers: headers_from_py(headers)?, body };
        Ok(self.resume(core::Input::Handled(response)))
    }
    /// The handler raised (re-raise it at the "fail" step).
    fn feed_handler_failed(&mut self) -> Step {
        self.resume(core::Input::HandlerFailed)
    }
    /// What the hooks of a "hook" step decided: nothing (go on), `abort` (a reason, with an optional
    /// `message`), or `failed` (a hook raised; what it said, for the log).
    #[pyo3(signature = (*, abort=None, message=None, failed=None))]
    fn feed_hooked(&mut self, abort: Option<String>, message: Option<String>, failed: Option<String>) -> Step {
        self.resume(core::Input::Hooked(verdict(abort, message, failed)))
    }
    /// The request was cancelled or the glue failed before a final step: the clean-up's first step (store
    /// releases, then "done").
    fn cancel(&mut self) -> Step {
        Step(self.inner.cancel())
    }
    /// Whether a final step was returned.
    #[getter]
    fn ended(&self) -> bool {
        self.inner.ended()
    }
}

/// What the gate's glue must do next (`kind`), with the data of that kind.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct Step(pub(crate) core::Step);

#[pymethods]
impl Step {
    /// "respond": the body.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.0.action.response().map(|r| PyBytes::new(py, &r.body))
    }
    /// "hook": what the hooks are told, as a dict (camel-case members as in every language).
    #[getter]
    fn hook_context<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0.action.hook().map(|c| to_py(py, &c.context)).transpose()
    }
    fn __repr__(&self) -> String {
        format!("Step({})", self.0.action.name())
    }
}

getters!(Step {
    /// "pass_through", "read_body", "store", "verify", "run_handler", "settle", "hook", "respond", "fail" or
    /// "done".
    kind -> &'static str = |v| v.action.name();
    /// Whether nothing follows.
    is_final -> bool = |v| v.action.is_final();
    /// Run it to completion even if the request is cancelled.
    shielded -> bool = |v| v.shielded;
    /// Lines for the server's log: ("warning" or "error", message).
    logs -> Vec<(&'static str, String)> = |v| v.logs.iter().map(|l| (l.level.as_str(), l.message.clone())).collect();
    /// "read_body": the most bytes to read.
    limit -> Option<usize> = |v| v.action.read_limit();
    /// "store": "claim", "get", "replace" or "release".
    op -> Option<&'static str> = |v| v.action.store_op().map(core::StoreOp::name);
    /// "store": the key.
    key -> Option<&str> = |v| v.action.store_op().map(core::StoreOp::key);
    /// "store" (replace, release): the token the live entry must have.
    token -> Option<&str> = |v| v.action.store_op()?.token();
    /// "store" (claim, replace): the entry to store.
    entry -> Option<StoreEntry> = |v| v.action.store_op()?.entry().cloned().map(StoreEntry);
    /// "verify", "settle": the payment as received.
    payment -> Option<PaymentPayload> = |v| v.action.facilitator_call().map(|c| PaymentPayload(c.payment.clone()));
    /// "verify", "settle": the server's offer it pays.
    requirements -> Option<PaymentRequirements> = |v| v.action.facilitator_call().map(|c| PaymentRequirements(c.requirements.clone()));
    /// "run_handler": what the handler is told about the payment.
    paid -> Option<Paid> = |v| v.action.paid().cloned().map(Paid);
    /// "hook": the point ("before_verify", "after_verify", "verify_failure", "before_settle", "after_settle",
    /// "settle_failure").
    hook_point -> Option<&'static str> = |v| v.action.hook().map(|c| c.point.name());
    /// "respond": the status.
    status -> Option<u16> = |v| v.action.response().map(|r| r.status);
    /// "respond": the headers, as (name, value) pairs.
    headers -> Option<Vec<(String, String)>> = |v| v.action.response().map(|r| r.headers.clone());
});

/// What the handler is told about the payment (`request.state.paywire`).
#[pyclass(frozen, module = "paywire._paywire")]
pub struct Paid(core::Paid);

#[pymethods]
impl Paid {
    /// The access receipt's payload, when a receipt stood in for a payment.
    #[getter]
    fn receipt<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0.receipt.as_ref().map(|r| to_py(py, &r.to_json())).transpose()
    }
    fn __repr__(&self) -> String {
        format!("Paid(payer='{}', receipt={})", self.0.payer, self.0.receipt.is_some())
    }
}

getters!(Paid {
    /// Who paid.
    payer -> &str = |v| &v.payer;
    /// The payment, when the request paid with one.
    payment -> Option<AcceptedPayment> = |v| v.payment.clone().map(AcceptedPayment);
});

/// A payment record under a key, as a store shared by processes keeps it (`to_json` / `from_json`).
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct StoreEntry(store_core::StoreEntry);

#[pymethods]
impl StoreEntry {
    /// Reads an entry stored with `to_json`.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        store_core::StoreEntry::from_json(text).or_raise(py).map(Self)
    }
    /// The entry as JSON text (one format in every language).
    fn to_json(&self) -> String {
        self.0.to_json()
    }
    fn __repr__(&self) -> String {
        format!("StoreEntry(state='{}', expires_at={})", self.0.record.state.as_str(), self.0.expires_at)
    }
}

getters!(StoreEntry {
    /// The token of the request holding it.
    token -> &str = |v| &v.token;
    /// Unix time after which it may be dropped.
    expires_at -> u64 = |v| v.expires_at;
    /// "in_flight", "unsettled" or "done".
    state -> &'static str = |v| v.record.state.as_str();
});

/// One HTTP call paid once: feed each step's outcome back with the `feed_*` method of its kind.
#[pyclass(module = "paywire._paywire")]
pub struct PaidFetch(fetch_core::PaidFetch);

#[pymethods]
impl PaidFetch {
    /// Starts a call; returns `(PaidFetch, FetchStep)`. `body` None means no body. Send every "send" step
    /// without following redirects: the machine follows them (unless `follow_redirects` is false).
    /// `already_paid` marks a request continuing a call that paid; `sign_inline` false makes a "sign" step
    /// for signers the glue must await; `refund` asks for the cooperative refund of the URL's batch-settlement
    /// channel instead of paying (`refund_amount` units, or everything unclaimed); `rpc_urls` (network →
    /// JSON-RPC URL) lets the machine read what an EIP-2612 permit for Permit2 needs where a bill declares
    /// `eip2612GasSponsoring`.
    #[staticmethod]
    #[pyo3(signature = (payer, method, url, headers=None, body=None, *, follow_redirects=true,
        max_redirects=fetch_core::DEFAULT_MAX_REDIRECTS, already_paid=false, sign_inline=true, hooks=Vec::new(), sign_in=true,
        pass_facilitators=Vec::new(), refund=false, refund_amount=None, rpc_urls=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        py: Python<'_>,
        payer: &Payer,
        method: String,
        url: String,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<Vec<u8>>,
        follow_redirects: bool,
        max_redirects: u32,
        already_paid: bool,
        sign_inline: bool,
        hooks: Vec<String>,
        sign_in: bool,
        pass_facilitators: Vec<String>,
        refund: bool,
        refund_amount: Option<u128>,
        rpc_urls: Vec<(String, String)>,
    ) -> PyResult<(PaidFetch, FetchStep)> {
        let headers = headers.map(headers_from_py).transpose()?.unwrap_or_default();
        let request = fetch_core::FetchRequest { method, url, headers, body };
        let hooks = HookSet::from_names(&hooks).or_raise(py)?;
        let options = fetch_core::FetchOptions {
            follow_redirects,
            max_redirects,
            already_paid,
            sign_inline,
            hooks,
            sign_in,
            pass_facilitators,
            refund: refund.then_some(refund_amount),
            rpc: paywire_core::client::RpcEndpoints::new(rpc_urls).or_raise(py)?,
        };
        let (call, action) = fetch_core::PaidFetch::start(payer.shared(), request, options);
        Ok((PaidFetch(call), FetchStep(action)))
    }
    /// A response's status and headers (its body not read yet).
    fn feed_response(&mut self, status: u16, headers: &Bound<'_, PyAny>) -> PyResult<FetchStep> {
        let headers = headers_from_py(headers)?;
        Ok(FetchStep(self.0.resume(fetch_core::FetchInput::Response { status, headers })))
    }
    /// The last response's body (a "read_body" step).
    fn feed_body(&mut self, body: Vec<u8>) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::Body(body)))
    }
    /// The send failed (connection, timeout).
    fn feed_send_failed(&mut self) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::SendFailed))
    }
    /// The signatures of a "sign" step, in order.
    fn feed_signatures(&mut self, signatures: Vec<Vec<u8>>) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::Signatures(signatures)))
    }
    /// The signer failed.
    fn feed_sign_failed(&mut self, message: String) -> FetchStep {
        let error = paywire_core::Error::new(paywire_core::ErrorCode::SignerFailed, message);
        FetchStep(self.0.resume(fetch_core::FetchInput::SignFailed(error)))
    }
    /// What the hooks of a "hook" step decided: nothing (go on), `abort` (a reason, with an optional
    /// `message`), or `failed` (a hook raised; what it said).
    #[pyo3(signature = (*, abort=None, message=None, failed=None))]
    fn feed_hooked(&mut self, abort: Option<String>, message: Option<String>, failed: Option<String>) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::Hooked(verdict(abort, message, failed))))
    }
}

/// What the paying client's glue must do next (`kind`), with the data of that kind.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct FetchStep(pub(crate) fetch_core::FetchAction);

#[pymethods]
impl FetchStep {
    /// "send", "read_body", "sign", "hook", "done", "fail" or "raise".
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.name()
    }
    /// "send": whether the request is the machine's own (a pass, a chain read): its body is never the caller's.
    #[getter]
    fn own(&self) -> bool {
        self.0.own()
    }
    /// "send": the most milliseconds the send may take, its answer included (the machine's own requests), or None
    /// (the caller's timeouts).
    #[getter]
    fn timeout_ms(&self) -> Option<u64> {
        self.0.timeout_ms()
    }
    /// "send": the most bytes to read of its answer's body (the machine's own requests; a longer body is fed
    /// as an empty one), or None (no limit).
    #[getter]
    fn body_limit(&self) -> Option<usize> {
        self.0.body_limit()
    }
    /// "send": the method.
    #[getter]
    fn method(&self) -> Option<&str> {
        self.0.request().map(|r| r.method.as_str())
    }
    /// "send": the URL.
    #[getter]
    fn url(&self) -> Option<&str> {
        self.0.request().map(|r| r.url.as_str())
    }
    /// "send": the headers, as (name, value) pairs.
    #[getter]
    fn headers(&self) -> Option<Vec<(String, String)>> {
        self.0.request().map(|r| r.headers.clone())
    }
    /// "send": the body, or None for no body.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.0.request().and_then(|r| r.body.as_deref()).map(|b| PyBytes::new(py, b))
    }
    /// "hook": the point ("before_payment_creation", "after_payment_creation", "payment_creation_failure").
    #[getter]
    fn hook_point(&self) -> Option<&'static str> {
        self.0.hook().map(|c| c.point.name())
    }
    /// "hook": what the hooks are told, as a dict (camel-case members as in every language).
    #[getter]
    fn hook_context<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0.hook().map(|c| to_py(py, &c.context)).transpose()
    }
    /// "sign": the digests to sign, in order.
    #[getter]
    fn digests<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.0.digests().iter().map(|d| PyBytes::new(py, d.as_slice())).collect()
    }
    /// "fail": the error to raise.
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.0.error().map(|e| py_err(py, e.clone()).into_value(py).into_any())
    }
    /// "done", "raise": the payment sent, if the call paid.
    #[getter]
    fn payment(&self) -> Option<PaymentHeader> {
        self.0.outcome().and_then(|o| o.payment.clone()).map(PaymentHeader)
    }
    /// "done", "raise": the paid request's settlement receipt, when readable.
    #[getter]
    fn settlement(&self) -> Option<SettleResponse> {
        self.0.outcome().and_then(|o| o.settlement.clone()).map(SettleResponse)
    }
    /// "done", "raise": the status that answered the paid request.
    #[getter]
    fn paid_status(&self) -> Option<u16> {
        self.0.outcome().and_then(|o| o.paid_status)
    }
    /// "done", "raise": the payment may still settle (a retry of the purchase reuses it).
    #[getter]
    fn open(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.open)
    }
    /// "done": why a final 402 was not paid, as a `PaywireError`.
    #[getter]
    fn unpaid(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.0.outcome().and_then(|o| o.unpaid.clone()).map(|e| py_err(py, e).into_value(py).into_any())
    }
    /// "done": the final response's body was read (hand those bytes to the caller).
    #[getter]
    fn body_read(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.body_read)
    }
    /// "done": the final answer came to a sign-in (sign-in-with-x), without a payment.
    #[getter]
    fn signed_in(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.signed_in)
    }
    /// "done": the final answer came to a pass the payer held, without a payment.
    #[getter]
    fn pass_used(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.pass_used)
    }
    fn __repr__(&self) -> String {
        format!("FetchStep({})", self.kind())
    }
}

/// The verdict the glue feeds for a hook step.
fn verdict(abort: Option<String>, message: Option<String>, failed: Option<String>) -> HookVerdict {
    match (abort, failed) {
        (_, Some(failed)) => HookVerdict::Failed(failed),
        (Some(reason), None) => HookVerdict::Abort { reason, message },
        (None, None) => HookVerdict::Continue,
    }
}

/// Checks `(network, url)` JSON-RPC endpoints as `PaidFetch.start(rpc_urls=...)` will: raises
/// `PaywireError` (`invalid_argument`) for a network not written `eip155:<chain id>` or a URL that is not
/// absolute http(s); the message never holds the URL.
#[pyfunction]
fn check_rpc_urls(py: Python<'_>, rpc_urls: Vec<(String, String)>) -> PyResult<()> {
    paywire_core::client::RpcEndpoints::new(rpc_urls).or_raise(py).map(drop)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_rpc_urls, m)?)?;
    m.add_class::<PricedRoute>()?;
    m.add_class::<Gate>()?;
    m.add_class::<Exchange>()?;
    m.add_class::<Step>()?;
    m.add_class::<Paid>()?;
    m.add_class::<StoreEntry>()?;
    m.add_class::<PaidFetch>()?;
    m.add_class::<FetchStep>()?;
    Ok(())
}
