//! paywire's error in Swift and Kotlin: one type whose case is the error's category, each case carrying the
//! stable code (x402's reason string where x402 has one), a message a person can act on, the payer when
//! known and, for a payer's refusal, why each offer was refused.

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

/// paywire's error. Swift: `PaywireError.failure`; Kotlin: `PaywireException.Failure`. One case carrying the
/// same fields in every language: the stable `code` (x402's reason string where x402 has one), the
/// `category` the core decides (`malformed_input`, `refused`, `configuration`, `local`, `upstream`), a
/// `detail` a person can act on, the payer when known and, for a payer's refusal, why each offer was refused.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PaywireError {
    /// Every paywire failure.
    #[error("[{code}] {detail}")]
    Failure { code: String, category: String, detail: String, payer: Option<String>, refusals: Vec<OfferRefusal> },
}

/// An error's fields as a record, for steps that hand an error to the glue (which throws it).
#[derive(Debug, Clone, uniffi::Record)]
pub struct ErrorDetails {
    /// The stable code.
    pub code: String,
    /// The category the core decides.
    pub category: String,
    /// What was wrong and what to do.
    pub detail: String,
    /// The payer, when known.
    pub payer: Option<String>,
    /// Why each offer was refused (a payer's refusal).
    pub refusals: Vec<OfferRefusal>,
}

impl PaywireError {
    /// The stable code.
    pub fn code(&self) -> &str {
        let Self::Failure { code, .. } = self;
        code
    }

    /// The message.
    pub fn detail(&self) -> &str {
        let Self::Failure { detail, .. } = self;
        detail
    }
}

impl From<&paywire_core::Error> for ErrorDetails {
    fn from(error: &paywire_core::Error) -> Self {
        ErrorDetails {
            code: error.code().as_str().to_string(),
            category: error.category().as_str().to_string(),
            detail: error.message().to_string(),
            payer: error.payer().map(str::to_string),
            refusals: error
                .refusals()
                .iter()
                .map(|r| OfferRefusal {
                    index: u32::try_from(r.index).unwrap_or(u32::MAX),
                    offer: r.offer.clone(),
                    reasons: r.reasons.clone(),
                })
                .collect(),
        }
    }
}

impl From<paywire_core::Error> for PaywireError {
    fn from(error: paywire_core::Error) -> Self {
        let d = ErrorDetails::from(&error);
        PaywireError::Failure {
            code: d.code,
            category: d.category,
            detail: d.detail,
            payer: d.payer,
            refusals: d.refusals,
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

/// The details of an error with a known code, as the core makes it (its category is the core's), for glue
/// code that raises paywire's errors.
#[uniffi::export]
pub fn error_details(code: String, detail: String) -> ErrorDetails {
    match paywire_core::Error::from_code_str(&code, detail) {
        Ok(e) | Err(e) => ErrorDetails::from(&e),
    }
}
