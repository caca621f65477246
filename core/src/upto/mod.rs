//! The `upto` scheme on EVM chains: the payer signs a Permit2 witness transfer for a maximum, spent by the
//! x402 upto Permit2 proxy; the facilitator the payer names in the witness settles any amount up to that
//! maximum, chosen by the server once the work is done (metered work: tokens, bytes, seconds). Zero moves
//! nothing and sends no transaction.
//!
//! The offer's `amount` is the maximum when the payment is verified; the server replaces it with the amount
//! actually charged in the requirements it sends to `/settle` (x402 `upto` specification, "phase-dependent
//! amount").

use crate::prelude::*;
use alloy_primitives::{Address, B256, U256};
use serde_json::{Value, json};

use crate::assets::{TransferMethod, UPTO_PERMIT2_PROXY};
use crate::eip712::{self, upto as types};
use crate::error::{Error, ErrorCode, Result};
use crate::network;
use crate::types::PaymentRequirements;
use crate::wire::{Fields, Object, hex_lower, parse_address, truncate};

/// The scheme name.
pub const SCHEME: &str = "upto";

/// A Permit2 witness transfer for at most `amount`, with the upto witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UptoAuthorization {
    /// Payer (token owner).
    pub from: Address,
    /// Token.
    pub token: Address,
    /// The most the facilitator may move, in atomic units.
    pub amount: U256,
    /// Must be the x402 upto Permit2 proxy.
    pub spender: Address,
    /// Random uint256 (Permit2 unordered nonce): one settlement per authorization.
    pub nonce: U256,
    /// Unix time after which the permit is void.
    pub deadline: U256,
    /// Witness: recipient.
    pub to: Address,
    /// Witness: the only address that may settle (the proxy checks `msg.sender`).
    pub facilitator: Address,
    /// Witness: not valid before this Unix time.
    pub valid_after: U256,
}

impl UptoAuthorization {
    /// The EIP-712 message.
    pub fn message(&self) -> types::PermitWitnessTransferFrom {
        types::PermitWitnessTransferFrom {
            permitted: types::TokenPermissions { token: self.token, amount: self.amount },
            spender: self.spender,
            nonce: self.nonce,
            deadline: self.deadline,
            witness: types::Witness { to: self.to, facilitator: self.facilitator, validAfter: self.valid_after },
        }
    }

    /// The EIP-712 digest the payer signs on `chain_id` (Permit2's domain).
    pub fn digest(&self, chain_id: u64) -> B256 {
        eip712::digest(&crate::exact::permit2_domain_separator(chain_id), &self.message())
    }

    fn to_json(&self) -> Value {
        json!({
            "from": self.from.to_checksum(None),
            "permitted": {"token": self.token.to_checksum(None), "amount": self.amount.to_string()},
            "spender": self.spender.to_checksum(None),
            "nonce": self.nonce.to_string(),
            "deadline": self.deadline.to_string(),
            "witness": {
                "to": self.to.to_checksum(None),
                "facilitator": self.facilitator.to_checksum(None),
                "validAfter": self.valid_after.to_string(),
            },
        })
    }
}

/// The scheme payload of an `upto` payment: `{"signature": …, "permit2Authorization": …}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UptoPayload {
    /// The signed authorization.
    pub authorization: UptoAuthorization,
    /// 65 bytes for an EOA; longer for a smart wallet.
    pub signature: Vec<u8>,
}

impl UptoPayload {
    /// Reads a payment's `payload` object.
    pub fn parse(payload: &Object) -> Result<Self> {
        let code = ErrorCode::InvalidPayload;
        let top = Fields::new(payload, "payload", code);
        let signature = top.hex_bytes("signature")?;
        let f = Fields::new(top.object_field("permit2Authorization")?, "payload.permit2Authorization", code);
        let permitted = Fields::new(f.object_field("permitted")?, "payload.permit2Authorization.permitted", code);
        let witness = Fields::new(f.object_field("witness")?, "payload.permit2Authorization.witness", code);
        let authorization = UptoAuthorization {
            from: f.address("from")?,
            token: permitted.address("token")?,
            amount: permitted.decimal("amount")?,
            spender: f.address("spender")?,
            nonce: f.decimal("nonce")?,
            deadline: f.decimal("deadline")?,
            to: witness.address("to")?,
            facilitator: witness.address("facilitator")?,
            valid_after: witness.decimal("validAfter")?,
        };
        Ok(UptoPayload { authorization, signature })
    }

    /// The payload object, members in the order the official TypeScript client writes them.
    pub fn to_object(&self) -> Object {
        let mut out = Object::new();
        out.insert("signature".into(), Value::String(hex_lower(&self.signature)));
        out.insert("permit2Authorization".into(), self.authorization.to_json());
        out
    }
}

/// An `upto` offer with its strings resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UptoOffer {
    /// EVM chain id.
    pub chain_id: u64,
    /// Token contract.
    pub asset: Address,
    /// Recipient.
    pub pay_to: Address,
    /// The offer's amount: the maximum the payer authorizes (the amount charged, at settlement).
    pub amount: U256,
    /// The facilitator that will settle (`extra.facilitatorAddress`), named in the payer's witness.
    pub facilitator: Address,
    /// The token's EIP-712 domain name (`extra.name`), for an EIP-2612 permit.
    pub domain_name: Option<String>,
    /// The token's EIP-712 domain version (`extra.version`).
    pub domain_version: Option<String>,
    /// Seconds the server allows for completing the payment.
    pub max_timeout_seconds: u64,
}

impl UptoOffer {
    /// Resolves an offer. Errors name what is wrong: scheme, network, addresses, the facilitator.
    pub fn resolve(req: &PaymentRequirements) -> Result<UptoOffer> {
        if req.scheme() != SCHEME {
            return Err(Error::new(
                ErrorCode::UnsupportedScheme,
                format!("scheme \"{}\" is not upto", truncate(req.scheme())),
            ));
        }
        let bad = |what: &str, e: String| Error::new(ErrorCode::InvalidPaymentRequirements, format!("{what} {e}"));
        let facilitator = req.extra_str("facilitatorAddress").ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidPaymentRequirements,
                "an upto offer must name the facilitator that settles it (extra.facilitatorAddress): the payer \
                 signs it into the witness, and only that address may settle",
            )
        })?;
        let non_empty = |key: &str| req.extra_str(key).filter(|s| !s.is_empty()).map(str::to_string);
        Ok(UptoOffer {
            chain_id: network::chain_id(req.network())?,
            asset: parse_address(req.asset()).map_err(|e| bad("asset", e))?,
            pay_to: parse_address(req.pay_to()).map_err(|e| bad("payTo", e))?,
            amount: req.amount(),
            facilitator: parse_address(facilitator).map_err(|e| bad("extra.facilitatorAddress", e))?,
            domain_name: non_empty("name"),
            domain_version: non_empty("version"),
            max_timeout_seconds: req.max_timeout_seconds(),
        })
    }

    /// The same offer as `exact` sees a Permit2 offer, for the checks both schemes share (the EIP-2612 permit).
    pub(crate) fn as_exact(&self) -> crate::exact::ExactOffer {
        crate::exact::ExactOffer {
            chain_id: self.chain_id,
            asset: self.asset,
            pay_to: self.pay_to,
            amount: self.amount,
            method: TransferMethod::Permit2,
            domain_name: self.domain_name.clone(),
            domain_version: self.domain_version.clone(),
            max_timeout_seconds: self.max_timeout_seconds,
        }
    }
}

/// The same offer at another amount: the server sends the amount it charges to `/settle` in place of the
/// maximum (x402 v2 `amount`; `upto` has no v1 form).
pub fn requirements_at(req: &PaymentRequirements, amount: U256) -> Result<PaymentRequirements> {
    if req.version() < 2 {
        return Err(Error::new(ErrorCode::InvalidX402Version, "the upto scheme is x402 v2 only"));
    }
    let Value::Object(mut obj) = req.to_value() else {
        return Err(Error::new(ErrorCode::InvalidPaymentRequirements, "the offer is not a JSON object"));
    };
    obj.insert("amount".into(), Value::String(amount.to_string()));
    PaymentRequirements::from_object(obj, req.version())
}

/// The response header a handler sets to report what an upto request charges (the official SDKs' name). The
/// gate removes it before the response leaves.
pub const SETTLEMENT_OVERRIDES_HEADER: &str = "settlement-overrides";

/// The amount a handler's `Settlement-Overrides` value (`{"amount": …}`) charges out of the payer's `max`:
/// atomic units (`"1000"`), a share of the maximum (`"50%"`, at most two decimals, rounded down) or money
/// (`"$0.05"`, in a token of `decimals`). Zero charges nothing. A value that cannot be read, or that charges
/// more than `max`, is the server's own error ([`ErrorCode::InvalidPrice`]): nothing is settled for it.
pub fn charge_from_overrides(value: &str, max: U256, decimals: Option<u8>) -> Result<U256> {
    let bad = |why: String| Error::new(ErrorCode::InvalidPrice, format!("the handler's Settlement-Overrides {why}"));
    let parsed: Value = serde_json::from_str(value).map_err(|_| bad("is not JSON".into()))?;
    let amount = match parsed.get("amount") {
        Some(Value::String(text)) => text.trim().to_string(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err(bad("has no amount (a string: \"1000\", \"50%\" or \"$0.05\")".into())),
    };
    let charge = if let Some(percent) = amount.strip_suffix('%') {
        let (whole, cents) = percent.split_once('.').unwrap_or((percent, ""));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!cents.is_empty() && !digits(cents)) || cents.len() > 2 {
            return Err(bad(format!("amount {} is not a percentage with at most two decimals", truncate(&amount))));
        }
        let hundredths = U256::from_str_radix(&format!("{whole}{cents:0<2}"), 10)
            .map_err(|_| bad(format!("amount {} is out of range", truncate(&amount))))?;
        max.saturating_mul(hundredths) / U256::from(10_000u64)
    } else if amount.starts_with('$') {
        let decimals = decimals.ok_or_else(|| bad("is in dollars, but the token's decimals are unknown".into()))?;
        // parse_price refuses zero, which a metered request may well cost.
        let digits = amount.trim_start_matches('$');
        if !digits.is_empty() && digits.bytes().all(|b| b == b'0' || b == b'.') && digits.matches('.').count() <= 1 {
            U256::ZERO
        } else {
            crate::money::parse_price(&amount, decimals).map_err(|e| bad(e.message().to_string()))?
        }
    } else {
        crate::wire::parse_decimal_u256(&amount).map_err(|e| bad(format!("amount {e}")))?
    };
    if charge > max {
        return Err(bad(format!("charges {charge}, more than the {max} the payer authorized")));
    }
    Ok(charge)
}

/// The spender every upto authorization must name.
pub const SPENDER: Address = UPTO_PERMIT2_PROXY;

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    /// The digest the official SDK (`@x402/evm` 2.27's upto type tables, hashed by viem 2.55) gives these
    /// inputs: `/work/shared/research/permit2-upto.md`, "Test vector".
    #[test]
    fn digest_matches_the_official_sdk() {
        let auth = UptoAuthorization {
            from: Address::ZERO,
            token: address!("036CbD53842c5426634e7929541eC2318f3dCF7e"),
            amount: U256::from(5_000_000u64),
            spender: UPTO_PERMIT2_PROXY,
            nonce: U256::from(123_456_789u64),
            deadline: U256::from(1_740_672_154u64),
            to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
            facilitator: address!("1111111111111111111111111111111111111111"),
            valid_after: U256::ZERO,
        };
        let want: B256 = "0xafb5ee7ca91d0fb580cb2d88b5357220eef0be286c8de99c7285a9c7f3f78abb".parse().unwrap();
        assert_eq!(auth.digest(84532), want);
    }

    #[test]
    fn overrides_in_every_form() {
        let max = U256::from(50_000u64);
        let charge = |v: &str| charge_from_overrides(v, max, Some(6));
        assert_eq!(charge(r#"{"amount":"12345"}"#).unwrap(), U256::from(12_345u64));
        assert_eq!(charge(r#"{"amount":12345}"#).unwrap(), U256::from(12_345u64));
        assert_eq!(charge(r#"{"amount":"50%"}"#).unwrap(), U256::from(25_000u64));
        assert_eq!(charge(r#"{"amount":"33.33%"}"#).unwrap(), U256::from(16_665u64));
        assert_eq!(charge(r#"{"amount":"$0.02"}"#).unwrap(), U256::from(20_000u64));
        assert_eq!(charge(r#"{"amount":"$0"}"#).unwrap(), U256::ZERO);
        assert_eq!(charge(r#"{"amount":"0"}"#).unwrap(), U256::ZERO);
        assert_eq!(charge(r#"{"amount":"100%"}"#).unwrap(), max);
        for bad in [
            "not json",
            r#"{"amount":"50001"}"#,
            r#"{"amount":"100.01%"}"#,
            r#"{"amount":"1.234%"}"#,
            r#"{"amount":"-1"}"#,
            r#"{"amount":"$1"}"#,
            r#"{"other":"1"}"#,
            r#"{"amount":"1e3"}"#,
        ] {
            assert_eq!(charge(bad).unwrap_err().code(), ErrorCode::InvalidPrice, "{bad}");
        }
        assert!(charge_from_overrides(r#"{"amount":"$0.01"}"#, max, None).is_err());
    }

    #[test]
    fn payload_round_trips_and_needs_the_facilitator() {
        let text = r#"{"signature":"0x00","permit2Authorization":{"from":"0x857b06519E91e3A54538791bDbb0E22373e36b66","permitted":{"token":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","amount":"5000"},"spender":"0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002","nonce":"7","deadline":"1740672154","witness":{"to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","facilitator":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","validAfter":"0"}}}"#;
        let obj: Object = serde_json::from_str(text).unwrap();
        let p = UptoPayload::parse(&obj).unwrap();
        assert_eq!(serde_json::to_string(&p.to_object()).unwrap(), text);
        let without: Object =
            serde_json::from_str(&text.replace(r#""facilitator":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","#, ""))
                .unwrap();
        let e = UptoPayload::parse(&without).unwrap_err();
        assert!(e.message().contains("facilitator"), "{}", e.message());
    }
}
