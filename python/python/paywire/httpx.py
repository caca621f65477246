"""httpx transports that pay x402 bills: a 402 is paid under the payer's policy and the request sent once
more with the payment.

    import httpx, paywire
    from paywire.httpx import PaymentTransport

    payer = paywire.Payer(paywire.LocalSigner(key), paywire.Policy(max_per_payment="$0.05"))
    with httpx.Client(transport=PaymentTransport(payer)) as client:
        response = client.get("https://api.example.com/weather")
        receipt = paywire.httpx.settlement(response)   # the decoded PAYMENT-RESPONSE, or None

The exchange is paywire's core paying client (``paywire.PaidFetch``), the same in every language: at most
one payment per call, also when the client follows redirects (the hops of one call share a mark, so a
second bill after a redirect is returned unpaid); the payment goes only to the URL that billed it and never
follows a redirect; a request that already carries a payment is never paid again; the request body is read
once and kept for the retry; a purchase (method, URL, body) retried while its outcome is open (the response
was lost, or the server answered 409 or 5xx, or reported the settlement pending) reuses its payment.
"""

from __future__ import annotations

import inspect
import time
from typing import List, Mapping, Optional, Sequence, Tuple

import anyio.to_thread
import httpx

from ._common import aread_at_most, check_rpc_urls, own_timeout, read_at_most
from ._paywire import FetchStep, LocalSigner, PaidFetch, Payer, PaymentHeader, SettleResponse
from .hooks import Hooks

SETTLEMENT = "x402_settlement"
PAYMENT = "x402_payment"
#: Marks the extensions of a call that paid; httpx gives the hops of a redirected call the same extensions.
PAID_MARK = "paywire_paid"
#: Asks, in a request's extensions, for the cooperative refund of the URL's channel (``{"amount": n or None}``).
REFUND = "paywire_refund"
#: Why a final 402 was not paid (or a refund refused), in a response's extensions.
UNPAID = "x402_unpaid"
#: Framing headers of a request; a replayed body gets its own.
_FRAMING = ("content-length", "transfer-encoding")


def settlement(response: httpx.Response) -> Optional[SettleResponse]:
    """The settlement receipt of a paid response (its decoded ``PAYMENT-RESPONSE``), or None."""
    return response.extensions.get(SETTLEMENT)


def payment(response: httpx.Response) -> Optional[PaymentHeader]:
    """The payment sent for a response, or None when the request was not paid for."""
    return response.extensions.get(PAYMENT)


def _start(
    payer: Payer,
    request: httpx.Request,
    body: bytes,
    sign_inline: bool,
    hooks: Hooks,
    sign_in: bool,
    pass_facilitators: Sequence[str],
    rpc_urls: Sequence[Tuple[str, str]],
) -> Tuple[PaidFetch, FetchStep]:
    has_body = bool(body) or "content-length" in request.headers or "transfer-encoding" in request.headers
    refund = request.extensions.get(REFUND)
    return PaidFetch.start(
        payer,
        request.method,
        str(request.url),
        request.headers.multi_items(),
        body if has_body else None,
        # httpx's client follows redirects above the transport; each hop comes here as its own request.
        follow_redirects=False,
        already_paid=bool(request.extensions.get(PAID_MARK)),
        sign_inline=sign_inline,
        hooks=hooks.points("client"),
        sign_in=sign_in,
        pass_facilitators=list(pass_facilitators),
        refund=refund is not None,
        refund_amount=None if refund is None else refund.get("amount"),
        rpc_urls=list(rpc_urls),
    )


def _rpc_urls(rpc_urls: Optional[Mapping[str, str]]) -> List[Tuple[str, str]]:
    pairs = list((rpc_urls or {}).items())
    check_rpc_urls(pairs)
    return pairs


def _hop(original: httpx.Request, step: FetchStep) -> httpx.Request:
    headers = [(k, v) for k, v in step.headers or [] if k.lower() not in _FRAMING]
    extensions = original.extensions
    if step.timeout_ms is not None:
        # The machine's own request (a chain read, a pass): each stage within the core's deadline (or the
        # caller's, if shorter); the body as a whole is bounded as it is read.
        caller = extensions.get("timeout") or {}
        timeout_ms = step.timeout_ms
        stages = ("connect", "read", "write", "pool")
        extensions = {**extensions, "timeout": {k: own_timeout(timeout_ms, caller.get(k)) for k in stages}}
    return httpx.Request(step.method or "GET", step.url or "", headers=headers, content=step.body, extensions=extensions)


def _finish(request: httpx.Request, response: httpx.Response, step: FetchStep) -> httpx.Response:
    if step.payment is not None:
        request.extensions[PAID_MARK] = True
    response.extensions = {
        **response.extensions, SETTLEMENT: step.settlement, PAYMENT: step.payment, UNPAID: step.unpaid
    }
    return response


def _refunded(response: httpx.Response) -> SettleResponse:
    # The core's machine ends a refund with its receipt, or with the error saying why (it decides, for every
    # language).
    unpaid = response.extensions.get(UNPAID)
    if unpaid is not None:
        raise unpaid
    receipt = settlement(response)
    assert receipt is not None and receipt.success, "a refund without an error has its receipt"
    return receipt


def refund(client: httpx.Client, url: str, amount: Optional[int] = None) -> SettleResponse:
    """Asks the server of ``url`` (a ``batch-settlement`` route) to return this payer's channel balance:
    ``amount`` units, or everything it did not charge. ``client`` sends through a ``PaymentTransport``.
    Returns the refund's receipt (its transaction); raises ``PaywireError`` when the server refuses (nothing
    to refund, or it does not hold the key to sign refunds: then ``initiateWithdraw`` on the contract, and
    ``finalizeWithdraw`` after the channel's withdraw delay, return the balance without the server)."""
    return _refunded(client.get(url, extensions={REFUND: {"amount": amount}}))


async def arefund(client: httpx.AsyncClient, url: str, amount: Optional[int] = None) -> SettleResponse:
    """``refund`` for an ``httpx.AsyncClient`` sending through an ``AsyncPaymentTransport``."""
    return _refunded(await client.get(url, extensions={REFUND: {"amount": amount}}))


class PaymentTransport(httpx.BaseTransport):
    """A transport that pays x402 bills with ``payer``, sending requests through ``transport``. ``hooks``
    (``paywire.hooks.Hooks``, synchronous ones) runs your code before and after a payment is created and
    when creating one fails. Where a bill offers sign-in-with-x, the payer signs in first (a wallet that paid
    before gets the resource again without paying); ``sign_in=False`` turns that off. ``pass_facilitators``
    (base URLs) are the facilitators it may ask for a pass when a bill names one: after a settled payment, the
    next call to the resource gets a pass there and presents it until it expires or is refused. ``rpc_urls``
    maps networks (``"eip155:8453"``) to JSON-RPC URLs: where a bill declares ``eip2612GasSponsoring`` and
    the payment moves its token through Permit2, the payer's Permit2 allowance and EIP-2612 nonce are read
    there (two ``eth_call``s through ``transport``), so a payer who never approved Permit2, and holds no gas,
    pays with a permit the facilitator submits. An RPC URL is never logged or put in an error."""

    def __init__(
        self,
        payer: Payer,
        transport: Optional[httpx.BaseTransport] = None,
        *,
        hooks: Optional[Hooks] = None,
        sign_in: bool = True,
        pass_facilitators: Sequence[str] = (),
        rpc_urls: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._payer = payer
        self._inner = transport or httpx.HTTPTransport()
        self._hooks = hooks or Hooks()
        self._sign_in = sign_in
        self._passes = list(pass_facilitators)
        self._rpc = _rpc_urls(rpc_urls)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        fetch, step = _start(self._payer, request, body, True, self._hooks, self._sign_in, self._passes, self._rpc)
        response: Optional[httpx.Response] = None
        own = False
        limit: Optional[int] = None
        deadline = 0.0
        while True:
            if step.kind == "send":
                own, limit = step.own, step.body_limit
                deadline = time.monotonic() + (step.timeout_ms or 0) / 1000
                if response is not None:
                    response.close()
                try:
                    response = self._inner.handle_request(_hop(request, step))
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
                step = fetch.feed_response(response.status_code, response.headers.multi_items())
            elif step.kind == "read_body":
                assert response is not None
                try:
                    if limit is None:
                        read = response.read()
                    elif response.is_stream_consumed:  # already in memory (a transport that built it whole)
                        read = response.content[: limit + 1]
                    else:
                        read = read_at_most(response.iter_raw(), limit, deadline)
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
                return _finish(request, response, step)

    def close(self) -> None:
        self._inner.close()


class AsyncPaymentTransport(httpx.AsyncBaseTransport):
    """The async transport. A signer whose ``sign_digest`` is a coroutine function is awaited; any other
    signer but ``LocalSigner`` (a KMS or hardware client, say) signs in a worker thread, off the event loop.
    ``hooks`` (``paywire.hooks.Hooks``, sync or async) runs your code around payment creation; ``sign_in``
    ``pass_facilitators`` and ``rpc_urls`` as for ``PaymentTransport``."""

    def __init__(
        self,
        payer: Payer,
        transport: Optional[httpx.AsyncBaseTransport] = None,
        *,
        hooks: Optional[Hooks] = None,
        sign_in: bool = True,
        pass_facilitators: Sequence[str] = (),
        rpc_urls: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._payer = payer
        self._inner = transport or httpx.AsyncHTTPTransport()
        self._hooks = hooks or Hooks()
        self._sign_in = sign_in
        self._passes = list(pass_facilitators)
        self._rpc = _rpc_urls(rpc_urls)
        self._inline = isinstance(payer.signer, LocalSigner)

    async def _sign(self, digests: List[bytes]) -> List[bytes]:
        sign = self._payer.signer.sign_digest
        if inspect.iscoroutinefunction(sign):
            return [bytes(await sign(d)) for d in digests]
        return await anyio.to_thread.run_sync(lambda: [bytes(sign(d)) for d in digests])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        fetch, step = _start(
            self._payer, request, body, self._inline, self._hooks, self._sign_in, self._passes, self._rpc
        )
        response: Optional[httpx.Response] = None
        own = False
        limit: Optional[int] = None
        deadline = 0.0
        while True:
            if step.kind == "send":
                own, limit = step.own, step.body_limit
                deadline = time.monotonic() + (step.timeout_ms or 0) / 1000
                if response is not None:
                    await response.aclose()
                try:
                    response = await self._inner.handle_async_request(_hop(request, step))
                except Exception:
                    step = fetch.feed_send_failed()
                    if step.kind == "raise":
                        raise
                    response = None
                    continue
                except BaseException:
                    fetch.feed_send_failed()
                    raise
                step = fetch.feed_response(response.status_code, response.headers.multi_items())
            elif step.kind == "read_body":
                assert response is not None
                try:
                    if limit is None:
                        read = await response.aread()
                    elif response.is_stream_consumed:  # already in memory (a transport that built it whole)
                        read = response.content[: limit + 1]
                    else:
                        read = await aread_at_most(response.aiter_raw(), limit, deadline)
                except Exception:
                    if not own:
                        raise
                    read = b""
                step = fetch.feed_body(read)
            elif step.kind == "hook":
                step = fetch.feed_hooked(**await self._hooks.run(step.hook_point, step.hook_context))
            elif step.kind == "sign":
                try:
                    signatures = await self._sign(step.digests)
                except Exception as e:
                    step = fetch.feed_sign_failed(f"{type(e).__name__}: {e}")
                else:
                    step = fetch.feed_signatures(signatures)
            elif step.kind == "fail":
                if response is not None:
                    await response.aclose()
                raise step.error  # type: ignore[misc]
            else:
                assert response is not None
                return _finish(request, response, step)

    async def aclose(self) -> None:
        await self._inner.aclose()


__all__ = ["AsyncPaymentTransport", "PaymentTransport", "payment", "settlement"]
