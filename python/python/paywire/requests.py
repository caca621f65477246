"""A requests transport adapter that pays x402 bills.

    import requests, paywire
    from paywire.requests import PaymentAdapter

    session = requests.Session()
    session.mount("https://", PaymentAdapter(payer))
    response = session.get("https://api.example.com/weather")
    receipt = paywire.requests.settlement(response)   # the decoded PAYMENT-RESPONSE, or None

The exchange is paywire's core paying client, as in ``paywire.httpx``: one payment per call even when the
session follows redirects, the payment never carried across a redirect, never a second payment for a
request that already carries one, and a purchase retried while its outcome is open paid once. A streaming
body (a generator or file) is sent as is; if the server then asks for a payment, the adapter raises,
because the body cannot be sent a second time.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from ._common import body_bytes, check_rpc_urls, own_timeout, read_at_most, stream_refused
from ._paywire import PaidFetch, Payer, PaymentHeader, SettleResponse
from .hooks import Hooks

#: Marks the hooks of a call that paid; requests gives the hops of a redirected call the same hooks.
PAID_MARK = "paywire_paid"
_PAYMENT_HEADERS = ("payment-signature", "x-payment")


def settlement(response: requests.Response) -> Optional[SettleResponse]:
    """The settlement receipt of a paid response (its decoded ``PAYMENT-RESPONSE``), or None."""
    return getattr(response, "x402_settlement", None)


def payment(response: requests.Response) -> Optional[PaymentHeader]:
    """The payment sent for a response, or None when the request was not paid for."""
    return getattr(response, "x402_payment", None)


def _stages(timeout: Any) -> Tuple[Optional[float], Optional[float]]:
    """The caller's (connect, read) timeouts as requests takes them: a number, a pair, or None (an object of
    urllib3's is left to the core's deadline)."""
    if isinstance(timeout, tuple) and len(timeout) == 2:
        return timeout[0], timeout[1]
    if isinstance(timeout, (int, float)):
        return float(timeout), float(timeout)
    return None, None


class PaymentAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that pays x402 bills with ``payer``. ``hooks`` (``paywire.hooks.Hooks``, synchronous
    ones) runs your code around payment creation. Where a bill offers sign-in-with-x, the payer signs in first;
    ``sign_in=False`` turns that off. ``pass_facilitators`` (base URLs) are the facilitators it may ask for a
    pass when a bill names one. ``rpc_urls`` (network → JSON-RPC URL) as for ``paywire.httpx.PaymentTransport``:
    a payer who never approved Permit2 pays with an EIP-2612 permit where the bill declares
    ``eip2612GasSponsoring``. Other keyword arguments go to ``HTTPAdapter``."""

    def __init__(
        self,
        payer: Payer,
        *,
        hooks: Optional[Hooks] = None,
        sign_in: bool = True,
        pass_facilitators: Sequence[str] = (),
        rpc_urls: Optional[Mapping[str, str]] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._payer = payer
        self._hooks = hooks or Hooks()
        self._sign_in = sign_in
        self._passes = list(pass_facilitators)
        self._rpc = list((rpc_urls or {}).items())
        check_rpc_urls(self._rpc)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = body_bytes(request.body)
        hooks: Dict[str, Any] = request.hooks if isinstance(request.hooks, dict) else {}
        fetch, step = PaidFetch.start(
            self._payer,
            request.method or "GET",
            request.url or "",
            [(k, v if isinstance(v, str) else v.decode("latin-1")) for k, v in (request.headers or {}).items()],
            body if request.body is not None and body is not None else None,
            # The session follows redirects above the adapter; each hop comes here as its own request.
            follow_redirects=False,
            already_paid=bool(hooks.get(PAID_MARK)),
            hooks=self._hooks.points("client"),
            sign_in=self._sign_in,
            pass_facilitators=self._passes,
            rpc_urls=self._rpc,
        )
        response: Optional[requests.Response] = None
        own = False
        limit: Optional[int] = None
        deadline = 0.0
        while True:
            if step.kind == "send":
                own, limit = step.own, step.body_limit
                if response is not None:
                    response.close()
                hop = request.copy()
                hop.prepare_method(step.method)
                hop.url = step.url
                hop.headers = CaseInsensitiveDict(step.headers or [])
                # The machine's own body (the request's bytes, or a side request's); a streamed body it never
                # read goes as the caller gave it.
                hop.body = step.body if step.body is not None or body is not None else request.body
                sending = kwargs
                if step.timeout_ms is not None:
                    # The machine's own request (a chain read, a pass): each stage within the core's deadline
                    # (or the caller's, if shorter), and a body read as a stream, bounded in size and time.
                    connect, read_timeout = _stages(kwargs.get("timeout"))
                    timeout = (own_timeout(step.timeout_ms, connect), own_timeout(step.timeout_ms, read_timeout))
                    sending = {**kwargs, "timeout": timeout, "stream": True}
                    deadline = time.monotonic() + step.timeout_ms / 1000
                try:
                    response = super().send(hop, **sending)
                except Exception:
                    # The payment, if any, stays remembered (the outcome is open); a side request (a pass)
                    # that failed lets the call go on.
                    step = fetch.feed_send_failed()
                    if step.kind == "raise":
                        raise
                    response = None
                    continue
                except BaseException:
                    fetch.feed_send_failed()
                    raise
                # The session builds a redirect's hop from response.request: never from one carrying a payment.
                added = [n for n in _PAYMENT_HEADERS if n in hop.headers and n not in (request.headers or {})]
                if added:
                    clean = hop.copy()
                    for name in added:
                        del clean.headers[name]
                    response.request = clean
                step = fetch.feed_response(response.status_code, list(response.headers.items()))
            elif step.kind == "read_body":
                assert response is not None
                if body is None and not own:
                    response.close()
                    raise stream_refused()
                try:
                    read = (
                        response.content
                        if limit is None
                        # Raw bytes: the limit counts what came, not what it decompresses to.
                        else read_at_most(response.raw.stream(8192, decode_content=False), limit, deadline)
                    )
                except Exception:
                    # The machine's own request (a chain read, a pass) whose answer broke off: as no answer.
                    if not own:
                        raise
                    read = b""
                step = fetch.feed_body(read)
            elif step.kind == "hook":
                step = fetch.feed_hooked(**self._hooks.run_sync(step.hook_point, step.hook_context))
            elif step.kind == "fail":
                if response is not None:
                    response.close()
                raise step.error  # type: ignore[misc]
            else:
                assert response is not None
                if step.payment is not None:
                    hooks[PAID_MARK] = True
                response.x402_settlement = step.settlement  # type: ignore[attr-defined]
                response.x402_payment = step.payment  # type: ignore[attr-defined]
                return response


__all__ = ["PaymentAdapter", "payment", "settlement"]
