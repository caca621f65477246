//! The x402 messages, v1 and v2, as paywire reads and writes them.

mod facilitator;
mod payload;
pub(crate) mod raw;
mod required;
mod requirements;

pub use facilitator::{
    FacilitatorRequest, SETTLEMENT_PENDING, SettleResponse, SupportedKind, SupportedResponse, VerifyResponse,
};
pub use payload::PaymentPayload;
pub use required::{PaymentRequired, ResourceInfo};
pub use requirements::PaymentRequirements;
pub(crate) use requirements::{object_contains, same_address};
