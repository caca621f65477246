"""httpx transports that pay x402 bills: a 402 is paid under the payer's policy and the request sent once
more with the payment.

    import httpx, paywire
    from paywire.httpx import PaymentTransport

    payer = paywire.Payer(paywire.LocalSigner(key), paywire.Policy(max_per_payment="$0.05"))
    with httpx.Client(transport=PaymentTransport(payer)) as client:
        response = client.get("https://api.example.com/weather")
        receipt = paywire.httpx.settlement(response)   # the decoded PAYMENT-RESPONSE, or None

The contract: at most one paid retry; a request that already carries a payment is never paid again; the
request body is read once and kept for the retry; a purchase (method, URL, body) retried while its outcome
is open (the response was lost, or the server answered 409 or 5xx, or reported the settlement pending)
reuses its payment instead of paying twice.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import anyio.to_thread
import httpx

from ._common import bill_of, purchase_key, settlement_in
from ._paywire import (
    LocalSigner,
    carries_payment,
    outcome_is_open,
    Payer,
    PaymentHeader,
    PreparedPayment,
    SettleResponse,
)

SETTLEMENT = "x402_settlement"
PAYMENT = "x402_payment"


def settlement(response: httpx.Response) -> Optional[SettleResponse]:
    """The settlement receipt of a paid response (its decoded ``PAYMENT-RESPONSE``), or None."""
    return response.extensions.get(SETTLEMENT)


def payment(response: httpx.Response) -> Optional[PaymentHeader]:
    """The payment sent for a response, or None when the request was not paid for."""
    return response.extensions.get(PAYMENT)


#: Framing headers of the original request; the paid copy gets its own for the buffered body.
_FRAMING = ("content-length", "transfer-encoding")


def _paid_request(request: httpx.Request, body: bytes, header: PaymentHeader) -> httpx.Request:
    headers = httpx.Headers([(k, v) for k, v in request.headers.multi_items() if k.lower() not in _FRAMING])
    headers[header.name] = header.value
    return httpx.Request(request.method, request.url, headers=headers, content=body, extensions=request.extensions)


def _finish(payer: Payer, key: str, response: httpx.Response, header: PaymentHeader) -> httpx.Response:
    receipt = settlement_in(response.headers)
    # A definite answer settles the purchase's fate; while it is open, a retry must reuse the payment.
    if not outcome_is_open(response.status_code, receipt):
        payer.forget(key)
    response.extensions = {**response.extensions, SETTLEMENT: receipt, PAYMENT: header}
    return response


class PaymentTransport(httpx.BaseTransport):
    """A transport that pays x402 bills with ``payer``, sending requests through ``transport``."""

    def __init__(self, payer: Payer, transport: Optional[httpx.BaseTransport] = None) -> None:
        self._payer = payer
        self._inner = transport or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if carries_payment(request.headers):
            return self._inner.handle_request(request)
        body = request.read()
        response = self._inner.handle_request(request)
        if response.status_code != 402:
            return response
        response.read()
        bill = bill_of(response.headers, response.content)
        if bill is None:
            return response
        key = purchase_key(request.method, str(request.url), body)
        header = self._payer.pay(bill, key)
        response.close()
        paid = self._inner.handle_request(_paid_request(request, body, header))
        return _finish(self._payer, key, paid, header)

    def close(self) -> None:
        self._inner.close()


class AsyncPaymentTransport(httpx.AsyncBaseTransport):
    """The async transport. A signer whose ``sign_digest`` is a coroutine function is awaited; any other
    signer but ``LocalSigner`` (a KMS or hardware client, say) signs in a worker thread, off the event loop."""

    def __init__(self, payer: Payer, transport: Optional[httpx.AsyncBaseTransport] = None) -> None:
        self._payer = payer
        self._inner = transport or httpx.AsyncHTTPTransport()
        signer = payer.signer
        self._awaits = inspect.iscoroutinefunction(getattr(signer, "sign_digest", None))
        self._inline = isinstance(signer, LocalSigner)

    async def _pay(self, bill: Any, key: str) -> PaymentHeader:
        if self._inline:
            return self._payer.pay(bill, key)
        if not self._awaits:
            return await anyio.to_thread.run_sync(self._payer.pay, bill, key)
        prepared = self._payer.prepare(bill, key)
        if not isinstance(prepared, PreparedPayment):
            return prepared
        signer = self._payer.signer
        signatures = [bytes(await signer.sign_digest(digest)) for digest in prepared.digests]
        return self._payer.complete(prepared, signatures)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if carries_payment(request.headers):
            return await self._inner.handle_async_request(request)
        body = await request.aread()
        response = await self._inner.handle_async_request(request)
        if response.status_code != 402:
            return response
        await response.aread()
        bill = bill_of(response.headers, response.content)
        if bill is None:
            return response
        key = purchase_key(request.method, str(request.url), body)
        header = await self._pay(bill, key)
        await response.aclose()
        paid = await self._inner.handle_async_request(_paid_request(request, body, header))
        return _finish(self._payer, key, paid, header)

    async def aclose(self) -> None:
        await self._inner.aclose()


__all__ = ["AsyncPaymentTransport", "PaymentTransport", "payment", "settlement"]
