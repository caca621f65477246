"""What the HTTP clients and the middleware share: coded errors, purchase keys, reading bills."""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Optional

from ._paywire import PaymentRequired, PaywireError, SettleResponse, error_category

#: Headers that carry a payment; a request that has one is never paid for again.
PAYMENT_HEADERS = ("payment-signature", "x-payment")

#: Response headers a browser client must be allowed to read.
EXPOSED_HEADERS = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"

#: Request headers a browser client sends.
ALLOWED_HEADERS = "PAYMENT-SIGNATURE, X-PAYMENT, X-PAYWIRE-RECEIPT"


def error(code: str, message: str, payer: Optional[str] = None) -> PaywireError:
    """A ``PaywireError`` raised by the Python glue, with the same attributes as the core's."""
    err = PaywireError(f"{message} [{code}]")
    err.code = code
    err.message = message
    err.category = error_category(code)
    err.payer = payer
    err.refusals = []
    return err


def carries_payment(headers: Mapping[Any, Any]) -> bool:
    """Whether a request already carries a payment (paying again would pay twice)."""
    return any(name.lower() in PAYMENT_HEADERS for name in headers.keys())


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


def outcome_open(status: int, settlement: Optional[SettleResponse]) -> bool:
    """Whether a paid request's outcome is still open after this answer, so its payment must be kept for a
    retry of the same purchase: the server is still processing it (409), failed or could not reach its
    facilitator (5xx; the payment may yet settle), or reports the settlement pending."""
    return status == 409 or status >= 500 or (settlement is not None and settlement.is_pending)


def bill_of(headers: Any, body: bytes) -> Optional[PaymentRequired]:
    """The x402 bill of a 402 response, or None when the 402 is not an x402 bill."""
    try:
        return PaymentRequired.from_response(headers, body)
    except PaywireError:
        return None
