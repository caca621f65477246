//! EIP-712 types and digests for everything paywire signs: EIP-3009 transfers, Permit2 witness transfers,
//! EIP-2612 permits, and offer-receipt offers and receipts. Hashing is alloy-sol-types'.

use crate::prelude::*;
use alloc::borrow::Cow;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::{Eip712Domain, SolStruct, sol};
use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::wire::Fields;

sol! {
    /// EIP-3009 `transferWithAuthorization` message (USDC and other x402 stablecoins).
    #[derive(Debug, PartialEq, Eq)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }

    /// Permit2 token and amount.
    #[derive(Debug, PartialEq, Eq)]
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    /// The x402 exact witness: who is paid, and from when.
    #[derive(Debug, PartialEq, Eq)]
    struct Witness {
        address to;
        uint256 validAfter;
    }

    /// Permit2 `permitWitnessTransferFrom` message with the x402 witness.
    #[derive(Debug, PartialEq, Eq)]
    struct PermitWitnessTransferFrom {
        TokenPermissions permitted;
        address spender;
        uint256 nonce;
        uint256 deadline;
        Witness witness;
    }

    /// EIP-2612 `permit` message.
    #[derive(Debug, PartialEq, Eq)]
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }

    /// offer-receipt extension: a server's signed offer.
    #[derive(Debug, PartialEq, Eq)]
    struct Offer {
        uint256 version;
        string resourceUrl;
        string scheme;
        string network;
        string asset;
        string payTo;
        string amount;
        uint256 validUntil;
    }

    /// offer-receipt extension: a server's signed receipt.
    #[derive(Debug, PartialEq, Eq)]
    struct Receipt {
        uint256 version;
        string network;
        string resourceUrl;
        string payer;
        uint256 issuedAt;
        string transaction;
    }
}

/// The `upto` scheme's Permit2 message: the same primary type as `exact`'s, with a witness that also names
/// the facilitator allowed to settle. A module of its own, because EIP-712 type names must be the same.
pub mod upto {
    use alloy_sol_types::sol;

    sol! {
        /// Permit2 token and (maximum) amount.
        #[derive(Debug, PartialEq, Eq)]
        struct TokenPermissions {
            address token;
            uint256 amount;
        }

        /// The x402 upto witness: who is paid, which facilitator may settle, and from when.
        #[derive(Debug, PartialEq, Eq)]
        struct Witness {
            address to;
            address facilitator;
            uint256 validAfter;
        }

        /// Permit2 `permitWitnessTransferFrom` message with the x402 upto witness.
        #[derive(Debug, PartialEq, Eq)]
        struct PermitWitnessTransferFrom {
            TokenPermissions permitted;
            address spender;
            uint256 nonce;
            uint256 deadline;
            Witness witness;
        }
    }
}

/// The domain of a token's EIP-712 signatures (EIP-3009 and EIP-2612): name, version, chain, contract.
pub fn token_domain(name: &str, version: &str, chain_id: u64, token: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Owned(name.to_string())),
        Some(Cow::Owned(version.to_string())),
        Some(U256::from(chain_id)),
        Some(token),
        None,
    )
}

/// The Permit2 domain: name "Permit2", no version, the chain, the Permit2 contract.
pub fn permit2_domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed("Permit2")),
        None,
        Some(U256::from(chain_id)),
        Some(crate::assets::PERMIT2_ADDRESS),
        None,
    )
}

/// The offer-receipt domain: name "x402 offer" or "x402 receipt", version "1", chain id 1, no contract.
pub fn credential_domain(name: &'static str) -> Eip712Domain {
    Eip712Domain::new(Some(Cow::Borrowed(name)), Some(Cow::Borrowed("1")), Some(U256::from(1)), None, None)
}

/// The EIP-712 digest `keccak256(0x19 0x01 || domainSeparator || hashStruct(message))`.
pub fn digest<T: SolStruct>(domain_separator: &B256, message: &T) -> B256 {
    let mut buf = [0u8; 66];
    buf[0] = 0x19;
    buf[1] = 0x01;
    buf[2..34].copy_from_slice(domain_separator.as_slice());
    buf[34..].copy_from_slice(message.eip712_hash_struct().as_slice());
    keccak256(buf)
}

/// The domain separator and digest of typed data given as JSON (`{"domain", "primaryType", "message"}`, as
/// `eth_signTypedData_v4` takes it), for the primary types paywire signs: `TransferWithAuthorization`,
/// `PermitWitnessTransferFrom` (the x402 witness), `Permit`, `Offer`, `Receipt` and batch-settlement's
/// `ChannelConfig` (its digest is the channel id), `Voucher`, `Refund`, `ClaimBatch` and
/// `ReceiveWithAuthorization`. uint256 members may be
/// decimal strings or JSON integers. Lets any binding show or check what a signature commits to.
pub fn typed_data_hashes(typed: &Value) -> Result<TypedDataHashes> {
    let code = ErrorCode::InvalidArgument;
    let top = Fields::of(typed, "typedData", code)?;
    let d = Fields::new(top.object_field("domain")?, "typedData.domain", code);
    let domain = Eip712Domain::new(
        d.opt_str("name")?.map(|s| Cow::Owned(s.to_string())),
        d.opt_str("version")?.map(|s| Cow::Owned(s.to_string())),
        d.get("chainId").map(|_| uint(&d, "chainId")).transpose()?,
        d.get("verifyingContract").map(|_| d.address("verifyingContract")).transpose()?,
        d.get("salt").map(|_| d.b256("salt")).transpose()?,
    );
    let separator = domain.separator();
    let m = Fields::new(top.object_field("message")?, "typedData.message", code);
    let digest = match top.str("primaryType")? {
        "TransferWithAuthorization" => digest(
            &separator,
            &TransferWithAuthorization {
                from: m.address("from")?,
                to: m.address("to")?,
                value: uint(&m, "value")?,
                validAfter: uint(&m, "validAfter")?,
                validBefore: uint(&m, "validBefore")?,
                nonce: m.b256("nonce")?,
            },
        ),
        "PermitWitnessTransferFrom" => {
            let permitted = Fields::new(m.object_field("permitted")?, "typedData.message.permitted", code);
            let witness = Fields::new(m.object_field("witness")?, "typedData.message.witness", code);
            digest(
                &separator,
                &PermitWitnessTransferFrom {
                    permitted: TokenPermissions {
                        token: permitted.address("token")?,
                        amount: uint(&permitted, "amount")?,
                    },
                    spender: m.address("spender")?,
                    nonce: uint(&m, "nonce")?,
                    deadline: uint(&m, "deadline")?,
                    witness: Witness { to: witness.address("to")?, validAfter: uint(&witness, "validAfter")? },
                },
            )
        }
        "Permit" => digest(
            &separator,
            &Permit {
                owner: m.address("owner")?,
                spender: m.address("spender")?,
                value: uint(&m, "value")?,
                nonce: uint(&m, "nonce")?,
                deadline: uint(&m, "deadline")?,
            },
        ),
        "Offer" => digest(
            &separator,
            &Offer {
                version: uint(&m, "version")?,
                resourceUrl: m.str("resourceUrl")?.to_string(),
                scheme: m.str("scheme")?.to_string(),
                network: m.str("network")?.to_string(),
                asset: m.str("asset")?.to_string(),
                payTo: m.str("payTo")?.to_string(),
                amount: m.str("amount")?.to_string(),
                validUntil: uint(&m, "validUntil")?,
            },
        ),
        "Receipt" => digest(
            &separator,
            &Receipt {
                version: uint(&m, "version")?,
                network: m.str("network")?.to_string(),
                resourceUrl: m.str("resourceUrl")?.to_string(),
                payer: m.str("payer")?.to_string(),
                issuedAt: uint(&m, "issuedAt")?,
                transaction: m.opt_str("transaction")?.unwrap_or_default().to_string(),
            },
        ),
        // batch-settlement's types: a channel's id is the digest of its ChannelConfig.
        "ChannelConfig" => digest(
            &separator,
            &crate::batch::ChannelConfig {
                payer: m.address("payer")?,
                payerAuthorizer: m.address("payerAuthorizer")?,
                receiver: m.address("receiver")?,
                receiverAuthorizer: m.address("receiverAuthorizer")?,
                token: m.address("token")?,
                withdrawDelay: u64::try_from(uint(&m, "withdrawDelay")?)
                    .ok()
                    .filter(|d| *d < 1 << 40)
                    .map(alloy_primitives::aliases::U40::from)
                    .ok_or_else(|| m.err("withdrawDelay", "is above 2^40 - 1"))?,
                salt: m.b256("salt")?,
            },
        ),
        "Voucher" => digest(
            &separator,
            &crate::batch::Voucher {
                channelId: m.b256("channelId")?,
                maxClaimableAmount: uint128(&m, "maxClaimableAmount")?,
            },
        ),
        "Refund" => digest(
            &separator,
            &crate::batch::Refund {
                channelId: m.b256("channelId")?,
                nonce: uint(&m, "nonce")?,
                amount: uint128(&m, "amount")?,
            },
        ),
        "ClaimBatch" => {
            let rows = match m.get("claims") {
                Some(Value::Array(rows)) => rows,
                _ => return Err(m.err("claims", "must be an array of claim entries")),
            };
            let claims = rows
                .iter()
                .map(|row| {
                    let r = Fields::of(row, "typedData.message.claims[]", code)?;
                    Ok(crate::batch::ClaimEntry {
                        channelId: r.b256("channelId")?,
                        maxClaimableAmount: uint128(&r, "maxClaimableAmount")?,
                        totalClaimed: uint128(&r, "totalClaimed")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            digest(&separator, &crate::batch::ClaimBatch { claims })
        }
        "ReceiveWithAuthorization" => digest(
            &separator,
            &crate::batch::ReceiveWithAuthorization {
                from: m.address("from")?,
                to: m.address("to")?,
                value: uint(&m, "value")?,
                validAfter: uint(&m, "validAfter")?,
                validBefore: uint(&m, "validBefore")?,
                nonce: m.b256("nonce")?,
            },
        ),
        other => {
            return Err(Error::new(
                code,
                format!(
                    "typedData.primaryType {:?} is none of TransferWithAuthorization, PermitWitnessTransferFrom, \
                     Permit, Offer, Receipt, ChannelConfig, Voucher, Refund, ClaimBatch, ReceiveWithAuthorization",
                    crate::wire::truncate(other)
                ),
            ));
        }
    };
    Ok(TypedDataHashes { domain_separator: separator, digest })
}

/// What [`typed_data_hashes`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypedDataHashes {
    /// `hashStruct(domain)`.
    pub domain_separator: B256,
    /// The digest a signature signs.
    pub digest: B256,
}

/// A uint128 member (an amount of a channel), refused above 2^128 - 1 rather than cut.
fn uint128(fields: &Fields<'_>, field: &str) -> Result<u128> {
    u128::try_from(uint(fields, field)?).map_err(|_| fields.err(field, "is above 2^128 - 1"))
}

/// A uint256 member written as a decimal string or a JSON integer.
fn uint(fields: &Fields<'_>, field: &str) -> Result<U256> {
    match fields.get(field) {
        Some(Value::Number(_)) => fields.u64(field).map(U256::from),
        _ => fields.decimal(field),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256};

    #[test]
    fn spec_vector_digest() {
        // The signature example of the x402 specs (Base Sepolia USDC); values from shared/research/x402-protocol.md §7.
        let domain = token_domain("USDC", "2", 84532, address!("036CbD53842c5426634e7929541eC2318f3dCF7e"));
        assert_eq!(domain.separator(), b256!("71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818"));
        let msg = TransferWithAuthorization {
            from: address!("857b06519E91e3A54538791bDbb0E22373e36b66"),
            to: address!("209693Bc6afc0C5328bA36FaF03C514EF312287C"),
            value: U256::from(10000),
            validAfter: U256::from(1740672089u64),
            validBefore: U256::from(1740672154u64),
            nonce: b256!("f3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"),
        };
        assert_eq!(msg.eip712_hash_struct(), b256!("49ad644555c7bdf3ea4fc022a4940ae5589b230b1dde0065c5504fa19bbe39a4"));
        assert_eq!(
            digest(&domain.separator(), &msg),
            b256!("f256992871671abcb27ff92885a7afa46218724e5fc0bac35d050115aa1d22e6")
        );
        assert_eq!(digest(&domain.separator(), &msg), msg.eip712_signing_hash(&domain));
    }

    #[test]
    fn type_hashes_match_the_official_sdks() {
        // Type hashes computed by viem 2.55 (see tests/vectors and shared research notes).
        assert_eq!(
            TransferWithAuthorization::eip712_type_hash(&TransferWithAuthorization {
                from: Address::ZERO,
                to: Address::ZERO,
                value: U256::ZERO,
                validAfter: U256::ZERO,
                validBefore: U256::ZERO,
                nonce: B256::ZERO
            }),
            b256!("7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267")
        );
        assert_eq!(
            PermitWitnessTransferFrom::eip712_encode_type(),
            "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
        );
        assert_eq!(
            Offer::eip712_encode_type(),
            "Offer(uint256 version,string resourceUrl,string scheme,string network,string asset,string payTo,string amount,uint256 validUntil)"
        );
        assert_eq!(
            credential_domain("x402 offer").separator(),
            b256!("5dc92544087ab60aa57c539b9543f9282416b0dcf2c2ae0d4d0051052a9e61b6")
        );
        assert_eq!(
            credential_domain("x402 receipt").separator(),
            b256!("fd7f8c81cdd24b25c99ba22e191cee41d8809abbc12e8fdbd42fddfa5bb9e406")
        );
        assert_eq!(
            permit2_domain(84532).separator(),
            b256!("010f27a92fb9a32622f44f001dc4d15706a85b33499cfc2ce9033113ab26592c")
        );
    }

    #[test]
    fn typed_data_json_takes_strings_or_integers_and_names_what_is_wrong() {
        let typed = |value: Value| {
            serde_json::json!({
                "domain": {"name": "USDC", "version": "2", "chainId": 84532,
                           "verifyingContract": "0x036CbD53842c5426634e7929541eC2318f3dCF7e"},
                "primaryType": "TransferWithAuthorization",
                "message": {"from": "0x857b06519E91e3A54538791bDbb0E22373e36b66",
                            "to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "value": value,
                            "validAfter": "1740672089", "validBefore": 1740672154u64,
                            "nonce": "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}
            })
        };
        let want = b256!("f256992871671abcb27ff92885a7afa46218724e5fc0bac35d050115aa1d22e6");
        assert_eq!(typed_data_hashes(&typed(Value::from(10000))).unwrap().digest, want);
        assert_eq!(typed_data_hashes(&typed(Value::from("10000"))).unwrap().digest, want);
        let err = typed_data_hashes(&typed(Value::from("1e4"))).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(err.message().contains("typedData.message.value"), "{err}");
        let mut other = typed(Value::from(1));
        other["primaryType"] = Value::from("Mail");
        assert!(typed_data_hashes(&other).unwrap_err().message().contains("Mail"));
    }
}
