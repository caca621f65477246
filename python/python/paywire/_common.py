"""What the Python glue shares: coded errors made by the core, and request bodies as bytes."""

from __future__ import annotations

import time
from typing import Any, AsyncIterable, Iterable, Optional

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


def own_timeout(core_ms: int, caller: Optional[float]) -> float:
    """The seconds one stage of the machine's own request may take: the core's, or the caller's if shorter."""
    seconds = core_ms / 1000
    return seconds if caller is None else min(seconds, caller)


def _took(read: bytearray, chunk: bytes, limit: int, deadline: float) -> bool:
    """Adds ``chunk`` to ``read``; whether the body is read far enough (past ``limit``). A body still coming
    at ``deadline`` (``time.monotonic()``) raises ``TimeoutError``, as one broken off."""
    read += chunk
    if len(read) > limit:
        return True
    if time.monotonic() > deadline:
        raise TimeoutError("the answer was still coming at the deadline")
    return False


def read_at_most(chunks: Iterable[bytes], limit: int, deadline: float) -> bytes:
    """At most ``limit + 1`` bytes of a body, so that the core sees an answer longer than the limit it set for
    the machine's own requests (and takes it as none) without the glue holding more in memory; a body still
    coming at ``deadline`` (``time.monotonic()``) raises ``TimeoutError``, as one broken off."""
    read = bytearray()
    for chunk in chunks:
        if _took(read, chunk, limit, deadline):
            break
    return bytes(read[: limit + 1])


async def aread_at_most(chunks: AsyncIterable[bytes], limit: int, deadline: float) -> bytes:
    """``read_at_most`` for an async body."""
    read = bytearray()
    async for chunk in chunks:
        if _took(read, chunk, limit, deadline):
            break
    return bytes(read[: limit + 1])


def stream_refused() -> PaywireError:
    return error(
        "invalid_argument",
        "the server asks for a payment, but the request body is a stream, which cannot be sent again with "
        "the payment; pass the body as bytes",
    )


__all__ = [
    "ALLOWED_HEADERS",
    "EXPOSED_HEADERS",
    "aread_at_most",
    "body_bytes",
    "check_rpc_urls",
    "error",
    "own_timeout",
    "read_at_most",
    "stream_refused",
]
