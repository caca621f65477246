"""A requests transport adapter that pays x402 bills.

    import requests, paywire
    from paywire.requests import PaymentAdapter

    session = requests.Session()
    session.mount("https://", PaymentAdapter(payer))
    response = session.get("https://api.example.com/weather")
    receipt = paywire.requests.settlement(response)   # the decoded PAYMENT-RESPONSE, or None

Same contract as ``paywire.httpx``: one paid retry, never a second payment for a request that already
carries one, the body kept for the retry, and a purchase retried while its outcome is open paid once. A
streaming body (a generator or file) is sent as is; if the server then asks for a payment, the adapter
raises, because the body cannot be sent a second time.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, cast

import requests
from requests.adapters import HTTPAdapter

from ._common import bill_of, body_bytes, purchase_key, settlement_in, stream_refused
from ._paywire import (
    Payer,
    PaymentHeader,
    SettleResponse,
    carries_payment,
    outcome_is_open,
)


def settlement(response: requests.Response) -> Optional[SettleResponse]:
    """The settlement receipt of a paid response (its decoded ``PAYMENT-RESPONSE``), or None."""
    return getattr(response, "x402_settlement", None)


def payment(response: requests.Response) -> Optional[PaymentHeader]:
    """The payment sent for a response, or None when the request was not paid for."""
    return getattr(response, "x402_payment", None)


class PaymentAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that pays x402 bills with ``payer``. Other keyword arguments go to ``HTTPAdapter``."""

    def __init__(self, payer: Payer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._payer = payer

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if carries_payment(cast(Mapping[str, str], request.headers)):
            return super().send(request, **kwargs)
        body = body_bytes(request.body)
        response = super().send(request, **kwargs)
        if response.status_code != 402:
            return response
        bill = bill_of(response.headers, response.content)
        if bill is None:
            return response
        if body is None:
            response.close()
            raise stream_refused()
        key = purchase_key(request.method or "GET", request.url or "", body)
        header = self._payer.pay(bill, key)
        response.close()
        paid = request.copy()
        paid.headers[header.name] = header.value
        result = super().send(paid, **kwargs)
        receipt = settlement_in(result.headers)
        # A definite answer settles the purchase's fate; while it is open, a retry must reuse the payment.
        if not outcome_is_open(result.status_code, receipt):
            self._payer.forget(key)
        result.x402_settlement = receipt  # type: ignore[attr-defined]
        result.x402_payment = header  # type: ignore[attr-defined]
        return result


__all__ = ["PaymentAdapter", "payment", "settlement"]
