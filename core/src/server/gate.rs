//! The payment gate: one priced request, from bill to settled response, as a sans-I/O state machine.
//!
//! The glue of a web framework gives a request's head to [`Gate::start`] and then performs the [`Action`] of
//! each [`Step`], feeding its outcome back with [`Exchange::resume`], until a final action: pass the request
//! through unpriced, respond, or fail (re-raise the handler's error). Every decision of the exchange is made
//! here: which route is priced, what the bill says, the offline check and the binding of a payment to its
//! resource and request, replays and held responses, payment-id conflicts, expired retries, receipts and
//! access credentials, and every status code and message. The glue only moves bytes.
//!
//! The gate's semantics, for a priced route:
//! - no payment: 402 with the bill (`PAYMENT-REQUIRED`; a v1 route sends it as the JSON body); HEAD gets the
//!   bill and is never charged;
//! - an unreadable payment: 400 with the bill; a refused one: 402 with the bill and the reason;
//! - a payment: offline verification, its binding to this resource, then the facilitator's `/verify`, then the
//!   handler, then `/settle` only if the handler answered below 400 (and not with a redirect to this same
//!   path, which is the router's, not content), then the response with `PAYMENT-RESPONSE`;
//! - the handler's response is held until settlement succeeds: a failed settlement answers 402, a
//!   facilitator that is unreachable or answers nonsense 502, and the held response is never released then;
//! - the same payment sent again for the same request gets the same response and is not settled twice; when
//!   the settlement's outcome was unknown, that retry settles again and then releases the held response.
//!   For another request it is refused (402 `invalid_exact_evm_nonce_already_used`; 409 for a reused payment
//!   id); while it is still being processed, 409.

use crate::prelude::*;
use crate::sync::{Mutex, MutexGuard};
use alloc::sync::Arc;

use alloy_primitives::hex;
use sha2::{Digest, Sha256};

use super::bill::{PriceTag, build_payment_required};
use super::check::{AcceptedPayment, read_payment, settlement_header, status_for, status_for_reason};
use super::routes::{RouteMatching, RoutePattern, RouteTable, path_forms};
use super::store::{PaymentStore, Record, RecordState, StoreEntry};
use crate::credentials::access::{AccessPolicy, RECEIPT_HEADER};
use crate::credentials::{Issuer, ReceiptPayload, receipt_extension};
use crate::error::{Error, ErrorCode, Result};
use crate::hooks::{HookCall, HookContext, HookFlow, HookPoint, HookSet, HookVerdict};
use crate::http::{self, Headers, Response};
use crate::machine::{Driver, Link};
use crate::signer::Randomness;
use crate::siwx::{self, SignInCheck, SignInInfo, SignInOptions, SignInPayload};
use crate::types::{
    PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo, SettleResponse, VerifyResponse,
};
use crate::upto;
use crate::verify::{VerifyOptions, last_acceptable_time};

mod batch;
pub use batch::ChannelState;

/// What a buyer is told when the facilitator fails before anything was charged; details go to the log.
pub const UPSTREAM_MESSAGE: &str =
    "the payment service is unavailable; nothing was charged for this request; try again later";
/// What a buyer is told when the settlement's outcome is unknown.
pub const UNCONFIRMED_MESSAGE: &str =
    "the payment is not confirmed yet; send the same request with the same payment again to receive the response";
/// Methods whose handler may run again for the same paid request without doing anything twice.
pub const SAFE_METHODS: &[&str] = &["GET", "HEAD", "OPTIONS"];
/// How long after its authorization expires a record is kept (a late retry still finds it).
pub const RECORD_GRACE_SECONDS: u64 = 60;
/// The default largest request body a priced route reads.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
/// The default largest response kept for answering a retry again.
pub const DEFAULT_MAX_REPLAY_BYTES: usize = 1024 * 1024;
/// How long a payment's record may stay in flight before a retry of the same request takes it over: longer
/// than verifying, serving and settling can take (the facilitator clients wait up to 90 s for each call).
pub const DEFAULT_TAKEOVER_AFTER_SECONDS: u64 = 300;

/// A priced route: its price tags (the client picks one) and what the bill says about the resource.
#[derive(Clone, Debug)]
pub struct PricedRoute {
    /// The pattern the route is matched by; `None` for a route the framework adapter attaches to one of its
    /// own routes (a route-level middleware, a decorator), started with [`Gate::start`] directly.
    pub pattern: Option<RoutePattern>,
    /// One offer per tag.
    pub tags: Vec<PriceTag>,
    /// The bill's resource description.
    pub description: Option<String>,
    /// The bill's resource MIME type.
    pub mime_type: Option<String>,
    /// x402 version of the bill: 2, or 1 for v1 clients (JSON body, `X-PAYMENT`).
    pub x402_version: u8,
    /// Whether an access receipt may stand in for a payment (a receipt names a URL, not a method or price).
    pub receipts: bool,
}

impl PricedRoute {
    /// A v2 route matched by `pattern` with these tags.
    pub fn new(pattern: Option<RoutePattern>, tags: Vec<PriceTag>) -> Self {
        PricedRoute { pattern, tags, description: None, mime_type: None, x402_version: 2, receipts: true }
    }
}

/// How a gate behaves beyond its routes.
#[derive(Clone, Debug)]
pub struct GateOptions {
    /// The app's external origin (`https://api.example.com`): bills, offers and receipts name it instead of
    /// the request's `Host`, which a client chooses.
    pub public_url: Option<String>,
    /// Pass smart-wallet (non-EOA) signatures on to the facilitator instead of refusing them offline.
    pub allow_onchain_signatures: bool,
    /// The largest request body a priced route reads (413 beyond it).
    pub max_request_bytes: usize,
    /// The largest response held for answering a retry again.
    pub max_replay_bytes: usize,
    /// How request paths are matched to route patterns.
    pub matching: RouteMatching,
    /// Seconds after which a payment still in flight is taken over by a retry of the same request with the
    /// same payment: the process serving it died mid-request (a replica killed). The retry settles it (the
    /// facilitator answers again if it was settled) and runs the handler, so the payer is served once.
    pub takeover_after: u64,
    /// The points at which the glue runs hooks of the user's ([`Action::Hook`] steps come only for these).
    pub hooks: HookSet,
    /// Sign-in-with-x: v2 bills declare it, and a wallet that paid for a resource signs in to it again
    /// without paying (`None`: off).
    pub sign_in: Option<SignInOptions>,
    /// Where a client gets a pass for a payment (a facilitator's base URL): v2 bills name it with the issuers
    /// the access policy trusts (`paywire-pass`), so a client that paid by transaction gets a pass there.
    pub pass_facilitator: Option<String>,
    /// When the server claims its `batch-settlement` charges by itself ([`Gate::claim_due`]).
    pub claims: ClaimSchedule,
    /// The facilitator's `/supported` answer: what a price tag leaves out is taken from it, as the official
    /// servers do (an `upto` tag's `extra.facilitatorAddress`, a `batch-settlement` tag's
    /// `extra.receiverAuthorizer` when the server holds no authorizer key of its own).
    pub supported: Option<crate::types::SupportedResponse>,
}

/// When a server claims its `batch-settlement` channels' charges by itself: the glue asks [`Gate::claim_due`]
/// after each request and every few seconds, and runs [`Gate::claim`] when it says so. Charges not claimed
/// are at risk once a payer withdraws (after the offer's withdraw delay, 900 s by default), so claims by time
/// are on by default, as in the official SDKs' channel manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimSchedule {
    /// Claim once the oldest charge not claimed yet is this many seconds old; also this long after the first
    /// check, for the charges an earlier process left (0: never by time). Keep it well within the offers'
    /// withdraw delay.
    pub every_seconds: u64,
    /// Claim once the charges this process served since its last claim reach this many atomic units (0: never
    /// by amount).
    pub at_amount: u128,
}

/// The default [`ClaimSchedule::every_seconds`]: five minutes, a third of the default withdraw delay.
pub const DEFAULT_CLAIM_EVERY_SECONDS: u64 = 300;

impl Default for ClaimSchedule {
    fn default() -> Self {
        ClaimSchedule { every_seconds: DEFAULT_CLAIM_EVERY_SECONDS, at_amount: 0 }
    }
}

/// How long a claim run is taken to be running (a glue that dropped it midway does not stop claims for good).
const CLAIM_RUN_SECONDS: u64 = 600;
/// The least time between two claim runs a schedule starts: a tiny amount, or a payer's withdrawal the chain
/// refuses to claim, must not send the facilitator a claim run after every request.
const CLAIM_GAP_SECONDS: u64 = 10;
/// How soon a claim run that left something unclaimed is tried again, whatever the schedule.
const CLAIM_RETRY_SECONDS: u64 = 60;

/// What this process served since its last claim run, for [`Gate::claim_due`].
#[derive(Debug, Default)]
struct ClaimTally {
    /// Charges served since the last claim run began.
    served: u128,
    /// When the oldest of them was served (at the first check: whatever an earlier process left counts as
    /// served then).
    oldest: Option<u64>,
    /// Whether [`Gate::claim_due`] was asked before.
    checked: bool,
    /// A payer's withdrawal was seen: claim now.
    urgent: bool,
    /// When the claim run in progress began.
    running_since: Option<u64>,
    /// When the last claim run was seen ended (the first check after it ended).
    last_end: Option<u64>,
    /// A claim run ended, and whether it left something unclaimed; read by the next check.
    ended: Option<bool>,
    /// When a run that left something unclaimed is tried again.
    retry_at: Option<u64>,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            public_url: None,
            allow_onchain_signatures: false,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
            matching: RouteMatching::default(),
            takeover_after: DEFAULT_TAKEOVER_AFTER_SECONDS,
            hooks: HookSet::NONE,
            sign_in: None,
            pass_facilitator: None,
            claims: ClaimSchedule::default(),
            supported: None,
        }
    }
}

/// A request as the gate sees it. Its `Debug` shows the method, path, origin and header names only: the query
/// may carry an API key, and headers a payment or the caller's credentials.
#[derive(Clone, Default)]
pub struct RequestHead {
    /// The method.
    pub method: String,
    /// The path as the framework's router matches it (after any mount prefix), percent-encoded as sent.
    pub path: String,
    /// The path and query as sent, from the app's origin (with any mount prefix): the resource's URL.
    pub path_and_query: String,
    /// `scheme://host[:port]` of the request, used when no public URL is configured.
    pub origin: String,
    /// The request headers.
    pub headers: Headers,
}

impl core::fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("origin", &self.origin)
            .field("headers", &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

/// What the framework says about the route a request goes to, when it can say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameworkRoute<'a> {
    /// The framework cannot say before the handler runs: match the path in every form it might be routed in.
    Unknown,
    /// No route takes the request (the framework answers 404, 405 or a redirect itself): it is not priced.
    NoRoute,
    /// The framework routes it to the route with this pattern (its own syntax, e.g. `/weather/:city`).
    Matched(&'a str),
}

/// What the handler is told about the payment (the glue hands it to the app: `request.state.paywire`,
/// `req.paywire`, ...).
#[derive(Clone, Debug)]
pub struct Paid {
    /// Who paid.
    pub payer: String,
    /// The payment, when the request paid with one.
    pub payment: Option<AcceptedPayment>,
    /// The access receipt's payload, when a receipt stood in for a payment.
    pub receipt: Option<ReceiptPayload>,
}

/// The facilitator call a step asks for: the payment as received and the server's own offer.
#[derive(Clone, Debug)]
pub struct FacilitatorCall {
    /// The payment.
    pub payment: PaymentPayload,
    /// The offer it pays (the server's copy).
    pub requirements: PaymentRequirements,
}

/// An operation on the payment store, for gates whose store lives outside the core (a user's database).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// [`PaymentStore::claim`]; answer [`StoreAnswer::Entry`].
    Claim {
        /// The key.
        key: String,
        /// The entry to store.
        entry: StoreEntry,
    },
    /// [`PaymentStore::get`]; answer [`StoreAnswer::Entry`].
    Get {
        /// The key.
        key: String,
    },
    /// [`PaymentStore::replace`]; answer [`StoreAnswer::Replaced`].
    Replace {
        /// The key.
        key: String,
        /// The token the live entry must have.
        token: String,
        /// The new entry.
        entry: StoreEntry,
    },
    /// [`PaymentStore::release`]; answer [`StoreAnswer::Released`].
    Release {
        /// The key.
        key: String,
        /// The token the entry must have.
        token: String,
    },
}

/// The outcome of a [`StoreOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreAnswer {
    /// A claim's or a get's answer: the live entry, if any.
    Entry(Option<StoreEntry>),
    /// A replace's answer: whether it was done.
    Replaced(bool),
    /// A release is done.
    Released,
    /// The store failed; the message is for the server's log.
    Failed(String),
}

/// What the glue must do next.
#[derive(Clone, Debug)]
pub enum Action {
    /// Final: the request is not priced; run the app as if the gate were not there.
    PassThrough,
    /// Read the whole request body, at most `limit` bytes; answer [`Input::Body`], [`Input::BodyTooLarge`] or
    /// [`Input::ClientGone`].
    ReadBody {
        /// The most bytes to read.
        limit: usize,
    },
    /// Perform a store operation; answer [`Input::Store`].
    Store(StoreOp),
    /// Ask the facilitator's `/verify`; answer [`Input::Verified`] or [`Input::FacilitatorFailed`].
    Verify(Box<FacilitatorCall>),
    /// Run the app's handler with the body read before and capture its whole response without sending it;
    /// answer [`Input::Handled`] or [`Input::HandlerFailed`].
    RunHandler(Box<Paid>),
    /// Ask the facilitator's `/settle`; answer [`Input::Settled`] or [`Input::FacilitatorFailed`].
    Settle(Box<FacilitatorCall>),
    /// Run the user's hooks registered at this point, in order, with this context; answer [`Input::Hooked`].
    Hook(Box<HookCall>),
    /// Final: send this response as it is.
    Respond(Response),
    /// Final: the handler failed; re-raise its error (the gate has cleaned up).
    Fail,
    /// Final: nothing to send (the client is gone).
    Done,
}

impl Action {
    /// Whether nothing follows this action.
    pub fn is_final(&self) -> bool {
        matches!(self, Action::PassThrough | Action::Respond(_) | Action::Fail | Action::Done)
    }

    /// The action's name in snake case (`pass_through`, `read_body`, `store`, `verify`, `run_handler`,
    /// `settle`, `hook`, `respond`, `fail`, `done`); bindings spell it in their language's case.
    pub fn name(&self) -> &'static str {
        match self {
            Action::PassThrough => "pass_through",
            Action::ReadBody { .. } => "read_body",
            Action::Store(_) => "store",
            Action::Verify(_) => "verify",
            Action::RunHandler(_) => "run_handler",
            Action::Settle(_) => "settle",
            Action::Hook(_) => "hook",
            Action::Respond(_) => "respond",
            Action::Fail => "fail",
            Action::Done => "done",
        }
    }

    /// `ReadBody`'s limit.
    pub fn read_limit(&self) -> Option<usize> {
        match self {
            Action::ReadBody { limit } => Some(*limit),
            _ => None,
        }
    }

    /// `Verify`'s or `Settle`'s facilitator call.
    pub fn facilitator_call(&self) -> Option<&FacilitatorCall> {
        match self {
            Action::Verify(c) | Action::Settle(c) => Some(c),
            _ => None,
        }
    }

    /// `Hook`'s call.
    pub fn hook(&self) -> Option<&HookCall> {
        match self {
            Action::Hook(call) => Some(call),
            _ => None,
        }
    }

    /// `Store`'s operation.
    pub fn store_op(&self) -> Option<&StoreOp> {
        match self {
            Action::Store(op) => Some(op),
            _ => None,
        }
    }

    /// `RunHandler`'s payment.
    pub fn paid(&self) -> Option<&Paid> {
        match self {
            Action::RunHandler(paid) => Some(paid),
            _ => None,
        }
    }

    /// `Respond`'s response.
    pub fn response(&self) -> Option<&Response> {
        match self {
            Action::Respond(r) => Some(r),
            _ => None,
        }
    }
}

/// The kind of [`StoreAnswer`] a [`StoreOp`] takes, so a binding knows what to read from its glue's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreReply {
    /// [`StoreAnswer::Entry`] (claim, get).
    Entry,
    /// [`StoreAnswer::Replaced`] (replace).
    Replaced,
    /// [`StoreAnswer::Released`] (release).
    Released,
}

impl StoreOp {
    /// The answer this operation takes.
    pub fn reply(&self) -> StoreReply {
        match self {
            StoreOp::Claim { .. } | StoreOp::Get { .. } => StoreReply::Entry,
            StoreOp::Replace { .. } => StoreReply::Replaced,
            StoreOp::Release { .. } => StoreReply::Released,
        }
    }

    /// `claim`, `get`, `replace` or `release`.
    pub fn name(&self) -> &'static str {
        match self {
            StoreOp::Claim { .. } => "claim",
            StoreOp::Get { .. } => "get",
            StoreOp::Replace { .. } => "replace",
            StoreOp::Release { .. } => "release",
        }
    }

    /// The key operated on.
    pub fn key(&self) -> &str {
        match self {
            StoreOp::Claim { key, .. }
            | StoreOp::Get { key }
            | StoreOp::Replace { key, .. }
            | StoreOp::Release { key, .. } => key,
        }
    }

    /// The token the live entry must have (replace, release).
    pub fn token(&self) -> Option<&str> {
        match self {
            StoreOp::Replace { token, .. } | StoreOp::Release { token, .. } => Some(token),
            _ => None,
        }
    }

    /// The entry to store (claim, replace).
    pub fn entry(&self) -> Option<&StoreEntry> {
        match self {
            StoreOp::Claim { entry, .. } | StoreOp::Replace { entry, .. } => Some(entry),
            _ => None,
        }
    }
}

impl LogLevel {
    /// `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        }
    }
}

/// How loud a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Worth an operator's attention, the request still answered sensibly.
    Warning,
    /// Something failed that should not have.
    Error,
}

/// A line for the server's log (never a secret: no key, signature or credential-bearing URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// How loud.
    pub level: LogLevel,
    /// What happened.
    pub message: String,
}

/// One step of an exchange.
#[derive(Clone, Debug)]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// The action must run to completion even if the request is cancelled (the payment may be settling).
    pub shielded: bool,
    /// Lines for the server's log, written since the last step.
    pub logs: Vec<LogLine>,
}

/// The outcome of a step's action.
#[derive(Clone, Debug)]
pub enum Input {
    /// The request body.
    Body(Vec<u8>),
    /// The body is longer than the limit.
    BodyTooLarge,
    /// The client went away while the body was read.
    ClientGone,
    /// A store operation's outcome.
    Store(StoreAnswer),
    /// The facilitator's `/verify` answer.
    Verified(VerifyResponse),
    /// The facilitator's `/settle` answer.
    Settled(SettleResponse),
    /// The facilitator call failed: unreachable, timed out, or an answer without the x402 shape. `code` is a
    /// paywire error code when the failure came with one.
    FacilitatorFailed {
        /// The paywire error code of the failure, if it had one.
        code: Option<String>,
        /// What happened, for the log.
        message: String,
    },
    /// The handler's whole response.
    Handled(Response),
    /// The handler raised.
    HandlerFailed,
    /// What the hooks of an [`Action::Hook`] decided.
    Hooked(HookVerdict),
}

/// A set of priced routes and how to take payments for them. Cheap to share: every exchange keeps a
/// reference.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<GateInner>,
}

struct GateInner {
    routes: Vec<PricedRoute>,
    table: RouteTable,
    /// Index in `routes` of each pattern of `table`.
    table_routes: Vec<usize>,
    options: GateOptions,
    issuer: Option<Arc<Issuer>>,
    access: Option<AccessPolicy>,
    store: Option<Arc<dyn PaymentStore>>,
    randomness: Arc<dyn Randomness>,
    authorizer: Option<Arc<dyn crate::signer::Signer>>,
    /// Whether a route offers `batch-settlement` (else there is never anything to claim).
    claims_batch: bool,
    tally: Mutex<ClaimTally>,
}

impl GateInner {
    /// Counts a charge served from a channel, for the claim schedule.
    fn note_charge(&self, charge: u128, now: u64) {
        let mut tally = self.tally.lock();
        tally.served = tally.served.saturating_add(charge);
        tally.oldest.get_or_insert(now);
    }

    /// A payer started a withdrawal: what it was charged must be claimed before the withdraw delay ends.
    fn note_withdrawal(&self) {
        self.tally.lock().urgent = true;
    }

    /// A claim run ended; `failed`: something was left unclaimed, to try again after the schedule's interval.
    fn claim_ended(&self, failed: bool) {
        let mut tally = self.tally.lock();
        tally.running_since = None;
        tally.ended = Some(failed);
    }
}

impl core::fmt::Debug for Gate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gate").field("routes", &self.inner.routes.len()).finish()
    }
}

/// What a gate is built from besides its routes.
pub struct GateParts {
    /// Options.
    pub options: GateOptions,
    /// Signs offers into bills and a receipt into each settlement (the `offer-receipt` extension).
    pub issuer: Option<Arc<Issuer>>,
    /// Lets a valid receipt (`X-PAYWIRE-RECEIPT`) stand in for a new payment.
    pub access: Option<AccessPolicy>,
    /// The payment store the gate uses itself; `None` when the glue performs [`Action::Store`] steps on a
    /// store of its own.
    pub store: Option<Arc<dyn PaymentStore>>,
    /// Where record tokens come from.
    pub randomness: Arc<dyn Randomness>,
    /// The key of batch-settlement offers' receiver authorizer, when the server holds it: the gate signs its
    /// claims and the payers' cooperative refunds. `None`: the facilitator signs claims as the delegated
    /// authorizer, and refunds are refused (a facilitator cannot know what the server charged).
    pub receiver_authorizer: Option<Arc<dyn crate::signer::Signer>>,
}

/// Fills in what the price tags leave out: an `upto` tag's `extra.facilitatorAddress` from the facilitator's
/// `/supported` answer (its upto kind on the tag's network), a `batch-settlement` tag's `extra.receiverAuthorizer`
/// from the server's own authorizer key, else from that answer. A tag that names them keeps its own; without an
/// answer, building the bill says what is missing.
fn complete_tags(
    routes: &mut [PricedRoute],
    supported: Option<&crate::types::SupportedResponse>,
    own_authorizer: Option<alloy_primitives::Address>,
) -> Result<()> {
    for tag in routes.iter_mut().flat_map(|r| r.tags.iter_mut()) {
        let (key, scheme) = match (tag.upto, tag.batch) {
            (true, _) => ("facilitatorAddress", "upto"),
            (_, true) => ("receiverAuthorizer", crate::batch::SCHEME),
            _ => continue,
        };
        if tag.extra.contains_key(key) {
            continue;
        }
        if tag.batch
            && let Some(address) = own_authorizer
        {
            tag.extra.insert(key.into(), address.to_checksum(None).into());
            continue;
        }
        let Some(supported) = supported else { continue };
        // As a v2 bill writes the network (a tag may name it the v1 way, "base-sepolia").
        let network =
            crate::network::chain_id(&tag.network).map_or_else(|_| tag.network.clone(), crate::network::caip2);
        let family = network.split_once(':').map(|(namespace, _)| format!("{namespace}:*"));
        // The kind on the network itself first, then its family's (`eip155:*`); a value that is not a usable
        // address is passed over.
        let address_of = |k: &&crate::types::SupportedKind| {
            let text = k.extra.as_ref()?.get(key)?.as_str()?;
            crate::wire::parse_address(text).ok().filter(|a| !a.is_zero()).map(|a| a.to_checksum(None))
        };
        let kinds = || supported.kinds.iter().filter(|k| k.x402_version == 2 && k.scheme == scheme);
        let found = kinds()
            .filter(|k| k.network == network)
            .find_map(|k| address_of(&k))
            .or_else(|| kinds().filter(|k| Some(&k.network) == family.as_ref()).find_map(|k| address_of(&k)));
        let Some(address) = found else {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "the facilitator's /supported answer lists no {scheme} kind on {network} naming its {key}, so it \
                     cannot settle this route's {scheme} payments: use a facilitator that does, or name {key} in \
                     the price tag's extra"
                ),
            ));
        };
        tag.extra.insert(key.into(), address.into());
    }
    Ok(())
}

/// Refuses a claim schedule by time slower than half the shortest withdraw delay of the batch-settlement
/// prices: a payer who starts a withdrawal right after a charge could take it back before a claim run (one
/// failed run is tried again a minute later, so half leaves room for it). Claims by time off (0) are the
/// user's to run.
fn check_claim_schedule(routes: &[PricedRoute], claims: ClaimSchedule) -> Result<()> {
    if claims.every_seconds == 0 {
        return Ok(());
    }
    let shortest = routes
        .iter()
        .flat_map(|r| r.tags.iter().filter(|t| t.batch))
        .map(|t| {
            t.extra.get("withdrawDelay").and_then(serde_json::Value::as_u64).unwrap_or(crate::batch::MIN_WITHDRAW_DELAY)
        })
        .min();
    match shortest {
        Some(delay) if claims.every_seconds > delay / 2 => Err(Error::new(
            ErrorCode::InvalidArgument,
            format!(
                "claims every {} s cannot keep up with a batch-settlement price whose withdraw delay is {delay} s: a \
                 payer could withdraw what it was charged before the charges are claimed; claim at least every {} s \
                 (the claims schedule's every_seconds), or set it to 0 and run the claims yourself",
                claims.every_seconds,
                delay / 2
            ),
        )),
        _ => Ok(()),
    }
}

impl Gate {
    /// A gate for `routes`. Each route's bill is built once here, so a price tag that cannot make one fails at
    /// start-up rather than on the first request.
    pub fn new(mut routes: Vec<PricedRoute>, parts: GateParts) -> Result<Gate> {
        let own_authorizer = parts.receiver_authorizer.as_ref().map(|s| s.address());
        complete_tags(&mut routes, parts.options.supported.as_ref(), own_authorizer)?;
        for route in &routes {
            if !(1..=2).contains(&route.x402_version) {
                return Err(Error::new(
                    ErrorCode::InvalidX402Version,
                    format!("x402 version {} does not exist; use 2 (or 1 for v1 clients)", route.x402_version),
                ));
            }
            build_payment_required(route.x402_version, ResourceInfo::new("http://localhost/"), &route.tags)?;
        }
        let mut patterns = Vec::new();
        let mut table_routes = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            if let Some(p) = &route.pattern {
                patterns.push(p.clone());
                table_routes.push(i);
            }
        }
        if let Some(url) = &parts.options.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "public_url {:?} must be the app's origin, e.g. https://api.example.com",
                    crate::wire::truncate(url)
                ),
            ));
        }
        let table = RouteTable::new(patterns, parts.options.matching);
        let claims_batch = routes.iter().any(|r| r.tags.iter().any(|t| t.batch));
        check_claim_schedule(&routes, parts.options.claims)?;
        Ok(Gate {
            inner: Arc::new(GateInner {
                routes,
                table,
                table_routes,
                options: parts.options,
                issuer: parts.issuer,
                access: parts.access,
                store: parts.store,
                randomness: parts.randomness,
                authorizer: parts.receiver_authorizer,
                claims_batch,
                tally: Mutex::new(ClaimTally::default()),
            }),
        })
    }

    /// Whether a route offers `batch-settlement`: only then has the glue claims to schedule.
    pub fn offers_batch(&self) -> bool {
        self.inner.claims_batch
    }

    /// Whether a claim run is due at `now` (Unix seconds) under [`GateOptions::claims`]: a route offers
    /// `batch-settlement`, no claim run began in the last ten minutes without ending, and the oldest charge not
    /// claimed is old enough, the charges since the last run reach the amount, a payer started a withdrawal
    /// from a channel with charges not claimed, or a run left something unclaimed a minute ago (a run not
    /// ended after ten minutes counts as such); never while a run is in progress or within ten seconds of the
    /// last one's end. Charges an earlier process left count as served at the first check.
    pub fn claim_due(&self, now: u64) -> bool {
        let inner = &self.inner;
        if !inner.claims_batch {
            return false;
        }
        let schedule = inner.options.claims;
        let mut tally = inner.tally.lock();
        if !core::mem::replace(&mut tally.checked, true) {
            tally.oldest.get_or_insert(now);
        }
        // A run that never ended (its exchange dropped) counts as one that left everything unclaimed.
        if tally.running_since.is_some_and(|t| now.saturating_sub(t) >= CLAIM_RUN_SECONDS) {
            tally.running_since = None;
            tally.ended = Some(true);
        }
        // The run that ended is seen now: the gap and the retry count from here (a slow run is not run again
        // at once).
        if let Some(failed) = tally.ended.take() {
            tally.last_end = Some(now);
            if failed {
                tally.retry_at = Some(now.saturating_add(CLAIM_RETRY_SECONDS));
            }
        }
        if tally.running_since.is_some() || tally.last_end.is_some_and(|t| now.saturating_sub(t) < CLAIM_GAP_SECONDS) {
            return false;
        }
        tally.urgent
            || tally.retry_at.is_some_and(|t| now >= t)
            || (schedule.at_amount > 0 && tally.served >= schedule.at_amount)
            || (schedule.every_seconds > 0
                && tally.oldest.is_some_and(|t| now.saturating_sub(t) >= schedule.every_seconds))
    }

    /// The routes.
    pub fn routes(&self) -> &[PricedRoute] {
        &self.inner.routes
    }

    /// Whether the gate performs store operations itself (else the glue gets [`Action::Store`] steps).
    pub fn has_own_store(&self) -> bool {
        self.inner.store.is_some()
    }

    /// Whether receipts or signed offers will name the request's `Host` (no public URL is set): worth a
    /// warning at start-up.
    pub fn names_client_host(&self) -> bool {
        (self.inner.issuer.is_some() || self.inner.access.is_some()) && self.inner.options.public_url.is_none()
    }

    /// The priced route a request goes to, or `None` when it is free. `path` is as the router matches it.
    ///
    /// With [`FrameworkRoute::Matched`], the route is priced when a pattern covers the framework's route or the
    /// request's path; with [`FrameworkRoute::NoRoute`] it is free (the framework answers it without a
    /// handler); with [`FrameworkRoute::Unknown`], the path is matched in every form a framework might route
    /// it in (fail closed).
    pub fn route_for(&self, method: &str, path: &str, framework: FrameworkRoute<'_>) -> Option<usize> {
        let found = match framework {
            FrameworkRoute::NoRoute => return None,
            FrameworkRoute::Matched(pattern) => {
                self.inner.table.route_for_pattern(method, pattern).or_else(|| self.inner.table.route_for(method, path))
            }
            FrameworkRoute::Unknown => self.inner.table.route_for(method, path),
        };
        found.map(|i| self.inner.table_routes[i])
    }

    /// Starts the exchange of a request to priced route `route` (an index into [`Gate::routes`]) at Unix time
    /// `now`, and returns it with its first step.
    pub fn start(&self, route: usize, head: RequestHead, now: u64) -> (Exchange, Step) {
        let holds = Arc::new(Mutex::new(Holds::default()));
        let (inner, shared) = (self.inner.clone(), holds.clone());
        let mut exchange = Exchange {
            driver: Driver::new(move |link| async move {
                let mut run = Run::new(inner, route, head, now, link, shared);
                let action = match run.prepare() {
                    Ok(()) => run.run().await,
                    Err(e) => run.answer_json(status_for(&e), e.code().as_str(), e.message()).await,
                };
                run.step(action)
            }),
            cleanup: None,
            holds,
            gate: self.inner.clone(),
            now,
            awaiting: None,
        };
        let step = exchange.next(None);
        (exchange, step)
    }

    /// The claim exchange of `batch-settlement`: claims the charges of every channel this gate has served at the
    /// facilitator (a `/settle` with a claim payload per offer; the facilitator signs it when the server
    /// delegated its receiver authorizer to it), then sweeps them to the receiver. Drive it as a request's
    /// exchange (store and settle steps); it ends with a JSON summary to log or show, never sent to a client.
    pub fn claim(&self, now: u64) -> (Exchange, Step) {
        {
            // What was served so far is this run's to claim; what it leaves is counted again when it ends.
            let mut tally = self.inner.tally.lock();
            *tally = ClaimTally { running_since: Some(now), checked: true, ..ClaimTally::default() };
        }
        let holds = Arc::new(Mutex::new(Holds::default()));
        let (inner, shared) = (self.inner.clone(), holds.clone());
        let head = RequestHead {
            method: "POST".into(),
            path: "/".into(),
            path_and_query: "/".into(),
            origin: "http://paywire.claim".into(),
            headers: Vec::new(),
        };
        let mut exchange = Exchange {
            driver: Driver::new(move |link| async move {
                let mut run = Run::new(inner, 0, head, now, link, shared);
                let action = run.claim_channels().await;
                run.step(action)
            }),
            cleanup: None,
            holds,
            gate: self.inner.clone(),
            now,
            awaiting: None,
        };
        let step = exchange.next(None);
        (exchange, step)
    }

    /// [`Gate::route_for`] then [`Gate::start`]: the exchange and its first step, or no exchange and
    /// [`Action::PassThrough`] when the request is free.
    pub fn handle(&self, head: RequestHead, framework: FrameworkRoute<'_>, now: u64) -> (Option<Exchange>, Step) {
        match self.route_for(&head.method, &head.path, framework) {
            None => (None, Step { action: Action::PassThrough, shielded: false, logs: Vec::new() }),
            Some(route) => {
                let (exchange, step) = self.start(route, head, now);
                (Some(exchange), step)
            }
        }
    }
}

/// The records an exchange holds and has not handed on: released if it ends without settling.
#[derive(Default)]
struct Holds {
    /// Keys and tokens of records to release.
    held: Vec<(String, String)>,
    /// A record taken over from an earlier request (an open settlement), put back if this one is cancelled.
    restore: Option<(String, String, StoreEntry)>,
    /// Put `restore` back also when this request ends without recording an outcome: it took over a payment
    /// that a request which stopped mid-way may have settled, so the record must outlive this one.
    put_back: bool,
}

/// One priced request in progress. Feed each step's outcome to [`Exchange::resume`]; when the request is
/// cancelled (or the glue fails) before a final step, run the steps of [`Exchange::cancel`] instead: they
/// release what the exchange holds.
pub struct Exchange {
    driver: Driver<Step, Input>,
    cleanup: Option<Driver<Step, Input>>,
    holds: Arc<Mutex<Holds>>,
    gate: Arc<GateInner>,
    now: u64,
    awaiting: Option<StoreReply>,
}

impl core::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exchange").field("ended", &self.ended()).finish()
    }
}

/// The step of an exchange fed out of turn (an answer it did not ask for, or after its end).
fn out_of_turn() -> Step {
    Step {
        action: Action::Respond(http::frame(
            http::json_answer(
                500,
                ErrorCode::InvalidArgument.as_str(),
                "the payment gate was driven out of turn; this is a bug in paywire's glue",
            ),
            false,
        )),
        shielded: false,
        logs: vec![LogLine {
            level: LogLevel::Error,
            message: "paywire: the payment gate was given an answer it did not ask for".into(),
        }],
    }
}

fn lock(holds: &Mutex<Holds>) -> MutexGuard<'_, Holds> {
    holds.lock()
}

impl Exchange {
    fn next(&mut self, input: Option<Input>) -> Step {
        let driver = self.cleanup.as_mut().unwrap_or(&mut self.driver);
        let step = driver.resume(input).unwrap_or_else(out_of_turn);
        self.awaiting = step.action.store_op().map(StoreOp::reply);
        step
    }

    /// The kind of store answer the last step waits on, when it is a store operation: a binding reads its
    /// glue's answer (an entry, a yes or no, nothing) accordingly.
    pub fn awaiting_store(&self) -> Option<StoreReply> {
        self.awaiting
    }

    /// Feeds the outcome of the last step's action and returns the next step.
    pub fn resume(&mut self, input: Input) -> Step {
        self.next(Some(input))
    }

    /// Whether a final step was returned.
    pub fn ended(&self) -> bool {
        self.cleanup.as_ref().map_or(self.driver.ended(), Driver::ended)
    }

    /// The request was cancelled (or the glue failed) before a final step: returns the first step of the
    /// clean-up, store operations that release what the exchange holds (and put back an open settlement it
    /// took over), ending in [`Action::Done`]. Run them even while cancelled; feed them with
    /// [`Exchange::resume`].
    pub fn cancel(&mut self) -> Step {
        let (held, restore) = {
            let mut holds = lock(&self.holds);
            (core::mem::take(&mut holds.held), holds.restore.take())
        };
        let (gate, now) = (self.gate.clone(), self.now);
        self.cleanup = Some(Driver::new(move |link| async move {
            let mut ops = Vec::new();
            if let Some((key, token, entry)) = restore {
                ops.push(StoreOp::Replace { key, token, entry });
            }
            ops.extend(held.into_iter().map(|(key, token)| StoreOp::Release { key, token }));
            for op in ops {
                match &gate.store {
                    Some(store) => {
                        let _ = perform(store.as_ref(), op, now);
                    }
                    None => {
                        link.ask(Step { action: Action::Store(op), shielded: true, logs: Vec::new() }).await;
                    }
                }
            }
            Step { action: Action::Done, shielded: true, logs: Vec::new() }
        }));
        self.next(None)
    }
}

/// Performs a store operation on a store the gate owns.
fn perform(store: &dyn PaymentStore, op: StoreOp, now: u64) -> Result<StoreAnswer> {
    Ok(match op {
        StoreOp::Claim { key, entry } => StoreAnswer::Entry(store.claim(&key, entry, now)?),
        StoreOp::Get { key } => StoreAnswer::Entry(store.get(&key, now)?),
        StoreOp::Replace { key, token, entry } => StoreAnswer::Replaced(store.replace(&key, &token, entry, now)?),
        StoreOp::Release { key, token } => {
            store.release(&key, &token)?;
            StoreAnswer::Released
        }
    })
}

/// Errors that only say the authorization has expired (a retry of a payment taken before may still be
/// answered from its record).
fn is_expired(e: &Error) -> bool {
    matches!(e.code(), ErrorCode::ValidBeforeExpired | ErrorCode::Permit2DeadlineExpired)
}

/// The signed authorization's own name: a signature can pay once, whatever id it is sent with.
pub fn authorization_key(accepted: &AcceptedPayment) -> String {
    let v = &accepted.verified;
    format!("auth:{}:{}:{}:{}", v.chain_id, v.asset, v.payer, v.nonce).to_ascii_lowercase()
}

/// The digest a record keeps of the request a payment paid for: method, path and query, body.
pub fn request_fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(method.to_ascii_uppercase().as_bytes());
    digest.update([0]);
    digest.update(path_and_query.as_bytes());
    digest.update([0]);
    digest.update(body);
    hex::encode(digest.finalize())
}

/// A path reduced to what every router agrees on, to tell a router's own redirect (a trailing slash added
/// or removed, `//` collapsed, letter case) from a redirect that is the paid content.
fn canonical_path(path: &str) -> String {
    let forms = path_forms(path);
    // The second form is the percent-decoded, normalised one without a trailing slash.
    forms.get(1).or(forms.first()).cloned().unwrap_or_default().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether two resource URLs name the same resource: scheme, host and port compared as URLs, path and query
/// as sent.
fn same_resource(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path() == b.path()
                && a.query() == b.query()
        }
        _ => a == b,
    }
}

/// The exchange itself, written as it reads: each `ask` hands a step to the glue.
struct Run {
    gate: Arc<GateInner>,
    route: usize,
    head: RequestHead,
    method: String,
    now: u64,
    url: String,
    bill: Option<PaymentRequired>,
    link: Link<Step, Input>,
    holds: Arc<Mutex<Holds>>,
    logs: Vec<LogLine>,
    shielded: bool,
}

/// An exchange stops early with this final action.
type Flow<T> = core::result::Result<T, Action>;

impl Run {
    fn new(
        gate: Arc<GateInner>,
        route: usize,
        head: RequestHead,
        now: u64,
        link: Link<Step, Input>,
        holds: Arc<Mutex<Holds>>,
    ) -> Self {
        let method = head.method.to_ascii_uppercase();
        let origin = gate.options.public_url.as_deref().unwrap_or(&head.origin).trim_end_matches('/');
        let path = if head.path_and_query.starts_with('/') {
            head.path_and_query.clone()
        } else {
            format!("/{}", head.path_and_query)
        };
        let url = format!("{origin}{path}");
        Run { gate, route, head, method, now, url, bill: None, link, holds, logs: Vec::new(), shielded: false }
    }

    /// Builds the bill of this request.
    fn prepare(&mut self) -> Result<()> {
        let route =
            self.gate.routes.get(self.route).ok_or_else(|| {
                Error::new(ErrorCode::InvalidArgument, format!("the gate has no route {}", self.route))
            })?;
        let mut resource = ResourceInfo::new(self.url.clone());
        resource.description = route.description.clone();
        resource.mime_type = route.mime_type.clone();
        let mut bill = build_payment_required(route.x402_version, resource, &route.tags)?;
        if let Some(declared) = self.sign_in_declaration(&bill)? {
            bill.extensions.get_or_insert_with(Default::default).insert(siwx::EXTENSION_KEY.into(), declared);
        }
        if let Some(declared) = self.pass_declaration(route.x402_version) {
            bill.extensions.get_or_insert_with(Default::default).insert(crate::pass::EXTENSION_KEY.into(), declared);
        }
        self.bill = Some(bill);
        Ok(())
    }

    /// The bill's `paywire-pass` declaration: where a pass is issued and whose passes this server accepts.
    /// Only with signed offers (an issuer): they tell the facilitator what the resource costs.
    fn pass_declaration(&self, version: u8) -> Option<serde_json::Value> {
        let url = self.gate.options.pass_facilitator.as_deref()?.trim_end_matches('/');
        let access = self.gate.access.as_ref()?;
        self.gate.issuer.as_ref()?;
        let route = self.gate.routes.get(self.route)?;
        if version < 2 || !route.receipts {
            return None;
        }
        let issuers: Vec<String> = access.trusted.iter().map(|a| a.to_checksum(None)).collect();
        Some(serde_json::json!({ "info": {
            "facilitator": url,
            "endpoint": format!("{url}{}", crate::pass::TRANSACTION_ENDPOINT),
            "issuers": issuers,
            "header": RECEIPT_HEADER,
            "lifetimeSeconds": access.lifetime_seconds,
        } }))
    }

    /// The sign-in settings, when this request may sign in (a v2 route served over HTTP).
    fn sign_in_options(&self) -> Option<&SignInOptions> {
        let v2 = self.gate.routes.get(self.route).is_some_and(|r| r.x402_version >= 2);
        let http = self.url.starts_with("http://") || self.url.starts_with("https://");
        self.gate.options.sign_in.as_ref().filter(|_| v2 && http)
    }

    /// The EVM chains a sign-in may be made for: the bill's networks.
    fn sign_in_chains(bill: &PaymentRequired) -> Vec<String> {
        let mut chains: Vec<String> = Vec::new();
        for offer in &bill.accepts {
            let network = offer.network().to_string();
            if network.starts_with("eip155:") && !chains.contains(&network) {
                chains.push(network);
            }
        }
        chains
    }

    /// The bill's `sign-in-with-x` declaration, with a fresh nonce, when sign-in is on.
    fn sign_in_declaration(&self, bill: &PaymentRequired) -> Result<Option<serde_json::Value>> {
        let Some(options) = self.sign_in_options() else { return Ok(None) };
        let chains = Self::sign_in_chains(bill);
        if chains.is_empty() {
            return Ok(None);
        }
        let authority = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(|h| u.port().map_or_else(|| h.to_string(), |p| format!("{h}:{p}"))))
            .unwrap_or_default();
        let info = SignInInfo {
            domain: authority,
            uri: self.url.clone(),
            version: "1".into(),
            nonce: self.token()?,
            issued_at: siwx::rfc3339(self.now),
            resources: Some(vec![self.url.clone()]),
            expiration_time: options.expiration_seconds.map(|s| siwx::rfc3339(self.now.saturating_add(s))),
            statement: options.statement.clone(),
            not_before: None,
            request_id: None,
        };
        Ok(Some(siwx::declaration(&info, &chains)))
    }

    /// The key of the record that `wallet` paid for this resource (its method, HEAD as GET, and path).
    fn paid_key(&self, wallet: &str) -> String {
        let method = if self.method == "HEAD" { "GET" } else { self.method.as_str() };
        let path = url::Url::parse(&self.url).map(|u| u.path().to_string()).unwrap_or_default();
        format!("siwx:paid:{method}:{path}:{}", wallet.to_ascii_lowercase())
    }

    /// A sign-in sent with the request: `Some(answer)` when it decides the request (served, or refused
    /// without a payment to fall back on), `None` to go on to the payment.
    async fn sign_in(&mut self, value: &str, has_payment: bool) -> Option<Action> {
        let options = self.sign_in_options()?.clone();
        let chains = Self::sign_in_chains(self.bill());
        let origin = self.gate.options.public_url.as_deref().unwrap_or(&self.head.origin).trim_end_matches('/');
        let check = SignInCheck { origin, chains: &chains, now: self.now, max_age_seconds: options.max_age_seconds };
        let checked = SignInPayload::from_header(value).and_then(|p| siwx::check_sign_in(&p, &check).map(|w| (p, w)));
        let (payload, wallet) = match checked {
            Ok(ok) => ok,
            // A bad sign-in does not spoil a payment sent with it.
            Err(_) if has_payment => return None,
            Err(e) => return Some(self.refuse(e).await),
        };
        let wallet = wallet.to_checksum(None);
        let paid = match self.store(StoreOp::Get { key: self.paid_key(&wallet) }).await {
            Ok(StoreAnswer::Entry(entry)) => entry.is_some(),
            Ok(_) => return Some(out_of_turn().action),
            Err(e) => return Some(self.store_failed(e).await),
        };
        if !paid {
            if has_payment {
                return None;
            }
            let e = Error::new(
                ErrorCode::SiwxNotPaid,
                format!("{wallet} has not paid for this resource here (or its access ended); pay once, then sign in"),
            );
            return Some(self.refuse(e).await);
        }
        // A sign-in is used once: the same header sent again is a replay.
        let marker = match self
            .marker(&wallet, self.now.saturating_add(options.max_age_seconds + siwx::CLOCK_SKEW_SECONDS + 60))
        {
            Ok(m) => m,
            Err(e) => return Some(self.fail_locally(e).await),
        };
        match self.claim(&format!("siwx:nonce:{}", payload.nonce), marker).await {
            Ok(None) => Some(self.serve_signed_in(wallet).await),
            Ok(Some(_)) if has_payment => None,
            Ok(Some(_)) => Some(
                self.refuse(Error::new(
                    ErrorCode::SiwxNonce,
                    "this sign-in was used before (a replay); sign the nonce of a new bill",
                ))
                .await,
            ),
            Err(e) => Some(self.store_failed(e).await),
        }
    }

    /// A record that only marks a key as taken (by `wallet`) until `expires_at`.
    fn marker(&self, wallet: &str, expires_at: u64) -> Result<StoreEntry> {
        Ok(StoreEntry {
            version: 1,
            token: self.token()?,
            expires_at,
            record: Record {
                state: RecordState::Done,
                fingerprint: String::new(),
                payment: wallet.to_ascii_lowercase(),
                status: 0,
                headers: Vec::new(),
                body: None,
                since: self.now,
                charge: None,
            },
        })
    }

    /// Serves a wallet that signed in and paid before: no payment, no settlement.
    async fn serve_signed_in(&mut self, wallet: String) -> Action {
        if let Err(action) = self.read_body().await {
            return action;
        }
        match self.run_handler(Paid { payer: wallet, payment: None, receipt: None }).await {
            Ok(mut out) => {
                http::make_private(&mut out.headers);
                self.respond(out).await
            }
            Err(action) => action,
        }
    }

    /// After a settlement, records that its payer paid for this resource, so the wallet may sign in again.
    async fn record_paid(&mut self, accepted: &AcceptedPayment) {
        let Some(options) = self.sign_in_options().cloned() else { return };
        let wallet = accepted.verified.payer.to_checksum(None);
        let key = self.paid_key(&wallet);
        let entry = match self.marker(&wallet, self.now.saturating_add(options.access_seconds)) {
            Ok(e) => e,
            Err(e) => return self.log(LogLevel::Warning, format!("paywire: no sign-in record: {}", e.message())),
        };
        let outcome = match self.claim(&key, entry.clone()).await {
            // Paid again: the access runs from this payment.
            Ok(Some(held)) => self.replace(&key, &held.token, entry).await.map(|_| ()),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            self.log(
                LogLevel::Warning,
                format!("paywire: could not record a payment for sign-in at {}: {}", self.url_for_log(), e.message()),
            );
        }
    }

    fn bill(&self) -> &PaymentRequired {
        // `prepare` succeeded before `run` is called.
        self.bill.as_ref().expect("the bill is built before the exchange runs")
    }

    /// The resource URL without its query, for the log (a query may carry credentials).
    fn url_for_log(&self) -> &str {
        self.url.split(['?', '#']).next().unwrap_or("")
    }

    fn log(&mut self, level: LogLevel, message: String) {
        self.logs.push(LogLine { level, message });
    }

    /// The step carrying `action` and the log lines written since the last step.
    fn step(&mut self, action: Action) -> Step {
        Step { action, shielded: self.shielded, logs: core::mem::take(&mut self.logs) }
    }

    async fn ask(&mut self, action: Action) -> Input {
        let step = self.step(action);
        self.link.ask(step).await
    }

    /// Runs the hooks registered at `context`'s point (none: no step) and says how to go on.
    async fn hook(&mut self, context: HookContext) -> HookFlow {
        let call = context.call();
        let point = call.point;
        if !self.gate.options.hooks.contains(point) {
            return HookFlow::Continue;
        }
        let verdict = match self.ask(Action::Hook(Box::new(call))).await {
            Input::Hooked(verdict) => verdict,
            _ => HookVerdict::Failed("the glue answered a hook step out of turn".into()),
        };
        let (flow, ignored) = verdict.flow(point);
        if let Some(line) = ignored {
            self.log(LogLevel::Warning, line);
        }
        flow
    }

    /// A hook's context for this request and `accepted`'s payment.
    fn hook_context(&self, point: HookPoint, accepted: &AcceptedPayment) -> HookContext {
        HookContext::new(point, &self.method, &self.url)
            .with("paymentPayload", accepted.payment.to_value())
            .with("requirements", accepted.requirements.to_value())
            .with("payer", serde_json::Value::from(accepted.verified.payer.to_checksum(None)))
    }

    /// Answers a stop by a hook before anything was charged: an abort gets the bill with the hook's reason, a
    /// hook that raised a 500.
    async fn hook_stopped(&mut self, flow: HookFlow) -> Action {
        match flow {
            HookFlow::Abort(reason, message) => self.answer_bill(402, &reason, &message, Vec::new()).await,
            HookFlow::Failed(message) => {
                self.log(
                    LogLevel::Error,
                    format!("paywire: a hook raised for {}: {}", self.url_for_log(), crate::wire::truncate(&message)),
                );
                self.answer_json(
                    500,
                    ErrorCode::HookFailed.as_str(),
                    "a hook of the server failed before the payment was taken; nothing was charged",
                )
                .await
            }
            HookFlow::Continue => out_of_turn().action,
        }
    }

    async fn run(&mut self) -> Action {
        let receipts = self.gate.routes[self.route].receipts;
        let (payment, unreadable) = match read_payment(&self.head.headers) {
            Ok(p) => (p, None),
            Err(e) => (None, Some(e)),
        };
        if let Some(access) = self.gate.access.clone()
            && receipts
            && http::header(&self.head.headers, RECEIPT_HEADER).is_some()
        {
            match access.check_request(&self.head.headers, &self.url, self.now) {
                Ok(Some(grant)) => return self.serve_receipt(grant.payload).await,
                Ok(None) => {}
                // A bad receipt does not spoil a payment sent with it.
                Err(e) if payment.is_none() => return self.refuse(unreadable.unwrap_or(e)).await,
                Err(_) => {}
            }
        }
        if let Some(value) = http::header(&self.head.headers, siwx::HEADER).map(str::to_string)
            && let Some(action) = self.sign_in(&value, payment.is_some() && unreadable.is_none()).await
        {
            return action;
        }
        if let Some(e) = unreadable {
            return self.refuse(e).await;
        }
        let Some(payment) = payment.filter(|_| self.method != "HEAD") else {
            // HEAD shows the bill; it is never charged for, as it delivers nothing.
            let reason = self.bill().error.clone().unwrap_or_default();
            return self
                .answer_bill(402, &reason, "this resource costs a payment; pay one of the offers", Vec::new())
                .await;
        };
        if self.is_batch(&payment) {
            return self.take_batch(payment).await;
        }
        match self.check(&payment, self.now) {
            Ok(accepted) => match self.read_body().await {
                Ok(body) => self.take(accepted, &body).await,
                Err(action) => action,
            },
            Err(e) if is_expired(&e) => self.replay_expired(payment, e).await,
            Err(e) => self.refuse(e).await,
        }
    }

    /// Matches, checks offline at `at`, and checks the payment was made for this resource.
    fn check(&self, payment: &PaymentPayload, at: u64) -> Result<AcceptedPayment> {
        let options = VerifyOptions { allow_onchain_signatures: self.gate.options.allow_onchain_signatures };
        let accepted = super::check::check_payment_with(self.bill(), payment, at, &options)?;
        if let Some(resource) = accepted.payment.resource()
            && !same_resource(&resource.url, &self.url)
        {
            return Err(Error::new(
                ErrorCode::ResourceMismatch,
                format!(
                    "the payment was made for {}, not for {}; pay this resource's own bill",
                    crate::wire::truncate(&resource.url),
                    crate::wire::truncate(&self.url)
                ),
            )
            .with_payer(accepted.verified.payer.to_checksum(None)));
        }
        Ok(accepted)
    }

    /// An expired payment may still be the retry of one this server took (its answer was lost, or its
    /// settlement left open): answer it from the record, claiming nothing; else refuse it.
    async fn replay_expired(&mut self, payment: PaymentPayload, expired: Error) -> Action {
        let Some(until) = last_acceptable_time(&payment) else { return self.refuse(expired).await };
        let Ok(accepted) = self.check(&payment, until) else { return self.refuse(expired).await };
        let body = match self.read_body().await {
            Ok(b) => b,
            Err(action) => return action,
        };
        let key = authorization_key(&accepted);
        let claim = match self.entry(&accepted, &body) {
            Ok(c) => c,
            Err(e) => return self.fail_locally(e).await,
        };
        let held = match self.store(StoreOp::Get { key: key.clone() }).await {
            Ok(StoreAnswer::Entry(held)) => held,
            Ok(_) => return out_of_turn().action,
            Err(e) => return self.store_failed(e).await,
        };
        match held {
            // A record in flight is another request's, unless that request stopped long ago.
            Some(held)
                if (held.record.state != RecordState::InFlight || self.abandoned(&held))
                    && held.record.fingerprint == claim.record.fingerprint
                    && held.record.payment == claim.record.payment =>
            {
                self.replay(key, held, claim, accepted).await
            }
            _ => self.refuse(expired).await,
        }
    }

    async fn read_body(&mut self) -> Flow<Vec<u8>> {
        let limit = self.gate.options.max_request_bytes;
        match self.ask(Action::ReadBody { limit }).await {
            Input::Body(body) if body.len() <= limit => Ok(body),
            Input::Body(_) | Input::BodyTooLarge => Err(self
                .answer_json(
                    413,
                    ErrorCode::BodyTooLarge.as_str(),
                    &format!("the request body is larger than this route takes ({limit} bytes)"),
                )
                .await),
            Input::ClientGone => Err(Action::Done),
            _ => Err(out_of_turn().action),
        }
    }

    async fn run_handler(&mut self, paid: Paid) -> Flow<Response> {
        match self.ask(Action::RunHandler(Box::new(paid))).await {
            Input::Handled(response) => Ok(response),
            Input::HandlerFailed => {
                self.release_holds().await;
                Err(Action::Fail)
            }
            _ => Err(out_of_turn().action),
        }
    }

    async fn serve_receipt(&mut self, receipt: ReceiptPayload) -> Action {
        let payer = receipt.payer.clone();
        if let Err(action) = self.read_body().await {
            return action;
        }
        match self.run_handler(Paid { payer, payment: None, receipt: Some(receipt) }).await {
            Ok(mut out) => {
                http::make_private(&mut out.headers);
                self.respond(out).await
            }
            Err(action) => action,
        }
    }

    /// A new record for this request and payment, in flight, with a fresh token.
    fn entry(&self, accepted: &AcceptedPayment, body: &[u8]) -> Result<StoreEntry> {
        let valid_before = u64::try_from(accepted.verified.valid_before).unwrap_or(u64::MAX);
        Ok(StoreEntry {
            version: 1,
            token: self.token()?,
            // Kept at least until a retry can take it over from a request that stopped mid-way.
            expires_at: valid_before
                .saturating_add(RECORD_GRACE_SECONDS)
                .max(self.now.saturating_add(self.gate.options.takeover_after).saturating_add(RECORD_GRACE_SECONDS)),
            record: Record {
                state: RecordState::InFlight,
                fingerprint: request_fingerprint(&self.method, &self.head.path_and_query, body),
                payment: hex::encode(Sha256::digest(accepted.payment.raw_json().as_bytes())),
                status: 0,
                headers: Vec::new(),
                body: None,
                since: self.now,
                charge: None,
            },
        })
    }

    fn token(&self) -> Result<String> {
        let mut bytes = [0u8; 16];
        self.gate.randomness.fill(&mut bytes)?;
        Ok(hex::encode(bytes))
    }

    fn hold(&self, key: &str, token: &str) {
        lock(&self.holds).held.push((key.to_string(), token.to_string()));
    }

    async fn store(&mut self, op: StoreOp) -> Result<StoreAnswer> {
        if let Some(store) = self.gate.store.clone() {
            return perform(store.as_ref(), op, self.now);
        }
        match self.ask(Action::Store(op)).await {
            Input::Store(StoreAnswer::Failed(message)) => Err(Error::new(ErrorCode::StoreUnavailable, message)),
            Input::Store(answer) => Ok(answer),
            _ => Err(Error::new(ErrorCode::InvalidArgument, "the glue answered a store operation out of turn")),
        }
    }

    async fn claim(&mut self, key: &str, entry: StoreEntry) -> Result<Option<StoreEntry>> {
        match self.store(StoreOp::Claim { key: key.to_string(), entry }).await? {
            StoreAnswer::Entry(held) => Ok(held),
            _ => Err(Error::new(ErrorCode::InvalidArgument, "the glue answered a claim with something else")),
        }
    }

    async fn replace(&mut self, key: &str, token: &str, entry: StoreEntry) -> Result<bool> {
        match self.store(StoreOp::Replace { key: key.to_string(), token: token.to_string(), entry }).await? {
            StoreAnswer::Replaced(done) => Ok(done),
            _ => Err(Error::new(ErrorCode::InvalidArgument, "the glue answered a replace with something else")),
        }
    }

    async fn release_holds(&mut self) {
        let (held, put_back) = {
            let mut holds = lock(&self.holds);
            let put_back = if core::mem::take(&mut holds.put_back) { holds.restore.take() } else { None };
            (core::mem::take(&mut holds.held), put_back)
        };
        if let Some((key, token, entry)) = put_back {
            // The releases below then find another token and leave the record alone.
            if let Err(e) = self.replace(&key, &token, entry).await {
                self.log(LogLevel::Error, format!("paywire: could not put a payment record back: {}", e.message()));
            }
        }
        for (key, token) in held {
            if let Err(e) = self.store(StoreOp::Release { key, token }).await {
                self.log(LogLevel::Error, format!("paywire: could not release a payment record: {}", e.message()));
            }
        }
    }

    /// The store failed: nothing was charged; the details go to the log.
    async fn store_failed(&mut self, e: Error) -> Action {
        if e.code() == ErrorCode::StoreUnavailable {
            self.log(
                LogLevel::Error,
                format!("paywire: the payment store failed for {}: {}", self.url_for_log(), e.message()),
            );
            return self
                .answer_json(
                    status_for(&e),
                    e.code().as_str(),
                    "the server could not record the payment; nothing was charged; try again later",
                )
                .await;
        }
        self.answer_json(status_for(&e), e.code().as_str(), e.message()).await
    }

    async fn fail_locally(&mut self, e: Error) -> Action {
        self.log(LogLevel::Error, format!("paywire: {}", e.message()));
        self.answer_json(500, e.code().as_str(), "the server failed to take the payment; nothing was charged").await
    }

    async fn take(&mut self, accepted: AcceptedPayment, body: &[u8]) -> Action {
        let key = authorization_key(&accepted);
        let claim = match self.entry(&accepted, body) {
            Ok(c) => c,
            Err(e) => return self.fail_locally(e).await,
        };
        match self.claim(&key, claim.clone()).await {
            Err(e) => return self.store_failed(e).await,
            Ok(Some(held)) => return self.replay(key, held, claim, accepted).await,
            Ok(None) => self.hold(&key, &claim.token),
        }
        if let Some(id) = accepted.payment_id.clone() {
            // The payment-identifier extension: one id, one payment for one request.
            let id_key = format!("id:{id}");
            let marker = match self.token() {
                Ok(token) => StoreEntry {
                    token,
                    record: Record { state: RecordState::Done, ..claim.record.clone() },
                    ..claim.clone()
                },
                Err(e) => return self.fail_locally(e).await,
            };
            match self.claim(&id_key, marker.clone()).await {
                Err(e) => return self.store_failed(e).await,
                Ok(None) => self.hold(&id_key, &marker.token),
                Ok(Some(other))
                    if other.record.payment != claim.record.payment
                        || other.record.fingerprint != claim.record.fingerprint =>
                {
                    return self
                        .answer_json(
                            409,
                            ErrorCode::PaymentIdentifierConflict.as_str(),
                            "this payment id already paid for a different request or with a different payment; use \
                             a new payment id",
                        )
                        .await;
                }
                Ok(Some(_)) => {}
            }
        }
        self.serve(accepted, key, claim).await
    }

    async fn replay(&mut self, key: String, held: StoreEntry, claim: StoreEntry, accepted: AcceptedPayment) -> Action {
        if held.record.fingerprint != claim.record.fingerprint || held.record.payment != claim.record.payment {
            let e = Error::new(ErrorCode::NonceAlreadyUsed, "this payment was already used for another request")
                .with_payer(accepted.verified.payer.to_checksum(None));
            return self.refuse(e).await;
        }
        match held.record.state {
            RecordState::InFlight if self.abandoned(&held) => self.take_over(key, held, accepted).await,
            RecordState::InFlight => self.in_progress().await,
            RecordState::Unsettled => self.settle_held(key, held, accepted).await,
            // The same request with the same payment: the client lost the answer. Answer again, unpaid twice.
            RecordState::Done => self.answer_again(held.record, accepted, None).await,
        }
    }

    async fn in_progress(&mut self) -> Action {
        self.answer_json(
            409,
            ErrorCode::PaymentInProgress.as_str(),
            "this payment is being processed for an earlier request; wait for its answer",
        )
        .await
    }

    /// Answers a settled payment again: the held response, or for a safe method the handler's anew. With
    /// `keep` (the record's key and the entry this request holds), a new response small enough is held, so a
    /// later retry gets the same one.
    async fn answer_again(
        &mut self,
        record: Record,
        accepted: AcceptedPayment,
        keep: Option<(String, StoreEntry)>,
    ) -> Action {
        if let Some(body) = record.body {
            return self.respond(Response { status: record.status, headers: record.headers, body }).await;
        }
        if !SAFE_METHODS.contains(&self.method.as_str()) {
            return self
                .answer_json(
                    409,
                    ErrorCode::PaymentAlreadyServed.as_str(),
                    "this payment was already served and its response is no longer held; running the request \
                     again would do it twice",
                )
                .await;
        }
        let payer = accepted.verified.payer.to_checksum(None);
        let mut out = match self.run_handler(Paid { payer, payment: Some(accepted), receipt: None }).await {
            Ok(out) => out,
            Err(action) => return action,
        };
        for name in ["payment-response", "x-payment-response"] {
            if let Some(value) = http::header(&record.headers, name) {
                http::set(&mut out.headers, name, value);
            }
        }
        http::make_private(&mut out.headers);
        if let Some((key, entry)) = keep
            && out.status < 400
            && out.body.len() <= self.gate.options.max_replay_bytes
        {
            let held = Record {
                state: RecordState::Done,
                status: out.status,
                headers: out.headers.clone(),
                body: Some(out.body.clone()),
                ..entry.record.clone()
            };
            self.record(&key, &entry, held).await;
        }
        self.respond(out).await
    }

    /// Whether a record in flight was left by a request that stopped mid-way (its process died): in flight
    /// for longer than any request takes. A record that does not say since when is never taken over.
    fn abandoned(&self, held: &StoreEntry) -> bool {
        held.record.state == RecordState::InFlight
            && held.record.since != 0
            && self.now >= held.record.since.saturating_add(self.gate.options.takeover_after)
    }

    /// A retry of a payment whose request stopped mid-way long ago (its process died): take the record over.
    /// If `/verify` still accepts the payment, the request that stopped settled nothing: serve it as a new
    /// payment (the handler first, then the settlement). If not, that request may have settled it (it settles
    /// only after its handler succeeded), or the payment is no good: settle, and the facilitator repeats a
    /// settlement it made or refuses. Until an outcome is recorded, the record is put back when this request
    /// ends, so nothing a dead request may have settled is ever forgotten.
    async fn take_over(&mut self, key: String, held: StoreEntry, accepted: AcceptedPayment) -> Action {
        let mine = match self.take_record(&key, &held, true).await {
            Ok(mine) => mine,
            Err(action) => return action,
        };
        self.log(
            LogLevel::Warning,
            format!(
                "paywire: a payment for {} was in flight for {} s (its process stopped mid-request); a retry takes it over",
                self.url_for_log(),
                self.now.saturating_sub(held.record.since)
            ),
        );
        let verdict = match self.verify(&accepted).await {
            Ok(v) => v,
            Err(action) => return action,
        };
        if verdict.is_valid {
            // Unused: nothing was settled. From here it is a new payment, released if its handler fails.
            lock(&self.holds).put_back = false;
            if let Err(action) = self.after_verify(&accepted, &verdict).await {
                return action;
            }
            return self.run_and_settle(accepted, key, mine).await;
        }
        self.settle_and_answer(accepted, key, mine, 0, Vec::new(), None).await
    }

    /// A retry of a payment whose settlement's outcome was unknown: take the record over, settle again,
    /// answer. The record stays unless the settlement now definitely fails.
    async fn settle_held(&mut self, key: String, held: StoreEntry, accepted: AcceptedPayment) -> Action {
        let mine = match self.take_record(&key, &held, false).await {
            Ok(mine) => mine,
            Err(action) => return action,
        };
        let (status, headers, response) = (held.record.status, held.record.headers, held.record.body);
        self.settle_and_answer(accepted, key, mine, status, headers, response).await
    }

    /// Takes `held` over for this request: in flight again, since now, under a fresh token (only one request
    /// wins it; the others are told it is in progress). If this request is cancelled, the record goes back as
    /// it was for the next retry; with `put_back`, also when it ends without recording an outcome.
    async fn take_record(&mut self, key: &str, held: &StoreEntry, put_back: bool) -> Flow<StoreEntry> {
        let token = match self.token() {
            Ok(t) => t,
            Err(e) => return Err(self.fail_locally(e).await),
        };
        let mine = StoreEntry {
            token,
            record: Record { state: RecordState::InFlight, since: self.now, ..held.record.clone() },
            ..held.clone()
        };
        match self.replace(key, &held.token, mine.clone()).await {
            Err(e) => return Err(self.store_failed(e).await),
            Ok(false) => return Err(self.in_progress().await),
            Ok(true) => {}
        }
        self.hold(key, &mine.token);
        if let Ok(fresh) = self.token() {
            let mut holds = lock(&self.holds);
            holds.restore = Some((key.to_string(), mine.token.clone(), StoreEntry { token: fresh, ..held.clone() }));
            holds.put_back = put_back;
        }
        Ok(mine)
    }

    /// Asks the facilitator's `/verify`; an unreachable or failing facilitator is answered here.
    async fn verify(&mut self, accepted: &AcceptedPayment) -> Flow<VerifyResponse> {
        let before = self.hook_context(HookPoint::BeforeVerify, accepted);
        match self.hook(before).await {
            HookFlow::Continue => {}
            stop => return Err(self.hook_stopped(stop).await),
        }
        let call = FacilitatorCall { payment: accepted.payment.clone(), requirements: accepted.requirements.clone() };
        match self.ask(Action::Verify(Box::new(call))).await {
            Input::Verified(v) => Ok(v),
            Input::FacilitatorFailed { code, message } => {
                let code_text = code.clone().unwrap_or_else(|| ErrorCode::InvalidFacilitatorResponse.as_str().into());
                let failure = self.hook_context(HookPoint::VerifyFailure, accepted).with_error(&code_text, &message);
                self.hook(failure).await;
                Err(self.upstream_failed("/verify", code, &message, UPSTREAM_MESSAGE).await)
            }
            _ => Err(out_of_turn().action),
        }
    }

    /// Runs the hooks after `/verify` accepted: they may still stop the request before its handler runs.
    async fn after_verify(&mut self, accepted: &AcceptedPayment, verdict: &VerifyResponse) -> Flow<()> {
        let after = self
            .hook_context(HookPoint::AfterVerify, accepted)
            .with("verifyResponse", serde_json::to_value(verdict).unwrap_or_default());
        match self.hook(after).await {
            HookFlow::Continue => Ok(()),
            stop => Err(self.hook_stopped(stop).await),
        }
    }

    /// Verifies with the facilitator, runs the handler, settles.
    async fn serve(&mut self, accepted: AcceptedPayment, key: String, claim: StoreEntry) -> Action {
        let verdict = match self.verify(&accepted).await {
            Ok(v) => v,
            Err(action) => return action,
        };
        if !verdict.is_valid {
            let reason =
                verdict.invalid_reason.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| "invalid_payment".into());
            let message = verdict.invalid_message.clone().unwrap_or_else(|| reason.clone());
            let failure = self
                .hook_context(HookPoint::VerifyFailure, &accepted)
                .with("verifyResponse", serde_json::to_value(&verdict).unwrap_or_default())
                .with_error(&reason, &message);
            self.hook(failure).await;
            return self.answer_bill(status_for_reason(&reason), &reason, &message, Vec::new()).await;
        }
        if let Err(action) = self.after_verify(&accepted, &verdict).await {
            return action;
        }
        self.run_and_settle(accepted, key, claim).await
    }

    /// Runs the handler for a verified (or taken-over) payment, then settles and answers.
    async fn run_and_settle(&mut self, accepted: AcceptedPayment, key: String, mut claim: StoreEntry) -> Action {
        let payer = accepted.verified.payer.to_checksum(None);
        let mut out = match self.run_handler(Paid { payer, payment: Some(accepted.clone()), receipt: None }).await {
            Ok(out) => out,
            Err(action) => return action,
        };
        // An upto handler reports what the request charges; the report never leaves the server.
        let overrides = http::header(&out.headers, upto::SETTLEMENT_OVERRIDES_HEADER).map(str::to_string);
        http::remove(&mut out.headers, upto::SETTLEMENT_OVERRIDES_HEADER);
        if out.status >= 400 {
            // The handler failed: nothing was delivered, so nothing is charged.
            return self.respond(out).await;
        }
        if self.is_routing_redirect(&out) {
            // The router redirects to this same path in another form (a trailing slash): the paid content is
            // not there, so nothing is charged; the client pays at the redirect's target.
            return self.respond(out).await;
        }
        if accepted.requirements.scheme() == upto::SCHEME {
            let max = accepted.verified.amount;
            let charge = match overrides {
                Some(value) => {
                    let decimals = crate::assets::known_asset(accepted.verified.chain_id, &accepted.verified.asset)
                        .map(|a| a.decimals);
                    match upto::charge_from_overrides(&value, max, decimals) {
                        Ok(charge) => charge,
                        // The response is withheld and nothing is charged: the server's own report is wrong.
                        Err(e) => return self.fail_locally(e).await,
                    }
                }
                // No report: the whole maximum, as the official servers do.
                None => max,
            };
            claim.record.charge = Some(charge.to_string());
        }
        // The first settlement of this payment: a hook may still stop it (the response is then never sent).
        let before = self.hook_context(HookPoint::BeforeSettle, &accepted);
        match self.hook(before).await {
            HookFlow::Continue => {}
            stop => return self.hook_stopped(stop).await,
        }
        let (status, headers) = (out.status, out.headers);
        self.settle_and_answer(accepted, key, claim, status, headers, Some(out.body)).await
    }

    /// A 3xx whose `Location` is this request's own path up to a trailing slash, `//` or letter case.
    fn is_routing_redirect(&self, out: &Response) -> bool {
        if !(300..400).contains(&out.status) {
            return false;
        }
        let Some(location) = http::header(&out.headers, "location") else { return false };
        let Ok(target) = url::Url::parse(&self.url).and_then(|base| base.join(location)) else { return false };
        let own = self.head.path_and_query.split(['?', '#']).next().unwrap_or("");
        canonical_path(target.path()) == canonical_path(own)
    }

    /// Moves the record this request holds to `record`; from then on it outlives the request.
    async fn record(&mut self, key: &str, current: &StoreEntry, record: Record) -> bool {
        let entry = StoreEntry { record, ..current.clone() };
        match self.replace(key, &current.token, entry).await {
            Ok(true) => {
                let mut holds = lock(&self.holds);
                // The payment's records (and its id's) now outlive this request.
                holds.held.clear();
                holds.restore = None;
                holds.put_back = false;
                true
            }
            Ok(false) => {
                self.log(
                    LogLevel::Error,
                    format!(
                        "paywire: the record of a payment for {} was taken over while settling",
                        self.url_for_log()
                    ),
                );
                false
            }
            Err(e) => {
                self.log(
                    LogLevel::Error,
                    format!(
                        "paywire: could not record the outcome of a settlement for {}: {}",
                        self.url_for_log(),
                        e.message()
                    ),
                );
                false
            }
        }
    }

    /// Settles, records the outcome, and releases the response.
    #[allow(clippy::too_many_arguments)]
    async fn settle_and_answer(
        &mut self,
        accepted: AcceptedPayment,
        key: String,
        record: StoreEntry,
        status: u16,
        headers: Headers,
        response: Option<Vec<u8>>,
    ) -> Action {
        // Once /settle is asked, its outcome must be recorded even if the request is cancelled meanwhile.
        self.shielded = true;
        let version = self.bill().x402_version;
        // An upto payment settles the amount its handler charged (recorded with it), not the maximum.
        let requirements = match record.record.charge.as_deref().map(str::parse::<alloy_primitives::U256>) {
            Some(Ok(charge)) => match upto::requirements_at(&accepted.requirements, charge) {
                Ok(r) => r,
                Err(e) => return self.fail_locally(e).await,
            },
            _ => accepted.requirements.clone(),
        };
        let call = FacilitatorCall { payment: accepted.payment.clone(), requirements };
        let settled = match self.ask(Action::Settle(Box::new(call))).await {
            Input::Settled(s) => Ok(s),
            Input::FacilitatorFailed { code, message } => Err((code, message)),
            _ => return out_of_turn().action,
        };
        let mut headers = headers;
        match &settled {
            Ok(s) if s.success => {
                headers = self.settled_headers(headers, &accepted, s);
                let kept = response.clone().filter(|r| r.len() <= self.gate.options.max_replay_bytes);
                let done = Record {
                    state: RecordState::Done,
                    status,
                    headers: headers.clone(),
                    body: kept,
                    ..record.record.clone()
                };
                self.record(&key, &record, done).await;
                self.record_paid(&accepted).await;
            }
            // Refused for good: nothing is charged, and the record goes.
            Ok(s) if !s.is_pending() => lock(&self.holds).put_back = false,
            _ => {
                // The outcome is unknown: hold the response for a retry of the same payment, which settles again.
                let open = Record {
                    state: RecordState::Unsettled,
                    status,
                    headers: headers.clone(),
                    body: response.clone(),
                    ..record.record.clone()
                };
                self.record(&key, &record, open).await;
            }
        }
        let context = match &settled {
            Ok(s) if s.success => self
                .hook_context(HookPoint::AfterSettle, &accepted)
                .with("settleResponse", serde_json::to_value(s).unwrap_or_default()),
            Ok(s) => {
                let fallback = if s.is_pending() { "settlement_pending" } else { "settlement_failed" };
                self.hook_context(HookPoint::SettleFailure, &accepted)
                    .with("settleResponse", serde_json::to_value(s).unwrap_or_default())
                    .with_error(s.error_reason.as_deref().unwrap_or(fallback), s.error_message.as_deref().unwrap_or(""))
            }
            Err((code, message)) => self
                .hook_context(HookPoint::SettleFailure, &accepted)
                .with_error(code.as_deref().unwrap_or(ErrorCode::InvalidFacilitatorResponse.as_str()), message),
        };
        // The outcome is recorded: the hooks observe it, and nothing they say changes what is answered.
        self.hook(context).await;
        let settled = match settled {
            Ok(s) => s,
            Err((code, message)) => return self.upstream_failed("/settle", code, &message, UNCONFIRMED_MESSAGE).await,
        };
        if !settled.success {
            let pending = settled.is_pending();
            let reason = settled
                .error_reason
                .clone()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| if pending { "settlement_pending" } else { "settlement_failed" }.into());
            let message = if pending {
                UNCONFIRMED_MESSAGE.to_string()
            } else {
                settled.error_message.clone().unwrap_or_else(|| reason.clone())
            };
            let receipt = settlement_header(version, &settled);
            return self.answer_bill(402, &reason, &message, vec![(receipt.0.to_string(), receipt.1)]).await;
        }
        match response {
            Some(body) => self.respond(Response { status, headers, body }).await,
            // Settled now with no response held (too large, or a taken-over request whose handler has not run
            // here): run a safe request, and hold its response if it fits.
            None => {
                let again = Record { state: RecordState::Done, headers, body: None, ..record.record.clone() };
                self.answer_again(again, accepted, Some((key, record))).await
            }
        }
    }

    fn settled_headers(
        &mut self,
        mut headers: Headers,
        accepted: &AcceptedPayment,
        settled: &SettleResponse,
    ) -> Headers {
        let version = self.bill().x402_version;
        let mut settled = settled.clone();
        if let Some(issuer) = self.gate.issuer.clone()
            && version >= 2
        {
            let payer = accepted.verified.payer.to_checksum(None);
            match issuer.issue_receipt(&self.url, &payer, &settled.network, Some(&settled.transaction), self.now) {
                Ok(receipt) => {
                    settled
                        .extensions
                        .get_or_insert_with(Default::default)
                        .insert("offer-receipt".into(), receipt_extension(&receipt));
                }
                Err(e) => self.log(
                    LogLevel::Warning,
                    format!("paywire: serving a settled payment without a signed receipt: {}", e.message()),
                ),
            }
        }
        let (name, value) = settlement_header(version, &settled);
        http::set(&mut headers, name, value);
        http::make_private(&mut headers);
        headers
    }

    async fn upstream_failed(&mut self, endpoint: &str, code: Option<String>, message: &str, told: &str) -> Action {
        let known = code.as_deref().and_then(ErrorCode::from_str_code);
        let code = known.unwrap_or(ErrorCode::InvalidFacilitatorResponse);
        let level = if known.is_some() { LogLevel::Warning } else { LogLevel::Error };
        let line =
            format!("paywire: the facilitator failed on {endpoint} for {}: [{code}] {message}", self.url_for_log());
        self.log(level, line);
        self.answer_json(502, code.as_str(), told).await
    }

    /// Answers a refused payment: the bill again with the reason (400, 402), or 409/500/502 by its kind.
    async fn refuse(&mut self, e: Error) -> Action {
        let status = status_for(&e);
        if status == 400 || status == 402 {
            self.answer_bill(status, e.code().as_str(), e.message(), Vec::new()).await
        } else {
            self.answer_json(status, e.code().as_str(), e.message()).await
        }
    }

    async fn answer_bill(&mut self, status: u16, reason: &str, message: &str, extra: Headers) -> Action {
        let mut bill = self.bill().clone();
        if let Some(issuer) = self.gate.issuer.clone()
            && bill.x402_version >= 2
            && let Err(e) = issuer.sign_bill(&mut bill, self.now, None)
        {
            self.log(LogLevel::Warning, format!("paywire: sending a bill without signed offers: {}", e.message()));
        }
        bill.error = Some(reason.to_string());
        let mut headers: Headers =
            vec![("content-type".into(), "application/json".into()), ("cache-control".into(), http::NO_STORE.into())];
        let body = if bill.x402_version >= 2 {
            headers.push(("payment-required".into(), bill.to_header()));
            serde_json::json!({ "error": reason, "message": message }).to_string().into_bytes()
        } else {
            bill.to_json().into_bytes()
        };
        headers.extend(extra.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
        self.respond(Response { status, headers, body }).await
    }

    async fn answer_json(&mut self, status: u16, code: &str, message: &str) -> Action {
        self.respond(http::json_answer(status, code, message)).await
    }

    /// Releases what is still held, then answers.
    async fn respond(&mut self, response: Response) -> Action {
        self.release_holds().await;
        let mut response = http::frame(response, self.method == "HEAD");
        http::expose_x402(&mut response.headers);
        Action::Respond(response)
    }
}

#[cfg(test)]
mod claim_schedule {
    use super::*;
    use crate::server::store::MemoryStore;
    use crate::signer::FixedRandomness;

    /// The parts of a test gate: `options`, its own memory store, fixed randomness, no issuer or keys.
    fn test_parts(options: GateOptions) -> GateParts {
        GateParts {
            options,
            issuer: None,
            access: None,
            store: Some(Arc::new(MemoryStore::default())),
            randomness: Arc::new(FixedRandomness::new(vec![7])),
            receiver_authorizer: None,
        }
    }

    fn gate(batch: bool, claims: ClaimSchedule) -> Gate {
        let mut tag = PriceTag::new("$0.001", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
        if batch {
            tag.batch = true;
            tag.extra.insert("receiverAuthorizer".into(), "0x4444444444444444444444444444444444444444".into());
        }
        let route = PricedRoute::new(Some(RoutePattern::parse("/a").unwrap()), vec![tag]);
        let parts = test_parts(GateOptions { claims, ..GateOptions::default() });
        Gate::new(vec![route], parts).unwrap()
    }

    fn claim(gate: &Gate, now: u64) {
        let (_, step) = gate.claim(now);
        assert!(matches!(&step.action, Action::Respond(r) if r.status == 200), "{:?}", step.action);
    }

    #[test]
    fn claims_come_by_time_from_the_oldest_unclaimed_charge_and_once_after_start_up() {
        assert!(!gate(false, ClaimSchedule::default()).claim_due(1_000_000), "nothing to claim without channels");
        let g = gate(true, ClaimSchedule::default());
        assert!(!g.claim_due(700), "the first check");
        assert!(g.claim_due(1000), "an interval after it, for what an earlier process left");
        claim(&g, 1000);
        assert!(!g.claim_due(1001), "a claim ran just now");
        assert!(!g.claim_due(5000), "nothing served since");
        g.inner.note_charge(5, 1100);
        g.inner.note_charge(5, 1200);
        assert!(!g.claim_due(1399));
        assert!(g.claim_due(1400), "the oldest charge is 300 s old");
        claim(&g, 1400);
        assert!(!g.claim_due(1401));
        // A run that left something unclaimed is tried again a minute later.
        g.inner.note_charge(5, 1500);
        let (_, _) = g.claim(1600);
        g.inner.claim_ended(true);
        assert!(!g.claim_due(1650), "seen ended now: tried again a minute from now");
        assert!(!g.claim_due(1709) && g.claim_due(1710));
    }

    #[test]
    fn tags_take_what_they_leave_out_from_the_facilitators_supported_answer() {
        let supported = crate::types::SupportedResponse::from_json(
            r#"{"kinds":[
                {"x402Version":2,"scheme":"exact","network":"eip155:84532"},
                {"x402Version":2,"scheme":"upto","network":"eip155:84532",
                 "extra":{"facilitatorAddress":"0x1111111111111111111111111111111111111111"}},
                {"x402Version":2,"scheme":"batch-settlement","network":"eip155:*",
                 "extra":{"receiverAuthorizer":"0x2222222222222222222222222222222222222222"}}]}"#,
        )
        .unwrap();
        let tag = |network: &str, upto: bool, batch: bool| {
            let mut t = PriceTag::new("$0.01", network, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
            (t.upto, t.batch) = (upto, batch);
            t
        };
        let mut named = tag("eip155:84532", true, false);
        named.extra.insert("facilitatorAddress".into(), "0x3333333333333333333333333333333333333333".into());
        let mut routes = vec![PricedRoute::new(
            Some(RoutePattern::parse("/a").unwrap()),
            vec![
                tag("eip155:84532", true, false),
                tag("eip155:8453", false, true),
                named,
                tag("eip155:84532", false, false),
            ],
        )];
        complete_tags(&mut routes, Some(&supported), None).unwrap();
        let extra = |i: usize, key: &str| routes[0].tags[i].extra.get(key).and_then(|v| v.as_str()).map(str::to_string);
        assert_eq!(extra(0, "facilitatorAddress").as_deref(), Some("0x1111111111111111111111111111111111111111"));
        // A family's kind (eip155:*) covers its networks.
        assert_eq!(extra(1, "receiverAuthorizer").as_deref(), Some("0x2222222222222222222222222222222222222222"));
        // A tag that names its own keeps it; an exact tag takes nothing.
        assert_eq!(extra(2, "facilitatorAddress").as_deref(), Some("0x3333333333333333333333333333333333333333"));
        assert!(routes[0].tags[3].extra.is_empty());
        // The server's own authorizer key comes first for batch-settlement.
        let own = alloy_primitives::Address::repeat_byte(0x44);
        let mut routes = vec![PricedRoute::new(None, vec![tag("eip155:8453", false, true)])];
        complete_tags(&mut routes, Some(&supported), Some(own)).unwrap();
        assert_eq!(routes[0].tags[0].extra["receiverAuthorizer"], own.to_checksum(None));
        // A network the facilitator's upto kind does not cover: said at once.
        // A tag naming its network the v1 way is matched as the bill writes it.
        let mut routes = vec![PricedRoute::new(None, vec![tag("base-sepolia", true, false)])];
        complete_tags(&mut routes, Some(&supported), None).unwrap();
        assert_eq!(routes[0].tags[0].extra["facilitatorAddress"], "0x1111111111111111111111111111111111111111");
        // A kind on the network itself wins over its family's; a zero or unreadable address is passed over;
        // only `namespace:*` is a family ("*" or "eip155:1*" cover nothing).
        let answer = crate::types::SupportedResponse::from_json(
            r#"{"kinds":[
                {"x402Version":2,"scheme":"batch-settlement","network":"eip155:*",
                 "extra":{"receiverAuthorizer":"0x5555555555555555555555555555555555555555"}},
                {"x402Version":2,"scheme":"batch-settlement","network":"eip155:8453",
                 "extra":{"receiverAuthorizer":"0x0000000000000000000000000000000000000000"}},
                {"x402Version":2,"scheme":"batch-settlement","network":"eip155:8453",
                 "extra":{"receiverAuthorizer":"0x6666666666666666666666666666666666666666"}},
                {"x402Version":2,"scheme":"upto","network":"*",
                 "extra":{"facilitatorAddress":"0x7777777777777777777777777777777777777777"}},
                {"x402Version":2,"scheme":"upto","network":"eip155:1*",
                 "extra":{"facilitatorAddress":"0x7777777777777777777777777777777777777777"}}]}"#,
        )
        .unwrap();
        let mut routes =
            vec![PricedRoute::new(None, vec![tag("eip155:8453", false, true), tag("eip155:1", false, true)])];
        complete_tags(&mut routes, Some(&answer), None).unwrap();
        assert_eq!(routes[0].tags[0].extra["receiverAuthorizer"], "0x6666666666666666666666666666666666666666");
        assert_eq!(routes[0].tags[1].extra["receiverAuthorizer"], "0x5555555555555555555555555555555555555555");
        let mut routes = vec![PricedRoute::new(None, vec![tag("eip155:137", true, false)])];
        assert!(complete_tags(&mut routes, Some(&answer), None).is_err());
        let mut routes = vec![PricedRoute::new(None, vec![tag("eip155:8453", true, false)])];
        let e = complete_tags(&mut routes, Some(&supported), None).unwrap_err();
        assert!(
            e.message().contains("lists no upto kind on eip155:8453 naming its facilitatorAddress"),
            "{}",
            e.message()
        );
        // Through a gate: built with the answer, refused without it (the bill names what is missing).
        let gate = |supported: Option<crate::types::SupportedResponse>| {
            let routes = vec![PricedRoute::new(
                Some(RoutePattern::parse("/m").unwrap()),
                vec![tag("eip155:84532", true, false)],
            )];
            Gate::new(routes, test_parts(GateOptions { supported, ..GateOptions::default() }))
        };
        assert!(gate(Some(supported)).is_ok());
        assert!(gate(None).unwrap_err().message().contains("facilitatorAddress"));
    }

    #[test]
    fn a_claim_schedule_slower_than_half_the_withdraw_delay_is_refused() {
        let build = |every: u64, delay: Option<u64>| {
            let mut tag = PriceTag::new("$0.001", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
            tag.batch = true;
            tag.extra.insert("receiverAuthorizer".into(), "0x4444444444444444444444444444444444444444".into());
            if let Some(d) = delay {
                tag.extra.insert("withdrawDelay".into(), d.into());
            }
            let exact = PriceTag::new("$0.001", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
            let routes = vec![
                PricedRoute::new(Some(RoutePattern::parse("/exact").unwrap()), vec![exact]),
                PricedRoute::new(Some(RoutePattern::parse("/a").unwrap()), vec![tag]),
            ];
            let claims = ClaimSchedule { every_seconds: every, at_amount: 0 };
            Gate::new(routes, test_parts(GateOptions { claims, ..GateOptions::default() }))
        };
        // The default withdraw delay is 900 s: claims at most every 450 s.
        assert!(build(450, None).is_ok() && build(300, None).is_ok() && build(0, None).is_ok());
        let e = build(451, None).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert!(e.message().contains("claim at least every 450 s"), "{}", e.message());
        assert!(build(3_600, Some(86_400)).is_ok() && build(43_201, Some(86_400)).is_err());
    }

    #[test]
    fn claims_come_by_amount_and_at_once_when_a_payer_withdraws() {
        let g = gate(true, ClaimSchedule { every_seconds: 0, at_amount: 10 });
        assert!(!g.claim_due(1000), "no claims by time");
        g.inner.note_charge(6, 1000);
        assert!(!g.claim_due(1_000_000));
        g.inner.note_charge(4, 1001);
        assert!(g.claim_due(1001));
        claim(&g, 1001);
        assert!(!g.claim_due(1002));
        g.inner.note_withdrawal();
        assert!(!g.claim_due(1011), "not within ten seconds of the last run's end");
        assert!(g.claim_due(1012));
        // A run that left something unclaimed is tried again a minute later, whatever the schedule.
        claim(&g, 1020);
        g.inner.claim_ended(true);
        assert!(!g.claim_due(1030));
        assert!(!g.claim_due(1089) && g.claim_due(1090));
    }

    #[test]
    fn one_claim_run_at_a_time_among_the_processes_sharing_a_store() {
        let mut g = gate(true, ClaimSchedule::default());
        Arc::get_mut(&mut g.inner).unwrap().store = None;
        // Another process's run holds the marker: this one ends at once, skipped, and tries again later.
        let (mut run, step) = g.claim(1000);
        let held = match step.action {
            Action::Store(StoreOp::Claim { ref key, ref entry }) if key == "batch:claiming" => entry.clone(),
            other => panic!("{other:?}"),
        };
        let step = run.resume(Input::Store(StoreAnswer::Entry(Some(held.clone()))));
        let Action::Respond(r) = step.action else { panic!("{:?}", step.action) };
        let summary: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(summary["skipped"], "another claim run is in progress");
        assert!(!g.claim_due(1050) && g.claim_due(1110), "tried again a minute after");
        // A run that takes the marker gives it back before its summary.
        let (mut run, _) = g.claim(1110);
        let mut step = run.resume(Input::Store(StoreAnswer::Entry(None)));
        let mut released = false;
        while let Action::Store(op) = &step.action {
            let answer = match op {
                StoreOp::Release { key, .. } => {
                    released |= key == "batch:claiming";
                    StoreAnswer::Released
                }
                _ => StoreAnswer::Entry(None),
            };
            step = run.resume(Input::Store(answer));
        }
        assert!(released && matches!(step.action, Action::Respond(_)), "{:?}", step.action);
    }

    #[test]
    fn a_claim_run_in_progress_is_not_started_again_for_ten_minutes() {
        let mut g = gate(true, ClaimSchedule::default());
        // A gate whose store the glue keeps: the run stops at its first store step, as if in progress.
        Arc::get_mut(&mut g.inner).unwrap().store = None;
        let (_, step) = g.claim(1000);
        assert!(matches!(step.action, Action::Store(_)), "{:?}", step.action);
        assert!(!g.claim_due(1300), "the run is in progress");
        assert!(!g.claim_due(1600), "a run not ended after ten minutes counts as failed: tried a minute later");
        assert!(g.claim_due(1660), "even with nothing served since");
    }
}
