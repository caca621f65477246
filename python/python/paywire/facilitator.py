"""Facilitator clients (``/verify``, ``/settle``, ``/supported``) over httpx, sync and async.

    async with AsyncFacilitatorClient("https://x402.org/facilitator", headers=create_headers) as facilitator:
        verdict = await facilitator.verify(payment, requirements)

``headers`` are added to every call. They may be a dict for all endpoints; a dict keyed by endpoint
(``"verify"``, ``"settle"``, ``"supported"``, as the official SDKs' ``create_headers`` returns); or a callable
returning either, called per request with the endpoint name or with no argument (for short-lived tokens; the
async client also awaits a coroutine function).

Business failures come back as answers (``is_valid`` / ``success`` false with a reason), also when the
facilitator sends them with a 4xx status. An unreachable facilitator raises ``PaywireError`` with code
``facilitator_unreachable``; a 5xx or an answer without the x402 shape raises ``invalid_facilitator_response``.
Error messages name the facilitator by scheme, host and path only, never its credentials or query.
``settle`` retries once, with the same body, when the facilitator reports ``settlement_pending`` with a
transaction hash, as the official servers do; the retry reconciles against that transaction instead of
paying twice.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar, Union
from urllib.parse import urlsplit

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
#: Seconds to wait for an answer, as the official clients do: settling waits for a transaction.
DEFAULT_TIMEOUT = 90.0
HeaderMap = Mapping[str, Any]
Headers = Union[HeaderMap, Callable[..., Any], None]
T = TypeVar("T")


def _wants_endpoint(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)


def _pick(value: Any, endpoint: str) -> Dict[str, str]:
    """The headers for one endpoint out of a flat dict or a dict keyed by endpoint."""
    if not isinstance(value, Mapping):
        raise error(
            "invalid_argument",
            f"facilitator headers must be a dict, a dict keyed by endpoint, or a callable returning one; "
            f"got {type(value).__name__}",
        )
    if value and all(isinstance(v, Mapping) for v in value.values()):
        chosen = value.get(endpoint) or (value.get("list") if endpoint == "supported" else None) or {}
        return {str(k): str(v) for k, v in chosen.items()}
    return {str(k): str(v) for k, v in value.items()}


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _answer(endpoint: str, response: httpx.Response, parse: Callable[[str], T], member: str) -> T:
    text = response.text
    if response.is_success:
        return parse(text)
    # A refusal may come with a 4xx status and a proper body; a 5xx is the facilitator failing.
    if 400 <= response.status_code < 500:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and member in body:
            return parse(text)
    raise error(
        "invalid_facilitator_response",
        f"the facilitator's /{endpoint} answered HTTP {response.status_code} without an x402 answer",
    )


def _is_retryable_pending(result: SettleResponse) -> bool:
    return result.is_pending and bool(result.transaction)


class _Base:
    def __init__(self, url: str, headers: Headers, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.headers = headers
        self.timeout = timeout

    def _raw_headers(self, endpoint: str) -> Any:
        if callable(self.headers):
            return self.headers(endpoint) if _wants_endpoint(self.headers) else self.headers()
        return self.headers if self.headers is not None else {}

    def _request(self, endpoint: str, auth: Dict[str, str]) -> Dict[str, Any]:
        return {
            "url": f"{self.url}/{endpoint}",
            "headers": {"content-type": "application/json", **auth},
            "timeout": self.timeout,
        }

    def _unreachable(self, endpoint: str, e: Exception) -> PaywireError:
        if isinstance(e, httpx.TimeoutException):
            what = f"did not answer within {self.timeout} s"
        else:
            what = f"could not be reached ({type(e).__name__})"
        return error("facilitator_unreachable", f"the facilitator at {_redacted(self.url)}/{endpoint} {what}")


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

    def _auth(self, endpoint: str) -> Dict[str, str]:
        value = self._raw_headers(endpoint)
        if inspect.isawaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()
            raise error("invalid_argument", "asynchronous facilitator headers need AsyncFacilitatorClient")
        return _pick(value, endpoint)

    def _call(self, method: str, endpoint: str, body: Optional[str] = None) -> httpx.Response:
        request = self._request(endpoint, self._auth(endpoint))
        try:
            return self._client.request(method, content=body, **request)
        except httpx.HTTPError as e:
            raise self._unreachable(endpoint, e) from e

    def verify(self, payment: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        """``POST /verify`` with the payment as received and the server's own offer."""
        response = self._call("POST", "verify", facilitator_request(payment, requirements))
        return _answer("verify", response, VerifyResponse.from_json, "isValid")

    def settle(self, payment: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        """``POST /settle``; once more with the same body on ``settlement_pending``."""
        body = facilitator_request(payment, requirements)
        result = _answer("settle", self._call("POST", "settle", body), SettleResponse.from_json, "success")
        if _is_retryable_pending(result):
            result = _answer("settle", self._call("POST", "settle", body), SettleResponse.from_json, "success")
        return result

    def supported(self) -> SupportedResponse:
        """``GET /supported``."""
        return _answer("supported", self._call("GET", "supported"), SupportedResponse.from_json, "kinds")

    def close(self) -> None:
        """Closes the HTTP client, if this facilitator client made it."""
        if self._owned:
            self._client.close()

    def __enter__(self) -> "FacilitatorClient":
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

    async def _auth(self, endpoint: str) -> Dict[str, str]:
        value = self._raw_headers(endpoint)
        if inspect.isawaitable(value):
            value = await value
        return _pick(value, endpoint)

    async def _call(self, method: str, endpoint: str, body: Optional[str] = None) -> httpx.Response:
        request = self._request(endpoint, await self._auth(endpoint))
        try:
            return await self._client.request(method, content=body, **request)
        except httpx.HTTPError as e:
            raise self._unreachable(endpoint, e) from e

    async def verify(self, payment: PaymentPayload, requirements: PaymentRequirements) -> VerifyResponse:
        """``POST /verify`` with the payment as received and the server's own offer."""
        response = await self._call("POST", "verify", facilitator_request(payment, requirements))
        return _answer("verify", response, VerifyResponse.from_json, "isValid")

    async def settle(self, payment: PaymentPayload, requirements: PaymentRequirements) -> SettleResponse:
        """``POST /settle``; once more with the same body on ``settlement_pending``."""
        body = facilitator_request(payment, requirements)
        result = _answer("settle", await self._call("POST", "settle", body), SettleResponse.from_json, "success")
        if _is_retryable_pending(result):
            result = _answer("settle", await self._call("POST", "settle", body), SettleResponse.from_json, "success")
        return result

    async def supported(self) -> SupportedResponse:
        """``GET /supported``."""
        return _answer("supported", await self._call("GET", "supported"), SupportedResponse.from_json, "kinds")

    async def aclose(self) -> None:
        """Closes the HTTP client, if this facilitator client made it."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> "AsyncFacilitatorClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "AsyncFacilitatorClient", "FacilitatorClient"]
