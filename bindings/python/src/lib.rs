//! paywire's Python binding (`paywire._paywire`): the core's types and functions with Python conversions
//! and error mapping. No protocol logic lives here; the pure-Python glue is in `python/paywire/`.

use paywire_core as core;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

mod convert;
mod credentials;
mod errors;
mod exchange;
mod facilitator;
mod getters;
mod mcp;
mod messages;
mod payer;
mod server;
mod signing;

use convert::to_py;
use errors::OrRaise;

/// Decodes any x402 header value or JSON body: `{"message", "x402Version", "encoding", "decoded"}`.
#[pyfunction]
fn decode<'py>(py: Python<'py>, value: &str) -> PyResult<Bound<'py, PyAny>> {
    let d = core::decode::decode_any(value).or_raise(py)?;
    to_py(py, &d.to_json())
}

/// The header value (padded standard base64) of a JSON text, byte for byte.
#[pyfunction]
fn encode_json_text(json_text: &str) -> String {
    core::codec::encode_json_text(json_text)
}

/// The text a header value carries (strictly decoded; see `MAX_HEADER_BYTES`), not checked to be JSON.
#[pyfunction]
fn decode_header_text(py: Python<'_>, value: &str) -> PyResult<String> {
    core::codec::decode_header_text(value).or_raise(py)
}

/// The JSON value a header value carries.
#[pyfunction]
fn decode_header_json<'py>(py: Python<'py>, value: &str) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &core::codec::decode_header_json(value).or_raise(py)?)
}

/// The EIP-712 hashes of typed data (`{"domain", "primaryType", "message"}` as `eth_signTypedData_v4` takes
/// it) for the types paywire signs: `{"domain_separator": bytes, "digest": bytes}`.
#[pyfunction]
fn typed_data_hashes<'py>(py: Python<'py>, typed_data: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let hashes = core::eip712::typed_data_hashes(&convert::from_py(typed_data)?).or_raise(py)?;
    let d = PyDict::new(py);
    d.set_item("domain_separator", PyBytes::new(py, hashes.domain_separator.as_slice()))?;
    d.set_item("digest", PyBytes::new(py, hashes.digest.as_slice()))?;
    Ok(d)
}

/// The address whose key made `signature` (65 bytes, `v` 0/1 or 27/28) over the 32-byte `digest`.
#[pyfunction]
fn recover_address(py: Python<'_>, digest: &[u8], signature: &[u8]) -> PyResult<String> {
    let digest = signing::digest32(py, digest)?;
    let signature = core::Signature::normalize(signature).or_raise(py)?;
    core::crypto::recover_address(&digest, &signature).or_raise(py).map(|a| a.to_checksum(None))
}

/// A price such as "$0.01" in atomic units of a token with `decimals` decimals (never rounded).
#[pyfunction]
fn parse_price<'py>(py: Python<'py>, price: &str, decimals: u8) -> PyResult<Bound<'py, PyAny>> {
    convert::u256_to_py(py, core::money::parse_price(price, decimals).or_raise(py)?)
}

/// The EVM chain id of a network (`eip155:8453` or a v1 name such as `base`).
#[pyfunction]
fn chain_id(py: Python<'_>, network: &str) -> PyResult<u64> {
    core::network::chain_id(network).or_raise(py)
}

/// The CAIP-2 form of a network.
#[pyfunction]
fn to_caip2(py: Python<'_>, network: &str) -> PyResult<String> {
    core::network::to_caip2(network).or_raise(py)
}

/// The default stablecoins, as dicts.
#[pyfunction]
fn known_assets<'py>(py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    core::assets::KNOWN_ASSETS.iter().map(|a| to_py(py, &a.to_json())).collect()
}

/// Every error code paywire can raise.
#[pyfunction]
fn error_codes() -> Vec<&'static str> {
    core::ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}

/// The server's declaration of the payment-identifier extension, for `PriceTag(extensions=...)`.
#[pyfunction]
fn payment_identifier_declaration<'py>(py: Python<'py>, required: bool) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, &core::payment_id::declaration(required))
}

#[pymodule]
fn _paywire(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PaywireError", m.py().get_type::<errors::PaywireError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_HEADER_BYTES", core::codec::MAX_HEADER_BYTES)?;
    m.add("REDIS_KEY_PREFIX", core::server::redis::REDIS_KEY_PREFIX)?;
    m.add("REDIS_CLAIM", core::server::redis::REDIS_CLAIM)?;
    m.add("REDIS_GET", core::server::redis::REDIS_GET)?;
    m.add("REDIS_REPLACE", core::server::redis::REDIS_REPLACE)?;
    m.add("REDIS_RELEASE", core::server::redis::REDIS_RELEASE)?;
    messages::register(m)?;
    signing::register(m)?;
    payer::register(m)?;
    server::register(m)?;
    credentials::register(m)?;
    exchange::register(m)?;
    facilitator::register(m)?;
    mcp::register(m)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(encode_json_text, m)?)?;
    m.add_function(wrap_pyfunction!(decode_header_text, m)?)?;
    m.add_function(wrap_pyfunction!(decode_header_json, m)?)?;
    m.add_function(wrap_pyfunction!(typed_data_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(recover_address, m)?)?;

    m.add_function(wrap_pyfunction!(parse_price, m)?)?;
    m.add_function(wrap_pyfunction!(chain_id, m)?)?;
    m.add_function(wrap_pyfunction!(to_caip2, m)?)?;
    m.add_function(wrap_pyfunction!(known_assets, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(errors::error_category, m)?)?;
    m.add_function(wrap_pyfunction!(errors::new_error, m)?)?;
    m.add_function(wrap_pyfunction!(payment_identifier_declaration, m)?)?;
    Ok(())
}
