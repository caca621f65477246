//! The `payload` of an `exact` EVM payment: an EIP-3009 authorization or a Permit2 witness transfer, and
//! its signature.

use crate::prelude::*;
use alloy_primitives::{Address, B256, U256};
use serde_json::{Value, json};

use crate::eip712::{PermitWitnessTransferFrom, TokenPermissions, TransferWithAuthorization, Witness};
use crate::error::{Error, ErrorCode, Result};
use crate::wire::{Fields, Object, hex_lower};

/// An EIP-3009 `TransferWithAuthorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip3009Authorization {
    /// Payer.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// Amount in atomic units.
    pub value: U256,
    /// Not valid at or before this Unix time.
    pub valid_after: U256,
    /// Not valid at or after this Unix time.
    pub valid_before: U256,
    /// Random 32 bytes; each (from, nonce) settles at most once.
    pub nonce: B256,
}

impl Eip3009Authorization {
    /// The EIP-712 message.
    pub fn message(&self) -> TransferWithAuthorization {
        TransferWithAuthorization {
            from: self.from,
            to: self.to,
            value: self.value,
            validAfter: self.valid_after,
            validBefore: self.valid_before,
            nonce: self.nonce,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "from": self.from.to_checksum(None),
            "to": self.to.to_checksum(None),
            "value": self.value.to_string(),
            "validAfter": self.valid_after.to_string(),
            "validBefore": self.valid_before.to_string(),
            "nonce": hex_lower(self.nonce.as_slice()),
        })
    }
}

/// A Permit2 `permitWitnessTransferFrom` with the x402 witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permit2Authorization {
    /// Payer (token owner).
    pub from: Address,
    /// Token.
    pub token: Address,
    /// Amount in atomic units.
    pub amount: U256,
    /// Must be the x402 exact Permit2 proxy.
    pub spender: Address,
    /// Random uint256 (Permit2 unordered nonce).
    pub nonce: U256,
    /// Unix time after which the permit is void.
    pub deadline: U256,
    /// Witness: recipient.
    pub to: Address,
    /// Witness: not valid before this Unix time.
    pub valid_after: U256,
}

impl Permit2Authorization {
    /// The EIP-712 message.
    pub fn message(&self) -> PermitWitnessTransferFrom {
        PermitWitnessTransferFrom {
            permitted: TokenPermissions { token: self.token, amount: self.amount },
            spender: self.spender,
            nonce: self.nonce,
            deadline: self.deadline,
            witness: Witness { to: self.to, validAfter: self.valid_after },
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "from": self.from.to_checksum(None),
            "permitted": {"token": self.token.to_checksum(None), "amount": self.amount.to_string()},
            "spender": self.spender.to_checksum(None),
            "nonce": self.nonce.to_string(),
            "deadline": self.deadline.to_string(),
            "witness": {"to": self.to.to_checksum(None), "validAfter": self.valid_after.to_string()},
        })
    }
}

/// The scheme payload of an `exact` EVM payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExactPayload {
    /// EIP-3009 (`{"authorization": …, "signature": …}`).
    Eip3009 {
        /// The signed authorization.
        authorization: Eip3009Authorization,
        /// 65 bytes for an EOA; longer for a smart wallet (EIP-1271/6492).
        signature: Vec<u8>,
    },
    /// Permit2 (`{"signature": …, "permit2Authorization": …}`).
    Permit2 {
        /// The signed permit.
        authorization: Permit2Authorization,
        /// 65 bytes for an EOA; longer for a smart wallet.
        signature: Vec<u8>,
    },
}

impl ExactPayload {
    /// Reads a payment's `payload` object. The kind is told by its key, as the official facilitators do:
    /// `permit2Authorization` is Permit2, `authorization` is EIP-3009.
    pub fn parse(payload: &Object) -> Result<Self> {
        let code = ErrorCode::InvalidPayload;
        let top = Fields::new(payload, "payload", code);
        let signature = top.hex_bytes("signature")?;
        if let Some(p) = top.opt_object("permit2Authorization")? {
            let f = Fields::new(p, "payload.permit2Authorization", code);
            let permitted = Fields::new(f.object_field("permitted")?, "payload.permit2Authorization.permitted", code);
            let witness = Fields::new(f.object_field("witness")?, "payload.permit2Authorization.witness", code);
            let authorization = Permit2Authorization {
                from: f.address("from")?,
                token: permitted.address("token")?,
                amount: permitted.decimal("amount")?,
                spender: f.address("spender")?,
                nonce: f.decimal("nonce")?,
                deadline: f.decimal("deadline")?,
                to: witness.address("to")?,
                valid_after: witness.decimal("validAfter")?,
            };
            return Ok(ExactPayload::Permit2 { authorization, signature });
        }
        if let Some(a) = top.opt_object("authorization")? {
            let f = Fields::new(a, "payload.authorization", code);
            let authorization = Eip3009Authorization {
                from: f.address("from")?,
                to: f.address("to")?,
                value: f.decimal("value")?,
                valid_after: f.decimal("validAfter")?,
                valid_before: f.decimal("validBefore")?,
                nonce: f.b256("nonce")?,
            };
            return Ok(ExactPayload::Eip3009 { authorization, signature });
        }
        Err(Error::new(
            code,
            "payload has neither authorization (EIP-3009) nor permit2Authorization (Permit2); it is not an exact \
             EVM payment",
        ))
    }

    /// The payload object, members in the order the official TypeScript client writes them.
    pub fn to_object(&self) -> Object {
        let mut out = Object::new();
        match self {
            ExactPayload::Eip3009 { authorization, signature } => {
                out.insert("authorization".into(), authorization.to_json());
                out.insert("signature".into(), Value::String(hex_lower(signature)));
            }
            ExactPayload::Permit2 { authorization, signature } => {
                out.insert("signature".into(), Value::String(hex_lower(signature)));
                out.insert("permit2Authorization".into(), authorization.to_json());
            }
        }
        out
    }

    /// The payer.
    pub fn payer(&self) -> Address {
        match self {
            ExactPayload::Eip3009 { authorization, .. } => authorization.from,
            ExactPayload::Permit2 { authorization, .. } => authorization.from,
        }
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        match self {
            ExactPayload::Eip3009 { signature, .. } | ExactPayload::Permit2 { signature, .. } => signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip_and_errors() {
        let text = r#"{"authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"1740672089","validBefore":"1740672154","nonce":"0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"},"signature":"0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c"}"#;
        let obj: Object = serde_json::from_str(text).unwrap();
        let p = ExactPayload::parse(&obj).unwrap();
        assert_eq!(serde_json::to_string(&p.to_object()).unwrap(), text);
        let bad: Object = serde_json::from_str(&text.replace("\"10000\"", "\"-1\"")).unwrap();
        let e = ExactPayload::parse(&bad).unwrap_err();
        assert!(e.message().starts_with("payload.authorization.value"), "{}", e.message());
        let none: Object = serde_json::from_str(r#"{"signature":"0x00"}"#).unwrap();
        assert_eq!(ExactPayload::parse(&none).unwrap_err().code(), ErrorCode::InvalidPayload);
    }
}
