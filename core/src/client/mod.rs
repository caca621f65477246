//! The paying side: policy, payer, and reading the server's settlement receipt.

mod payer;
mod policy;

pub use payer::{
    DEFAULT_EXPIRY_MARGIN, PayExtras, Payer, PayerOptions, PaymentHeader, Prepared, PreparedPayment, REUSE_MARGIN,
    V1_VALID_AFTER_LEAD,
};
pub use policy::{AllowedAsset, DEFAULT_MAX_PER_PAYMENT, Policy};

use crate::codec::{self, header};
use crate::error::Result;
use crate::types::SettleResponse;

/// Reads the settlement receipt of a response: `PAYMENT-RESPONSE`, else `X-PAYMENT-RESPONSE` (any letter
/// case). `Ok(None)` when the response carries neither.
pub fn read_settlement<'a, I, K, V>(headers: I) -> Result<Option<SettleResponse>>
where
    I: IntoIterator<Item = &'a (K, V)> + Clone,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    let value = codec::find_header(headers.clone(), header::PAYMENT_RESPONSE)
        .or_else(|| codec::find_header(headers, header::X_PAYMENT_RESPONSE));
    value.map(SettleResponse::from_header).transpose()
}

/// Whether a request already carries a payment (`PAYMENT-SIGNATURE` or `X-PAYMENT`): paying again for it
/// would pay twice.
pub fn carries_payment<'a, I, K, V>(headers: I) -> bool
where
    I: IntoIterator<Item = &'a (K, V)> + Clone,
    K: AsRef<str> + 'a,
    V: AsRef<str> + 'a,
{
    codec::find_header(headers.clone(), header::PAYMENT_SIGNATURE).is_some()
        || codec::find_header(headers, header::X_PAYMENT).is_some()
}
