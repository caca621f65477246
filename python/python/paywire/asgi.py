"""ASGI middleware that bills requests with x402, for FastAPI, Starlette and any ASGI app.

    from fastapi import FastAPI
    from paywire import PriceTag
    from paywire.asgi import PaymentMiddleware, Route
    from paywire.facilitator import AsyncFacilitatorClient

    app = FastAPI()
    app.add_middleware(
        PaymentMiddleware,
        routes={"GET /weather": Route(PriceTag("eip155:84532", PAY_TO, "$0.001"), description="Weather")},
        facilitator=AsyncFacilitatorClient("https://x402.org/facilitator"),
    )

For a priced route:

- no payment: 402 with the bill (``PAYMENT-REQUIRED``; a v1 route sends it as the JSON body);
- an unreadable payment header: 400 with a readable error and the bill;
- a payment: offline verification first (a wrong amount, payee, signature or expiry is refused without
  calling anyone), then the facilitator's ``/verify``, then the handler, then ``/settle`` only if the
  handler answered below 400, then the response with ``PAYMENT-RESPONSE``;
- the handler's response is held until settlement succeeds: a failed settlement answers 402 and a
  facilitator that is unreachable or answers nonsense answers 502, and the handler's output is never
  released in either case;
- the same payment sent again for the same request (a client whose response was lost) gets the same
  response and is not settled twice; sent for another request it is refused (409 for a reused payment id,
  402 ``invalid_exact_evm_nonce_already_used`` otherwise); sent while it is still being processed, 409.

The handler sees what was paid as ``request.state.paywire`` (a ``Paid``). Responses expose the x402
headers to browsers (``Access-Control-Expose-Headers``); add ``ALLOWED_HEADERS`` to your CORS
middleware's allowed request headers.

The replay memory (``MemoryStore``) lives in the process; run one store shared by all workers (see
``PaymentStore``) when several processes serve the same routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._common import ALLOWED_HEADERS, EXPOSED_HEADERS, error
from ._paywire import (
    RECEIPT_HEADER,
    AcceptedPayment,
    AccessPolicy,
    Issuer,
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    PaywireError,
    PriceTag,
    SettleResponse,
    build_payment_required,
    check_payment,
    read_payment,
    receipt_extension,
    settlement_header,
    status_for,
    status_for_reason,
)

Scope = Dict[str, Any]
Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = List[Tuple[bytes, bytes]]

#: Cache-Control of a 402 (as the official servers send it) and of a paid response.
NO_STORE = "no-store"
PRIVATE = "private"

log = logging.getLogger("paywire")



@dataclass(frozen=True)
class Route:
    """What a route costs: one or more ``PriceTag`` (the client picks one), and what the bill says about
    the resource. ``x402_version=1`` bills the way v1 clients expect (JSON body, ``X-PAYMENT``)."""

    tags: Union[PriceTag, Sequence[PriceTag]]
    description: Optional[str] = None
    mime_type: Optional[str] = None
    x402_version: int = 2

    def price_tags(self) -> List[PriceTag]:
        return [self.tags] if isinstance(self.tags, PriceTag) else list(self.tags)


@dataclass(frozen=True)
class Paid:
    """What the request paid with, for the handler (``request.state.paywire``). ``payment`` is None when
    the request presented a valid access receipt instead (``receipt`` then holds its payload)."""

    payer: str
    payment: Optional[AcceptedPayment] = None
    receipt: Optional[Dict[str, Any]] = None


@dataclass
class Record:
    """A payment the server has taken: in flight, or served (with what it answered)."""

    fingerprint: str
    expires_at: float
    done: bool = False
    status: int = 0
    headers: RawHeaders = field(default_factory=list)
    body: Optional[bytes] = None


class PaymentStore:
    """Where the middleware remembers payments, so a payment is served once per request and never twice
    for different requests. Implement these three coroutines over a shared database to run several
    workers; ``claim`` must be atomic."""

    async def claim(self, key: str, fingerprint: str, expires_at: float) -> Optional[Record]:
        """Claims ``key`` for a new payment and returns None, or returns the record already held."""
        raise NotImplementedError

    async def complete(self, key: str, record: Record) -> None:
        """Records that the payment was settled and served."""
        raise NotImplementedError

    async def release(self, key: str) -> None:
        """Forgets a claim whose payment was not settled (it may be presented again)."""
        raise NotImplementedError


class MemoryStore(PaymentStore):
    """A ``PaymentStore`` in this process's memory. Records are dropped once their authorization expired
    (it can no longer settle); at most ``max_entries`` served records are kept, the oldest dropped first."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._records: Dict[str, Record] = {}
        self._max = max_entries

    async def claim(self, key: str, fingerprint: str, expires_at: float) -> Optional[Record]:
        held = self._records.get(key)
        if held is not None and held.expires_at > time.time():
            return held
        if len(self._records) >= self._max:
            self._prune()
        self._records[key] = Record(fingerprint=fingerprint, expires_at=expires_at)
        return None

    async def complete(self, key: str, record: Record) -> None:
        self._records[key] = record

    async def release(self, key: str) -> None:
        self._records.pop(key, None)

    def _prune(self) -> None:
        now = time.time()
        for key in [k for k, r in self._records.items() if r.expires_at <= now]:
            del self._records[key]
        for key in [k for k, r in self._records.items() if r.done][: max(0, len(self._records) - self._max + 1)]:
            del self._records[key]

    def __len__(self) -> int:
        return len(self._records)


def _compile(pattern: str) -> Tuple[Optional[str], "re.Pattern[str]"]:
    method, _, path = pattern.strip().rpartition(" ")
    if not path.startswith("/") and path != "*":
        raise error("invalid_argument", f"route {pattern!r} is not \"[METHOD] /path\"; e.g. \"GET /weather/{{city}}\"")
    regex = ""
    for part in re.split(r"(\{[^/{}]+\}|\*)", path):
        if part == "*":
            regex += ".*"
        elif part.startswith("{") and part.endswith("}"):
            regex += "[^/]+"
        else:
            regex += re.escape(part)
    return (method.strip().upper() or None), re.compile(regex + r"\Z")


def _header(headers: RawHeaders, name: bytes) -> Optional[str]:
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _with_exposed(headers: RawHeaders) -> RawHeaders:
    out = [(k, v) for k, v in headers if k.lower() != b"access-control-expose-headers"]
    existing = [v.decode("latin-1") for k, v in headers if k.lower() == b"access-control-expose-headers"]
    out.append((b"access-control-expose-headers", ", ".join(existing + [EXPOSED_HEADERS]).encode()))
    return out


def _set(headers: RawHeaders, name: str, value: str) -> RawHeaders:
    key = name.lower().encode("latin-1")
    return [(k, v) for k, v in headers if k.lower() != key] + [(key, value.encode("latin-1"))]


class _Body:
    """Replays a buffered request body to the app, then passes on what the server sends (disconnects)."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self._body: Optional[bytes] = body
        self._receive = receive

    async def __call__(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        return await self._receive()


class _Captured:
    """The app's response, held back until the payment settles."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: RawHeaders = []
        self.chunks: List[bytes] = []
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: List[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _call(method: Callable[..., Any], *args: Any) -> Any:
    """Calls a facilitator method, async or sync (a sync one runs in a worker thread)."""
    if inspect.iscoroutinefunction(method):
        return await method(*args)
    result = await asyncio.get_running_loop().run_in_executor(None, lambda: method(*args))
    if inspect.isawaitable(result):
        result = await result
    return result


class PaymentMiddleware:
    """Bills the ``routes`` of ``app`` with x402.

    ``routes`` maps ``"[METHOD] /path"`` patterns (``{name}`` matches one path segment, ``*`` the rest;
    no method matches every method) to a ``Route`` or ``PriceTag``. ``facilitator`` verifies and settles
    (a ``paywire.facilitator`` client, or any object with ``verify`` and ``settle``); the default is the
    public x402.org facilitator (test networks only). ``access`` lets a valid receipt (``X-PAYWIRE-RECEIPT``)
    stand in for a new payment; ``issuer`` signs offers in bills and a receipt into each settlement.
    ``public_url`` is the app's external base URL (``https://api.example.com``) when a proxy hides it.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[str, Union[Route, PriceTag]],
        *,
        facilitator: Any = None,
        access: Optional[AccessPolicy] = None,
        issuer: Optional[Issuer] = None,
        store: Optional[PaymentStore] = None,
        public_url: Optional[str] = None,
        allow_onchain_signatures: bool = False,
        max_request_bytes: int = 10 * 1024 * 1024,
        max_replay_bytes: int = 1024 * 1024,
    ) -> None:
        self.app = app
        self._routes = []
        for pattern, route in routes.items():
            route = route if isinstance(route, Route) else Route(route)
            method, regex = _compile(pattern)
            # Fail at start-up, not on the first request, when a price tag cannot make a bill.
            build_payment_required("http://localhost/", route.price_tags(), x402_version=route.x402_version)
            self._routes.append((method, regex, route))
        if facilitator is None:
            from .facilitator import AsyncFacilitatorClient

            facilitator = AsyncFacilitatorClient()
        self.facilitator = facilitator
        self.access = access
        self.issuer = issuer
        self.store = store if store is not None else MemoryStore()
        self.public_url = public_url.rstrip("/") if public_url else None
        self.allow_onchain_signatures = allow_onchain_signatures
        self.max_request_bytes = max_request_bytes
        self.max_replay_bytes = max_replay_bytes

    def route_for(self, method: str, path: str) -> Optional[Route]:
        """The priced route a request falls under, or None when it is free."""
        for route_method, regex, route in self._routes:
            if (route_method is None or route_method == method.upper()) and regex.match(path):
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        route = self.route_for(scope["method"], scope["path"])
        if route is None:
            return await self.app(scope, receive, send)
        await _Exchange(self, route, scope, receive, send).run()

    def resource_url(self, scope: Scope) -> str:
        """The URL a bill names: ``public_url`` (else the request's scheme and host) and the path."""
        path: str = scope.get("root_path", "") + scope["path"]
        if self.public_url:
            return self.public_url + str(scope["path"])
        host = _header(scope.get("headers", []), b"host")
        if host is None:
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{path}"


class _Exchange:
    """One request to a priced route, from bill to settled response."""

    def __init__(self, mw: PaymentMiddleware, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        self.mw = mw
        self.route = route
        self.scope = scope
        self.receive = receive
        self.send = send
        self.url = mw.resource_url(scope)
        self.headers: RawHeaders = list(scope.get("headers", []))
        self.text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
        self.bill = build_payment_required(
            self.url,
            route.price_tags(),
            x402_version=route.x402_version,
            description=route.description,
            mime_type=route.mime_type,
        )

    async def run(self) -> None:
        if self.mw.access is not None and _header(self.headers, RECEIPT_HEADER.lower().encode()) is not None:
            try:
                grant = self.mw.access.check_request(self.text_headers, self.url)
            except PaywireError as e:
                return await self.refuse(e)
            if grant is not None:
                self._state(Paid(payer=grant["payload"]["payer"], receipt=grant["payload"]))
                return await self.mw.app(self.scope, self.receive, self._exposing(self.send))
        try:
            payment = read_payment(self.text_headers)
        except PaywireError as e:
            return await self.refuse(e)
        if payment is None:
            return await self.answer_bill(402, "Payment required", "this resource costs a payment; pay one of the offers")
        try:
            accepted = check_payment(
                self.bill, payment, allow_onchain_signatures=self.mw.allow_onchain_signatures
            )
        except PaywireError as e:
            return await self.refuse(e)
        try:
            body = await _read_body(self.receive, self.mw.max_request_bytes)
        except _TooLarge:
            return await self.answer_json(413, "request_too_large", "the request body is larger than this route takes")
        except _Disconnected:
            return
        await self.take(accepted, body)

    async def take(self, accepted: AcceptedPayment, body: bytes) -> None:
        verified = accepted.verified
        if accepted.payment_id is not None:
            key = f"id:{accepted.payment_id}"
        else:
            key = f"auth:{verified.chain_id}:{verified.asset}:{verified.payer}:{verified.nonce}".lower()
        digest = hashlib.sha256()
        for part in (self.scope["method"].encode(), self.scope["path"].encode(), self.scope.get("query_string", b"")):
            digest.update(part + b"\0")
        digest.update(body)
        fingerprint = digest.hexdigest()
        held = await self.mw.store.claim(key, fingerprint, float(verified.valid_before) + 60)
        if held is not None:
            return await self.replay(held, fingerprint, accepted, body)
        served = False
        try:
            served = await self.serve(accepted, body, key, fingerprint)
        finally:
            if not served:
                await self.mw.store.release(key)

    async def replay(self, held: Record, fingerprint: str, accepted: AcceptedPayment, body: bytes) -> None:
        if not held.done:
            return await self.answer_json(
                409, "payment_in_progress", "this payment is being processed for another request; wait for its answer"
            )
        if held.fingerprint != fingerprint:
            if accepted.payment_id is not None:
                return await self.answer_json(
                    409,
                    "payment_identifier_conflict",
                    "this payment id already paid for a different request; use a new payment id",
                )
            return await self.refuse(
                error("invalid_exact_evm_nonce_already_used", "this payment was already used for another request")
            )
        # The same request with the same payment: the client lost our answer. Answer it again, unpaid twice.
        if held.body is not None:
            return await self._send(held.status, held.headers, held.body)
        self._state(Paid(payer=accepted.verified.payer, payment=accepted))
        captured = _Captured()
        await self.mw.app(self.scope, _Body(body, self.receive), captured)
        settled = [(k, v) for k, v in held.headers if k in (b"payment-response", b"x-payment-response")]
        headers = captured.headers
        for k, v in settled:
            headers = _set(headers, k.decode(), v.decode())
        await self._send(captured.status, headers, captured.body)

    async def serve(self, accepted: AcceptedPayment, body: bytes, key: str, fingerprint: str) -> bool:
        """Verifies with the facilitator, runs the handler, settles; True once settled and served."""
        payment, requirements = accepted.payment, accepted.requirements
        try:
            verdict = await _call(self.mw.facilitator.verify, payment, requirements)
        except PaywireError as e:
            await self.answer_json(502, e.code, e.message)
            return False
        if not verdict.is_valid:
            reason = verdict.invalid_reason or "invalid_payment"
            await self.answer_bill(status_for_reason(reason), reason, verdict.invalid_message or reason)
            return False

        self._state(Paid(payer=accepted.verified.payer, payment=accepted))
        captured = _Captured()
        await self.mw.app(self.scope, _Body(body, self.receive), captured)
        if captured.status >= 400:
            # The handler failed: nothing was delivered, so nothing is charged.
            await self._send(captured.status, captured.headers, captured.body)
            return False

        try:
            settled: SettleResponse = await _call(self.mw.facilitator.settle, payment, requirements)
        except PaywireError as e:
            await self.answer_json(502, e.code, e.message)
            return False
        version = self.bill.x402_version
        if not settled.success:
            reason = settled.error_reason or "settlement_failed"
            name, value = settlement_header(version, settled)
            await self.answer_bill(402, reason, settled.error_message or reason, extra=[(name, value)])
            return False
        # Settled: from here on the buyer has paid, so every path below ends in serving the response.
        if self.mw.issuer is not None and version >= 2:
            try:
                receipt = self.mw.issuer.issue_receipt(
                    self.url, accepted.verified.payer, settled.network, settled.transaction
                )
                settled = settled.with_extension("offer-receipt", receipt_extension(receipt))
            except PaywireError as e:
                log.warning("paywire: serving a settled payment without a signed receipt: %s", e)

        name, value = settlement_header(version, settled)
        headers = _set(captured.headers, name, value)
        cache = _header(headers, b"cache-control")
        if cache is None or "private" not in cache.lower():
            headers = _set(headers, "cache-control", f"{cache}, {PRIVATE}" if cache else PRIVATE)
        held = captured.body if len(captured.body) <= self.mw.max_replay_bytes else None
        record = Record(fingerprint, float(accepted.verified.valid_before) + 60, True, captured.status, headers, held)
        try:
            await self.mw.store.complete(key, record)
        except Exception:  # the store's failure must not cost the buyer a paid response
            log.exception("paywire: could not record a settled payment; a replay of it will be refused")

        await self._send(captured.status, headers, captured.body)
        return True

    async def refuse(self, e: PaywireError) -> None:
        """Answers a refused payment: the bill again with the reason (402), or 400/409/500/502 by its kind."""
        status = status_for(e)
        if status in (400, 402):
            return await self.answer_bill(status, e.code, e.message)
        await self.answer_json(status, e.code, e.message)

    async def answer_bill(self, status: int, reason: str, message: str, extra: Sequence[Tuple[str, str]] = ()) -> None:
        bill = self.bill
        if self.mw.issuer is not None and bill.x402_version >= 2:
            bill = self.mw.issuer.sign_bill(bill)
        bill = bill.with_error(reason)
        headers: RawHeaders = [(b"content-type", b"application/json"), (b"cache-control", NO_STORE.encode())]
        if bill.x402_version >= 2:
            headers.append((b"payment-required", bill.to_header().encode()))
            body = json.dumps({"error": reason, "message": message}).encode()
        else:
            body = bill.to_json().encode()
        for name, value in extra:
            headers.append((name.lower().encode(), value.encode()))
        await self._send(status, headers, body)

    async def answer_json(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": code, "message": message}).encode()
        await self._send(status, [(b"content-type", b"application/json"), (b"cache-control", NO_STORE.encode())], body)

    async def _send(self, status: int, headers: RawHeaders, body: bytes) -> None:
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({"type": "http.response.start", "status": status, "headers": _with_exposed(headers)})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def _state(self, paid: Paid) -> None:
        self.scope.setdefault("state", {})["paywire"] = paid

    def _exposing(self, send: Send) -> Send:
        async def exposing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_exposed(list(message.get("headers", [])))}
            await send(message)

        return exposing


__all__ = [
    "ALLOWED_HEADERS",
    "EXPOSED_HEADERS",
    "MemoryStore",
    "Paid",
    "PaymentMiddleware",
    "PaymentStore",
    "Record",
    "Route",
]
