//! The paid-resource side: bills from price tags, matching and offline checks of payments, the facilitator
//! request bodies, and the settlement receipt header.

mod bill;
mod check;
pub mod gate;
pub mod redis;
pub mod routes;
pub mod store;

pub use bill::{DEFAULT_MAX_TIMEOUT_SECONDS, Price, PriceTag, PriceTagSpec, build_payment_required, check_version};
pub use check::{
    AcceptedPayment, NO_MATCHING_REQUIREMENTS, check_owned_payment, check_payment, check_payment_with, match_offer,
    read_payment, settlement_header, status_for, status_for_reason,
};
