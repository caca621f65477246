//! The paying client: one HTTP call, its 402 paid once, as a sans-I/O state machine every paywire client
//! drives (httpx, requests, fetch, java.net.http, OkHttp, URLSession, the CLI).
//!
//! The glue sends each [`FetchAction::Send`] (and [`FetchAction::SendOwn`], the machine's own requests: a pass,
//! a chain read) with its HTTP stack's own redirect following turned off, and feeds the response head back; the
//! machine decides everything else:
//! - a 402 carrying an x402 bill is paid under the payer's policy, and the request sent once more with the
//!   payment, to the URL that billed it and nowhere else;
//! - at most one payment per call, whatever the redirects: a later 402 in the same call is returned as it is;
//! - a payment header (the machine's, or one the caller set) is never carried across a redirect, and
//!   credentials (`Authorization`, `Cookie`) are not carried to another origin;
//! - a purchase (method, URL, body) whose paid answer leaves the outcome open (lost, 409, 5xx, settlement
//!   pending) keeps its payment, so a retry of the purchase sends the same one instead of paying twice; a
//!   definite answer lets the payer forget it.

use crate::prelude::*;
use alloc::sync::Arc;

use alloy_primitives::B256;

use super::chain_read;
use super::payer::{PayExtras, Payer, PaymentHeader, Prepared};
use super::{carries_payment, outcome_is_open, purchase_key, read_settlement};
use crate::codec::header;
use crate::error::{Error, ErrorCode};
use crate::hooks::{HookCall, HookContext, HookFlow, HookPoint, HookSet, HookVerdict};
use crate::http::{self, Headers};
use crate::machine::{Driver, Link};
use crate::types::{PaymentRequired, SettleResponse};

/// Redirects followed at most in one call (as the fetch standard).
pub const DEFAULT_MAX_REDIRECTS: u32 = 20;

/// How long the glue lets one of the machine's own requests (a chain read, a pass) take, from connecting to its
/// last byte: a hung endpoint then costs a payment this long, not the caller's whole timeout (or forever where
/// the HTTP stack has none); the payment goes on without what it would have said.
pub const OWN_REQUEST_TIMEOUT_MS: u64 = 15_000;

/// The most bytes the glue reads of an answer to the machine's own request. A chain read's answer is under 200
/// bytes and a pass a few KiB; a longer body is taken as no answer, so a broken or hostile endpoint cannot fill
/// the payer's memory.
pub const OWN_BODY_LIMIT: usize = 64 * 1024;

/// A request to send. Its `Debug` shows the method, the URL's origin and the header names only: a URL may carry
/// an API key (a JSON-RPC endpoint's), and headers a payment or the caller's credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FetchRequest {
    /// The method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The headers.
    pub headers: Headers,
    /// The body (`None`: no body at all).
    pub body: Option<Vec<u8>>,
}

impl core::fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let origin = url::Url::parse(&self.url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        f.debug_struct("FetchRequest")
            .field("method", &self.method)
            .field("origin", &origin)
            .field("headers", &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// How one call behaves.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Follow redirects (the machine follows them; the glue's stack must not).
    pub follow_redirects: bool,
    /// The most redirects followed.
    pub max_redirects: u32,
    /// This request continues a call that already paid (an HTTP stack that follows redirects above the
    /// glue, such as httpx's or requests' clients, sends each hop separately): it is never paid again.
    pub already_paid: bool,
    /// Sign with the payer's own signer inside the machine (it is synchronous and fast); otherwise a
    /// [`FetchAction::Sign`] step asks the glue to sign (an asynchronous or slow signer).
    pub sign_inline: bool,
    /// The points at which the glue runs hooks of the user's ([`FetchAction::Hook`] steps come only for
    /// these).
    pub hooks: HookSet,
    /// Sign in instead of paying where the bill offers it (`sign-in-with-x`) and the request's origin asked:
    /// a wallet that paid for the resource before gets it again without a payment. If the server still
    /// bills, the call pays as usual.
    pub sign_in: bool,
    /// Facilitators (base URLs) the client may ask for a pass when a bill names one: after a settled
    /// payment, the next call to the same resource asks for a pass, then presents it until it expires or is
    /// refused. Empty: no passes (a bill never makes the client call a URL the user did not name).
    pub pass_facilitators: Vec<String>,
    /// Ask for a cooperative refund of the batch-settlement channel behind the URL's bill instead of paying:
    /// `Some(None)` for everything unclaimed, `Some(Some(n))` for `n` units. The answer's receipt
    /// ([`FetchOutcome::settlement`]) is the refund's; a corrective 402 is followed once.
    pub refund: Option<Option<u128>>,
    /// JSON-RPC endpoints the client may read a chain through. Where a bill declares `eip2612GasSponsoring`
    /// and the payment moves its token through Permit2, the machine sends two `eth_call`s (as
    /// [`FetchAction::SendOwn`] steps, to the endpoint of the offer's network): the payer's Permit2 allowance and,
    /// when it is short, the token's EIP-2612 nonce, so that an EIP-2612 permit goes with the payment and the
    /// facilitator approves Permit2 for a payer who never did (and holds no gas). Empty: no reads, no permit.
    pub rpc: super::RpcEndpoints,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            follow_redirects: true,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            already_paid: false,
            sign_inline: true,
            hooks: HookSet::NONE,
            sign_in: true,
            pass_facilitators: Vec::new(),
            refund: None,
            rpc: super::RpcEndpoints::default(),
        }
    }
}

/// What a call paid, reported with its final response.
#[derive(Clone, Debug, Default)]
pub struct FetchOutcome {
    /// The payment sent, if the call paid.
    pub payment: Option<PaymentHeader>,
    /// The settlement receipt of the paid request's answer (`PAYMENT-RESPONSE`), when it sent a readable one.
    pub settlement: Option<SettleResponse>,
    /// The status that answered the paid request (the final response's may differ after a redirect).
    pub paid_status: Option<u16>,
    /// The paid request's outcome is open: the payment may still settle, so a retry of the same purchase
    /// reuses it (the payer remembers it).
    pub open: bool,
    /// Why a final 402 was not paid (not an x402 bill, the call already paid, the request carried its own
    /// payment).
    pub unpaid: Option<Error>,
    /// The final response's body was read (a 402's): the glue hands the bytes it read to the caller.
    pub body_read: bool,
    /// The final answer came to a sign-in (`sign-in-with-x`): access without a payment.
    pub signed_in: bool,
    /// The final answer came to a pass the payer held (`X-PAYWIRE-RECEIPT`): access without a payment.
    pub pass_used: bool,
}

/// What the glue must do next.
#[derive(Clone, Debug)]
pub enum FetchAction {
    /// Send this request, without following redirects; answer [`FetchInput::Response`] with the head (keep the
    /// body unread) or [`FetchInput::SendFailed`].
    Send(FetchRequest),
    /// Send this request of the machine's own (to a facilitator for a pass, to a JSON-RPC endpoint), as
    /// [`FetchAction::Send`]; the body of its answer, if the machine asks for it, is the machine's to read and
    /// never the caller's, so a glue that hands bodies to a caller's handler keeps this one as bytes.
    SendOwn(FetchRequest),
    /// Read the last response's body; answer [`FetchInput::Body`].
    ReadBody,
    /// Sign these digests with the payer's signer (65-byte signatures, in order); answer
    /// [`FetchInput::Signatures`] or [`FetchInput::SignFailed`].
    Sign(Vec<B256>),
    /// Run the user's hooks registered at this point, in order, with this context; answer
    /// [`FetchInput::Hooked`].
    Hook(Box<HookCall>),
    /// Final: the last response is the answer; the outcome says what was paid.
    Done(Box<FetchOutcome>),
    /// Final: the call cannot go on (the policy refused every offer, too many redirects, the signer failed);
    /// raise this error. A response read before is discarded.
    Fail(Error),
    /// Final: raise the error the last send failed with. When it carried a payment, the outcome is open and
    /// the payment is kept for a retry of the purchase.
    Raise(Box<FetchOutcome>),
}

impl FetchAction {
    /// The action's name in snake case (`send` for both sends, `read_body`, `sign`, `hook`, `done`, `fail`,
    /// `raise`); bindings spell it in their language's case.
    pub fn name(&self) -> &'static str {
        match self {
            FetchAction::Send(_) | FetchAction::SendOwn(_) => "send",
            FetchAction::ReadBody => "read_body",
            FetchAction::Sign(_) => "sign",
            FetchAction::Hook(_) => "hook",
            FetchAction::Done(_) => "done",
            FetchAction::Fail(_) => "fail",
            FetchAction::Raise(_) => "raise",
        }
    }

    /// `Send`'s or `SendOwn`'s request.
    pub fn request(&self) -> Option<&FetchRequest> {
        match self {
            FetchAction::Send(r) | FetchAction::SendOwn(r) => Some(r),
            _ => None,
        }
    }

    /// Whether this is a [`FetchAction::SendOwn`]: a request of the machine's own, whose body is never the
    /// caller's.
    pub fn own(&self) -> bool {
        matches!(self, FetchAction::SendOwn(_))
    }

    /// How long the glue lets this send take, in milliseconds: [`OWN_REQUEST_TIMEOUT_MS`] for the machine's own
    /// requests; `None` (the caller's own timeouts) for every other.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.own().then_some(OWN_REQUEST_TIMEOUT_MS)
    }

    /// The most bytes the glue reads of this send's answer when the machine asks for its body:
    /// [`OWN_BODY_LIMIT`] for the machine's own requests (a longer answer is fed as an empty body, as one that
    /// broke off); `None` (no limit) for the caller's.
    pub fn body_limit(&self) -> Option<usize> {
        self.own().then_some(OWN_BODY_LIMIT)
    }

    /// `Done`'s or `Raise`'s outcome.
    pub fn outcome(&self) -> Option<&FetchOutcome> {
        match self {
            FetchAction::Done(o) | FetchAction::Raise(o) => Some(o),
            _ => None,
        }
    }

    /// `Sign`'s digests (empty for every other action).
    pub fn digests(&self) -> &[B256] {
        match self {
            FetchAction::Sign(d) => d,
            _ => &[],
        }
    }

    /// `Hook`'s call.
    pub fn hook(&self) -> Option<&HookCall> {
        match self {
            FetchAction::Hook(call) => Some(call),
            _ => None,
        }
    }

    /// `Fail`'s error.
    pub fn error(&self) -> Option<&Error> {
        match self {
            FetchAction::Fail(e) => Some(e),
            _ => None,
        }
    }
}

/// The outcome of a [`FetchAction`].
#[derive(Clone, Debug)]
pub enum FetchInput {
    /// A response's status and headers.
    Response {
        /// The status.
        status: u16,
        /// The headers.
        headers: Headers,
    },
    /// The last response's body.
    Body(Vec<u8>),
    /// The send failed (connection, timeout): no response.
    SendFailed,
    /// The signatures of a [`FetchAction::Sign`].
    Signatures(Vec<Vec<u8>>),
    /// The signer failed.
    SignFailed(Error),
    /// What the hooks of a [`FetchAction::Hook`] decided.
    Hooked(HookVerdict),
}

/// One call in progress: feed each action's outcome to [`PaidFetch::resume`] until a final action.
pub struct PaidFetch {
    driver: Driver<FetchAction, FetchInput>,
}

impl core::fmt::Debug for PaidFetch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PaidFetch").field("ended", &self.driver.ended()).finish()
    }
}

fn out_of_turn() -> FetchAction {
    FetchAction::Fail(Error::new(
        ErrorCode::InvalidArgument,
        "the paying client was driven out of turn (an answer it did not ask for); this is a bug in paywire's glue",
    ))
}

impl PaidFetch {
    /// Starts a call of `request` paid by `payer`; returns it with its first action.
    pub fn start(payer: Arc<Payer>, request: FetchRequest, options: FetchOptions) -> (PaidFetch, FetchAction) {
        let mut fetch = PaidFetch {
            driver: Driver::new(move |link| async move { Call { payer, options, link }.run(request).await }),
        };
        let first = fetch.driver.resume(None).unwrap_or_else(out_of_turn);
        (fetch, first)
    }

    /// Feeds the outcome of the last action and returns the next.
    pub fn resume(&mut self, input: FetchInput) -> FetchAction {
        self.driver.resume(Some(input)).unwrap_or_else(out_of_turn)
    }

    /// Whether a final action was returned.
    pub fn ended(&self) -> bool {
        self.driver.ended()
    }
}

/// Whether a status is a redirect the machine follows.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Headers that describe a request body, dropped with it.
const BODY_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "content-location",
    "transfer-encoding",
];
/// Headers that carry credentials, never sent to another origin.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

fn origin(url: &url::Url) -> (String, Option<String>, Option<u16>) {
    (url.scheme().to_string(), url.host_str().map(str::to_ascii_lowercase), url.port_or_known_default())
}

/// The request a redirect leads to, or `None` when it cannot be followed (no usable `Location`).
pub fn redirect_request(previous: &FetchRequest, status: u16, headers: &[(String, String)]) -> Option<FetchRequest> {
    let location = http::header(headers, "location")?;
    let base = url::Url::parse(&previous.url).ok()?;
    let mut target = base.join(location).ok()?;
    if !matches!(target.scheme(), "http" | "https") {
        return None;
    }
    target.set_fragment(None);
    let mut next = previous.clone();
    next.url = target.to_string();
    // A payment is for the request that was billed: it never follows a redirect.
    http::remove(&mut next.headers, header::PAYMENT_SIGNATURE);
    http::remove(&mut next.headers, header::X_PAYMENT);
    http::remove(&mut next.headers, crate::siwx::HEADER);
    http::remove(&mut next.headers, crate::credentials::access::RECEIPT_HEADER);
    if origin(&base) != origin(&target) {
        for name in CREDENTIAL_HEADERS {
            http::remove(&mut next.headers, name);
        }
    }
    let method = previous.method.to_ascii_uppercase();
    let to_get = status == 303 && method != "HEAD" || matches!(status, 301 | 302) && method == "POST";
    if to_get {
        next.method = "GET".into();
        next.body = None;
        for name in BODY_HEADERS {
            http::remove(&mut next.headers, name);
        }
    }
    Some(next)
}

struct Call {
    payer: Arc<Payer>,
    options: FetchOptions,
    link: Link<FetchAction, FetchInput>,
}

impl Call {
    async fn run(&mut self, mut request: FetchRequest) -> FetchAction {
        let mut outcome = FetchOutcome::default();
        let carried = carries_payment(&request.headers);
        let mut paid = self.options.already_paid || carried;
        let mut redirects = 0u32;
        // The payment to attach to the next send, and the purchase it pays.
        let mut attach: Option<(PaymentHeader, String)> = None;
        // A sign-in is tried at most once per call, and never over one the caller sent.
        let mut sign_in_tried = http::header(&request.headers, crate::siwx::HEADER).is_some();
        let mut sign_in: Option<String> = None;
        // A pass: asked for now if a settled payment for this resource may buy one, then presented.
        let resource = request.url.clone();
        // A refund neither presents nor asks for a pass (its transaction buys nothing).
        let passes = !self.options.pass_facilitators.is_empty() && !carried && self.options.refund.is_none();
        if passes && let Some(pending) = self.payer.take_pending_pass(&resource) {
            self.fetch_pass(pending).await;
        }
        let mut presented = false;
        if passes
            && http::header(&request.headers, crate::credentials::access::RECEIPT_HEADER).is_none()
            && let Some(pass) = self.payer.pass_for(&resource)
        {
            http::set(&mut request.headers, crate::credentials::access::RECEIPT_HEADER, pass);
            presented = true;
        }
        // Where a pass may be bought for the payment, with the server's signed offer it pays, until the paid
        // answer says it settled.
        let mut pass_offer: Option<(crate::pass::PassOffer, serde_json::Value)> = None;
        // A channel payment answered with a 402 may be the corrective 402: checked once the bill is read, and
        // followed once per call.
        let (mut correcting, mut corrected) = (false, false);
        loop {
            let mut send = request.clone();
            if let Some((header, _)) = &attach {
                http::set(&mut send.headers, header.name, header.value.clone());
            }
            let signing_in = sign_in.take();
            if let Some(value) = &signing_in {
                http::set(&mut send.headers, crate::siwx::HEADER, value.clone());
            }
            let (status, headers) = match self.link.ask(FetchAction::Send(send)).await {
                FetchInput::Response { status, headers } => (status, headers),
                FetchInput::SendFailed => {
                    // A paid send that failed may still have reached the server: its outcome is open, and the
                    // payer keeps the payment for a retry of the purchase.
                    outcome.open = attach.is_some();
                    return FetchAction::Raise(Box::new(outcome));
                }
                _ => return out_of_turn(),
            };
            if let Some((header, purchase)) = attach.take() {
                let settlement = read_settlement(&headers).ok().flatten();
                outcome.open = outcome_is_open(status, settlement.as_ref());
                if !outcome.open {
                    // A definite answer settles the purchase's fate.
                    self.payer.forget(&purchase);
                }
                if let (Some((offer, signed)), Some(s)) = (pass_offer.take(), &settlement)
                    && s.success
                    && !s.transaction.is_empty()
                {
                    // The settled payment may buy a pass: asked for on the next call to this resource.
                    self.payer.pend_pass(super::payer::PendingPass {
                        resource: resource.clone(),
                        endpoint: offer.endpoint,
                        network: s.network.clone(),
                        transaction: s.transaction.clone(),
                        offer: signed,
                        lifetime_seconds: offer.lifetime_seconds,
                    });
                }
                if header.requirements.scheme() == crate::batch::SCHEME {
                    if let Some(s) = &settlement {
                        self.payer.channel_answered(&header, s);
                    }
                    if status == 402 && !corrected {
                        corrected = true;
                        correcting = true;
                    }
                }
                outcome.settlement = settlement;
                outcome.paid_status = Some(status);
                outcome.payment = Some(header);
            }
            if is_redirect(status)
                && self.options.follow_redirects
                && let Some(next) = redirect_request(&request, status, &headers)
            {
                redirects += 1;
                if redirects > self.options.max_redirects {
                    return FetchAction::Fail(Error::new(
                        ErrorCode::TooManyRedirects,
                        format!("the server redirected more than {} times", self.options.max_redirects),
                    ));
                }
                request = next;
                continue;
            }
            if status != 402 {
                outcome.signed_in = signing_in.is_some();
                outcome.pass_used = presented && outcome.payment.is_none();
                if self.options.refund.is_some() {
                    let sent = outcome.payment.is_some();
                    outcome.unpaid = refund_unanswered(status, sent, outcome.open, outcome.settlement.as_ref());
                }
                return FetchAction::Done(Box::new(outcome));
            }
            if presented {
                // The server refused the pass (expired, revoked, another key): forget it and pay.
                presented = false;
                self.payer.forget_pass(&resource);
                http::remove(&mut request.headers, crate::credentials::access::RECEIPT_HEADER);
            }
            if correcting {
                paid = false;
            }
            // A refund refused is told with the server's reason, read from its bill below.
            if paid && (self.options.refund.is_none() || outcome.payment.is_none()) {
                outcome.unpaid = Some(Error::new(
                    ErrorCode::PaymentAlreadyAttempted,
                    if carried {
                        "the request carries its own payment, so it is not paid again"
                    } else {
                        "this call already paid once; a second bill in the same call (after a redirect) is not paid"
                    },
                ));
                return FetchAction::Done(Box::new(outcome));
            }
            let body = match self.link.ask(FetchAction::ReadBody).await {
                FetchInput::Body(b) => b,
                _ => return out_of_turn(),
            };
            outcome.body_read = true;
            let bill = match PaymentRequired::from_response(&headers, &body) {
                Ok(bill) => bill,
                Err(e) => {
                    // A 402 that is not an x402 bill reaches the caller as it is.
                    outcome.unpaid = Some(e);
                    return FetchAction::Done(Box::new(outcome));
                }
            };
            let to_correct =
                correcting && bill.error.as_deref() == Some(ErrorCode::BatchCumulativeAmountMismatch.as_str());
            if let (Some(_), Some(_)) = (self.options.refund, &outcome.payment)
                && !to_correct
            {
                // The server refused the refund itself (nothing to refund, no key to sign it), before or after
                // a correction: no retry, and its reason.
                let reason = bill.error.as_deref().unwrap_or("no reason given");
                let code = ErrorCode::from_str_code(reason).unwrap_or(ErrorCode::PaymentAlreadyAttempted);
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|b| b.get("message").and_then(|m| m.as_str()).map(str::to_string))
                    .unwrap_or_else(|| reason.to_string());
                outcome.unpaid = Some(Error::new(
                    code,
                    format!(
                        "the server refused the refund ({}): {}",
                        crate::wire::truncate(reason),
                        crate::wire::truncate(&message)
                    ),
                ));
                return FetchAction::Done(Box::new(outcome));
            }
            if correcting {
                correcting = false;
                if !self.payer.channel_corrected(&bill) {
                    outcome.unpaid = Some(Error::new(
                        ErrorCode::PaymentAlreadyAttempted,
                        "the server refused the payment from the channel, and its answer shows no voucher of this \
                         payer's that would explain it; nothing more is paid",
                    ));
                    return FetchAction::Done(Box::new(outcome));
                }
            }
            if self.options.sign_in && !sign_in_tried && self.options.refund.is_none() {
                sign_in_tried = true;
                if let Some(value) = self.sign_in(&bill, &request.url).await {
                    // Ask again, signed in; a second bill is paid as usual.
                    sign_in = Some(value);
                    outcome.body_read = false;
                    continue;
                }
            }
            let purchase = purchase_key(&request.method, &request.url, request.body.as_deref().unwrap_or_default());
            let paying = match self.options.refund {
                // A refund pays nothing: no payment hooks, nothing remembered for the purchase.
                Some(amount) => self.refund(&bill, amount).await,
                None => self.pay_hooked(&request, &bill, &purchase).await,
            };
            let header = match paying {
                Ok(h) => h,
                Err(e) => return FetchAction::Fail(e),
            };
            paid = true;
            outcome.body_read = false;
            if passes && request.url == resource {
                pass_offer = crate::pass::offer_in(&bill, &self.options.pass_facilitators)
                    .zip(crate::pass::signed_offer_for(&bill, &header.requirements));
            }
            attach = Some((header, purchase));
        }
    }

    /// Asks a facilitator for the pass a settled payment may buy, and keeps it. A refusal leaves nothing to
    /// do (the payment was paid and served); a send that fails keeps the payment waiting for the next call.
    async fn fetch_pass(&mut self, pending: super::payer::PendingPass) {
        let digest = crate::pass::proof_digest(&pending.network, &pending.transaction, &pending.resource);
        let signature = if self.options.sign_inline {
            match self.payer.sign_digest(&digest) {
                Ok(s) => s,
                Err(_) => return,
            }
        } else {
            match self.link.ask(FetchAction::Sign(vec![digest])).await {
                FetchInput::Signatures(s) if s.len() == 1 => {
                    match crate::signer::check_signature(self.payer.address(), &digest, &s[0]) {
                        Ok(s) => s,
                        Err(_) => return,
                    }
                }
                _ => return,
            }
        };
        let signature = format!("0x{}", alloy_primitives::hex::encode(signature.as_bytes()));
        let body = crate::pass::request_body(&pending.transaction, &pending.resource, &pending.offer, &signature);
        let ask = FetchRequest {
            method: "POST".into(),
            url: pending.endpoint.clone(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("accept-encoding".into(), "identity".into()),
            ],
            body: Some(body.into_bytes()),
        };
        match self.link.ask(FetchAction::SendOwn(ask)).await {
            FetchInput::Response { status: 200, .. } => {
                if let Some(body) = self.own_body().await
                    && let Some((header, expires_at)) = crate::pass::read_answer(&body)
                {
                    let now = self.payer.now();
                    let until = if pending.lifetime_seconds > 0 {
                        expires_at.min(now.saturating_add(pending.lifetime_seconds))
                    } else {
                        expires_at
                    };
                    self.payer.keep_pass(&pending.resource, header, until);
                }
            }
            // Unreachable: ask again on the next call.
            FetchInput::SendFailed => self.payer.pend_pass(pending),
            _ => {}
        }
    }

    /// The `SIGN-IN-WITH-X` header for `bill` fetched from `url`, when it offers a sign-in this payer may make
    /// (bound to `url`'s origin, on a chain the policy accepts) and the signer signs it.
    async fn sign_in(&mut self, bill: &PaymentRequired, url: &str) -> Option<String> {
        let networks = self.payer.policy().networks.clone();
        let accept = |chain: u64| networks.as_ref().is_none_or(|n| n.contains(&chain));
        let unsigned = crate::siwx::sign_in_for(bill, url, self.payer.address(), accept)?;
        let digest = unsigned.digest().ok()?;
        let signature = if self.options.sign_inline {
            self.payer.sign_digest(&digest).ok()?
        } else {
            match self.link.ask(FetchAction::Sign(vec![digest])).await {
                FetchInput::Signatures(s) if s.len() == 1 => {
                    crate::signer::check_signature(self.payer.address(), &digest, &s[0]).ok()?
                }
                // A signer that fails or declines to sign in leaves the payment to go on.
                _ => return None,
            }
        };
        Some(crate::siwx::signed(unsigned, &signature).to_header())
    }

    /// Runs the hooks registered at `context`'s point (none: no step) and says how to go on.
    async fn hook(&mut self, context: HookContext) -> HookFlow {
        let call = context.call();
        let point = call.point;
        if !self.options.hooks.contains(point) {
            return HookFlow::Continue;
        }
        let verdict = match self.link.ask(FetchAction::Hook(Box::new(call))).await {
            FetchInput::Hooked(verdict) => verdict,
            _ => HookVerdict::Failed("the glue answered a hook step out of turn".into()),
        };
        // An observer's ignored verdict has no log to go to on the client: it is simply dropped.
        verdict.flow(point).0
    }

    /// Pays `bill` with the payment-creation hooks around it.
    async fn pay_hooked(
        &mut self,
        request: &FetchRequest,
        bill: &PaymentRequired,
        purchase: &str,
    ) -> crate::Result<PaymentHeader> {
        let context = |point| {
            HookContext::new(point, &request.method.to_ascii_uppercase(), &request.url)
                .with("paymentRequired", serde_json::to_value(bill).unwrap_or_default())
        };
        match self.hook(context(HookPoint::BeforePaymentCreation)).await {
            HookFlow::Continue => {}
            HookFlow::Abort(reason, message) => {
                return Err(Error::new(
                    ErrorCode::PaymentAborted,
                    format!("a hook aborted the payment ({reason}): {message}; nothing was paid"),
                ));
            }
            HookFlow::Failed(message) => {
                return Err(Error::new(
                    ErrorCode::HookFailed,
                    format!(
                        "a hook raised before the payment was created, so nothing was paid: {}",
                        crate::wire::truncate(&message)
                    ),
                ));
            }
        }
        match self.pay(bill, purchase).await {
            Ok(header) => {
                let after = context(HookPoint::AfterPaymentCreation)
                    .with("requirements", header.requirements.to_value())
                    .with("paymentPayload", header.payload.to_value())
                    .with("payer", serde_json::Value::from(header.payer.to_checksum(None)));
                self.hook(after).await;
                Ok(header)
            }
            Err(e) => {
                let failure = context(HookPoint::PaymentCreationFailure).with_error(e.code().as_str(), e.message());
                self.hook(failure).await;
                Err(e)
            }
        }
    }

    /// Signs the cooperative refund of `bill`'s channel.
    async fn refund(&mut self, bill: &PaymentRequired, amount: Option<u128>) -> crate::Result<PaymentHeader> {
        let prepared = match self.payer.prepare_refund(bill, amount)? {
            Prepared::Ready(header) => return Ok(header),
            Prepared::NeedsSignatures(prepared) => prepared,
        };
        if self.options.sign_inline {
            let signatures = prepared
                .digests()
                .iter()
                .map(|d| self.payer.sign_digest(d).map(|s| s.as_bytes().to_vec()))
                .collect::<crate::Result<Vec<_>>>()?;
            return self.payer.complete(prepared, &signatures);
        }
        match self.link.ask(FetchAction::Sign(prepared.digests().to_vec())).await {
            FetchInput::Signatures(signatures) => self.payer.complete(prepared, &signatures),
            FetchInput::SignFailed(e) => Err(e),
            _ => Err(Error::new(ErrorCode::InvalidArgument, "the glue answered a signing step out of turn")),
        }
    }

    async fn pay(&mut self, bill: &PaymentRequired, purchase: &str) -> crate::Result<PaymentHeader> {
        let extras = self.sponsoring(bill, purchase).await;
        if self.options.sign_inline {
            return self.payer.pay_with(bill, Some(purchase), &extras);
        }
        match self.payer.prepare(bill, Some(purchase), &extras)? {
            Prepared::Ready(header) => Ok(header),
            Prepared::NeedsSignatures(prepared) => {
                match self.link.ask(FetchAction::Sign(prepared.digests().to_vec())).await {
                    FetchInput::Signatures(signatures) => self.payer.complete(prepared, &signatures),
                    FetchInput::SignFailed(e) => Err(e),
                    _ => Err(Error::new(ErrorCode::InvalidArgument, "the glue answered a signing step out of turn")),
                }
            }
        }
    }
}

impl Call {
    /// What the chain says an EIP-2612 permit needs (see [`FetchOptions::rpc`]): nothing when no permit is
    /// due (no sponsoring declared, no endpoint for the network, Permit2 already allowed enough) or when the
    /// nonce cannot be read; the payment then goes on without a permit.
    async fn sponsoring(&mut self, bill: &PaymentRequired, purchase: &str) -> PayExtras {
        let none = PayExtras::default();
        if self.options.rpc.is_empty() {
            return none;
        }
        let Some(sponsorship) = self.payer.sponsorship(bill, Some(purchase)) else { return none };
        let Some(url) = self.options.rpc.url(&sponsorship.network).map(str::to_string) else { return none };
        // An allowance the endpoint answered but that is not a word (a token that reverts) is taken as short,
        // as the official clients do: the permit costs the payer nothing, and paywire's facilitator submits it
        // only when the allowance on chain is short (a permit would replace a larger approval the payer's other
        // Permit2 payments use). An endpoint that did not answer (unreachable, past its deadline, a body cut
        // off or past the limit) is not asked again: the payment goes on without a permit, at once.
        match self.read(chain_read::allowance_request(&url, &sponsorship)).await {
            ChainRead::Word(allowance) if allowance >= sponsorship.amount => return none,
            ChainRead::NoAnswer => return none,
            ChainRead::Word(_) | ChainRead::Unreadable => {}
        }
        match self.read(chain_read::nonce_request(&url, &sponsorship)).await {
            ChainRead::Word(nonce) => PayExtras {
                eip2612_nonce: Some(nonce),
                eip2612_token: Some(sponsorship.token),
                eip2612_network: Some(sponsorship.network),
            },
            ChainRead::Unreadable | ChainRead::NoAnswer => none,
        }
    }

    /// One `eth_call`'s answer.
    async fn read(&mut self, call: FetchRequest) -> ChainRead {
        match self.link.ask(FetchAction::SendOwn(call)).await {
            FetchInput::Response { status: 200, .. } => match self.own_body().await {
                // A body cut off, past the limit, or empty: the glue got no whole answer.
                None => ChainRead::NoAnswer,
                Some(body) if body.is_empty() => ChainRead::NoAnswer,
                Some(body) => chain_read::read_uint(&body).map_or(ChainRead::Unreadable, ChainRead::Word),
            },
            FetchInput::Response { .. } => ChainRead::Unreadable,
            _ => ChainRead::NoAnswer,
        }
    }

    /// The body of the answer to the machine's own request: `None` past [`OWN_BODY_LIMIT`] (a glue that read it
    /// all anyway) or when the glue answers out of turn.
    async fn own_body(&mut self) -> Option<Vec<u8>> {
        match self.link.ask(FetchAction::ReadBody).await {
            FetchInput::Body(body) if body.len() <= OWN_BODY_LIMIT => Some(body),
            _ => None,
        }
    }
}

/// What one chain read came to.
enum ChainRead {
    /// The `uint256` the call returned.
    Word(alloy_primitives::U256),
    /// The endpoint answered something else (an error status, a JSON-RPC error, a revert).
    Unreadable,
    /// No whole answer: the send failed (unreachable, past the deadline) or the body was cut off or too long.
    NoAnswer,
}

/// Why a refund call's final answer (`sent`: to the refund request) is not a refund: `None` when it carries
/// a settled refund's receipt. An answer that leaves the outcome `open` may hide a refund on chain.
fn refund_unanswered(status: u16, sent: bool, open: bool, settlement: Option<&SettleResponse>) -> Option<Error> {
    match (sent, settlement) {
        (_, Some(s)) if s.success && !s.transaction.is_empty() => None,
        (false, _) => Some(Error::new(
            ErrorCode::NoAcceptableOffer,
            format!("the server answered HTTP {status} without a bill: the URL is not a batch-settlement route"),
        )),
        _ if open => Some(Error::new(
            ErrorCode::SettlementPending,
            format!(
                "the server did not confirm the refund (HTTP {status}): it may be on chain; ask again, and a \
                 refund the server sent is answered again"
            ),
        )),
        _ => Some(Error::new(
            ErrorCode::UnexpectedSettleError,
            format!("the server answered the refund with HTTP {status} and no refund receipt"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> FetchRequest {
        FetchRequest {
            method: method.into(),
            url: url.into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.map(<[u8]>::to_vec),
        }
    }

    fn loc(to: &str) -> Headers {
        vec![("Location".into(), to.into())]
    }

    #[test]
    fn redirects_drop_sign_ins_and_passes_even_on_the_same_origin() {
        // A sign-in and a pass are for the URL they were made for: a redirect, to another origin or not,
        // never carries them to its target.
        let first = req(
            "GET",
            "https://a.example/x",
            &[("SIGN-IN-WITH-X", "s"), ("X-PAYWIRE-RECEIPT", "r"), ("X-Other", "o")],
            None,
        );
        for to in ["/y", "https://evil.example/y"] {
            let next = redirect_request(&first, 302, &loc(to)).unwrap();
            let names: Vec<&str> = next.headers.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["X-Other"], "redirect to {to}");
        }
    }

    #[test]
    fn redirects_drop_payments_and_foreign_credentials() {
        let first = req(
            "POST",
            "https://a.example/x",
            &[
                ("PAYMENT-SIGNATURE", "p"),
                ("X-Payment", "q"),
                ("Authorization", "t"),
                ("Content-Type", "a/b"),
                ("X-Other", "o"),
            ],
            Some(b"body"),
        );
        let same = redirect_request(&first, 307, &loc("/y#frag")).unwrap();
        assert_eq!(same.url, "https://a.example/y");
        assert_eq!(same.method, "POST");
        assert_eq!(same.body.as_deref(), Some(&b"body"[..]));
        let names: Vec<&str> = same.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["Authorization", "Content-Type", "X-Other"]);
        let other = redirect_request(&first, 302, &loc("https://b.example/z")).unwrap();
        assert_eq!((other.method.as_str(), other.body.is_none()), ("GET", true));
        let names: Vec<&str> = other.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["X-Other"]);
        let port = redirect_request(
            &req("GET", "http://a.example/", &[("Cookie", "c")], None),
            301,
            &loc("http://a.example:81/"),
        )
        .unwrap();
        assert!(port.headers.is_empty());
        assert!(redirect_request(&first, 302, &loc("ftp://x/")).is_none());
        assert!(redirect_request(&first, 302, &[]).is_none());
        let head = redirect_request(&req("HEAD", "http://a/", &[], None), 303, &loc("/b")).unwrap();
        assert_eq!(head.method, "HEAD");
    }

    #[test]
    fn a_refund_call_ends_in_a_receipt_or_an_error_saying_what_to_do() {
        let receipt = |json: &str| SettleResponse::from_json(json).unwrap();
        let refunded = receipt(r#"{"success":true,"transaction":"0x1","network":"eip155:8453"}"#);
        assert!(refund_unanswered(200, true, false, Some(&refunded)).is_none());
        let code = |e: Option<Error>| e.map(|e| e.code().as_str());
        // Lost on the way back (a 502 of the server): it may be on chain, so the payer is told to ask again.
        assert_eq!(code(refund_unanswered(502, true, true, None)), Some("settlement_pending"));
        let failed = receipt(r#"{"success":false,"errorReason":"x","transaction":"","network":"eip155:8453"}"#);
        assert_eq!(code(refund_unanswered(200, true, false, Some(&failed))), Some("unexpected_settle_error"));
        assert_eq!(code(refund_unanswered(200, false, false, None)), Some("no_acceptable_offer"));
    }
}
