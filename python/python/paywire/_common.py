"""What the Python glue shares: coded errors made by the core, and request bodies as bytes."""

from __future__ import annotations

from typing import Any, Optional

from ._paywire import ALLOWED_HEADERS, EXPOSED_HEADERS, PaywireError, check_rpc_urls, new_error


def error(code: str, message: str, payer: Optional[str] = None) -> PaywireError:
    """A ``PaywireError`` raised by the Python glue, made by the core so it is exactly like the core's."""
    return new_error(code, message, payer)


def body_bytes(body: Any) -> Optional[bytes]:
    """A request body as bytes, for replaying it with the payment; None for a stream, which cannot be sent
    twice."""
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


__all__ = ["ALLOWED_HEADERS", "EXPOSED_HEADERS", "body_bytes", "check_rpc_urls", "error", "stream_refused"]
