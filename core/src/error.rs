//! The one error type of paywire: a stable machine-readable code and a message a person can act on.

use crate::prelude::*;
use core::fmt;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Stable, machine-readable error codes.
        ///
        /// Where x402 defines a reason string for a failure, the code's string form is exactly that reason (so a
        /// verification failure can go into a `VerifyResponse.invalidReason` unchanged). The other codes are
        /// paywire's own and never change meaning once released.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, for documentation and for bindings that mirror the list.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable string form of the code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {

    // Header and message decoding.
    /// A header value is larger than [`crate::codec::MAX_HEADER_BYTES`].
    HeaderTooLarge => "header_too_large",
    /// A JSON body or message is larger than [`crate::codec::MAX_BODY_BYTES`].
    BodyTooLarge => "body_too_large",
    /// A header value is empty or only whitespace.
    HeaderEmpty => "header_empty",
    /// A header value uses the base64url alphabet (`-`, `_`); x402 uses standard base64.
    HeaderBase64Url => "header_base64url",
    /// A header value lacks its `=` padding.
    HeaderMissingPadding => "header_missing_padding",
    /// A header value is not base64 at all.
    HeaderInvalidBase64 => "header_invalid_base64",
    /// The decoded bytes (or a body) are not UTF-8 JSON.
    InvalidJson => "invalid_json",
    /// A `PaymentRequired` (402 challenge) does not have the x402 shape.
    InvalidPaymentRequired => "invalid_payment_required",
    /// A payment requirements object does not have the x402 shape (x402 reason).
    InvalidPaymentRequirements => "invalid_payment_requirements",
    /// A payment payload does not have the x402 shape (x402 reason).
    InvalidPayload => "invalid_payload",
    /// A facilitator answer (`/verify`, `/settle`, `/supported`) does not have the x402 shape.
    InvalidFacilitatorResponse => "invalid_facilitator_response",
    /// The facilitator could not be reached or did not answer in time.
    FacilitatorUnreachable => "facilitator_unreachable",
    /// A settlement receipt (`PAYMENT-RESPONSE`) does not have the x402 shape.
    InvalidSettleResponse => "invalid_settle_response",
    /// The message carries an `x402Version` paywire does not speak (x402 reason).
    InvalidX402Version => "invalid_x402_version",
    /// The value does not look like any x402 message.
    UnknownMessage => "unknown_message",

    // Networks, assets and money.
    /// A network identifier is malformed or unknown (x402 reason).
    InvalidNetwork => "invalid_network",
    /// A price string is not a plain positive decimal amount.
    InvalidPrice => "invalid_price",
    /// A price has more decimals than the token can represent.
    PriceTooPrecise => "price_too_precise",
    /// An amount does not fit or is otherwise out of range.
    AmountOutOfRange => "amount_out_of_range",
    /// No default stablecoin is known for a network, so a money price cannot be converted.
    UnknownAsset => "unknown_asset",
    /// The scheme is not one paywire implements (x402 reason).
    UnsupportedScheme => "unsupported_scheme",

    // Keys and signing.
    /// A private key is malformed or out of range.
    InvalidPrivateKey => "invalid_private_key",
    /// An external signer reported a failure.
    SignerFailed => "signer_failed",
    /// A signature does not recover to the signer's address.
    SignerMismatch => "signer_mismatch",
    /// A signature is not 65 bytes of `r || s || v`.
    InvalidSignatureFormat => "invalid_signature_format",
    /// The system randomness source failed.
    RandomnessFailed => "randomness_failed",

    // Client side.
    /// No offer in the bill satisfies the payment policy; the error lists every offer and why.
    NoAcceptableOffer => "no_acceptable_offer",
    /// The bill does not carry the EIP-712 domain (`extra.name`, `extra.version`) (x402 reason).
    MissingEip712Domain => "invalid_exact_evm_missing_eip712_domain",
    /// A payment was already attached to this request; paying again would pay twice.
    PaymentAlreadyAttempted => "payment_already_attempted",
    /// An argument passed by the caller (not a message from the network) is malformed.
    InvalidArgument => "invalid_argument",
    /// The running budget would be exceeded by this payment.
    BudgetExceeded => "budget_exceeded",
    /// A policy description is malformed.
    InvalidPolicy => "invalid_policy",
    /// A prepared payment was completed twice, with the wrong number of signatures, by another payer, or
    /// after it expired.
    InvalidPreparedPayment => "invalid_prepared_payment",
    /// A hook registered before payment creation aborted it (the hook's reason is in the message).
    PaymentAborted => "payment_aborted",
    /// A hook raised before a payment was created, verified or settled, so the exchange stopped there.
    HookFailed => "hook_failed",

    // Server side.
    /// The client's `accepted` offer matches none of the server's offers.
    NoMatchingRequirements => "no_matching_payment_requirements",
    /// A route's price tag is not usable to build an offer.
    InvalidPriceTag => "invalid_price_tag",
    /// The `payment-identifier` extension carries a malformed id.
    InvalidPaymentIdentifier => "invalid_payment_identifier",
    /// The offer requires a `payment-identifier` id and the payment has none.
    PaymentIdentifierRequired => "payment_identifier_required",
    /// A payment id already paid for another request (answer 409, as the payment-identifier extension says).
    PaymentIdentifierConflict => "payment_identifier_conflict",
    /// The same payment is being processed by another request right now (answer 409).
    PaymentInProgress => "payment_in_progress",
    /// The payment was already served and its response is no longer held, so it cannot be answered again
    /// without running the request twice (answer 409).
    PaymentAlreadyServed => "payment_already_served",
    /// The payment was made for another resource than the one it is sent to (its `resource.url` names
    /// another URL): a payment buys the resource whose bill it paid (paywire's code).
    ResourceMismatch => "payment_resource_mismatch",
    /// The server's payment store failed, so the payment could not be taken; nothing was charged (answer
    /// 503) (paywire's code).
    StoreUnavailable => "payment_store_unavailable",
    /// A paid request was redirected more times than allowed (paywire's code).
    TooManyRedirects => "too_many_redirects",
    /// The authorization was already used, e.g. a payment replayed for another request (x402 reason).
    NonceAlreadyUsed => "invalid_exact_evm_nonce_already_used",

    // Sign-in-with-x (the official SDKs' reasons where they have them).
    /// A `SIGN-IN-WITH-X` header that is not a sign-in payload (paywire's code).
    InvalidSiwxPayload => "invalid_siwx_payload",
    /// The sign-in is for another domain than this server's.
    SiwxDomainMismatch => "invalid_siwx_domain_mismatch",
    /// The sign-in's URI is not on this server's origin.
    SiwxUriMismatch => "invalid_siwx_uri_mismatch",
    /// The sign-in's `issuedAt` is not an RFC 3339 time.
    SiwxIssuedAt => "invalid_siwx_issued_at",
    /// The sign-in was asked for too long ago.
    SiwxIssuedAtTooOld => "invalid_siwx_issued_at_too_old",
    /// The sign-in's `issuedAt` is in the future.
    SiwxIssuedAtInFuture => "invalid_siwx_issued_at_in_future",
    /// The sign-in's `expirationTime` is not an RFC 3339 time.
    SiwxExpirationTime => "invalid_siwx_expiration_time",
    /// The sign-in has expired.
    SiwxExpired => "invalid_siwx_expired",
    /// The sign-in's `notBefore` is not an RFC 3339 time.
    SiwxNotBefore => "invalid_siwx_not_before",
    /// The sign-in is not valid yet.
    SiwxNotYetValid => "invalid_siwx_not_yet_valid",
    /// The sign-in's nonce is malformed, or was used before (a replayed sign-in).
    SiwxNonce => "invalid_siwx_nonce",
    /// The sign-in's signature is not the claimed wallet's.
    SiwxSignature => "invalid_siwx_signature",
    /// The sign-in's chain is not `eip155:<number>`.
    SiwxChainId => "invalid_siwx_chain_id",
    /// The sign-in is for a chain or signature type this server does not take.
    SiwxUnsupportedChain => "invalid_siwx_unsupported_chain",
    /// The sign-in's signature is not a 65-byte signature.
    SiwxMalformedSignature => "invalid_siwx_malformed_signature",
    /// The wallet signed in correctly but has not paid for this resource (paywire's code).
    SiwxNotPaid => "siwx_no_payment_on_record",

    // Passes a facilitator issues (paywire's codes).
    /// This facilitator issues no passes (it has no credential key).
    PassesNotOffered => "passes_not_offered",
    /// The transaction was already used for a pass; one payment buys one pass.
    PassTransactionUsed => "pass_transaction_already_used",
    /// The authorization has not settled here with success, so it buys no pass (yet).
    PassPaymentNotSettled => "pass_payment_not_settled",
    /// The transaction is not a confirmed, successful transfer of at least the price to the payee in the
    /// asset.
    PassTransferMismatch => "pass_transfer_mismatch",
    /// The transaction is not confirmed deeply enough yet; ask again.
    PassTransactionUnconfirmed => "pass_transaction_unconfirmed",
    /// The pass request is not signed by the wallet that paid.
    PassProofInvalid => "pass_proof_invalid",

    // Offline verification (x402 reasons for the `exact` EVM scheme).
    /// The payload's scheme differs from the requirement's (x402 reason).
    InvalidScheme => "invalid_scheme",
    /// The payment is for another network than the offer (x402 reason, as the official TypeScript
    /// facilitator words it; `invalid_network` is kept for malformed or unknown network identifiers).
    NetworkMismatch => "invalid_exact_evm_network_mismatch",
    /// The payload's kind (EIP-3009 or Permit2) is not what the offer asks for (x402 reason).
    UnsupportedPayloadType => "unsupported_payload_type",
    /// A payment changed what the server declared in an extension instead of echoing it (x402 reason).
    ExtensionEchoMismatch => "extension_echo_mismatch",
    /// The signature does not recover to the payer or is malformed (x402 reason).
    InvalidSignature => "invalid_exact_evm_payload_signature",
    /// The authorization pays someone other than `payTo` (x402 reason).
    RecipientMismatch => "invalid_exact_evm_payload_recipient_mismatch",
    /// The authorization expires too soon or has expired (x402 reason).
    ValidBeforeExpired => "invalid_exact_evm_payload_authorization_valid_before",
    /// The authorization is not valid yet (x402 reason).
    ValidAfterInFuture => "invalid_exact_evm_payload_authorization_valid_after",
    /// The authorized value differs from the required amount, x402 v2 (x402 reason).
    ValueMismatch => "invalid_exact_evm_payload_authorization_value_mismatch",
    /// The authorized value differs from the required amount, x402 v1 (x402 reason).
    ValueMismatchV1 => "invalid_exact_evm_payload_authorization_value",
    /// The payment accepts another asset than the offer (paywire's code).
    AssetMismatch => "asset_mismatch",
    /// The signature is not a 65-byte EOA signature, so only the chain can check it (a smart wallet).
    OnchainVerificationRequired => "onchain_verification_required",
    /// Permit2: the spender is not the x402 exact Permit2 proxy (x402 reason).
    Permit2InvalidSpender => "invalid_permit2_spender",
    /// Permit2: the witness pays someone other than `payTo` (x402 reason).
    Permit2RecipientMismatch => "invalid_permit2_recipient_mismatch",
    /// Permit2: the deadline has passed or is too close (x402 reason).
    Permit2DeadlineExpired => "permit2_deadline_expired",
    /// Permit2: the witness is not valid yet (x402 reason).
    Permit2NotYetValid => "permit2_not_yet_valid",
    /// Permit2: the permitted amount differs from the required amount (x402 reason).
    Permit2AmountMismatch => "permit2_amount_mismatch",
    /// Permit2: the permitted token differs from the required asset (x402 reason).
    Permit2TokenMismatch => "permit2_token_mismatch",
    /// Permit2: the signature does not recover to the owner (x402 reason).
    Permit2InvalidSignature => "invalid_permit2_signature",
    /// The `eip2612GasSponsoring` extension is malformed (x402 reason).
    Eip2612InvalidFormat => "invalid_eip2612_extension_format",
    /// The EIP-2612 permit's owner is not the payer (x402 reason).
    Eip2612FromMismatch => "eip2612_from_mismatch",
    /// The EIP-2612 permit is for another token (x402 reason).
    Eip2612AssetMismatch => "eip2612_asset_mismatch",
    /// The EIP-2612 permit's spender is not Permit2 (x402 reason).
    Eip2612SpenderNotPermit2 => "eip2612_spender_not_permit2",
    /// The EIP-2612 permit's deadline has passed (x402 reason).
    Eip2612DeadlineExpired => "eip2612_deadline_expired",
    /// The EIP-2612 permit's value is not exactly the payment's amount (the x402 Permit2 proxy reverts
    /// `settleWithPermit` otherwise) (x402 reason).
    Eip2612AmountMismatch => "permit2_2612_amount_mismatch",
    /// The EIP-2612 permit's signature does not recover to its owner (paywire's code).
    Eip2612InvalidSignature => "eip2612_invalid_signature",

    // On-chain verification and settlement (what a facilitator finds on the chain).
    /// The payer's token balance is below the payment's value (x402 reason).
    InsufficientFunds => "insufficient_funds",
    /// The asset address holds no contract on the chain (x402 reason).
    AssetNotDeployed => "asset_not_deployed_contract",
    /// Simulating the transfer on the chain reverted (x402 reason).
    SimulationFailed => "invalid_exact_evm_transaction_simulation_failed",
    /// The settlement transaction was mined but reverted (x402 reason).
    TransactionFailed => "invalid_exact_evm_transaction_failed",
    /// The settlement's receipt lacks the expected `Transfer` event (x402 reason).
    TransferEventMismatch => "invalid_exact_evm_transfer_event_mismatch",
    /// The settlement was broadcast but not yet confirmed; the transaction hash is known (x402 reason).
    SettlementPending => "settlement_pending",
    /// The payment uses a transfer method this facilitator does not settle (e.g. Permit2 without the x402
    /// Permit2 proxy deployed) (x402 reason).
    Permit2ProxyNotDeployed => "permit2_proxy_not_deployed",
    /// The payer has not approved Permit2 for the amount, and the payment carries no EIP-2612 permit that
    /// would (x402 reason; a server answers it with HTTP 412).
    Permit2AllowanceRequired => "permit2_allowance_required",
    /// The payer's token balance is below a Permit2 payment's amount (x402 reason).
    Permit2InsufficientBalance => "permit2_insufficient_balance",
    /// The Permit2 nonce was used (or invalidated) by the payer before (x402 reason).
    Permit2InvalidNonce => "permit2_invalid_nonce",
    /// Simulating the Permit2 proxy's settlement reverted for another reason (x402 reason).
    Permit2SimulationFailed => "permit2_simulation_failed",
    /// An `upto` witness names another facilitator than the offer's `extra.facilitatorAddress` (x402 reason).
    UptoFacilitatorMismatch => "upto_facilitator_mismatch",
    /// The amount an `upto` settlement asks for exceeds the payer's authorized maximum (x402 reason).
    UptoSettlementExceedsAmount => "invalid_upto_evm_payload_settlement_exceeds_amount",
    /// A `batch-settlement` payload's `type` is not one this step takes (x402 reason).
    BatchPayloadType => "invalid_batch_settlement_evm_payload_type",
    /// A `batch-settlement` deposit payload is malformed (x402 reason).
    BatchDepositPayload => "invalid_batch_settlement_evm_deposit_payload",
    /// A `batch-settlement` voucher payload is malformed (x402 reason).
    BatchVoucherPayload => "invalid_batch_settlement_evm_voucher_payload",
    /// A `batch-settlement` claim payload is malformed (x402 reason).
    BatchClaimPayload => "invalid_batch_settlement_evm_claim_payload",
    /// A `batch-settlement` settle payload is malformed (x402 reason).
    BatchSettlePayload => "invalid_batch_settlement_evm_settle_payload",
    /// A channel configuration does not hash to the voucher's channel id (x402 reason).
    BatchChannelIdMismatch => "invalid_batch_settlement_evm_channel_id_mismatch",
    /// The channel's token is not the offer's asset (x402 reason).
    BatchTokenMismatch => "invalid_batch_settlement_evm_token_mismatch",
    /// The channel's receiver is not the offer's `payTo` (x402 reason).
    BatchReceiverMismatch => "invalid_batch_settlement_evm_receiver_mismatch",
    /// The channel's receiver authorizer is not the offer's `extra.receiverAuthorizer` (x402 reason).
    BatchReceiverAuthorizerMismatch => "invalid_batch_settlement_evm_receiver_authorizer_mismatch",
    /// The channel's withdraw delay is not the offer's `extra.withdrawDelay` (x402 reason).
    BatchWithdrawDelayMismatch => "invalid_batch_settlement_evm_withdraw_delay_mismatch",
    /// A withdraw delay outside 15 minutes to 30 days (x402 reason).
    BatchWithdrawDelayOutOfRange => "invalid_batch_settlement_evm_withdraw_delay_out_of_range",
    /// A voucher's signature does not recover to the channel's payer authorizer (x402 reason).
    BatchVoucherSignature => "invalid_batch_settlement_evm_voucher_signature",
    /// The channel has no balance on chain (x402 reason).
    BatchChannelNotFound => "invalid_batch_settlement_evm_channel_not_found",
    /// A voucher's cumulative amount exceeds the channel's balance (x402 reason).
    BatchCumulativeExceedsBalance => "invalid_batch_settlement_evm_cumulative_exceeds_balance",
    /// A voucher's cumulative amount is not above what is claimed on chain already (x402 reason).
    BatchCumulativeBelowClaimed => "invalid_batch_settlement_evm_cumulative_below_claimed",
    /// A voucher's cumulative amount is not the server's charged total plus the price: the answer carries the
    /// server's channel state (the corrective 402; x402 reason).
    BatchCumulativeAmountMismatch => "invalid_batch_settlement_evm_cumulative_amount_mismatch",
    /// Charging the request would exceed the voucher's signed cumulative amount (x402 reason).
    BatchChargeExceedsSigned => "invalid_batch_settlement_evm_charge_exceeds_signed_cumulative",
    /// The payer's token balance is below the deposit (x402 reason).
    BatchInsufficientBalance => "invalid_batch_settlement_evm_insufficient_balance",
    /// A deposit's ERC-3009 `ReceiveWithAuthorization` signature does not verify (x402 reason).
    BatchReceiveAuthorizationSignature => "invalid_batch_settlement_evm_receive_authorization_signature",
    /// The offer asks for an ERC-3009 deposit and the payload has none (x402 reason).
    BatchErc3009AuthorizationRequired => "invalid_batch_settlement_evm_erc3009_authorization_required",
    /// A deposit authorization's `validBefore` has passed (x402 reason).
    BatchValidBeforeExpired => "invalid_batch_settlement_evm_payload_authorization_valid_before",
    /// A deposit authorization's `validAfter` is in the future (x402 reason).
    BatchValidAfterInFuture => "invalid_batch_settlement_evm_payload_authorization_valid_after",
    /// The offer lacks the token's EIP-712 domain (`extra.name`, `extra.version`) (x402 reason).
    BatchMissingEip712Domain => "invalid_batch_settlement_evm_missing_eip712_domain",
    /// The facilitator holds no key for the claim's receiver authorizer, and the claim is unsigned (x402 reason).
    BatchAuthorizerNotConfigured => "invalid_batch_settlement_evm_authorizer_not_configured",
    /// The receiver has nothing claimed and unsettled (x402 reason).
    BatchNothingToSettle => "invalid_batch_settlement_evm_nothing_to_settle",
    /// Simulating the deposit reverted (x402 reason).
    BatchDepositSimulationFailed => "invalid_batch_settlement_evm_deposit_simulation_failed",
    /// Simulating the claim reverted (x402 reason).
    BatchClaimSimulationFailed => "invalid_batch_settlement_evm_claim_simulation_failed",
    /// Simulating the settle reverted (x402 reason).
    BatchSettleSimulationFailed => "invalid_batch_settlement_evm_settle_simulation_failed",
    /// A cooperative refund is malformed or incomplete (its nonce, amount, claims or signatures; x402 reason).
    BatchRefundPayload => "invalid_batch_settlement_evm_refund_payload",
    /// A refund's amount is zero, or more than the channel holds unclaimed (x402 reason).
    BatchRefundAmountInvalid => "invalid_batch_settlement_evm_refund_amount_invalid",
    /// The channel has nothing unclaimed to refund (x402 reason).
    BatchRefundNoBalance => "invalid_batch_settlement_evm_refund_no_balance",
    /// Simulating the refund reverted (x402 reason).
    BatchRefundSimulationFailed => "invalid_batch_settlement_evm_refund_simulation_failed",
    /// The chain node failed or answered unexpectedly while verifying (x402 reason).
    UnexpectedVerifyError => "unexpected_verify_error",
    /// The chain node failed or answered unexpectedly while settling (x402 reason).
    UnexpectedSettleError => "unexpected_settle_error",

    // Credentials (offer-receipt extension and access credentials).
    /// A signed offer or receipt is malformed.
    InvalidCredential => "invalid_credential",
    /// A credential's signature does not verify.
    InvalidCredentialSignature => "invalid_credential_signature",
    /// A credential was signed by a key outside the trusted set.
    UntrustedSigner => "untrusted_signer",
    /// A credential has expired or is older than the accepted lifetime.
    CredentialExpired => "credential_expired",
    /// A credential is for another resource.
    CredentialResourceMismatch => "credential_resource_mismatch",
    /// A credential is for another network or payee than accepted.
    CredentialMismatch => "credential_mismatch",
}

/// What kind of failure a code is, which decides how a server answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// A message could not be read (undecodable header, bad JSON, wrong shape or version): HTTP 400.
    MalformedInput,
    /// A well-formed payment or credential is not acceptable: HTTP 402, pay (again).
    Refused,
    /// The local configuration is wrong (a server's own offer, price tag or policy): HTTP 500.
    Configuration,
    /// A local failure on the paying side (signer, randomness, budget, no acceptable offer).
    Local,
    /// The facilitator failed (unreachable, or an answer without the x402 shape): HTTP 502.
    Upstream,
}

impl Category {
    /// The category's name in every binding: `malformed_input`, `refused`, `configuration`, `local`,
    /// `upstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::MalformedInput => "malformed_input",
            Category::Refused => "refused",
            Category::Configuration => "configuration",
            Category::Local => "local",
            Category::Upstream => "upstream",
        }
    }
}

impl ErrorCode {
    /// The category of the code.
    pub fn category(self) -> Category {
        use ErrorCode::*;
        match self {
            HeaderTooLarge
            | BodyTooLarge
            | HeaderEmpty
            | HeaderBase64Url
            | HeaderMissingPadding
            | HeaderInvalidBase64
            | InvalidJson
            | InvalidPaymentRequired
            | InvalidPayload
            | InvalidSettleResponse
            | InvalidX402Version
            | UnknownMessage
            | InvalidPaymentIdentifier
            | PaymentIdentifierRequired
            | InvalidArgument => Category::MalformedInput,
            InvalidPaymentRequirements
            | InvalidNetwork
            | UnsupportedScheme
            | MissingEip712Domain
            | UnknownAsset
            | InvalidPriceTag
            | InvalidPolicy
            | InvalidPrice
            | PriceTooPrecise
            | AmountOutOfRange => Category::Configuration,
            InvalidPrivateKey
            | SignerFailed
            | SignerMismatch
            | InvalidSignatureFormat
            | RandomnessFailed
            | NoAcceptableOffer
            | PaymentAlreadyAttempted
            | BudgetExceeded
            | InvalidPreparedPayment
            | PaymentAborted
            | HookFailed => Category::Local,
            InvalidFacilitatorResponse
            | FacilitatorUnreachable
            | UnexpectedVerifyError
            | UnexpectedSettleError
            | StoreUnavailable
            | TooManyRedirects => Category::Upstream,
            _ => Category::Refused,
        }
    }

    /// Looks a code up by its string form.
    pub fn from_str_code(code: &str) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the client refused one offer of a bill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferRefusal {
    /// The offer's index in `accepts`.
    pub index: usize,
    /// A one-line description of the offer (scheme, network, amount, asset, payee).
    pub offer: String,
    /// Every reason the policy refused it, most fundamental first.
    pub reasons: Vec<String>,
}

/// paywire's error: a stable [`ErrorCode`], a message that says what was wrong and what to do, and, where
/// known, the payer and the refused offers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} [{code}]")]
pub struct Error {
    code: ErrorCode,
    message: String,
    payer: Option<String>,
    refusals: Vec<OfferRefusal>,
}

impl Error {
    /// A new error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), payer: None, refusals: Vec::new() }
    }

    /// The same error, naming the payer it concerns.
    pub fn with_payer(mut self, payer: impl Into<String>) -> Self {
        self.payer = Some(payer.into());
        self
    }

    /// The same error, listing the offers a client refused.
    pub fn with_refusals(mut self, refusals: Vec<OfferRefusal>) -> Self {
        self.refusals = refusals;
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable message (without the code).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The payer's address, when the failure concerns a known payer.
    pub fn payer(&self) -> Option<&str> {
        self.payer.as_deref()
    }

    /// The refused offers, for [`ErrorCode::NoAcceptableOffer`].
    pub fn refusals(&self) -> &[OfferRefusal] {
        &self.refusals
    }

    /// The category of the error's code, which decides how a server answers it.
    pub fn category(&self) -> Category {
        self.code.category()
    }

    /// The HTTP status a server answers this error with (see [`crate::server::status_for`]).
    pub fn http_status(&self) -> u16 {
        crate::server::status_for(self)
    }

    /// The error's fields as the JavaScript bindings hand them to their glue, which makes a `PaywireError`
    /// of them: `{code, message, category, payer, refusals: [{index, offer, reasons}]}`.
    pub fn to_fields(&self) -> serde_json::Value {
        let refusals: Vec<_> = self
            .refusals
            .iter()
            .map(|r| serde_json::json!({"index": r.index, "offer": r.offer, "reasons": r.reasons}))
            .collect();
        serde_json::json!({
            "code": self.code.as_str(),
            "message": self.message,
            "category": self.category().as_str(),
            "payer": self.payer,
            "refusals": refusals,
        })
    }

    /// An error from a code's string form, for glue code that raises paywire's errors; an unknown code is
    /// itself an error (`invalid_argument`).
    pub fn from_code_str(code: &str, message: impl Into<String>) -> Result<Self> {
        match ErrorCode::from_str_code(code) {
            Some(code) => Ok(Error::new(code, message)),
            None => Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "unknown error code {:?}; paywire's codes are listed by ErrorCode::ALL",
                    crate::wire::truncate(code)
                ),
            )),
        }
    }

    /// Prefixes the message with the place the error happened, e.g. a field path.
    pub(crate) fn context(mut self, place: &str) -> Self {
        self.message = format!("{place}: {}", self.message);
        self
    }
}

/// paywire's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code string {}", code.as_str());
            assert_eq!(ErrorCode::from_str_code(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn display_carries_message_and_code() {
        let e = Error::new(ErrorCode::InvalidPrice, "price \"x\" is not a number").with_payer("0xabc");
        assert_eq!(e.to_string(), "price \"x\" is not a number [invalid_price]");
        assert_eq!(e.payer(), Some("0xabc"));
    }
}
