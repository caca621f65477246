//! Hooks: the user's code at fixed points of the two exchange machines, as the official SDKs offer them.
//!
//! The paying client calls hooks before and after it creates a payment and when creating one fails; the
//! payment gate calls them before and after `/verify` and `/settle` and when either fails. The machines hand
//! the glue a hook step ([`HookCall`]) only for the points the user registered hooks for (a [`HookSet`]), so
//! an exchange without hooks takes exactly the steps it took before; the glue runs the registered hooks in
//! order and feeds back one [`HookVerdict`]. Because the points are the machines', a hook runs at the same
//! moment, with the same context, in every language.
//!
//! What a hook may change is decided here, once:
//! - a hook *before* a step (and after `/verify`, before the handler runs) may abort it with a reason: the
//!   client raises `payment_aborted`; the gate answers the bill with that reason and charges nothing;
//! - every other hook observes: the money has moved or the failure has happened, so its verdict cannot undo
//!   it; an abort there is ignored (and logged);
//! - a hook that raises fails closed before a step (the client raises `hook_failed`; the gate answers 500 and
//!   charges nothing) and is logged and ignored after one (a settled payment is still served).
//!
//! Unlike the official SDKs, a hook cannot stand in for the facilitator (skip `/verify` or `/settle` with an
//! answer of its own, or recover a failed one): that would let user code serve unpaid content or report a
//! settlement that did not happen, which paywire's gate never does.

use crate::prelude::*;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode, Result};

/// A point of an exchange at which hooks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookPoint {
    /// Gate: a payment passed the offline checks, before `/verify` (may abort).
    BeforeVerify,
    /// Gate: `/verify` accepted the payment, before the handler runs (may abort).
    AfterVerify,
    /// Gate: `/verify` refused the payment or failed.
    VerifyFailure,
    /// Gate: the handler delivered, before the first `/settle` of the payment (may abort).
    BeforeSettle,
    /// Gate: the payment settled and its outcome is recorded, before the response is released.
    AfterSettle,
    /// Gate: `/settle` refused the payment, left it pending or failed.
    SettleFailure,
    /// Client: a bill is to be paid, before the payment is chosen and signed (may abort).
    BeforePaymentCreation,
    /// Client: a payment was created, before it is sent.
    AfterPaymentCreation,
    /// Client: creating a payment failed (the policy refused every offer, the signer failed).
    PaymentCreationFailure,
}

impl HookPoint {
    /// Every point, in the order of their bits in a [`HookSet`].
    pub const ALL: [HookPoint; 9] = [
        HookPoint::BeforeVerify,
        HookPoint::AfterVerify,
        HookPoint::VerifyFailure,
        HookPoint::BeforeSettle,
        HookPoint::AfterSettle,
        HookPoint::SettleFailure,
        HookPoint::BeforePaymentCreation,
        HookPoint::AfterPaymentCreation,
        HookPoint::PaymentCreationFailure,
    ];

    /// The point's name in snake case (`before_verify`, ...); bindings spell it in their language's case.
    pub fn name(self) -> &'static str {
        match self {
            HookPoint::BeforeVerify => "before_verify",
            HookPoint::AfterVerify => "after_verify",
            HookPoint::VerifyFailure => "verify_failure",
            HookPoint::BeforeSettle => "before_settle",
            HookPoint::AfterSettle => "after_settle",
            HookPoint::SettleFailure => "settle_failure",
            HookPoint::BeforePaymentCreation => "before_payment_creation",
            HookPoint::AfterPaymentCreation => "after_payment_creation",
            HookPoint::PaymentCreationFailure => "payment_creation_failure",
        }
    }

    /// The point's name in camel case (`beforeVerify`, ...), as Node, Kotlin and Swift spell it.
    pub fn camel_name(self) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in self.name().chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The point named `name`, in snake or camel case.
    pub fn from_name(name: &str) -> Result<HookPoint> {
        HookPoint::ALL.into_iter().find(|p| p.name() == name || p.camel_name() == name).ok_or_else(|| {
            let known: Vec<&str> = HookPoint::ALL.iter().map(|p| p.name()).collect();
            Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "there is no hook point {:?}; the points are {}",
                    crate::wire::truncate(name),
                    known.join(", ")
                ),
            )
        })
    }

    /// Whether a hook at this point may abort the exchange (it runs before anything is paid or charged).
    pub fn can_abort(self) -> bool {
        matches!(
            self,
            HookPoint::BeforeVerify
                | HookPoint::AfterVerify
                | HookPoint::BeforeSettle
                | HookPoint::BeforePaymentCreation
        )
    }

    /// Whether the point belongs to the payment gate (else to the paying client).
    pub fn is_server(self) -> bool {
        !matches!(
            self,
            HookPoint::BeforePaymentCreation | HookPoint::AfterPaymentCreation | HookPoint::PaymentCreationFailure
        )
    }

    fn bit(self) -> u16 {
        let index = HookPoint::ALL.iter().position(|p| *p == self).unwrap_or(0);
        1 << index
    }
}

impl core::fmt::Display for HookPoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The points some hook is registered for: the machines ask the glue only at these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookSet(u16);

impl HookSet {
    /// No hooks.
    pub const NONE: HookSet = HookSet(0);

    /// The set of the points named (snake or camel case).
    pub fn from_names<I, S>(names: I) -> Result<HookSet>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = HookSet::NONE;
        for name in names {
            set.insert(HookPoint::from_name(name.as_ref())?);
        }
        Ok(set)
    }

    /// Adds a point.
    pub fn insert(&mut self, point: HookPoint) {
        self.0 |= point.bit();
    }

    /// Whether a hook is registered at `point`.
    pub fn contains(self, point: HookPoint) -> bool {
        self.0 & point.bit() != 0
    }

    /// Whether no point is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The points in the set, in [`HookPoint::ALL`] order.
    pub fn points(self) -> Vec<HookPoint> {
        HookPoint::ALL.into_iter().filter(|p| self.contains(*p)).collect()
    }
}

/// A hook step: run the hooks registered at `point` with this context, in order, and feed back one
/// [`HookVerdict`].
#[derive(Clone, Debug, PartialEq)]
pub struct HookCall {
    /// Where the exchange is.
    pub point: HookPoint,
    /// What the hooks are told, as a JSON object (see [`HookContext`] for its members).
    pub context: Value,
}

impl HookCall {
    /// The context as JSON text (one format in every language).
    pub fn context_json(&self) -> String {
        self.context.to_string()
    }
}

/// Builds a hook's context. Its members (camel case, absent when they do not apply):
/// `hook` (the point's snake-case name), `method`, `resource` (the URL), `paymentRequired` (the bill, client),
/// `requirements` (the offer paid), `paymentPayload` (the payment as sent), `payer`, `verifyResponse`,
/// `settleResponse`, `error` (`{code, message}`).
#[derive(Clone, Debug)]
pub struct HookContext {
    point: HookPoint,
    members: Map<String, Value>,
}

impl HookContext {
    /// A context for `point` of a request with `method` to `resource`.
    pub fn new(point: HookPoint, method: &str, resource: &str) -> Self {
        let mut members = Map::new();
        members.insert("hook".into(), Value::from(point.name()));
        members.insert("method".into(), Value::from(method));
        members.insert("resource".into(), Value::from(resource));
        HookContext { point, members }
    }

    /// Adds a member.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.members.insert(name.into(), value);
        self
    }

    /// Adds an error member.
    pub fn with_error(self, code: &str, message: &str) -> Self {
        self.with("error", serde_json::json!({ "code": code, "message": message }))
    }

    /// The hook step.
    pub fn call(self) -> HookCall {
        HookCall { point: self.point, context: Value::Object(self.members) }
    }
}

/// What the hooks of one point decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookVerdict {
    /// Every hook returned without aborting.
    Continue,
    /// A hook aborted (the first one that did; the later ones were not run).
    Abort {
        /// Machine-readable reason (the bill's `error` on the server).
        reason: String,
        /// What a person is told; the reason when absent.
        message: Option<String>,
    },
    /// A hook raised; `message` is for the log (the later ones were not run).
    Failed(String),
}

/// How a machine goes on after the hooks of a point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HookFlow {
    /// Go on.
    Continue,
    /// Stop: the hooks aborted (`reason`, `message`).
    Abort(String, String),
    /// Stop: a hook raised before anything was paid or charged.
    Failed(String),
}

/// The reason an abort without one is given.
pub const DEFAULT_ABORT_REASON: &str = "aborted_by_hook";

impl HookVerdict {
    /// Reads the verdict for `point`: an abort or a failure stops only a point that may abort. Returns how to
    /// go on and, for a verdict that was ignored, a line for the log.
    pub(crate) fn flow(self, point: HookPoint) -> (HookFlow, Option<String>) {
        match self {
            HookVerdict::Continue => (HookFlow::Continue, None),
            HookVerdict::Abort { reason, message } if point.can_abort() => {
                let reason = if reason.trim().is_empty() { DEFAULT_ABORT_REASON.to_string() } else { reason };
                let message = message.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| reason.clone());
                (HookFlow::Abort(crate::wire::truncate(&reason), crate::wire::truncate(&message)), None)
            }
            HookVerdict::Abort { reason, .. } => (
                HookFlow::Continue,
                Some(format!(
                    "paywire: a hook at {point} asked to abort ({}), which it cannot do after the fact; ignored",
                    crate::wire::truncate(&reason)
                )),
            ),
            HookVerdict::Failed(message) if point.can_abort() => (HookFlow::Failed(message), None),
            HookVerdict::Failed(message) => (
                HookFlow::Continue,
                Some(format!("paywire: a hook at {point} raised (ignored): {}", crate::wire::truncate(&message))),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_both_cases() {
        for point in HookPoint::ALL {
            assert_eq!(HookPoint::from_name(point.name()).unwrap(), point);
            assert_eq!(HookPoint::from_name(&point.camel_name()).unwrap(), point);
        }
        assert_eq!(HookPoint::BeforePaymentCreation.camel_name(), "beforePaymentCreation");
        let e = HookPoint::from_name("before_everything").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert!(e.message().contains("before_verify"));
    }

    #[test]
    fn sets_hold_what_was_inserted() {
        let set = HookSet::from_names(["before_verify", "afterSettle"]).unwrap();
        assert!(set.contains(HookPoint::BeforeVerify) && set.contains(HookPoint::AfterSettle));
        assert!(!set.contains(HookPoint::AfterVerify));
        assert_eq!(set.points(), [HookPoint::BeforeVerify, HookPoint::AfterSettle]);
        assert!(HookSet::NONE.is_empty());
        assert!(HookSet::from_names(["nope"]).is_err());
    }

    #[test]
    fn only_points_before_the_money_moves_may_stop_it() {
        let abort = || HookVerdict::Abort { reason: "blocked".into(), message: None };
        assert_eq!(abort().flow(HookPoint::BeforeSettle).0, HookFlow::Abort("blocked".into(), "blocked".into()));
        let (flow, log) = abort().flow(HookPoint::AfterSettle);
        assert_eq!(flow, HookFlow::Continue);
        assert!(log.unwrap().contains("after_settle"));
        assert_eq!(HookVerdict::Failed("x".into()).flow(HookPoint::BeforeVerify).0, HookFlow::Failed("x".into()));
        assert_eq!(HookVerdict::Failed("x".into()).flow(HookPoint::SettleFailure).0, HookFlow::Continue);
        let blank = HookVerdict::Abort { reason: " ".into(), message: Some("".into()) };
        assert_eq!(
            blank.flow(HookPoint::BeforeVerify).0,
            HookFlow::Abort(DEFAULT_ABORT_REASON.into(), DEFAULT_ABORT_REASON.into())
        );
    }
}
