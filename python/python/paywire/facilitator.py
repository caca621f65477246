"""Facilitator clients (``/verify``, ``/settle``, ``/supported``) over httpx, sync and async.

    async with AsyncFacilitatorClient("https://x402.org/facilitator", headers=create_headers) as facilitator:
        verdict = await facilitator.verify(payment, requirements)

``headers`` are added to every call. They may be a dict for all endpoints; a dict keyed by endpoint
(``"verify"``, ``"settle"``, ``"supported"``, as the official SDKs' ``create_headers`` returns); or a callable
returning either, called per request with the endpoint name or with no argument (for short-lived tokens; the
async client also awaits a coroutine function).

How answers are read is paywire's core rule, the same in every language: business failures come back as
answers (``is_valid`` / ``success`` false with a reason), also when the facilitator sends them with a 4xx
status; an unreachable facilitator raises ``PaywireError`` ``facilitator_unreachable``; a 5xx or an answer
without the x402 shape raises ``invalid_facilitator_response``. Errors name the facilitator by scheme, host
and path only, never its credentials or query. ``settle`` asks once more, with the same body, when the
facilitator reports ``settlement_pending`` with a transaction hash, as the official servers do; any call
whose connection closed without an answer is asked once more (``FACILITATOR_RETRIES_WITHOUT_ANSWER``).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

import httpx

from ._common import error
from ._paywire import (
    DEFAULT_FACILITATOR_TIMEOUT,
    DEFAULT_FACILITATOR_URL,
    FACILITATOR_RETRIES_WITHOUT_ANSWER,
    PaymentPayload,
    PaymentRequirements,
    SettleResponse,
    SupportedResponse,
    VerifyResponse,
    facilitator_endpoint,
    facilitator_headers,
    facilitator_request,
    facilitator_unreachable,
    read_settle_answer,
    read_supported_answer,
    read_verify_answer,
    settle_again,
)

DEFAULT_URL = DEFAULT_FACILITATOR_URL
#: Seconds to wait for an answer, as the official clients do: settling waits for a transaction.
DEFAULT_TIMEOUT = DEFAULT_FACILITATOR_TIMEOUT

HeaderMap = Mapping[str, Any]
Headers = Union[HeaderMap, Callable[..., Any], None]
T = TypeVar("T")


def _wants_endpoint(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)


class _Base:
    def __init__(self, url: str, headers: Headers, timeout: float) -> None:
        self.url = url
        self.headers = headers
        self.timeout = timeout

    def _raw_headers(self, endpoint: str) -> Any:
        if callable(self.headers):
            return self.headers(endpoint) if _wants_endpoint(self.headers) else self.headers()
        return self.headers

    def _request(self, endpoint: str, configured: Any, body: Optional[str]) -> Dict[str, Any]:
        url, method = facilitator_endpoint(self.url, endpoint)
        headers: List[Tuple[str, str]] = [("content-type", "application/json")]
        headers += facilitator_headers(dict(configured) if isinstance(configured, Mapping) else configured, endpoint)
        return {"method": method, "url": url, "headers": headers, "content": body, "timeout": self.timeout}

    def _failed(self, endpoint: str, attempt: int, e: httpx.HTTPError) -> None:
        """Returns when the call is to be made again (the core's rule: a connection closed without an answer
        is asked once more); raises ``facilitator_unreachable`` otherwise."""
        if isinstance(e, httpx.RemoteProtocolError) and attempt < FACILITATOR_RETRIES_WITHOUT_ANSWER:
            return
        timed_out = isinstance(e, httpx.TimeoutException)
        raise facilitator_unreachable(self.url, endpoint, timed_out, self.timeout, type(e).__name__) from e


class FacilitatorClient(_Base):
    """A facilitator client for synchronous code. ``client`` is an ``httpx.Client`` to use (and not close)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        headers: Headers = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: Optional[httpx.Client] = None,
    ) -> None:
        super().__init__(url, headers, timeout)
        self._owned = client is None
        self._client = client or httpx.Client(follow_redirects=True)

    def _configured(self, endpoint: str) -> Any:
        value = self._raw_headers(endpoint)
        if inspect.isawaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()
            raise error("invalid_argument", "asynchronous facilitator headers need AsyncFacilitatorClient")
        return value

    def _call(self, endpoint: str, read: Callable[[int, str], T], body: Optional[str] = None) -> T:
        request = self._request(endpoint, self._configured(endpoint), body)
        for attempt in range(FACILITATOR_RETRIES_WITHOUT_ANSWER + 1):
            try:
                response = self._client.request(**request)
                return read(response.status_code, response.text)
            except httpx.HTTPError as e:
                self._failed(endpoint, attempt, e)
        raise AssertionError("unreachable: the last attempt raises")

    def verify(self, payment: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        """``POST /verify`` with the payment as received and the server's own offer."""
        return self._call("verify", read_verify_answer, facilitator_request(payment, requirements))

    def settle(self, payment: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        """``POST /settle``; once more with the same body on ``settlement_pending``."""
        body = facilitator_request(payment, requirements)
        result = self._call("settle", read_settle_answer, body)
        if settle_again(result):
            result = self._call("settle", read_settle_answer, body)
        return result

    def supported(self) -> SupportedResponse:
        """``GET /supported``."""
        return self._call("supported", read_supported_answer)

    def close(self) -> None:
        """Closes the HTTP client, if this facilitator client made it."""
        if self._owned:
            self._client.close()

    def __enter__(self) -> FacilitatorClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncFacilitatorClient(_Base):
    """A facilitator client for asyncio code (what ``paywire.asgi`` uses). ``client`` is an
    ``httpx.AsyncClient`` to use (and not close)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        headers: Headers = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        super().__init__(url, headers, timeout)
        self._owned = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=True)

    async def _call(self, endpoint: str, read: Callable[[int, str], T], body: Optional[str] = None) -> T:
        configured = self._raw_headers(endpoint)
        if inspect.isawaitable(configured):
            configured = await configured
        request = self._request(endpoint, configured, body)
        for attempt in range(FACILITATOR_RETRIES_WITHOUT_ANSWER + 1):
            try:
                response = await self._client.request(**request)
                return read(response.status_code, response.text)
            except httpx.HTTPError as e:
                self._failed(endpoint, attempt, e)
        raise AssertionError("unreachable: the last attempt raises")

    async def verify(self, payment: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        """``POST /verify`` with the payment as received and the server's own offer."""
        return await self._call("verify", read_verify_answer, facilitator_request(payment, requirements))

    async def settle(self, payment: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        """``POST /settle``; once more with the same body on ``settlement_pending``."""
        body = facilitator_request(payment, requirements)
        result = await self._call("settle", read_settle_answer, body)
        if settle_again(result):
            result = await self._call("settle", read_settle_answer, body)
        return result

    async def supported(self) -> SupportedResponse:
        """``GET /supported``."""
        return await self._call("supported", read_supported_answer)

    async def aclose(self) -> None:
        """Closes the HTTP client, if this facilitator client made it."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncFacilitatorClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "AsyncFacilitatorClient", "FacilitatorClient"]
