//! The `payment-identifier` extension: an idempotency id a client attaches to a payment so that a server can
//! answer a retried payment from its cache instead of charging or serving twice.

use crate::prelude::*;
use serde_json::{Value, json};

use crate::error::{Error, ErrorCode, Result};
use crate::signer::Randomness;
use crate::types::PaymentPayload;
use crate::wire::{Object, extension_info, truncate};

/// The extension key.
pub const PAYMENT_IDENTIFIER: &str = "payment-identifier";

/// Shortest id accepted.
pub const MIN_LENGTH: usize = 16;
/// Longest id accepted.
pub const MAX_LENGTH: usize = 128;

/// Checks an id: 16 to 128 characters of `A-Z a-z 0-9 _ -`.
pub fn validate(id: &str) -> Result<()> {
    let ok = (MIN_LENGTH..=MAX_LENGTH).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidPaymentIdentifier,
            format!(
                "payment id \"{}\" must be {MIN_LENGTH} to {MAX_LENGTH} characters of letters, digits, '-' and '_'",
                truncate(id)
            ),
        ))
    }
}

/// A new id: `pay_` and 32 lowercase hex characters from `randomness`, as the official SDKs make them.
pub fn generate(randomness: &dyn Randomness) -> Result<String> {
    let mut bytes = [0u8; 16];
    randomness.fill(&mut bytes)?;
    Ok(format!("pay_{}", alloy_primitives::hex::encode(bytes)))
}

/// The server's declaration for `PaymentRequired.extensions["payment-identifier"]`.
pub fn declaration(required: bool) -> Value {
    json!({
        "info": {"required": required},
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "required": {"type": "boolean"},
                "id": {"type": "string", "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH, "pattern": "^[a-zA-Z0-9_-]+$"}
            },
            "required": ["required"]
        }
    })
}

/// Whether a bill's extensions declare the extension (with a boolean `info.required`).
pub fn is_declared(extensions: Option<&Object>) -> bool {
    extension_info(extensions, PAYMENT_IDENTIFIER).and_then(|i| i.get("required")).is_some_and(Value::is_boolean)
}

/// Puts `id` into the echoed declaration (`info.id`), leaving everything the server sent in place.
/// Does nothing when the server did not declare the extension.
pub fn attach(extensions: &mut Object, id: &str) -> Result<()> {
    validate(id)?;
    if !is_declared(Some(extensions)) {
        return Ok(());
    }
    if let Some(info) =
        extensions.get_mut(PAYMENT_IDENTIFIER).and_then(|e| e.get_mut("info")).and_then(Value::as_object_mut)
    {
        info.insert("id".into(), Value::String(id.to_string()));
    }
    Ok(())
}

/// The id a payment carries, validated; `None` when it carries none.
pub fn of_payment(payment: &PaymentPayload) -> Result<Option<String>> {
    let Some(id) = extension_info(payment.extensions(), PAYMENT_IDENTIFIER).and_then(|i| i.get("id")) else {
        return Ok(None);
    };
    let id =
        id.as_str().ok_or_else(|| Error::new(ErrorCode::InvalidPaymentIdentifier, "the payment id is not a string"))?;
    validate(id)?;
    Ok(Some(id.to_string()))
}

/// The id of a payment to an offer that may require one: an error when `required` and the payment has none.
pub fn require(payment: &PaymentPayload, required: bool) -> Result<Option<String>> {
    let id = of_payment(payment)?;
    if required && id.is_none() {
        return Err(Error::new(
            ErrorCode::PaymentIdentifierRequired,
            "the server requires a payment-identifier id and the payment has none; retry with the extension's info.id set",
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::FixedRandomness;

    #[test]
    fn ids() {
        let id = generate(&FixedRandomness::new(vec![0xab])).unwrap();
        assert_eq!(id, format!("pay_{}", "ab".repeat(16)));
        validate(&id).unwrap();
        for bad in ["short", "pay_with space_xxxxxxxxxx", &"a".repeat(129), "pay_0123456789abcdef\n"] {
            assert_eq!(validate(bad).unwrap_err().code(), ErrorCode::InvalidPaymentIdentifier);
        }
    }

    #[test]
    fn attach_only_when_declared() {
        let mut x: Object = serde_json::from_value(json!({"payment-identifier": declaration(true)})).unwrap();
        attach(&mut x, "pay_0123456789abcdef").unwrap();
        assert_eq!(x["payment-identifier"]["info"], json!({"required": true, "id": "pay_0123456789abcdef"}));
        let mut other = Object::new();
        attach(&mut other, "pay_0123456789abcdef").unwrap();
        assert!(other.is_empty());
    }
}
