"""paywire: x402 payments for Python agents and servers.

The protocol itself (bills, headers, EIP-712 signing, offline verification, spend policies, signed receipts)
is paywire's Rust core; this package adds the glue of the Python ecosystem, each piece imported only when
used:

- ``paywire.httpx``: transports that pay for ``httpx`` requests (sync and async);
- ``paywire.requests``: an adapter that pays for ``requests`` sessions;
- ``paywire.facilitator``: a facilitator client (``/verify``, ``/settle``, ``/supported``);
- ``paywire.asgi``: middleware that bills requests in FastAPI and Starlette apps;
- ``paywire.signers``: an adapter for eth-account accounts.

Errors are ``PaywireError`` with a stable ``code``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._paywire import (
    MAX_HEADER_BYTES,
    RECEIPT_HEADER,
    REDIS_CLAIM,
    REDIS_GET,
    REDIS_KEY_PREFIX,
    REDIS_RELEASE,
    REDIS_REPLACE,
    AcceptedPayment,
    AccessPolicy,
    Issuer,
    LocalSigner,
    Payer,
    PaymentHeader,
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    PaywireError,
    Policy,
    PreparedPayment,
    PriceTag,
    SettleResponse,
    SignedOffer,
    SignedReceipt,
    StoreEntry,
    SupportedResponse,
    VerifiedPayment,
    VerifyResponse,
    __version__,
    build_payment_required,
    carries_payment,
    chain_id,
    check_payment,
    decode,
    decode_header_json,
    decode_header_text,
    encode_json_text,
    error_category,
    error_codes,
    facilitator_request,
    known_assets,
    offers_in,
    outcome_is_open,
    parse_price,
    payment_identifier_declaration,
    read_payment,
    read_settlement,
    receipt_extension,
    receipt_in,
    recover_address,
    settlement_header,
    status_for,
    status_for_reason,
    to_caip2,
    typed_data_hashes,
    verify_payment,
    verify_to_response,
    verify_voucher,
)


@runtime_checkable
class Signer(Protocol):
    """Anything that signs 32-byte digests for an Ethereum address: a KMS, a hardware wallet, a remote signer.

    ``sign_digest`` signs the digest as is (not as an EIP-191 message) and returns 65 bytes ``r || s || v``;
    ``v`` may be 0/1 or 27/28. paywire checks that each signature recovers to ``address``.
    """

    @property
    def address(self) -> str: ...

    def sign_digest(self, digest: bytes) -> bytes: ...


__all__ = [
    "MAX_HEADER_BYTES",
    "RECEIPT_HEADER",
    "REDIS_CLAIM",
    "REDIS_GET",
    "REDIS_KEY_PREFIX",
    "REDIS_RELEASE",
    "REDIS_REPLACE",
    "AcceptedPayment",
    "AccessPolicy",
    "Issuer",
    "LocalSigner",
    "Payer",
    "PaymentHeader",
    "PaymentPayload",
    "PaymentRequired",
    "PaymentRequirements",
    "PaywireError",
    "Policy",
    "PreparedPayment",
    "PriceTag",
    "SettleResponse",
    "SignedOffer",
    "SignedReceipt",
    "Signer",
    "StoreEntry",
    "SupportedResponse",
    "VerifiedPayment",
    "VerifyResponse",
    "__version__",
    "build_payment_required",
    "carries_payment",
    "chain_id",
    "check_payment",
    "decode",
    "decode_header_json",
    "decode_header_text",
    "encode_json_text",
    "error_category",
    "error_codes",
    "facilitator_request",
    "known_assets",
    "offers_in",
    "outcome_is_open",
    "parse_price",
    "payment_identifier_declaration",
    "read_payment",
    "read_settlement",
    "receipt_extension",
    "receipt_in",
    "recover_address",
    "settlement_header",
    "status_for",
    "status_for_reason",
    "to_caip2",
    "typed_data_hashes",
    "verify_payment",
    "verify_to_response",
    "verify_voucher",
]
