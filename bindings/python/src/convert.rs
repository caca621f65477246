//! Conversions between Python objects and the core's JSON values, integers, addresses and header lists.

use alloy_primitives::{Address, U256};
use paywire_core::wire::{Object, parse_address, parse_decimal_u256};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PySequence, PyString, PyTuple,
};
use serde_json::Value;

use crate::errors::bad_argument;

/// A JSON value as the natural Python object (dict, list, str, int, float, bool, None).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, Some(i)) => i.into_pyobject(py)?.into_any(),
            _ => PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => object_to_py(py, map)?.into_any(),
    })
}

/// A JSON object as a Python dict.
pub fn object_to_py<'py>(py: Python<'py>, map: &Object) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, to_py(py, v)?)?;
    }
    Ok(dict)
}

/// A Python object made of dicts, lists, strings, numbers, booleans and None, as a JSON value.
pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Err(bad_argument(py, "integers beyond 64 bits cannot go into JSON; pass them as decimal strings"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| bad_argument(py, "NaN and infinity have no JSON form"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.extract::<String>()?));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Object::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| bad_argument(py, "JSON object keys must be strings"))?;
            map.insert(key.extract::<String>()?, from_py(&v)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Err(bad_argument(py, "bytes cannot go into JSON; pass text (e.g. a 0x hex string)"));
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let mut map = Object::new();
        for item in m.items()?.iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let key = k.cast::<PyString>().map_err(|_| bad_argument(py, "JSON object keys must be strings"))?;
            map.insert(key.extract::<String>()?, from_py(&v)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() || obj.cast::<PySequence>().is_ok() {
        let mut items = Vec::new();
        for item in obj.try_iter()? {
            items.push(from_py(&item?)?);
        }
        return Ok(Value::Array(items));
    }
    Err(bad_argument(py, format!("a {} cannot go into JSON", obj.get_type().name()?)))
}

/// A JSON object from a Python dict (or None).
pub fn object_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Object>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => match from_py(o)? {
            Value::Object(map) => Ok(Some(map)),
            _ => Err(bad_argument(o.py(), "expected a dict")),
        },
    }
}

/// A uint256 as a Python int.
pub fn u256_to_py<'py>(py: Python<'py>, value: U256) -> PyResult<Bound<'py, PyAny>> {
    match u64::try_from(value) {
        Ok(small) => Ok(small.into_pyobject(py)?.into_any()),
        Err(_) => py.import("builtins")?.getattr("int")?.call1((value.to_string(),)),
    }
}

/// A Python int (or decimal string) as a uint256.
pub fn u256_from_py(obj: &Bound<'_, PyAny>) -> PyResult<U256> {
    let py = obj.py();
    if let Ok(u) = obj.extract::<u64>() {
        return Ok(U256::from(u));
    }
    let text: String = if obj.is_instance_of::<PyInt>() { obj.str()?.extract::<String>()? } else { obj.extract()? };
    parse_decimal_u256(&text).map_err(|e| bad_argument(py, format!("amount {e}")))
}

/// An address from a `0x` string.
pub fn address_from_py(py: Python<'_>, text: &str) -> PyResult<Address> {
    parse_address(text).map_err(|e| bad_argument(py, e))
}

/// Header (name, value) pairs from a mapping (dict, `httpx.Headers`, `requests` headers) or a list of pairs.
pub fn headers_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let pairs = if obj.hasattr("items")? { obj.call_method0("items")? } else { obj.clone() };
    let mut out = Vec::new();
    for item in pairs.try_iter()? {
        let (name, value): (String, String) = item?.extract()?;
        out.push((name, value));
    }
    Ok(out)
}

/// Bytes of a body given as `bytes` or `str` (None is empty).
pub fn body_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
    match obj {
        None => Ok(Vec::new()),
        Some(o) if o.is_none() => Ok(Vec::new()),
        Some(o) => match o.extract::<Vec<u8>>() {
            Ok(bytes) if !o.is_instance_of::<PyString>() => Ok(bytes),
            _ => Ok(o.extract::<String>()?.into_bytes()),
        },
    }
}

/// Python's spelling of a bool, for `__repr__`.
pub fn repr_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Python's repr of an optional string, for `__repr__`.
pub fn repr_str(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("'{}'", s.escape_default()),
        None => "None".into(),
    }
}

/// The Unix time given, or the system clock's (the binding's only clock read, on the caller's behalf).
pub fn now_or_system(now: Option<u64>) -> u64 {
    now.unwrap_or_else(|| paywire_core::Clock::now(&paywire_core::SystemClock))
}
