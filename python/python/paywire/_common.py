"""What the HTTP clients and the middleware share: coded errors, purchase keys, reading bills."""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from ._paywire import PaymentRequired, PaywireError, SettleResponse, new_error, read_settlement

#: Response headers a browser client must be allowed to read.
EXPOSED_HEADERS = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"

#: Request headers a browser client sends.
ALLOWED_HEADERS = "PAYMENT-SIGNATURE, X-PAYMENT, X-PAYWIRE-RECEIPT"


def error(code: str, message: str, payer: Optional[str] = None) -> PaywireError:
    """A ``PaywireError`` raised by the Python glue, made by the core so it is exactly like the core's."""
    return new_error(code, message, payer)


def purchase_key(method: str, url: str, body: bytes) -> str:
    """Names a purchase: the same method, URL and body are the same purchase, so a retry reuses its payment."""
    return f"{method.upper()} {url} {hashlib.sha256(body).hexdigest()}"


def body_bytes(body: Any) -> Optional[bytes]:
    """A request body as bytes, for replaying it with the payment and naming the purchase; None for a
    stream, which cannot be sent twice."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return None


def stream_refused() -> PaywireError:
    return error(
        "invalid_argument",
        "the server asks for a payment, but the request body is a stream, which cannot be sent again with "
        "the payment; pass the body as bytes",
    )


def bill_of(headers: Any, body: bytes) -> Optional[PaymentRequired]:
    """The x402 bill of a 402 response, or None when the 402 is not an x402 bill."""
    try:
        return PaymentRequired.from_response(headers, body)
    except PaywireError:
        return None


def settlement_in(headers: Any) -> Optional[SettleResponse]:
    """The settlement receipt a paid response carries, or None (also when it is unreadable: the response
    itself still reaches the caller)."""
    try:
        return read_settlement(headers)
    except PaywireError:
        return None
