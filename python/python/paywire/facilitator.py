"""Facilitator clients (``/verify``, ``/settle``, ``/supported``) over httpx, sync and async.

    facilitator = AsyncFacilitatorClient("https://x402.org/facilitator",
                                         headers={"verify": {...}, "settle": {...}})

``headers`` are added to every call: a dict for all endpoints, a dict keyed by endpoint ("verify",
"settle", "supported") as the official SDKs' ``createAuthHeaders`` returns, or a callable
``(endpoint) -> dict`` for per-request credentials such as short-lived JWTs.

Business failures come back as answers (``is_valid`` / ``success`` false with a reason). An unreachable
facilitator raises ``PaywireError`` with code ``facilitator_unreachable``; an answer without the x402 shape
raises one with ``invalid_facilitator_response``. ``settle`` retries once, with the same body, when the
facilitator reports ``settlement_pending`` with a transaction hash, as the official servers do; the retry
reconciles against that transaction instead of paying twice.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar, Union

import httpx

from ._common import error
from ._paywire import (
    PaymentPayload,
    PaymentRequirements,
    PaywireError,
    SettleResponse,
    SupportedResponse,
    VerifyResponse,
    facilitator_request,
)

DEFAULT_URL = "https://x402.org/facilitator"
ENDPOINTS = ("verify", "settle", "supported")
Headers = Union[Mapping[str, str], Mapping[str, Mapping[str, str]], Callable[[str], Mapping[str, str]], None]


def _headers_for(headers: Headers, endpoint: str) -> Dict[str, str]:
    if headers is None:
        return {}
    if callable(headers):
        return dict(headers(endpoint))
    if headers and all(k in ENDPOINTS for k in headers) and all(isinstance(v, Mapping) for v in headers.values()):
        return dict(headers.get(endpoint, {}))  # type: ignore[arg-type]
    return dict(headers)  # type: ignore[arg-type]


T = TypeVar("T")


def _answer(endpoint: str, response: httpx.Response, parse: Callable[[str], T], member: str) -> T:
    text = response.text
    if response.is_success:
        return parse(text)
    # Facilitators may answer a refusal with a non-2xx status and a proper body; use the body when it is one.
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and member in body:
        return parse(text)
    raise error(
        "invalid_facilitator_response",
        f"/{endpoint} answered HTTP {response.status_code} without an x402 answer: {text[:200]!r}",
    )


def _is_retryable_pending(result: SettleResponse) -> bool:
    return result.is_pending and bool(result.transaction)


class _Base:
    def __init__(self, url: str, headers: Headers, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.headers = headers
        self.timeout = timeout

    def _request(self, endpoint: str) -> Dict[str, Any]:
        return {
            "url": f"{self.url}/{endpoint}",
            "headers": {"content-type": "application/json", **_headers_for(self.headers, endpoint)},
            "timeout": self.timeout,
        }

    def _unreachable(self, endpoint: str, e: Exception) -> PaywireError:
        what = "did not answer within %ss" % self.timeout if isinstance(e, httpx.TimeoutException) else str(e)
        return error("facilitator_unreachable", f"the facilitator at {self.url} (/{endpoint}) {what}")


class FacilitatorClient(_Base):
    """A facilitator client for synchronous code."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        headers: Headers = None,
        timeout: float = 30.0,
        client: Optional[httpx.Client] = None,
    ) -> None:
        super().__init__(url, headers, timeout)
        self._client = client or httpx.Client(follow_redirects=True)

    def _post(self, endpoint: str, body: str) -> httpx.Response:
        try:
            return self._client.post(content=body, **self._request(endpoint))
        except httpx.HTTPError as e:
            raise self._unreachable(endpoint, e) from e

    def verify(self, payment: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        """``POST /verify`` with the payment as received and the server's own offer."""
        response = self._post("verify", facilitator_request(payment, requirements))
        return _answer("verify", response, VerifyResponse.from_json, "isValid")

    def settle(self, payment: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        """``POST /settle``; once more with the same body on ``settlement_pending``."""
        body = facilitator_request(payment, requirements)
        result = _answer("settle", self._post("settle", body), SettleResponse.from_json, "success")
        if _is_retryable_pending(result):
            result = _answer("settle", self._post("settle", body), SettleResponse.from_json, "success")
        return result

    def supported(self) -> SupportedResponse:
        """``GET /supported``."""
        try:
            response = self._client.get(**self._request("supported"))
        except httpx.HTTPError as e:
            raise self._unreachable("supported", e) from e
        return _answer("supported", response, SupportedResponse.from_json, "kinds")

    def close(self) -> None:
        self._client.close()


class AsyncFacilitatorClient(_Base):
    """A facilitator client for asyncio code (what ``paywire.asgi`` uses)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        headers: Headers = None,
        timeout: float = 30.0,
        client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        super().__init__(url, headers, timeout)
        self._client = client or httpx.AsyncClient(follow_redirects=True)

    async def _post(self, endpoint: str, body: str) -> httpx.Response:
        try:
            return await self._client.post(content=body, **self._request(endpoint))
        except httpx.HTTPError as e:
            raise self._unreachable(endpoint, e) from e

    async def verify(self, payment: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        """``POST /verify`` with the payment as received and the server's own offer."""
        response = await self._post("verify", facilitator_request(payment, requirements))
        return _answer("verify", response, VerifyResponse.from_json, "isValid")

    async def settle(self, payment: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        """``POST /settle``; once more with the same body on ``settlement_pending``."""
        body = facilitator_request(payment, requirements)
        result = _answer("settle", await self._post("settle", body), SettleResponse.from_json, "success")
        if _is_retryable_pending(result):
            result = _answer("settle", await self._post("settle", body), SettleResponse.from_json, "success")
        return result

    async def supported(self) -> SupportedResponse:
        """``GET /supported``."""
        try:
            response = await self._client.get(**self._request("supported"))
        except httpx.HTTPError as e:
            raise self._unreachable("supported", e) from e
        return _answer("supported", response, SupportedResponse.from_json, "kinds")

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = ["DEFAULT_URL", "AsyncFacilitatorClient", "FacilitatorClient"]
