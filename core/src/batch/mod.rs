//! The `batch-settlement` scheme on EVM chains (x402 `specs/schemes/batch-settlement/`): the payer deposits once
//! into a channel, then signs one cumulative voucher per request, which the server checks offline; the server's
//! receiver authorizer claims many channels at once and sweeps what it claimed. This module holds what every
//! party signs or checks: the channel's configuration and id, vouchers, claim batches, refunds, and the deposit
//! nonce, under the EIP-712 domain "x402 Batch Settlement" version "1" of the settlement contract.

use alloc::borrow::Cow;

use alloy_primitives::{Address, B256, U256, address, keccak256};
use alloy_sol_types::{Eip712Domain, SolStruct, SolValue, sol};

use crate::eip712;

pub mod offer;
pub mod payload;

pub use offer::{BatchOffer, DepositMethod, VoucherCheck, check_voucher, sign_claims, sign_voucher, verify_voucher};
pub use payload::{BatchPayload, Deposit, DepositAuthorization, RefundRequest, SignedVoucher, VoucherClaim};

/// The scheme name.
pub const SCHEME: &str = "batch-settlement";

/// The settlement contract (`x402BatchSettlement`), the same address on every chain.
pub const SETTLEMENT_CONTRACT: Address = address!("4020074e9dF2ce1deE5A9C1b5c3f541D02a10003");
/// The collector of ERC-3009 deposits (`receiveWithAuthorization` to it).
pub const ERC3009_DEPOSIT_COLLECTOR: Address = address!("4020806089470a89826cB9fB1f4059150b550004");
/// The collector of Permit2 deposits (the spender of a deposit's Permit2 witness transfer).
pub const PERMIT2_DEPOSIT_COLLECTOR: Address = address!("4020425FAf3B746C082C2f942b4E5159887B0005");
/// The shortest withdraw delay a channel may have, in seconds (15 minutes).
pub const MIN_WITHDRAW_DELAY: u64 = 900;
/// The longest withdraw delay a channel may have, in seconds (30 days).
pub const MAX_WITHDRAW_DELAY: u64 = 2_592_000;

sol! {
    /// What a channel is: who pays and who may sign for them, who is paid and who may claim for them, the
    /// token, how long a payer's withdrawal waits, and a salt that tells channels of the same parties apart.
    #[derive(Debug, PartialEq, Eq, Default)]
    struct ChannelConfig {
        address payer;
        address payerAuthorizer;
        address receiver;
        address receiverAuthorizer;
        address token;
        uint40 withdrawDelay;
        bytes32 salt;
    }

    /// A cumulative voucher: the receiver may claim up to `maxClaimableAmount` from the channel in all.
    #[derive(Debug, PartialEq, Eq)]
    struct Voucher {
        bytes32 channelId;
        uint128 maxClaimableAmount;
    }

    /// A refund of `amount` from a channel to its payer; `nonce` is the channel's refund count.
    #[derive(Debug, PartialEq, Eq)]
    struct Refund {
        bytes32 channelId;
        uint256 nonce;
        uint128 amount;
    }

    /// One channel of a claim: its voucher's amount and the total claimed from it once this claim is done.
    #[derive(Debug, PartialEq, Eq)]
    struct ClaimEntry {
        bytes32 channelId;
        uint128 maxClaimableAmount;
        uint128 totalClaimed;
    }

    /// The claims of many channels, signed at once by the receiver authorizer.
    #[derive(Debug, PartialEq, Eq)]
    struct ClaimBatch {
        ClaimEntry[] claims;
    }

    /// ERC-3009's authorization of a transfer that only its recipient may execute (a deposit collector).
    #[derive(Debug, PartialEq, Eq)]
    struct ReceiveWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }

    /// A voucher as the contract's claim takes it: with the channel's whole configuration.
    #[derive(Debug, PartialEq, Eq)]
    struct ClaimVoucher {
        ChannelConfig channel;
        uint128 maxClaimableAmount;
    }

    /// One row of the contract's claim: the payer's voucher, its signature, the total claimed once done.
    #[derive(Debug, PartialEq, Eq)]
    struct ClaimRow {
        ClaimVoucher voucher;
        bytes signature;
        uint128 totalClaimed;
    }

    /// The settlement contract's calls and views (x402 `x402BatchSettlement`), for whoever sends or reads them.
    interface IBatchSettlement {
        function deposit(ChannelConfig config, uint128 amount, address collector, bytes collectorData) external;
        function claimWithSignature(ClaimRow[] voucherClaims, bytes authorizerSignature) external;
        function settle(address receiver, address token) external;
        function refundWithSignature(ChannelConfig config, uint128 amount, uint256 nonce, bytes receiverAuthorizerSignature) external;
        function initiateWithdraw(ChannelConfig config, uint128 amount) external;
        function finalizeWithdraw(ChannelConfig config) external;
        function multicall(bytes[] data) external returns (bytes[] results);
        function channels(bytes32 channelId) external view returns (uint128 balance, uint128 totalClaimed);
        function pendingWithdrawals(bytes32 channelId) external view returns (uint128 amount, uint40 initiatedAt);
        function refundNonce(bytes32 channelId) external view returns (uint256);
        function receivers(address receiver, address token) external view returns (uint128 totalClaimed, uint128 totalSettled);
        event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount);
    }
}

/// The Permit2 witness transfer of a deposit: its own module, as its EIP-712 type names
/// (`PermitWitnessTransferFrom`, `TokenPermissions`) are those of the `exact` scheme's, with another witness.
pub mod permit2_deposit {
    use alloy_sol_types::sol;

    sol! {
        /// The deposit's witness: the channel the transfer funds.
        #[derive(Debug, PartialEq, Eq)]
        struct DepositWitness {
            bytes32 channelId;
        }

        /// What a Permit2 transfer may move.
        #[derive(Debug, PartialEq, Eq)]
        struct TokenPermissions {
            address token;
            uint256 amount;
        }

        /// The payer's Permit2 signature for a deposit, spent by the Permit2 deposit collector.
        #[derive(Debug, PartialEq, Eq)]
        struct PermitWitnessTransferFrom {
            TokenPermissions permitted;
            address spender;
            uint256 nonce;
            uint256 deadline;
            DepositWitness witness;
        }
    }
}

/// The EIP-712 domain of every batch-settlement signature on `chain_id`.
pub fn domain(chain_id: u64) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed("x402 Batch Settlement")),
        Some(Cow::Borrowed("1")),
        Some(U256::from(chain_id)),
        Some(SETTLEMENT_CONTRACT),
        None,
    )
}

/// The domain separator of `chain_id`, cached: building it costs three keccak rounds and several allocations,
/// twice per voucher checked otherwise (the channel id and the voucher's digest).
pub fn domain_separator(chain_id: u64) -> B256 {
    use crate::sync::RwLock;
    static CACHE: RwLock<alloc::vec::Vec<(u64, B256)>> = RwLock::new(alloc::vec::Vec::new());
    // Chain ids can come from anyone's payloads: keep the cache small.
    const MAX_CHAINS: usize = 16;
    if let Some((_, sep)) = CACHE.read().iter().find(|(id, _)| *id == chain_id) {
        return *sep;
    }
    let sep = domain(chain_id).separator();
    let mut cache = CACHE.write();
    if cache.len() >= MAX_CHAINS {
        cache.clear();
    }
    cache.push((chain_id, sep));
    sep
}

fn digest<T: SolStruct>(chain_id: u64, message: &T) -> B256 {
    eip712::digest(&domain_separator(chain_id), message)
}

impl ChannelConfig {
    /// The channel's id: the EIP-712 digest of its configuration, so it is bound to the chain and contract.
    pub fn channel_id(&self, chain_id: u64) -> B256 {
        digest(chain_id, self)
    }
}

impl Voucher {
    /// The digest the payer (or its authorizer) signs.
    pub fn digest(&self, chain_id: u64) -> B256 {
        digest(chain_id, self)
    }
}

impl Refund {
    /// The digest the receiver authorizer signs.
    pub fn digest(&self, chain_id: u64) -> B256 {
        digest(chain_id, self)
    }
}

impl ClaimBatch {
    /// The digest the receiver authorizer signs.
    pub fn digest(&self, chain_id: u64) -> B256 {
        digest(chain_id, self)
    }
}

/// The ERC-3009 nonce of a deposit into `channel_id`: `keccak256(abi.encode(channelId, salt))`, so an
/// authorization can only ever fund that channel.
pub fn erc3009_deposit_nonce(channel_id: B256, salt: U256) -> B256 {
    keccak256((channel_id, salt).abi_encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use alloy_primitives::aliases::U40;

    fn config() -> ChannelConfig {
        ChannelConfig {
            payer: Address::repeat_byte(0x11),
            payerAuthorizer: Address::repeat_byte(0x11),
            receiver: Address::repeat_byte(0x33),
            receiverAuthorizer: Address::repeat_byte(0x44),
            token: Address::repeat_byte(0x55),
            withdrawDelay: U40::from(900u64),
            salt: B256::ZERO,
        }
    }

    fn b256(text: &str) -> B256 {
        text.parse().unwrap()
    }

    /// The official SDKs' byte-equivalence fixtures (x402 `python/x402/tests/fixtures/
    /// batch-settlement-byte-equivalence/v0`, L2.1 to L2.5), on chain 84532.
    #[test]
    fn official_fixtures() {
        let id = config().channel_id(84532);
        assert_eq!(id, b256("0x5aa0c653042e33ac01a3e944daa7f9a9db4153a203423551757927bca6a8fc93"));
        let voucher = Voucher { channelId: id, maxClaimableAmount: 1000 };
        assert_eq!(voucher.digest(84532), b256("0xbeff2905f91d80520e5393b1e6aa65c14c4cf4f6e9c36eab64b49a90953873e2"));
        let batch =
            ClaimBatch { claims: vec![ClaimEntry { channelId: id, maxClaimableAmount: 1000, totalClaimed: 500 }] };
        assert_eq!(batch.digest(84532), b256("0xfecd0b3504fb3b63b76003ba280d5303975ed18f1e0332b42b2428389b3569e4"));
        let refund = Refund { channelId: id, nonce: U256::ZERO, amount: 500 };
        assert_eq!(refund.digest(84532), b256("0xc1a94fb1c3b10ade231ee6347ba905daef6c2ce0217deb1901d7f61960e49a49"));
        assert_eq!(
            erc3009_deposit_nonce(B256::repeat_byte(0x11), U256::from(1)),
            b256("0x7deb3b60ec0f1bf56dbdd0ffedbadafddeaa08947884ff0f215ce93ee1826102")
        );
        assert_eq!(
            domain(84532).separator(),
            b256("0xfdef80764086b1e0fc6ba99f0cb9aa1d59109fda7c23d60334c89d2de44dffce")
        );
    }

    fn claim_rows(claim: &BatchPayload) -> Vec<VoucherClaim> {
        match claim {
            BatchPayload::Claim { claims, .. } => claims.clone(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn payloads_round_trip_and_vouchers_check_offline() {
        use crate::signer::LocalSigner;
        let payer = LocalSigner::from_bytes(&[7u8; 32]).unwrap();
        let mut channel = config();
        channel.payer = crate::signer::Signer::address(&payer);
        channel.payerAuthorizer = channel.payer;
        let id = channel.channel_id(84532);
        let voucher = sign_voucher(&payer, id, 1234, 84532).unwrap();
        assert_eq!(check_voucher(&channel, &voucher, 84532).unwrap(), VoucherCheck::Recovered);
        // Another amount, another chain, another channel: refused with x402's reasons.
        let forged = SignedVoucher { max_claimable: 9999, ..voucher.clone() };
        assert_eq!(
            check_voucher(&channel, &forged, 84532).unwrap_err().code(),
            crate::ErrorCode::BatchVoucherSignature
        );
        assert_eq!(
            check_voucher(&channel, &voucher, 8453).unwrap_err().code(),
            crate::ErrorCode::BatchChannelIdMismatch
        );
        let mut other = channel.clone();
        other.withdrawDelay = U40::from(60u64);
        assert_eq!(
            check_voucher(&other, &voucher, 84532).unwrap_err().code(),
            crate::ErrorCode::BatchWithdrawDelayOutOfRange
        );
        // No payer authorizer: the payer's own ECDSA signature, or a smart wallet's left to the chain.
        channel.payerAuthorizer = Address::ZERO;
        let id = channel.channel_id(84532);
        let v = sign_voucher(&payer, id, 5, 84532).unwrap();
        assert_eq!(check_voucher(&channel, &v, 84532).unwrap(), VoucherCheck::Recovered);
        let wallet = SignedVoucher { signature: vec![1; 100], ..v.clone() };
        assert!(matches!(check_voucher(&channel, &wallet, 84532).unwrap(), VoucherCheck::RequiresOnchain { .. }));

        let payload = BatchPayload::Deposit {
            channel: channel.clone(),
            voucher: v.clone(),
            deposit: Deposit {
                amount: 100_000,
                authorization: DepositAuthorization::Erc3009 {
                    valid_after: U256::ZERO,
                    valid_before: U256::from(1_770_000_000u64),
                    salt: B256::repeat_byte(9),
                    signature: vec![2; 65],
                },
            },
        };
        let object = payload.to_object();
        assert_eq!(BatchPayload::parse(&object).unwrap(), payload);
        let text = serde_json::to_string(&object).unwrap();
        assert!(text.starts_with(r#"{"type":"deposit","channelConfig":{"payer":"#), "{text}");
        assert!(text.contains(r#""withdrawDelay":900,"#), "{text}");
        let claim = BatchPayload::Claim {
            claims: vec![VoucherClaim { channel, max_claimable: 5, signature: v.signature.clone(), total_claimed: 5 }],
            authorizer_signature: Some(vec![3; 65]),
        };
        assert_eq!(BatchPayload::parse(&claim.to_object()).unwrap(), claim);
        for (nonce, claims) in [(None, vec![]), (Some(U256::from(3)), vec![]), (None, claim_rows(&claim))] {
            let refund = BatchPayload::Refund {
                channel: config(),
                voucher: v.clone(),
                refund: RefundRequest {
                    amount: Some(7),
                    refund_nonce: nonce,
                    claims,
                    refund_signature: None,
                    claim_signature: Some(vec![4; 65]),
                },
            };
            assert_eq!(BatchPayload::parse(&refund.to_object()).unwrap(), refund);
        }
        let settle = BatchPayload::Settle { receiver: Address::repeat_byte(1), token: Address::repeat_byte(2) };
        assert_eq!(BatchPayload::parse(&settle.to_object()).unwrap(), settle);
        for junk in [r#"{"type":"exact"}"#, r#"{}"#, r#"{"type":"claim","claims":[]}"#, r#"{"type":"voucher"}"#] {
            let obj: crate::wire::Object = serde_json::from_str(junk).unwrap();
            assert!(BatchPayload::parse(&obj).is_err(), "{junk}");
        }
    }

    #[test]
    fn verify_voucher_answers_as_a_facilitator_would() {
        use crate::signer::{LocalSigner, Signer};
        use crate::types::{PaymentPayload, PaymentRequirements};
        let payer = LocalSigner::from_bytes(&[8u8; 32]).unwrap();
        let offer = |receiver: &str| {
            let extra = serde_json::json!({"receiverAuthorizer": "0x4444444444444444444444444444444444444444",
                "withdrawDelay": 900, "name": "USDC", "version": "2"});
            PaymentRequirements::new_v2(
                SCHEME,
                "eip155:84532",
                U256::from(1000u64),
                "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                receiver,
                300,
                extra.as_object().cloned(),
            )
            .unwrap()
        };
        let ours = offer("0x3333333333333333333333333333333333333333");
        let terms = BatchOffer::resolve(&ours).unwrap();
        let channel = terms.channel(payer.address(), payer.address(), B256::ZERO);
        let paid = |max: u128, offer: &PaymentRequirements| {
            let mut voucher = sign_voucher(&payer, channel.channel_id(84532), 2000, 84532).unwrap();
            voucher.max_claimable = max;
            let payload = BatchPayload::Voucher { channel: channel.clone(), voucher }.to_object();
            PaymentPayload::new_v2(offer, None, payload, None).unwrap()
        };
        let valid = verify_voucher(&paid(2000, &ours), &ours);
        assert!(valid.is_valid, "{valid:?}");
        assert_eq!(valid.payer.as_deref(), Some(payer.address().to_checksum(None).as_str()));
        let raised = verify_voucher(&paid(9000, &ours), &ours);
        assert_eq!(raised.invalid_reason.as_deref(), Some("invalid_batch_settlement_evm_voucher_signature"));
        let elsewhere = offer("0x5555555555555555555555555555555555555555");
        let foreign = verify_voucher(&paid(2000, &ours), &elsewhere);
        assert_eq!(foreign.invalid_reason.as_deref(), Some("invalid_batch_settlement_evm_receiver_mismatch"));
        // A smart wallet's voucher (no payer authorizer, not a 65-byte signature) is not called forged.
        let wallet = terms.channel(payer.address(), Address::ZERO, B256::ZERO);
        let voucher =
            SignedVoucher { channel_id: wallet.channel_id(84532), max_claimable: 2000, signature: vec![1; 130] };
        let payload = BatchPayload::Voucher { channel: wallet, voucher }.to_object();
        let onchain = verify_voucher(&PaymentPayload::new_v2(&ours, None, payload, None).unwrap(), &ours);
        assert_eq!(onchain.invalid_reason.as_deref(), Some("onchain_verification_required"));
    }
}
