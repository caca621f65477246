//! Signed offers and receipts (the x402 offer-receipt extension) and receipts as access credentials.

use std::sync::Arc;

use paywire_core::credentials::{self as core, CredentialFormat, Statement, access};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{address_from_py, from_py, headers_from_py, now_or_system, to_py};
use crate::errors::{OrRaise, bad_argument};
use crate::getters::getters;
use crate::messages::{PaymentRequired, PaymentRequirements, SettleResponse};
use crate::signing::{LocalSigner, signer_from_py};

fn format_from(py: Python<'_>, format: &str) -> PyResult<CredentialFormat> {
    match format {
        "eip712" => Ok(CredentialFormat::Eip712),
        "jws" => Ok(CredentialFormat::Jws),
        other => Err(bad_argument(py, format!("credential format {other:?} is neither \"eip712\" nor \"jws\""))),
    }
}

fn trusted_from(py: Python<'_>, trusted: Vec<String>) -> PyResult<Vec<paywire_core::Address>> {
    trusted.iter().map(|a| address_from_py(py, a)).collect()
}

fn verified_to_py<'py, P: Statement>(py: Python<'py>, v: &core::Verified<P>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("signer", v.signer.to_checksum(None))?;
    d.set_item("payload", to_py(py, &v.payload.to_json())?)?;
    Ok(d)
}

/// A signed offer.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct SignedOffer(core::SignedOffer);

#[pymethods]
impl SignedOffer {
    /// Reads an offer from its wire dict (the signature is checked by `verify`).
    #[staticmethod]
    fn from_dict(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        core::SignedOffer::from_value(&from_py(value)?).or_raise(py).map(Self)
    }
    /// Reads an offer from JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::SignedOffer::from_json(text).or_raise(py).map(Self)
    }
    /// What it states (unverified until `verify`).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.payload.to_json())
    }
    /// Checks the signature against `trusted` addresses and expiry at `now`; returns `{signer, payload}`.
    #[pyo3(signature = (trusted, now=None))]
    fn verify<'py>(&self, py: Python<'py>, trusted: Vec<String>, now: Option<u64>) -> PyResult<Bound<'py, PyDict>> {
        let trusted = trusted_from(py, trusted)?;
        let v = self.0.verify(&trusted, now_or_system(now)).or_raise(py)?;
        verified_to_py(py, &v)
    }
    /// Whether it describes this offer.
    fn describes(&self, requirements: &PaymentRequirements) -> bool {
        self.0.payload.describes(&requirements.0)
    }
    /// The wire dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.to_json())
    }
    fn __repr__(&self) -> String {
        let index = self.0.accept_index.map_or("None".to_string(), |i| i.to_string());
        format!("SignedOffer(format='{}', accept_index={index})", self.0.format.as_str())
    }
}

getters!(SignedOffer {
    /// "eip712" or "jws".
    format -> &'static str = |v| v.format.as_str();
    /// The offer's index in `accepts` (a hint).
    accept_index -> Option<u64> = |v| v.accept_index;
});

/// A signed receipt.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct SignedReceipt(core::SignedReceipt);

#[pymethods]
impl SignedReceipt {
    /// Reads a receipt from its wire dict.
    #[staticmethod]
    fn from_dict(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        core::SignedReceipt::from_value(&from_py(value)?).or_raise(py).map(Self)
    }
    /// Reads a receipt from JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        core::SignedReceipt::from_json(text).or_raise(py).map(Self)
    }
    /// Reads a receipt presented as a header value.
    #[staticmethod]
    fn from_header(py: Python<'_>, value: &str) -> PyResult<Self> {
        core::SignedReceipt::from_header(value).or_raise(py).map(Self)
    }
    /// What it states (unverified until `verify`).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.payload.to_json())
    }
    /// Checks the signature against `trusted` addresses; returns `{signer, payload}`.
    fn verify<'py>(&self, py: Python<'py>, trusted: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
        let trusted = trusted_from(py, trusted)?;
        let v = self.0.verify(&trusted).or_raise(py)?;
        verified_to_py(py, &v)
    }
    /// The receipt as a header value, to present it as an access credential.
    fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// The wire dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.to_json())
    }
    fn __repr__(&self) -> String {
        format!("SignedReceipt(format='{}', payer='{}')", self.0.format.as_str(), self.0.payload.payer)
    }
}

getters!(SignedReceipt {
    /// "eip712" or "jws".
    format -> &'static str = |v| v.format.as_str();
});

/// Issues signed offers and receipts with one key.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct Issuer(Arc<core::Issuer>);

impl Issuer {
    /// The core issuer, shared with a gate.
    pub fn shared(&self) -> Arc<core::Issuer> {
        self.0.clone()
    }
}

#[pymethods]
impl Issuer {
    /// An issuer signing with `signer` in `format` ("eip712" or "jws"). A `LocalSigner`'s JWS key id is its
    /// `did:key`; other signers need a `kid`.
    #[new]
    #[pyo3(signature = (signer, format="eip712", kid=None))]
    fn new(py: Python<'_>, signer: &Bound<'_, PyAny>, format: &str, kid: Option<String>) -> PyResult<Self> {
        let format = format_from(py, format)?;
        let kid = match (kid, signer.cast::<LocalSigner>()) {
            (Some(kid), _) => kid,
            (None, Ok(local)) => core::jws::did_key_kid(&local.get().0.compressed_public_key()),
            (None, Err(_)) if format == CredentialFormat::Eip712 => String::new(),
            (None, Err(_)) => {
                return Err(bad_argument(py, "a JWS issuer needs a kid for a signer other than LocalSigner"));
            }
        };
        Ok(Self(Arc::new(core::Issuer::new(signer_from_py(signer)?, format, kid))))
    }
    /// Signs an offer for `requirements` at `accept_index`, valid until `valid_until` (Unix seconds).
    fn issue_offer(
        &self,
        py: Python<'_>,
        requirements: &PaymentRequirements,
        resource_url: &str,
        accept_index: usize,
        valid_until: u64,
    ) -> PyResult<SignedOffer> {
        self.0.issue_offer(&requirements.0, resource_url, accept_index, valid_until).or_raise(py).map(SignedOffer)
    }
    /// Signs a receipt: `payer` paid for `resource_url` on `network` (at `issued_at`, default now).
    #[pyo3(signature = (resource_url, payer, network, transaction=None, issued_at=None))]
    fn issue_receipt(
        &self,
        py: Python<'_>,
        resource_url: &str,
        payer: &str,
        network: &str,
        transaction: Option<&str>,
        issued_at: Option<u64>,
    ) -> PyResult<SignedReceipt> {
        self.0
            .issue_receipt(resource_url, payer, network, transaction, now_or_system(issued_at))
            .or_raise(py)
            .map(SignedReceipt)
    }
    /// The bill with one signed offer per entry in its `offer-receipt` extension.
    #[pyo3(signature = (bill, now=None, validity=None))]
    fn sign_bill(
        &self,
        py: Python<'_>,
        bill: &PaymentRequired,
        now: Option<u64>,
        validity: Option<u64>,
    ) -> PyResult<PaymentRequired> {
        let mut signed = bill.0.clone();
        self.0.sign_bill(&mut signed, now_or_system(now), validity).or_raise(py)?;
        Ok(PaymentRequired(signed))
    }
}

getters!(Issuer {
    /// The issuing address (what verifiers trust).
    address -> String = |v| v.address().to_checksum(None);
    /// The JWS key id.
    kid -> &str = |v| v.kid();
});

/// Which receipts a server accepts instead of a new payment.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct AccessPolicy(Arc<access::AccessPolicy>);

impl AccessPolicy {
    /// The core policy, for a gate.
    pub fn policy(&self) -> access::AccessPolicy {
        (*self.0).clone()
    }
}

#[pymethods]
impl AccessPolicy {
    /// Receipts signed by one of `trusted` grant access for `lifetime_seconds` after issue.
    #[new]
    #[pyo3(signature = (trusted, lifetime_seconds, *, networks=None, max_clock_skew=60))]
    fn new(
        py: Python<'_>,
        trusted: Vec<String>,
        lifetime_seconds: u64,
        networks: Option<Vec<String>>,
        max_clock_skew: u64,
    ) -> PyResult<Self> {
        let mut policy = access::AccessPolicy::new(trusted_from(py, trusted)?, lifetime_seconds);
        policy.networks = networks;
        policy.max_clock_skew = max_clock_skew;
        Ok(Self(Arc::new(policy)))
    }
    /// Checks a receipt for `resource_url` at `now`; returns `{signer, payload}`.
    #[pyo3(signature = (receipt, resource_url, now=None))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        receipt: &SignedReceipt,
        resource_url: &str,
        now: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let v = self.0.check(&receipt.0, resource_url, now_or_system(now)).or_raise(py)?;
        verified_to_py(py, &v)
    }
    /// Checks the receipt a request presents (`X-PAYWIRE-RECEIPT`); None when it presents none.
    #[pyo3(signature = (headers, resource_url, now=None))]
    fn check_request<'py>(
        &self,
        py: Python<'py>,
        headers: &Bound<'_, PyAny>,
        resource_url: &str,
        now: Option<u64>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let headers = headers_from_py(headers)?;
        let v = self.0.check_request(&headers, resource_url, now_or_system(now)).or_raise(py)?;
        v.map(|v| verified_to_py(py, &v)).transpose()
    }
}

/// The signed offers a bill carries (unverified).
#[pyfunction]
fn offers_in(py: Python<'_>, bill: &PaymentRequired) -> PyResult<Vec<SignedOffer>> {
    Ok(core::offers_in(&bill.0).or_raise(py)?.into_iter().map(SignedOffer).collect())
}

/// The signed receipt a settlement response carries (unverified), if any.
#[pyfunction]
fn receipt_in(py: Python<'_>, settlement: &SettleResponse) -> PyResult<Option<SignedReceipt>> {
    Ok(core::receipt_in(&settlement.0).or_raise(py)?.map(SignedReceipt))
}

/// The `offer-receipt` extension value for a settlement response carrying `receipt`.
#[pyfunction]
fn receipt_extension<'py>(py: Python<'py>, receipt: &SignedReceipt) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &core::receipt_extension(&receipt.0))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SignedOffer>()?;
    m.add_class::<SignedReceipt>()?;
    m.add_class::<Issuer>()?;
    m.add_class::<AccessPolicy>()?;
    m.add_function(wrap_pyfunction!(offers_in, m)?)?;
    m.add_function(wrap_pyfunction!(receipt_in, m)?)?;
    m.add_function(wrap_pyfunction!(receipt_extension, m)?)?;
    m.add("RECEIPT_HEADER", access::RECEIPT_HEADER)?;
    Ok(())
}
