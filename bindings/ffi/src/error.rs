//! paywire's error in Swift and Kotlin: one type whose case is the error's category, each case carrying the
//! stable code (x402's reason string where x402 has one), a message a person can act on, the payer when
//! known and, for a payer's refusal, why each offer was refused.

use paywire_core::error::Category;

/// Why a payer's policy refused one offer of a bill.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OfferRefusal {
    /// The offer's index in the bill's `accepts`.
    pub index: u32,
    /// One line describing the offer.
    pub offer: String,
    /// Every reason, most fundamental first.
    pub reasons: Vec<String>,
}

/// paywire's error. Swift: `PaywireError`; Kotlin: `PaywireException`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PaywireError {
    /// The input cannot be read (a malformed header, body or argument): the sender must fix it.
    #[error("[{code}] {detail}")]
    MalformedInput { code: String, detail: String, payer: Option<String>, refusals: Vec<OfferRefusal> },
    /// The payment or offer was read and refused (no match, bad signature, expired, over budget...).
    #[error("[{code}] {detail}")]
    Refused { code: String, detail: String, payer: Option<String>, refusals: Vec<OfferRefusal> },
    /// The caller's own setup is wrong (unknown network, bad price, bad argument).
    #[error("[{code}] {detail}")]
    Configuration { code: String, detail: String, payer: Option<String>, refusals: Vec<OfferRefusal> },
    /// Something failed on this side (the signer, randomness).
    #[error("[{code}] {detail}")]
    Local { code: String, detail: String, payer: Option<String>, refusals: Vec<OfferRefusal> },
    /// The facilitator or server answered without the x402 shape, or not at all.
    #[error("[{code}] {detail}")]
    Upstream { code: String, detail: String, payer: Option<String>, refusals: Vec<OfferRefusal> },
}

impl PaywireError {
    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            Self::MalformedInput { code, .. }
            | Self::Refused { code, .. }
            | Self::Configuration { code, .. }
            | Self::Local { code, .. }
            | Self::Upstream { code, .. } => code,
        }
    }

    /// The message.
    pub fn detail(&self) -> &str {
        match self {
            Self::MalformedInput { detail, .. }
            | Self::Refused { detail, .. }
            | Self::Configuration { detail, .. }
            | Self::Local { detail, .. }
            | Self::Upstream { detail, .. } => detail,
        }
    }
}

impl From<paywire_core::Error> for PaywireError {
    fn from(error: paywire_core::Error) -> Self {
        let code = error.code().as_str().to_string();
        let detail = error.message().to_string();
        let payer = error.payer().map(str::to_string);
        let refusals = error
            .refusals()
            .iter()
            .map(|r| OfferRefusal {
                index: u32::try_from(r.index).unwrap_or(u32::MAX),
                offer: r.offer.clone(),
                reasons: r.reasons.clone(),
            })
            .collect();
        match error.code().category() {
            Category::MalformedInput => Self::MalformedInput { code, detail, payer, refusals },
            Category::Refused => Self::Refused { code, detail, payer, refusals },
            Category::Configuration => Self::Configuration { code, detail, payer, refusals },
            Category::Local => Self::Local { code, detail, payer, refusals },
            Category::Upstream => Self::Upstream { code, detail, payer, refusals },
        }
    }
}

/// A Swift or Kotlin signer that threw something other than a `PaywireError` (a crash in the callback).
impl From<uniffi::UnexpectedUniFFICallbackError> for PaywireError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        bad(paywire_core::ErrorCode::SignerFailed, format!("the signer failed: {}", error.reason))
    }
}

/// An error with a code and message.
pub fn bad(code: paywire_core::ErrorCode, detail: impl Into<String>) -> PaywireError {
    paywire_core::Error::new(code, detail.into()).into()
}

/// An `invalid_argument` error.
pub fn bad_argument(detail: impl Into<String>) -> PaywireError {
    bad(paywire_core::ErrorCode::InvalidArgument, detail)
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, PaywireError>;
