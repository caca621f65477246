//! The paid-resource side: price tags, bills, taking payments, offline verification, receipts headers.

use paywire_core::ResourceInfo;
use paywire_core::assets::TransferMethod;
use paywire_core::server as core;
use paywire_core::verify::{self, SignatureCheck, VerifyOptions};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::convert::{headers_from_py, now_or_system, object_from_py, u256_from_py, u256_to_py};
use crate::errors::OrRaise;
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse, VerifyResponse};

/// One way to pay for a route: a price on a network to a payee.
#[pyclass(frozen, from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct PriceTag(pub core::PriceTag);

#[pymethods]
impl PriceTag {
    /// A USD `price` ("$0.01") paid in the network's default stablecoin, or an exact `amount` (atomic units)
    /// of the token `asset` (whose EIP-712 `eip712_name`/`eip712_version` are needed unless it is a known
    /// stablecoin). `extensions` are declared on the bill. `scheme="upto"` makes the price a maximum: the
    /// handler reports what a request charges (the `Settlement-Overrides` response header), and
    /// `extra["facilitatorAddress"]` names the facilitator that settles it.
    #[new]
    #[pyo3(signature = (network, pay_to, price=None, *, amount=None, asset=None, eip712_name=None,
        eip712_version=None, transfer_method=None, max_timeout_seconds=None, extra=None, extensions=None,
        scheme=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        network: String,
        pay_to: String,
        price: Option<String>,
        amount: Option<&Bound<'_, PyAny>>,
        asset: Option<&str>,
        eip712_name: Option<String>,
        eip712_version: Option<String>,
        transfer_method: Option<&str>,
        max_timeout_seconds: Option<u64>,
        extra: Option<&Bound<'_, PyAny>>,
        extensions: Option<&Bound<'_, PyAny>>,
        scheme: Option<String>,
    ) -> PyResult<Self> {
        let spec = core::PriceTagSpec {
            network,
            pay_to,
            price,
            amount: amount.map(u256_from_py).transpose()?,
            asset: asset.map(str::to_string),
            eip712_name,
            eip712_version,
            transfer_method: transfer_method.map(str::to_string),
            scheme,
            max_timeout_seconds,
            extra: object_from_py(extra)?,
            extensions: object_from_py(extensions)?,
        };
        core::PriceTag::from_spec(spec).or_raise(py).map(Self)
    }

    /// The offer this tag becomes in a bill of `x402_version` for `resource_url`.
    #[pyo3(signature = (resource_url, x402_version=2))]
    fn to_requirements(&self, py: Python<'_>, resource_url: &str, x402_version: u8) -> PyResult<PaymentRequirements> {
        self.0.to_requirements(x402_version, &ResourceInfo::new(resource_url)).or_raise(py).map(PaymentRequirements)
    }

    fn __repr__(&self) -> String {
        format!("PriceTag({:?} on {} to {})", self.0.price, self.0.network, self.0.pay_to)
    }
}

/// The bill for a resource from its price tags.
#[pyfunction]
#[pyo3(signature = (resource_url, tags, *, x402_version=2, description=None, mime_type=None))]
fn build_payment_required(
    py: Python<'_>,
    resource_url: &str,
    tags: Vec<PriceTag>,
    x402_version: u8,
    description: Option<String>,
    mime_type: Option<String>,
) -> PyResult<PaymentRequired> {
    let mut resource = ResourceInfo::new(resource_url);
    resource.description = description;
    resource.mime_type = mime_type;
    let tags: Vec<core::PriceTag> = tags.into_iter().map(|t| t.0).collect();
    core::build_payment_required(x402_version, resource, &tags).or_raise(py).map(PaymentRequired)
}

/// The payment a request carries (`PAYMENT-SIGNATURE`, else `X-PAYMENT`, any case), or None.
#[pyfunction]
fn read_payment(py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<Option<PaymentPayload>> {
    let headers = headers_from_py(headers)?;
    core::read_payment(&headers).or_raise(py).map(|p| p.map(PaymentPayload))
}

/// What offline verification established about a payment.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct VerifiedPayment(verify::VerifiedPayment);

#[pymethods]
impl VerifiedPayment {
    /// Atomic units.
    #[getter]
    fn amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.0.amount)
    }
    /// Valid strictly before this Unix time.
    #[getter]
    fn valid_before<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.0.valid_before)
    }
    /// The facilitator-style verdict.
    fn to_verify_response(&self) -> VerifyResponse {
        VerifyResponse(self.0.to_verify_response())
    }
    fn __repr__(&self) -> String {
        let sig = match self.0.signature {
            SignatureCheck::Recovered => "recovered",
            SignatureCheck::RequiresOnchain { .. } => "requires on-chain check",
        };
        format!("VerifiedPayment(payer={}, amount={}, signature={sig})", self.payer(), self.0.amount)
    }
}

getters!(VerifiedPayment {
    /// The payer.
    payer -> String = |v| v.payer.to_checksum(None);
    /// Chain id.
    chain_id -> u64 = |v| v.chain_id;
    /// Token.
    asset -> String = |v| v.asset.to_checksum(None);
    /// Recipient.
    pay_to -> String = |v| v.pay_to.to_checksum(None);
    /// "eip3009" or "permit2".
    method -> &'static str = |v| if v.method == TransferMethod::Permit2 { "permit2" } else { "eip3009" };
    /// The authorization nonce, hex.
    nonce -> String = |v| v.nonce.to_string();
    /// False when only an on-chain check can judge the signature (a smart wallet).
    fully_verified -> bool = |v| v.is_fully_verified();
});

/// A payment matched to the server's offer and verified offline.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct AcceptedPayment(pub core::AcceptedPayment);

#[pymethods]
impl AcceptedPayment {
    /// The JSON body of `/verify` and `/settle`.
    fn facilitator_request(&self) -> String {
        self.0.facilitator_request().to_json()
    }
    fn __repr__(&self) -> String {
        format!(
            "AcceptedPayment(offer_index={}, payer={}, amount={})",
            self.0.offer_index,
            self.0.verified.payer.to_checksum(None),
            self.0.verified.amount
        )
    }
}

getters!(AcceptedPayment {
    /// The payment as the client sent it.
    payment -> PaymentPayload = |v| PaymentPayload(v.payment.clone());
    /// The server's own offer it pays.
    requirements -> PaymentRequirements = |v| PaymentRequirements(v.requirements.clone());
    /// The offer's index in the bill.
    offer_index -> usize = |v| v.offer_index;
    /// What offline verification established.
    verified -> VerifiedPayment = |v| VerifiedPayment(v.verified.clone());
    /// The payment-identifier id, if any.
    payment_id -> Option<&str> = |v| v.payment_id.as_deref();
});

/// Matches a payment to the bill, checks extension echoes and a required payment id, and verifies it
/// offline (EOA signatures only unless `allow_onchain_signatures`).
#[pyfunction]
#[pyo3(signature = (bill, payment, now=None, *, allow_onchain_signatures=false))]
fn check_payment(
    py: Python<'_>,
    bill: &PaymentRequired,
    payment: &PaymentPayload,
    now: Option<u64>,
    allow_onchain_signatures: bool,
) -> PyResult<AcceptedPayment> {
    let options = VerifyOptions { allow_onchain_signatures };
    py.detach(|| core::check_payment_with(&bill.0, &payment.0, now_or_system(now), &options))
        .or_raise(py)
        .map(AcceptedPayment)
}

/// Verifies a payment offline against one offer.
#[pyfunction]
#[pyo3(signature = (payment, requirements, now=None, *, allow_onchain_signatures=false))]
fn verify_payment(
    py: Python<'_>,
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    now: Option<u64>,
    allow_onchain_signatures: bool,
) -> PyResult<VerifiedPayment> {
    let options = VerifyOptions { allow_onchain_signatures };
    py.detach(|| verify::verify_payment_with(&payment.0, &requirements.0, now_or_system(now), &options))
        .or_raise(py)
        .map(VerifiedPayment)
}

/// Offline verification as a facilitator-style verdict (`is_valid`, `invalid_reason`, `payer`) instead of an
/// exception.
#[pyfunction]
#[pyo3(signature = (payment, requirements, now=None, *, allow_onchain_signatures=false))]
fn verify_to_response(
    py: Python<'_>,
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    now: Option<u64>,
    allow_onchain_signatures: bool,
) -> VerifyResponse {
    let options = VerifyOptions { allow_onchain_signatures };
    let result = py.detach(|| verify::verify_payment_with(&payment.0, &requirements.0, now_or_system(now), &options));
    VerifyResponse(match result {
        Ok(v) => v.to_verify_response(),
        Err(e) => paywire_core::VerifyResponse::invalid(&e),
    })
}

/// Offline check of a batch-settlement payment's voucher for `requirements` (the channel is the offer's, the
/// voucher the payer's signature), as a `/verify` answer; what only the chain knows is not checked.
#[pyfunction]
fn verify_voucher(py: Python<'_>, payment: &PaymentPayload, requirements: &PaymentRequirements) -> VerifyResponse {
    VerifyResponse(py.detach(|| paywire_core::batch::verify_voucher(&payment.0, &requirements.0)))
}

/// The settlement header for the client: (`PAYMENT-RESPONSE` or `X-PAYMENT-RESPONSE`, value), carrying only
/// the members x402 defines.
#[pyfunction]
fn settlement_header(x402_version: u8, settlement: &SettleResponse) -> (&'static str, String) {
    core::settlement_header(x402_version, &settlement.0)
}

/// The HTTP status for a `PaywireError` (or its code): 400 unreadable payment, 500 the server's own offer
/// at fault, 402 any other refusal.
#[pyfunction]
fn status_for(py: Python<'_>, error: &Bound<'_, PyAny>) -> PyResult<u16> {
    let code: String =
        if error.is_instance_of::<PyString>() { error.extract()? } else { error.getattr("code")?.extract()? };
    Ok(paywire_core::Error::from_code_str(&code, "").or_raise(py)?.http_status())
}

/// The HTTP status for a facilitator's `invalidReason`: 412 for `permit2_allowance_required`, else 402.
#[pyfunction]
fn status_for_reason(reason: &str) -> u16 {
    core::status_for_reason(reason)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PriceTag>()?;
    m.add_class::<AcceptedPayment>()?;
    m.add_class::<VerifiedPayment>()?;
    m.add_function(wrap_pyfunction!(build_payment_required, m)?)?;
    m.add_function(wrap_pyfunction!(read_payment, m)?)?;
    m.add_function(wrap_pyfunction!(check_payment, m)?)?;
    m.add_function(wrap_pyfunction!(verify_payment, m)?)?;
    m.add_function(wrap_pyfunction!(verify_to_response, m)?)?;
    m.add_function(wrap_pyfunction!(verify_voucher, m)?)?;

    m.add_function(wrap_pyfunction!(settlement_header, m)?)?;
    m.add_function(wrap_pyfunction!(status_for, m)?)?;
    m.add_function(wrap_pyfunction!(status_for_reason, m)?)?;
    Ok(())
}
