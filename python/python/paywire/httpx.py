"""httpx transports that pay x402 bills: a 402 is paid under the payer's policy and the request sent once
more with the payment.

    import httpx, paywire
    from paywire.httpx import PaymentTransport

    payer = paywire.Payer(paywire.LocalSigner(key), paywire.Policy(max_per_payment="$0.05"))
    with httpx.Client(transport=PaymentTransport(payer)) as client:
        response = client.get("https://api.example.com/weather")
        receipt = paywire.httpx.settlement(response)   # the decoded PAYMENT-RESPONSE, or None

The contract: at most one paid retry; a request that already carries a payment is never paid again; the
request body is kept for the retry; a purchase (method, URL, body) that is retried after a lost response
reuses its payment instead of paying twice.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import httpx

from ._common import bill_of, carries_payment, purchase_key
from ._paywire import Payer, PaymentHeader, PaywireError, PreparedPayment, SettleResponse, read_settlement

SETTLEMENT = "x402_settlement"
PAYMENT = "x402_payment"


def settlement(response: httpx.Response) -> Optional[SettleResponse]:
    """The settlement receipt of a paid response (its decoded ``PAYMENT-RESPONSE``), or None."""
    return response.extensions.get(SETTLEMENT)


def payment(response: httpx.Response) -> Optional[PaymentHeader]:
    """The payment sent for a response, or None when the request was not paid for."""
    return response.extensions.get(PAYMENT)


def _paid_request(request: httpx.Request, body: bytes, header: PaymentHeader) -> httpx.Request:
    headers = request.headers.copy()
    headers[header.name] = header.value
    return httpx.Request(request.method, request.url, headers=headers, content=body, extensions=request.extensions)


def _finish(response: httpx.Response, header: PaymentHeader) -> httpx.Response:
    try:
        receipt = read_settlement(response.headers)
    except PaywireError:
        receipt = None
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
        # A response arrived, so the payment's outcome is known; only a lost response keeps it for a retry.
        self._payer.forget(key)
        return _finish(paid, header)

    def close(self) -> None:
        self._inner.close()


class AsyncPaymentTransport(httpx.AsyncBaseTransport):
    """The async transport. ``signer`` is needed only for a signer whose ``sign_digest`` is a coroutine (the
    payer is then built with that signer too): its signatures are awaited."""

    def __init__(
        self,
        payer: Payer,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        *,
        signer: Any = None,
    ) -> None:
        self._payer = payer
        self._inner = transport or httpx.AsyncHTTPTransport()
        self._signer = signer

    async def _pay(self, bill: Any, key: str) -> PaymentHeader:
        if self._signer is None:
            return self._payer.pay(bill, key)
        prepared = self._payer.prepare(bill, key)
        if not isinstance(prepared, PreparedPayment):
            return prepared
        signatures = []
        for digest in prepared.digests:
            signature = self._signer.sign_digest(digest)
            if inspect.isawaitable(signature):
                signature = await signature
            signatures.append(bytes(signature))
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
        self._payer.forget(key)
        return _finish(paid, header)

    async def aclose(self) -> None:
        await self._inner.aclose()


__all__ = ["AsyncPaymentTransport", "PaymentTransport", "payment", "settlement"]
