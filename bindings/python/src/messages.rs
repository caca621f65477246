//! The x402 messages as Python classes: thin wrappers that keep the core's exact JSON text.

use paywire_core as core;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{body_from_py, headers_from_py, object_to_py, repr_bool, repr_str, to_py, u256_to_py};
use crate::errors::OrRaise;
use crate::getters::getters;

/// A bill: the offers (`accepts`) a server takes for a resource.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct PaymentRequired(pub core::PaymentRequired);

#[pymethods]
impl PaymentRequired {
    /// Parses a v2 `PAYMENT-REQUIRED` header value.
    #[staticmethod]
    fn from_header(py: Python<'_>, value: &str) -> PyResult<Self> {
        core::PaymentRequired::from_header(value).or_raise(py).map(Self)
    }

    /// Parses a bill from JSON text (v1 or v2).
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::PaymentRequired::from_json(text).or_raise(py).map(Self)
    }

    /// Parses a v1 402 body.
    #[staticmethod]
    fn from_body(py: Python<'_>, body: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = body_from_py(Some(body))?;
        core::PaymentRequired::from_body(&bytes).or_raise(py).map(Self)
    }

    /// Reads the bill of a 402 response: the `PAYMENT-REQUIRED` header (any case), else a v1 JSON body.
    #[staticmethod]
    #[pyo3(signature = (headers, body=None))]
    fn from_response(py: Python<'_>, headers: &Bound<'_, PyAny>, body: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let headers = headers_from_py(headers)?;
        let body = body_from_py(body)?;
        core::PaymentRequired::from_response(&headers, &body).or_raise(py).map(Self)
    }

    /// v2: the resource, as a dict (`url`, `description`, `mimeType`, ...).
    #[getter]
    fn resource<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0.resource.as_ref().map(|r| to_py(py, &serde_json::to_value(r).unwrap_or_default())).transpose()
    }

    /// v2 extensions, as a dict.
    #[getter]
    fn extensions<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.0.extensions.as_ref().map(|x| object_to_py(py, x)).transpose()
    }

    /// The same bill with another `error` text (why payment is required, or why a payment failed).
    fn with_error(&self, error: &str) -> Self {
        let mut bill = self.0.clone();
        bill.error = Some(error.to_string());
        Self(bill)
    }

    /// The `PAYMENT-REQUIRED` header value.
    fn to_header(&self) -> String {
        self.0.to_header()
    }

    /// Compact JSON.
    fn to_json(&self) -> String {
        self.0.to_json()
    }

    /// The bill as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &serde_json::from_str(&self.0.to_json()).unwrap_or_default())
    }

    fn __repr__(&self) -> String {
        format!("PaymentRequired(x402_version={}, offers={})", self.0.x402_version, self.0.accepts.len())
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

getters!(PaymentRequired {
    /// 1 or 2.
    x402_version -> u8 = |v| v.x402_version;
    /// Why payment is required.
    error -> Option<String> = |v| v.error.clone();
    /// The offers.
    accepts -> Vec<PaymentRequirements> = |v| v.accepts.iter().cloned().map(PaymentRequirements).collect();
});

/// One offer of a bill.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct PaymentRequirements(pub core::PaymentRequirements);

#[pymethods]
impl PaymentRequirements {
    /// Parses one offer from JSON text (v1 if it has `maxAmountRequired`).
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::PaymentRequirements::from_json(text).or_raise(py).map(Self)
    }

    /// Amount in atomic units.
    #[getter]
    fn amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.0.amount())
    }
    /// Scheme data (EIP-712 `name`/`version`, ...), as a dict.
    #[getter]
    fn extra<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.0.extra().map(|x| object_to_py(py, x)).transpose()
    }
    /// The offer as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.to_value())
    }
    /// One line: scheme, network, amount, asset, payee.
    fn summary(&self) -> String {
        self.0.summary()
    }
    fn __repr__(&self) -> String {
        format!("PaymentRequirements({})", self.0.summary())
    }
    fn __eq__(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

getters!(PaymentRequirements {
    /// x402 version of the offer's shape.
    version -> u8 = |v| v.version();
    /// Scheme ("exact").
    scheme -> &str = |v| v.scheme();
    /// Network as written.
    network -> &str = |v| v.network();
    /// Token address as written.
    asset -> &str = |v| v.asset();
    /// Payee as written.
    pay_to -> &str = |v| v.pay_to();
    /// Seconds allowed to complete the payment.
    max_timeout_seconds -> u64 = |v| v.max_timeout_seconds();
    /// The exact JSON text.
    raw_json -> &str = |v| v.raw_json();
});

/// A payment (the client's signed payload).
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct PaymentPayload(pub core::PaymentPayload);

#[pymethods]
impl PaymentPayload {
    /// Parses a `PAYMENT-SIGNATURE` or `X-PAYMENT` header value.
    #[staticmethod]
    fn from_header(py: Python<'_>, value: &str) -> PyResult<Self> {
        core::PaymentPayload::from_header(value).or_raise(py).map(Self)
    }
    /// Parses a payment from JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::PaymentPayload::from_json(text).or_raise(py).map(Self)
    }
    /// The scheme payload (signature and authorization), as a dict.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        object_to_py(py, self.0.payload())
    }
    /// v2 extensions, as a dict.
    #[getter]
    fn extensions<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.0.extensions().map(|x| object_to_py(py, x)).transpose()
    }
    /// The header value.
    fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The payment as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.to_value())
    }
    fn __repr__(&self) -> String {
        format!("PaymentPayload(x402_version={}, network={})", self.0.x402_version(), repr_str(Some(self.0.network())))
    }
    fn __eq__(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

getters!(PaymentPayload {
    /// 1 or 2.
    x402_version -> u8 = |v| v.x402_version();
    /// Scheme paid under.
    scheme -> &str = |v| v.scheme();
    /// Network paid on.
    network -> &str = |v| v.network();
    /// v2: the offer accepted, exactly as echoed.
    accepted -> Option<PaymentRequirements> = |v| v.accepted().cloned().map(PaymentRequirements);
    /// The exact JSON text.
    raw_json -> &str = |v| v.raw_json();
    /// `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    header_name -> &'static str = |v| v.header_name();
    /// The last Unix second at which offline verification accepts its time window; None when it is not an
    /// `exact` EVM payment.
    last_acceptable_time -> Option<u64> = |v| core::verify::last_acceptable_time(v);
});

/// A settlement receipt (`PAYMENT-RESPONSE`) or a facilitator's `/settle` answer.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct SettleResponse(pub core::SettleResponse);

#[pymethods]
impl SettleResponse {
    /// Parses a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value.
    #[staticmethod]
    fn from_header(py: Python<'_>, value: &str) -> PyResult<Self> {
        core::SettleResponse::from_header(value).or_raise(py).map(Self)
    }
    /// Parses a facilitator's `/settle` answer.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::SettleResponse::from_json(text).or_raise(py).map(Self)
    }
    /// Extension data (e.g. an offer-receipt receipt), as a dict.
    #[getter]
    fn extensions<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.0.extensions.as_ref().map(|x| object_to_py(py, x)).transpose()
    }
    /// The header value with every member.
    fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The receipt without the facilitator's non-x402 members (what a buyer is sent).
    fn for_client(&self) -> Self {
        Self(self.0.for_client())
    }
    /// The same receipt with extension `key` set to `value` (e.g. an offer-receipt signed receipt).
    fn with_extension(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut settled = self.0.clone();
        settled
            .extensions
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), crate::convert::from_py(value)?);
        Ok(Self(settled))
    }
    /// Compact JSON.
    fn to_json(&self) -> String {
        self.0.to_json()
    }
    /// As a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &serde_json::to_value(&self.0).unwrap_or_default())
    }
    fn __repr__(&self) -> String {
        format!(
            "SettleResponse(success={}, transaction={})",
            repr_bool(self.0.success),
            repr_str(Some(&self.0.transaction))
        )
    }
}

getters!(SettleResponse {
    /// Whether the payment was settled.
    success -> bool = |v| v.success;
    /// Transaction hash ("" when nothing was broadcast).
    transaction -> &str = |v| &v.transaction;
    /// Network.
    network -> &str = |v| &v.network;
    /// Payer, when known.
    payer -> Option<&str> = |v| v.payer.as_deref();
    /// Why it failed (an x402 reason).
    error_reason -> Option<&str> = |v| v.error_reason.as_deref();
    /// A readable explanation.
    error_message -> Option<&str> = |v| v.error_message.as_deref();
    /// Broadcast but not yet confirmed: do not pay again.
    is_pending -> bool = |v| v.is_pending();
});

/// A facilitator's `/verify` answer.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct VerifyResponse(pub core::VerifyResponse);

#[pymethods]
impl VerifyResponse {
    /// Parses a `/verify` answer.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::VerifyResponse::from_json(text).or_raise(py).map(Self)
    }
    /// Compact JSON.
    fn to_json(&self) -> String {
        self.0.to_json()
    }
    /// As a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &serde_json::to_value(&self.0).unwrap_or_default())
    }
    fn __repr__(&self) -> String {
        format!(
            "VerifyResponse(is_valid={}, invalid_reason={})",
            repr_bool(self.0.is_valid),
            repr_str(self.0.invalid_reason.as_deref())
        )
    }
}

getters!(VerifyResponse {
    /// Whether the payment is valid.
    is_valid -> bool = |v| v.is_valid;
    /// Why not (an x402 reason).
    invalid_reason -> Option<&str> = |v| v.invalid_reason.as_deref();
    /// A readable explanation.
    invalid_message -> Option<&str> = |v| v.invalid_message.as_deref();
    /// Payer, when known.
    payer -> Option<&str> = |v| v.payer.as_deref();
});

/// A facilitator's `/supported` answer.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct SupportedResponse(pub core::SupportedResponse);

#[pymethods]
impl SupportedResponse {
    /// Parses a `/supported` answer.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::SupportedResponse::from_json(text).or_raise(py).map(Self)
    }
    /// Whether the facilitator handles `scheme` on `network` for `x402_version`.
    fn supports(&self, x402_version: u8, scheme: &str, network: &str) -> bool {
        self.0.supports(x402_version, scheme, network)
    }
    /// As a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &serde_json::to_value(&self.0).unwrap_or_default())
    }
    fn __repr__(&self) -> String {
        format!("SupportedResponse(kinds={})", self.0.kinds.len())
    }
}

/// The settlement receipt a response carries (`PAYMENT-RESPONSE`, else `X-PAYMENT-RESPONSE`, any case), or None.
#[pyfunction]
pub fn read_settlement(py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<Option<SettleResponse>> {
    let headers = headers_from_py(headers)?;
    core::client::read_settlement(&headers).or_raise(py).map(|s| s.map(SettleResponse))
}

/// Whether a request already carries a payment (`PAYMENT-SIGNATURE` or `X-PAYMENT`, any case): paying again
/// for it would pay twice.
#[pyfunction]
pub fn carries_payment(headers: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(core::client::carries_payment(&headers_from_py(headers)?))
}

/// Whether a paid request's outcome is still open after an answer with `status` (and its decoded
/// settlement, if any): then the payment must stay remembered for a retry, so do not `forget` it.
#[pyfunction]
#[pyo3(signature = (status, settlement=None))]
pub fn outcome_is_open(status: u16, settlement: Option<&SettleResponse>) -> bool {
    core::client::outcome_is_open(status, settlement.map(|s| &s.0))
}

/// The body of `/verify` and `/settle`: the payment as received and the server's own offer.
#[pyfunction]
pub fn facilitator_request(payment: &PaymentPayload, requirements: &PaymentRequirements) -> String {
    core::FacilitatorRequest::new(payment.0.clone(), requirements.0.clone()).to_json()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PaymentRequired>()?;
    m.add_class::<PaymentRequirements>()?;
    m.add_class::<PaymentPayload>()?;
    m.add_class::<SettleResponse>()?;
    m.add_class::<VerifyResponse>()?;
    m.add_class::<SupportedResponse>()?;
    m.add_function(wrap_pyfunction!(facilitator_request, m)?)?;
    m.add_function(wrap_pyfunction!(read_settlement, m)?)?;
    m.add_function(wrap_pyfunction!(carries_payment, m)?)?;
    m.add_function(wrap_pyfunction!(outcome_is_open, m)?)?;
    Ok(())
}
