//! EIP-2612 `permit`: standalone, and as the `eip2612GasSponsoring` extension that lets a facilitator
//! approve Permit2 for a payer who holds no gas.

use crate::prelude::*;
use alloy_primitives::{Address, B256, U256};
use serde_json::Value;

use crate::assets::PERMIT2_ADDRESS;
use crate::crypto::Signature;
use crate::eip712::{self, Permit};
use crate::error::{Error, ErrorCode, Result};
use crate::signer::{Signer, sign_checked};
use crate::wire::{Fields, Object, parse_address, parse_decimal_u256, parse_hex_bytes};

/// The extension key.
pub const EIP2612_EXTENSION: &str = "eip2612GasSponsoring";

/// An EIP-2612 permit and, once signed, its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip2612Permit {
    /// Token.
    pub token: Address,
    /// Token owner (the payer).
    pub owner: Address,
    /// Who may spend (Permit2 for the gas-sponsoring extension).
    pub spender: Address,
    /// Allowance granted.
    pub value: U256,
    /// The owner's current `nonces(owner)` on the token (read from the chain by the caller).
    pub nonce: U256,
    /// Unix time after which the permit is void.
    pub deadline: U256,
}

impl Eip2612Permit {
    /// The EIP-712 digest under the token's domain.
    pub fn digest(&self, token_name: &str, token_version: &str, chain_id: u64) -> B256 {
        let sep = super::domain_separator(token_name, token_version, chain_id, self.token);
        eip712::digest(
            &sep,
            &Permit {
                owner: self.owner,
                spender: self.spender,
                value: self.value,
                nonce: self.nonce,
                deadline: self.deadline,
            },
        )
    }

    /// The client's `info` members of the extension, in the official order.
    pub fn extension_info(&self, signature: &Signature) -> Object {
        let mut o = Object::new();
        o.insert("from".into(), Value::String(self.owner.to_checksum(None)));
        o.insert("asset".into(), Value::String(self.token.to_checksum(None)));
        o.insert("spender".into(), Value::String(self.spender.to_checksum(None)));
        o.insert("amount".into(), Value::String(self.value.to_string()));
        o.insert("nonce".into(), Value::String(self.nonce.to_string()));
        o.insert("deadline".into(), Value::String(self.deadline.to_string()));
        o.insert("signature".into(), Value::String(signature.to_hex()));
        o.insert("version".into(), Value::String("1".into()));
        o
    }

    /// Reads the extension's `info` (the facilitator side). Returns the permit and its raw signature.
    pub fn from_extension_info(info: &Object) -> Result<(Eip2612Permit, Vec<u8>)> {
        let f = Fields::new(info, "extensions.eip2612GasSponsoring.info", ErrorCode::Eip2612InvalidFormat);
        let addr = |k: &str| f.str(k).and_then(|s| parse_address(s).map_err(|e| f.err(k, e)));
        let dec = |k: &str| f.str(k).and_then(|s| parse_decimal_u256(s).map_err(|e| f.err(k, e)));
        let permit = Eip2612Permit {
            owner: addr("from")?,
            token: addr("asset")?,
            spender: addr("spender")?,
            value: dec("amount")?,
            nonce: dec("nonce")?,
            deadline: dec("deadline")?,
        };
        let sig = f.str("signature").and_then(|s| parse_hex_bytes(s).map_err(|e| f.err("signature", e)))?;
        f.nonempty_str("version")?;
        Ok((permit, sig))
    }
}

/// Signs an EIP-2612 permit of `value` for `spender` (Permit2 when `spender` is `None`).
#[allow(clippy::too_many_arguments)]
pub fn sign_eip2612_permit(
    signer: &dyn Signer,
    token: Address,
    token_name: &str,
    token_version: &str,
    chain_id: u64,
    spender: Option<Address>,
    value: U256,
    nonce: U256,
    deadline: U256,
) -> Result<(Eip2612Permit, Signature)> {
    if token_name.is_empty() || token_version.is_empty() {
        return Err(Error::new(
            ErrorCode::MissingEip712Domain,
            "an EIP-2612 permit needs the token's EIP-712 name and version",
        ));
    }
    let permit = Eip2612Permit {
        token,
        owner: signer.address(),
        spender: spender.unwrap_or(PERMIT2_ADDRESS),
        value,
        nonce,
        deadline,
    };
    let digest = permit.digest(token_name, token_version, chain_id);
    let sig = sign_checked(signer, &digest)?;
    Ok((permit, sig))
}
