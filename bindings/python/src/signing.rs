//! Keys and signers: `LocalSigner`, and any Python object with `address` and `sign_digest(bytes) -> bytes`
//! (KMS clients, hardware wallets, remote signers); also Python clocks and randomness sources.

use std::sync::Arc;

use alloy_primitives::{Address, B256};
use paywire_core::{self as core, Error, ErrorCode};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert::address_from_py;
use crate::errors::OrRaise;
use crate::getters::getters;

/// A private key held in this process; erased from memory when dropped and never printed.
#[pyclass(frozen, module = "paywire._paywire")]
pub struct LocalSigner(pub Arc<core::LocalSigner>);

#[pymethods]
impl LocalSigner {
    /// A signer from a hex private key (`0x` optional) or 32 bytes.
    #[new]
    fn new(py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Self> {
        let signer = if let Ok(bytes) = key.cast::<PyBytes>() {
            let arr: [u8; 32] = bytes.as_bytes().try_into().map_err(|_| {
                crate::errors::py_err(py, Error::new(ErrorCode::InvalidPrivateKey, "a private key is 32 bytes"))
            })?;
            core::LocalSigner::from_bytes(&arr)
        } else {
            core::LocalSigner::from_hex(&key.extract::<String>()?)
        };
        signer.or_raise(py).map(|s| Self(Arc::new(s)))
    }

    /// A new random key from the operating system's random source.
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<Self> {
        core::LocalSigner::generate(&core::OsRandomness).or_raise(py).map(|s| Self(Arc::new(s)))
    }

    /// Signs a 32-byte digest: 65 bytes `r || s || v`.
    fn sign_digest<'py>(&self, py: Python<'py>, digest: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let digest = digest32(py, digest)?;
        let sig = core::Signer::sign_digest(self.0.as_ref(), &digest).or_raise(py)?;
        Ok(PyBytes::new(py, sig.as_bytes()))
    }

    /// The secret key as hex, for showing a newly generated key to its owner. Handle with care.
    fn secret_hex(&self) -> String {
        self.0.secret_hex().to_string()
    }

    fn __repr__(&self) -> String {
        format!("LocalSigner(address={})", self.address())
    }
}

getters!(LocalSigner {
    /// The checksummed address.
    address -> String = |v| core::Signer::address(v.as_ref()).to_checksum(None);
});

pub fn digest32(py: Python<'_>, digest: &[u8]) -> PyResult<B256> {
    if digest.len() != 32 {
        return Err(crate::errors::bad_argument(py, format!("a digest is 32 bytes, not {}", digest.len())));
    }
    Ok(B256::from_slice(digest))
}

/// A Python object used as a signer.
struct PySigner {
    object: Py<PyAny>,
    address: Address,
}

impl core::Signer for PySigner {
    fn address(&self) -> Address {
        self.address
    }

    fn sign_digest(&self, digest: &B256) -> core::Result<core::Signature> {
        Python::attach(|py| {
            let failed = |what: String| Error::new(ErrorCode::SignerFailed, what);
            let result = self
                .object
                .bind(py)
                .call_method1("sign_digest", (PyBytes::new(py, digest.as_slice()),))
                .map_err(|e| failed(format!("the signer raised {e}")))?;
            if result.hasattr("__await__").unwrap_or(false) {
                // Close the coroutine so Python does not warn that it was never awaited.
                let _ = result.call_method0("close");

                return Err(failed(
                    "the signer's sign_digest is asynchronous; use Payer.prepare and Payer.complete, or the async \
                     HTTP clients, which await it"
                        .into(),
                ));
            }
            let bytes: Vec<u8> =
                result.extract().map_err(|_| failed("the signer's sign_digest must return bytes".into()))?;
            core::Signature::normalize(&bytes)
        })
    }
}

/// A core signer for a Python argument: a `LocalSigner` directly (no Python calls while signing), any other
/// object through its `address` and `sign_digest`.
pub fn signer_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn core::Signer>> {
    if let Ok(local) = obj.cast::<LocalSigner>() {
        return Ok(local.get().0.clone());
    }
    let py = obj.py();
    let address: String = obj.getattr("address").and_then(|a| a.extract()).map_err(|_| {
        crate::errors::bad_argument(py, "a signer needs an `address` string and a `sign_digest` method")
    })?;
    if !obj.hasattr("sign_digest")? {
        return Err(crate::errors::bad_argument(py, "a signer needs a `sign_digest(digest: bytes) -> bytes` method"));
    }
    Ok(Arc::new(PySigner { object: obj.clone().unbind(), address: address_from_py(py, &address)? }))
}

/// A clock that asks a Python callable for Unix seconds.
struct PyClock(Py<PyAny>);

impl core::Clock for PyClock {
    fn now(&self) -> u64 {
        Python::attach(|py| match self.0.bind(py).call0().and_then(|t| t.extract::<f64>()) {
            Ok(t) if t.is_finite() && t >= 0.0 => t as u64,
            outcome => {
                // The trait has no error path; a wrong clock must not sign payments dated 1970, so fall back to
                // the system clock and say so.
                let why = match outcome {
                    Err(e) => e.to_string(),
                    Ok(t) => format!("it returned {t}"),
                };
                let message =
                    std::ffi::CString::new(format!("paywire: the clock failed ({why}); using the system clock"))
                        .unwrap_or_default();
                let _ = PyErr::warn(py, &py.get_type::<pyo3::exceptions::PyRuntimeWarning>(), &message, 1);
                core::Clock::now(&core::SystemClock)
            }
        })
    }
}

/// Randomness from a Python callable `(n) -> bytes`.
struct PyRandomness(Py<PyAny>);

impl core::Randomness for PyRandomness {
    fn fill(&self, buf: &mut [u8]) -> core::Result<()> {
        Python::attach(|py| {
            let bytes: Vec<u8> =
                self.0.bind(py).call1((buf.len(),)).and_then(|b| b.extract()).map_err(|e| {
                    Error::new(ErrorCode::RandomnessFailed, format!("the randomness source raised {e}"))
                })?;
            if bytes.len() != buf.len() {
                return Err(Error::new(ErrorCode::RandomnessFailed, "the randomness source returned the wrong length"));
            }
            buf.copy_from_slice(&bytes);
            Ok(())
        })
    }
}

/// A clock: the system's (None), fixed (an int of Unix seconds), or a callable returning Unix seconds.
pub fn clock_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Arc<dyn core::Clock>> {
    match obj {
        None => Ok(Arc::new(core::SystemClock)),
        Some(o) if o.is_none() => Ok(Arc::new(core::SystemClock)),
        Some(o) if o.is_callable() => Ok(Arc::new(PyClock(o.clone().unbind()))),
        Some(o) => Ok(Arc::new(core::FixedClock(o.extract()?))),
    }
}

/// Randomness: the OS's (None), fixed bytes replayed cyclically (tests), or a callable `(n) -> bytes`.
pub fn randomness_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Arc<dyn core::Randomness>> {
    match obj {
        None => Ok(Arc::new(core::OsRandomness)),
        Some(o) if o.is_none() => Ok(Arc::new(core::OsRandomness)),
        Some(o) if o.is_callable() => Ok(Arc::new(PyRandomness(o.clone().unbind()))),
        Some(o) => Ok(Arc::new(core::FixedRandomness::new(o.extract()?))),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LocalSigner>()
}
