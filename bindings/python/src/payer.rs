//! The paying side: `Policy`, `Payer`, `PaymentHeader`, `PreparedPayment`.

use paywire_core::client as core;
use paywire_core::money::Usd;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde_json::{Value, json};

use crate::convert::{from_py, u256_from_py, u256_to_py};
use crate::errors::{OrRaise, bad_argument};
use crate::getters::getters;
use crate::messages::{PaymentPayload, PaymentRequired, PaymentRequirements};
use crate::signing::{clock_from_py, randomness_from_py, signer_from_py};

/// What a payer may pay. The default is the official clients' default: known stablecoins only, at most $1
/// per payment.
#[pyclass(frozen, skip_from_py_object, module = "paywire._paywire")]
#[derive(Clone)]
pub struct Policy(pub core::Policy);

/// Python keyword → JSON policy member.
const POLICY_KEYS: &[(&str, &str)] = &[
    ("networks", "networks"),
    ("prefer", "prefer"),
    ("pay_to", "payTo"),
    ("max_per_payment", "maxPerPayment"),
    ("budget", "budget"),
    ("max_amount", "maxAmount"),
    ("max_validity_seconds", "maxValiditySeconds"),
    ("allow_known_assets", "allowKnownAssets"),
    ("allow_any_asset", "allowAnyAsset"),
    ("allowed_assets", "allowedAssets"),
];

#[pymethods]
impl Policy {
    /// Keywords (all optional): `networks`, `prefer` (chain ids or network names), `pay_to` (addresses),
    /// `max_per_payment` (USD such as "$0.05", or None for no cap; default "$1"), `budget` (USD),
    /// `max_amount` (atomic units), `max_validity_seconds`, `allow_known_assets`, `allow_any_asset`,
    /// `allowed_assets` (dicts with `chain_id`, `address`, `max_per_payment`, `budget` in atomic units).
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut doc = serde_json::Map::new();
        if let Some(kwargs) = kwargs {
            for (key, value) in kwargs.iter() {
                let key: String = key.extract()?;
                let member = POLICY_KEYS.iter().find(|(k, _)| *k == key).map(|(_, m)| *m).ok_or_else(|| {
                    bad_argument(py, format!("unknown policy keyword {key:?}; known: {}", keyword_list()))
                })?;
                let value = match member {
                    "maxPerPayment" if value.is_none() => json!("none"),
                    "maxAmount" => json!(u256_from_py(&value)?.to_string()),
                    "allowedAssets" => allowed_assets(&value)?,
                    _ => from_py(&value)?,
                };
                doc.insert(member.to_string(), value);
            }
        }
        paywire_core::client::Policy::from_value(&Value::Object(doc)).or_raise(py).map(Self)
    }

    /// A policy from paywire's JSON policy (camelCase members, as in tests/vectors/selection.json).
    #[staticmethod]
    fn from_dict(py: Python<'_>, policy: &Bound<'_, PyAny>) -> PyResult<Self> {
        core::Policy::from_value(&from_py(policy)?).or_raise(py).map(Self)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.0)
    }
}

fn keyword_list() -> String {
    POLICY_KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

fn allowed_assets(list: &Bound<'_, PyAny>) -> PyResult<Value> {
    let mut out = Vec::new();
    for entry in list.try_iter()? {
        let entry = entry?;
        let get = |key: &str| entry.get_item(key);
        let mut doc = serde_json::Map::new();
        doc.insert("chainId".into(), from_py(&get("chain_id")?)?);
        doc.insert("address".into(), from_py(&get("address")?)?);
        doc.insert("maxPerPayment".into(), json!(u256_from_py(&get("max_per_payment")?)?.to_string()));
        if let Ok(budget) = get("budget")
            && !budget.is_none()
        {
            doc.insert("budget".into(), json!(u256_from_py(&budget)?.to_string()));
        }
        out.push(Value::Object(doc));
    }
    Ok(Value::Array(out))
}

/// A signed payment, ready to send as `headers = {header.name: header.value}`.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct PaymentHeader(pub core::PaymentHeader);

#[pymethods]
impl PaymentHeader {
    /// `{name: value}`, ready to merge into request headers.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item(self.0.name, &self.0.value)?;
        Ok(d)
    }
    /// Atomic units authorized.
    #[getter]
    fn amount<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        u256_to_py(py, self.0.amount)
    }
    fn __repr__(&self) -> String {
        format!(
            "PaymentHeader(name='{}', amount={}, reused={})",
            self.0.name,
            self.0.amount,
            crate::convert::repr_bool(self.0.reused)
        )
    }
}

getters!(PaymentHeader {
    /// `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    name -> &'static str = |v| v.name;
    /// The header value.
    value -> &str = |v| &v.value;
    /// The payment.
    payload -> PaymentPayload = |v| PaymentPayload(v.payload.clone());
    /// The offer paid.
    requirements -> PaymentRequirements = |v| PaymentRequirements(v.requirements.clone());
    /// Its index in the bill.
    offer_index -> usize = |v| v.offer_index;
    /// The payer's address.
    payer -> String = |v| v.payer.to_checksum(None);
    /// Valid strictly before this Unix time.
    valid_before -> u64 = |v| v.valid_before;
    /// The payment-identifier id, when the server declared the extension.
    payment_id -> Option<&str> = |v| v.payment_id.as_deref();
    /// True when this is the remembered payment of the same purchase, not a new signature.
    reused -> bool = |v| v.reused;
});

/// A payment waiting for its signatures (for asynchronous or remote signers).
#[pyclass(frozen, module = "paywire._paywire")]
pub struct PreparedPayment(pub core::PreparedPayment);

#[pymethods]
impl PreparedPayment {
    /// The 32-byte digests to sign, in order.
    #[getter]
    fn digests<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.0.digests().iter().map(|d| PyBytes::new(py, d.as_slice())).collect()
    }
}

getters!(PreparedPayment {
    /// The address that must sign.
    payer -> String = |v| v.payer().to_checksum(None);
    /// The offer being paid.
    requirements -> PaymentRequirements = |v| PaymentRequirements(v.requirements().clone());
});

/// Pays bills under a policy, signing at most one live payment per purchase.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct Payer {
    inner: std::sync::Arc<core::Payer>,
    /// The signer as given, so async code can tell whether its `sign_digest` must be awaited.
    signer: Py<PyAny>,
}

impl Payer {
    /// The core payer, shared with a paid fetch.
    pub fn shared(&self) -> std::sync::Arc<core::Payer> {
        self.inner.clone()
    }
}

fn bill_from_py(bill: &Bound<'_, PyAny>) -> PyResult<paywire_core::PaymentRequired> {
    if let Ok(b) = bill.cast::<PaymentRequired>() {
        return Ok(b.get().0.clone());
    }
    let text: String = bill.extract()?;
    paywire_core::PaymentRequired::from_text(&text).or_raise(bill.py())
}

fn extras(nonce: Option<&Bound<'_, PyAny>>) -> PyResult<core::PayExtras> {
    Ok(core::PayExtras {
        eip2612_nonce: nonce.filter(|n| !n.is_none()).map(u256_from_py).transpose()?,
        ..Default::default()
    })
}

#[pymethods]
impl Payer {
    /// A payer signing with `signer` (a `LocalSigner`, or any object with `address` and
    /// `sign_digest(bytes) -> bytes`) under `policy`. `clock` (int or callable) and `randomness` (bytes or
    /// callable) are for tests; by default the system clock and the OS random source are used.
    #[new]
    #[pyo3(signature = (signer, policy=None, *, expiry_margin=None, clock=None, randomness=None, max_remembered=None))]
    fn new(
        signer: &Bound<'_, PyAny>,
        policy: Option<&Policy>,
        expiry_margin: Option<u64>,
        clock: Option<&Bound<'_, PyAny>>,
        randomness: Option<&Bound<'_, PyAny>>,
        max_remembered: Option<usize>,
    ) -> PyResult<Self> {
        let defaults = core::PayerOptions::default();
        let options = core::PayerOptions {
            expiry_margin: expiry_margin.unwrap_or(defaults.expiry_margin),
            max_remembered: max_remembered.unwrap_or(defaults.max_remembered),
        };
        let payer = core::Payer::new(
            signer_from_py(signer)?,
            policy.map(|p| p.0.clone()).unwrap_or_default(),
            clock_from_py(clock)?,
            randomness_from_py(randomness)?,
        )
        .with_options(options);
        Ok(Self { inner: std::sync::Arc::new(payer), signer: signer.clone().unbind() })
    }

    /// The signer this payer was made with.
    #[getter]
    fn signer(&self, py: Python<'_>) -> Py<PyAny> {
        self.signer.clone_ref(py)
    }

    /// The paying address.
    #[getter]
    fn address(&self) -> String {
        self.inner.address().to_checksum(None)
    }

    /// Spent so far in known stablecoins, as a USD string such as "$0.03".
    #[getter]
    fn spent_usd(&self) -> String {
        self.inner.spent_usd().to_string()
    }

    /// Restores the USD spent before (e.g. by the previous run of a long-lived agent).
    fn restore_spent_usd(&self, py: Python<'_>, spent: &str) -> PyResult<()> {
        self.inner.restore_spent_usd(Usd::parse(spent).or_raise(py)?);
        Ok(())
    }

    /// The index of the offer this payer would pay (raises with every refusal when none fits).
    fn select(&self, py: Python<'_>, bill: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.inner.select(&bill_from_py(bill)?).or_raise(py)
    }

    /// Pays a bill (a `PaymentRequired`, a `PAYMENT-REQUIRED` value or a v1 JSON body). `purchase` names the
    /// purchase, so a retry of the same purchase gets the same payment.
    #[pyo3(signature = (bill, purchase=None, *, eip2612_nonce=None))]
    fn pay(
        &self,
        py: Python<'_>,
        bill: &Bound<'_, PyAny>,
        purchase: Option<&str>,
        eip2612_nonce: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PaymentHeader> {
        let bill = bill_from_py(bill)?;
        let extras = extras(eip2612_nonce)?;
        py.detach(|| self.inner.pay_with(&bill, purchase, &extras)).or_raise(py).map(PaymentHeader)
    }

    /// First half of a payment for signers that are asynchronous or remote: returns a `PaymentHeader` when the
    /// purchase already has a payment, else a `PreparedPayment` whose digests must be signed.
    #[pyo3(signature = (bill, purchase=None, *, eip2612_nonce=None))]
    fn prepare(
        &self,
        py: Python<'_>,
        bill: &Bound<'_, PyAny>,
        purchase: Option<&str>,
        eip2612_nonce: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let bill = bill_from_py(bill)?;
        match self.inner.prepare(&bill, purchase, &extras(eip2612_nonce)?).or_raise(py)? {
            core::Prepared::Ready(header) => Ok(Py::new(py, PaymentHeader(header))?.into_any()),
            core::Prepared::NeedsSignatures(p) => Ok(Py::new(py, PreparedPayment(p))?.into_any()),
        }
    }

    /// Second half: the signatures of `prepared.digests` (65 bytes each), checked against the payer.
    fn complete(
        &self,
        py: Python<'_>,
        prepared: &PreparedPayment,
        signatures: Vec<Vec<u8>>,
    ) -> PyResult<PaymentHeader> {
        self.inner.complete(prepared.0.clone(), &signatures).or_raise(py).map(PaymentHeader)
    }

    /// Forgets the payment of a purchase once a response to the paid request arrived.
    fn forget(&self, purchase: &str) {
        self.inner.forget(purchase)
    }

    /// This payer's batch-settlement channels as JSON text, to keep where you choose and give to
    /// `import_channels` in the next process (it then pays on from the same channels).
    fn export_channels(&self) -> String {
        self.inner.export_channels()
    }

    /// Takes in channels `export_channels` wrote; returns how many. A malformed text changes nothing.
    fn import_channels(&self, py: Python<'_>, text: &str) -> PyResult<usize> {
        self.inner.import_channels(text).or_raise(py)
    }

    fn __repr__(&self) -> String {
        format!("Payer(address={})", self.address())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Policy>()?;
    m.add_class::<Payer>()?;
    m.add_class::<PaymentHeader>()?;
    m.add_class::<PreparedPayment>()?;
    Ok(())
}
