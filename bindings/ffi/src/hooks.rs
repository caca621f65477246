//! Hooks for Swift and Kotlin: the points of the exchange machines (`paywire_core::hooks`) and the verdict the
//! glue feeds back after running the user's hooks at one.

use paywire_core::hooks as core;

/// A point of an exchange at which hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum HookPoint {
    /// Gate: before `/verify` (may abort).
    BeforeVerify,
    /// Gate: `/verify` accepted, before the handler runs (may abort).
    AfterVerify,
    /// Gate: `/verify` refused or failed.
    VerifyFailure,
    /// Gate: before the payment's first `/settle` (may abort).
    BeforeSettle,
    /// Gate: settled and recorded, before the response is sent.
    AfterSettle,
    /// Gate: `/settle` refused, pending or failed.
    SettleFailure,
    /// Client: before a payment is chosen and signed (may abort).
    BeforePaymentCreation,
    /// Client: a payment was created, before it is sent.
    AfterPaymentCreation,
    /// Client: creating a payment failed.
    PaymentCreationFailure,
}

impl From<HookPoint> for core::HookPoint {
    fn from(p: HookPoint) -> Self {
        match p {
            HookPoint::BeforeVerify => core::HookPoint::BeforeVerify,
            HookPoint::AfterVerify => core::HookPoint::AfterVerify,
            HookPoint::VerifyFailure => core::HookPoint::VerifyFailure,
            HookPoint::BeforeSettle => core::HookPoint::BeforeSettle,
            HookPoint::AfterSettle => core::HookPoint::AfterSettle,
            HookPoint::SettleFailure => core::HookPoint::SettleFailure,
            HookPoint::BeforePaymentCreation => core::HookPoint::BeforePaymentCreation,
            HookPoint::AfterPaymentCreation => core::HookPoint::AfterPaymentCreation,
            HookPoint::PaymentCreationFailure => core::HookPoint::PaymentCreationFailure,
        }
    }
}

impl From<core::HookPoint> for HookPoint {
    fn from(p: core::HookPoint) -> Self {
        match p {
            core::HookPoint::BeforeVerify => HookPoint::BeforeVerify,
            core::HookPoint::AfterVerify => HookPoint::AfterVerify,
            core::HookPoint::VerifyFailure => HookPoint::VerifyFailure,
            core::HookPoint::BeforeSettle => HookPoint::BeforeSettle,
            core::HookPoint::AfterSettle => HookPoint::AfterSettle,
            core::HookPoint::SettleFailure => HookPoint::SettleFailure,
            core::HookPoint::BeforePaymentCreation => HookPoint::BeforePaymentCreation,
            core::HookPoint::AfterPaymentCreation => HookPoint::AfterPaymentCreation,
            core::HookPoint::PaymentCreationFailure => HookPoint::PaymentCreationFailure,
        }
    }
}

/// What a hook is told: the core's JSON context, its members unpacked (absent where they do not apply).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HookContext {
    /// The point's snake-case name (`before_verify`), as in every language.
    pub hook: String,
    /// The request's method.
    pub method: String,
    /// The resource's URL.
    pub resource: String,
    /// Who pays (checksummed address).
    pub payer: Option<String>,
    /// Client: the bill being paid, as JSON text.
    pub payment_required_json: Option<String>,
    /// The offer paid, as JSON text.
    pub requirements_json: Option<String>,
    /// The payment as sent, as JSON text.
    pub payment_payload_json: Option<String>,
    /// Server: the facilitator's `/verify` answer, as JSON text.
    pub verify_response_json: Option<String>,
    /// Server: the facilitator's `/settle` answer, as JSON text.
    pub settle_response_json: Option<String>,
    /// What failed: its code.
    pub error_code: Option<String>,
    /// What failed: its message.
    pub error_message: Option<String>,
    /// The whole context as JSON text (one format in every language).
    pub json: String,
}

impl From<&core::HookCall> for HookContext {
    fn from(call: &core::HookCall) -> Self {
        let c = &call.context;
        let text = |name: &str| c.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let json = |name: &str| c.get(name).filter(|v| !v.is_null()).map(|v| v.to_string());
        let error = |name: &str| c.get("error").and_then(|e| e.get(name)).and_then(|v| v.as_str()).map(str::to_string);
        HookContext {
            hook: call.point.name().to_string(),
            method: text("method").unwrap_or_default(),
            resource: text("resource").unwrap_or_default(),
            payer: text("payer"),
            payment_required_json: json("paymentRequired"),
            requirements_json: json("requirements"),
            payment_payload_json: json("paymentPayload"),
            verify_response_json: json("verifyResponse"),
            settle_response_json: json("settleResponse"),
            error_code: error("code"),
            error_message: error("message"),
            json: call.context_json(),
        }
    }
}

/// The set of points some hook is registered at.
pub fn hook_set(points: Option<Vec<HookPoint>>) -> core::HookSet {
    let mut set = core::HookSet::NONE;
    for p in points.unwrap_or_default() {
        set.insert(p.into());
    }
    set
}

/// The point's name in snake case (`before_verify`), as the vectors and the context's `hook` member spell it.
#[uniffi::export]
pub fn hook_point_name(point: HookPoint) -> String {
    core::HookPoint::from(point).name().to_string()
}

/// What the hooks of one point decided.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum HookVerdict {
    /// Every hook returned without aborting.
    Continue,
    /// A hook aborted with this reason (and a message for a person).
    Abort {
        /// Machine-readable reason.
        reason: String,
        /// What a person is told.
        message: Option<String>,
    },
    /// A hook threw; what it said, for the log.
    Failed {
        /// The hook's error.
        message: String,
    },
}

impl From<HookVerdict> for core::HookVerdict {
    fn from(v: HookVerdict) -> Self {
        match v {
            HookVerdict::Continue => core::HookVerdict::Continue,
            HookVerdict::Abort { reason, message } => core::HookVerdict::Abort { reason, message },
            HookVerdict::Failed { message } => core::HookVerdict::Failed(message),
        }
    }
}
