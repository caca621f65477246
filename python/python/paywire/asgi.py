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
  response and is not settled twice. When the settlement's outcome was unknown (the facilitator timed out
  or reported it pending), that retry asks ``/settle`` again and then releases the held response. Sent for
  another request the payment is refused (409 for a reused payment id, 402
  ``invalid_exact_evm_nonce_already_used`` otherwise); sent while it is still being processed, 409.

Because the response is held until settlement, streamed responses (server-sent events) arrive whole, and
Starlette's background tasks run before the payment settles (and also when it fails to settle).

The handler sees what was paid as ``request.state.paywire`` (a ``Paid``). Responses expose the x402
headers to browsers (``Access-Control-Expose-Headers``); add ``ALLOWED_HEADERS`` to your CORS
middleware's allowed request headers.

The replay memory (``MemoryStore``) lives in the process; run one store shared by all workers (see
``PaymentStore``) when several processes serve the same routes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import anyio
import anyio.to_thread

from ._common import ALLOWED_HEADERS, EXPOSED_HEADERS, error
from ._paywire import (
    RECEIPT_HEADER,
    AcceptedPayment,
    AccessPolicy,
    Issuer,
    PaymentPayload,
    PaywireError,
    PriceTag,
    SettleResponse,
    VerifyResponse,
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
#: Methods whose handler may run again for the same paid request without doing anything twice.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: What a buyer is told when the facilitator fails; the details go to the server's log.
UPSTREAM_MESSAGE = "the payment service is unavailable; nothing was charged for this request; try again later"
UNCONFIRMED_MESSAGE = (
    "the payment is not confirmed yet; send the same request with the same payment again to receive the response"
)

log = logging.getLogger("paywire")


@dataclass(frozen=True)
class Route:
    """What a route costs: one or more ``PriceTag`` (the client picks one), and what the bill says about
    the resource. ``x402_version=1`` bills the way v1 clients expect (JSON body, ``X-PAYMENT``).
    ``receipts=False`` refuses access receipts on this route (a receipt names a URL, not a method or price)."""

    tags: Union[PriceTag, Sequence[PriceTag]]
    description: Optional[str] = None
    mime_type: Optional[str] = None
    x402_version: int = 2
    receipts: bool = True

    def price_tags(self) -> List[PriceTag]:
        return [self.tags] if isinstance(self.tags, PriceTag) else list(self.tags)


@dataclass(frozen=True)
class Paid:
    """What the request paid with, for the handler (``request.state.paywire``). ``payment`` is None when
    the request presented a valid access receipt instead (``receipt`` then holds its payload)."""

    payer: str
    payment: Optional[AcceptedPayment] = None
    receipt: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class Record:
    """A payment the server has taken.

    ``state`` is "in_flight" (being processed), "unsettled" (the handler answered but the settlement's
    outcome is unknown; ``body`` holds the response) or "done" (settled and served; ``body`` holds the
    response unless it was larger than ``max_replay_bytes``). ``payment`` is a digest of the payment itself
    and ``fingerprint`` one of the request, so only the same payment for the same request gets the held
    response. ``token`` names the request that holds the record; only it may change or release it."""

    fingerprint: str
    payment: str
    expires_at: float
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    state: str = "in_flight"
    status: int = 0
    headers: RawHeaders = field(default_factory=list)
    body: Optional[bytes] = None

    def size(self) -> int:
        return len(self.body or b"") + sum(len(k) + len(v) for k, v in self.headers)


class PaymentStore:
    """Where the middleware remembers payments, so a payment is served once per request and never twice
    for different requests. Implement these coroutines over a shared database (a Redis or SQL row per key)
    to run several workers; ``claim``, ``replace`` and ``release`` must each be atomic."""

    async def claim(self, key: str, record: Record) -> Optional[Record]:
        """Stores ``record`` under ``key`` and returns None, or returns the live record already there."""
        raise NotImplementedError

    async def get(self, key: str) -> Optional[Record]:
        """The live record under ``key``, if any."""
        raise NotImplementedError

    async def replace(self, key: str, token: str, record: Record) -> bool:
        """Stores ``record`` under ``key`` if the record there has ``token``; False if it has not."""
        raise NotImplementedError

    async def release(self, key: str, token: str) -> None:
        """Forgets the record under ``key`` if it has ``token`` (a payment that was not settled)."""
        raise NotImplementedError


class MemoryStore(PaymentStore):
    """A ``PaymentStore`` in this process's memory. Records are dropped once their authorization expired
    (it can no longer settle). At most ``max_entries`` records and ``max_bytes`` of held responses are kept;
    past either, the oldest served records are dropped first (a retry of one is then refused)."""

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._records: Dict[str, Record] = {}
        self._total = 0
        self._max = max_entries
        self._max_bytes = max_bytes

    async def claim(self, key: str, record: Record) -> Optional[Record]:
        held = await self.get(key)
        if held is not None:
            return held
        self._put(key, record)
        return None

    async def get(self, key: str) -> Optional[Record]:
        held = self._records.get(key)
        return held if held is not None and held.expires_at > time.time() else None

    async def replace(self, key: str, token: str, record: Record) -> bool:
        held = self._records.get(key)
        if held is None or held.token != token:
            return False
        self._put(key, record)
        return True

    async def release(self, key: str, token: str) -> None:
        held = self._records.get(key)
        if held is not None and held.token == token:
            self._drop(key)

    def _drop(self, key: str) -> None:
        gone = self._records.pop(key, None)
        if gone is not None:
            self._total -= gone.size()

    def _put(self, key: str, record: Record) -> None:
        self._drop(key)
        if len(self._records) >= self._max or self._total + record.size() > self._max_bytes:
            self._prune(record.size())
        self._records[key] = record
        self._total += record.size()

    def _prune(self, incoming: int) -> None:
        now = time.time()
        for key in [k for k, r in self._records.items() if r.expires_at <= now]:
            self._drop(key)
        for key in [k for k, r in self._records.items() if r.state == "done"]:
            if len(self._records) < self._max and self._total + incoming <= self._max_bytes:
                break
            self._drop(key)

    def __len__(self) -> int:
        return len(self._records)


def _compile(pattern: str) -> Tuple[Optional[str], "re.Pattern[str]"]:
    method, _, path = pattern.strip().rpartition(" ")
    if not path.startswith("/"):
        raise error("invalid_argument", f'route {pattern!r} is not "[METHOD] /path"; e.g. "GET /weather/{{city}}"')
    regex = ""
    for part in re.split(r"(\{[^/{}]+\}|\*)", path):
        if part == "*":
            regex += ".*"
        elif part.startswith("{") and part.endswith("}"):
            # Starlette's converters: {name:path} spans segments; {name}, {name:int}, ... match one.
            regex += ".+" if part[1:-1].partition(":")[2].strip() == "path" else "[^/]+"
        else:
            regex += re.escape(part)
    return (method.strip().upper() or None), re.compile(regex + r"\Z")


def _header(headers: Sequence[Tuple[bytes, bytes]], name: bytes) -> Optional[str]:
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


def _private(headers: RawHeaders) -> RawHeaders:
    """Keeps paid content out of shared caches."""
    cache = _header(headers, b"cache-control")
    if cache is not None and PRIVATE in [d.strip().lower() for d in cache.split(",")]:
        return headers
    return _set(headers, "cache-control", f"{cache}, {PRIVATE}" if cache else PRIVATE)


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

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
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
    result = await anyio.to_thread.run_sync(lambda: method(*args))
    if inspect.isawaitable(result):
        result = await result
    return result


def _expect(answer: Any, kind: type, endpoint: str) -> Any:
    if not isinstance(answer, kind):
        raise error(
            "invalid_facilitator_response",
            f"the facilitator object's {endpoint}() returned {type(answer).__name__}, not paywire.{kind.__name__}",
        )
    return answer


class PaymentMiddleware:
    """Bills the ``routes`` of ``app`` with x402.

    ``routes`` maps ``"[METHOD] /path"`` patterns to a ``Route`` or ``PriceTag``: ``{name}`` matches one path
    segment, ``{name:path}`` and a trailing ``*`` match the rest, no method matches every method, and a
    HEAD of a priced GET gets the bill (it is never charged for). ``facilitator`` verifies and settles: a ``paywire.facilitator`` client, or any object
    whose ``verify`` and ``settle`` (async or not) return paywire's ``VerifyResponse`` and ``SettleResponse``;
    the default is the public x402.org facilitator (test networks only). ``access`` lets a valid receipt
    (``X-PAYWIRE-RECEIPT``) stand in for a new payment; ``issuer`` signs offers in bills and a receipt into
    each settlement. ``public_url`` is the app's external origin (``https://api.example.com``): bills,
    offers and receipts name it instead of the request's Host header, which a client chooses.
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
        if (issuer is not None or access is not None) and self.public_url is None:
            log.warning(
                "paywire: receipts and signed offers will name the Host header the client sends; "
                "set public_url to the app's external origin"
            )

    def route_for(self, method: str, path: str) -> Optional[Route]:
        """The priced route a request falls under, or None when it is free."""
        method = "GET" if method.upper() == "HEAD" else method.upper()
        for route_method, regex, route in self._routes:
            if (route_method is None or route_method == method) and regex.match(path):
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        route = self.route_for(scope["method"], _route_path(scope))
        if route is None:
            return await self.app(scope, receive, send)
        await _Exchange(self, route, scope, receive, send).run()

    def resource_url(self, scope: Scope) -> str:
        """The URL a bill names: ``public_url`` (else the request's scheme and host) and the full path."""
        path = _full_path(scope)
        if self.public_url:
            return self.public_url + path
        host = _header(scope.get("headers", []), b"host")
        if host is None:
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{path}"


def _full_path(scope: Scope) -> str:
    """The request's path as the client sent it. ASGI servers put the mount prefix (``root_path``) in
    ``path``; older ones left it out."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path if path.startswith(root) else root + path


def _route_path(scope: Scope) -> str:
    """The path within the app, as the app's router sees it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _payment_digest(accepted: AcceptedPayment) -> str:
    return hashlib.sha256(accepted.payment.raw_json.encode()).hexdigest()


def _auth_key(accepted: AcceptedPayment) -> str:
    """The signed authorization's own name: a signature can pay once, whatever id it is sent with."""
    v = accepted.verified
    return f"auth:{v.chain_id}:{v.asset}:{v.payer}:{v.nonce}".lower()


#: Errors that only say the authorization has expired.
_EXPIRED = ("invalid_exact_evm_payload_authorization_valid_before", "permit2_deadline_expired")


class _Exchange:
    """One request to a priced route, from bill to settled response."""

    def __init__(self, mw: PaymentMiddleware, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        self.mw = mw
        self.route = route
        # The app may not send the response by file handle: it is held back, and must be in memory.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k not in _DIRECT_SEND}
        self.scope = {**scope, "extensions": extensions}
        self.receive = receive
        self.send = send
        self.url = mw.resource_url(scope)
        self.headers: RawHeaders = list(scope.get("headers", []))
        self.text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
        # The records this request holds, by key: released on the way out unless the payment settled or its
        # settlement was left open (then they outlive the request, for a retry).
        self.held: Dict[str, str] = {}
        self.bill = build_payment_required(
            self.url,
            route.price_tags(),
            x402_version=route.x402_version,
            description=route.description,
            mime_type=route.mime_type,
        )

    async def run(self) -> None:
        unreadable: Optional[PaywireError] = None
        try:
            payment = read_payment(self.text_headers)
        except PaywireError as e:
            payment, unreadable = None, e
        receipt = _header(self.headers, RECEIPT_HEADER.lower().encode())
        if self.mw.access is not None and self.route.receipts and receipt is not None:
            try:
                grant = self.mw.access.check_request(self.text_headers, self.url)
            except PaywireError as e:
                if payment is None:
                    return await self.refuse(unreadable or e)
                grant = None  # a bad receipt does not spoil the payment sent with it
            if grant is not None:
                self._state(Paid(payer=grant["payload"]["payer"], receipt=grant["payload"]))
                return await self.mw.app(self.scope, self.receive, self._serving(self.send))
        if unreadable is not None:
            return await self.refuse(unreadable)
        if payment is None or self.scope["method"] == "HEAD":
            # HEAD shows the bill; it is never charged for, as it delivers nothing.
            return await self.answer_bill(402, "Payment required", "this resource costs a payment; pay one of the offers")
        try:
            accepted = check_payment(self.bill, payment, allow_onchain_signatures=self.mw.allow_onchain_signatures)
        except PaywireError as e:
            if e.code in _EXPIRED:
                return await self.replay_expired(payment, e)
            return await self.refuse(e)
        body = await self.read_body()
        if body is not None:
            await self.guarded(lambda: self.take(accepted, body))

    async def replay_expired(self, payment: PaymentPayload, expired: PaywireError) -> None:
        """An expired payment may still be the retry of one this server took (its answer was lost, or its
        settlement left open): answer from the held record, claiming nothing; else refuse it."""
        until = payment.last_acceptable_time
        if until is None:
            return await self.refuse(expired)
        try:
            accepted = check_payment(self.bill, payment, until, allow_onchain_signatures=self.mw.allow_onchain_signatures)
        except PaywireError:
            return await self.refuse(expired)
        body = await self.read_body()
        if body is None:
            return None
        key, claim = _auth_key(accepted), self.claim_record(accepted, body)
        held = await self.mw.store.get(key)
        if held is None or held.state == "in_flight" or (held.fingerprint, held.payment) != (claim.fingerprint, claim.payment):
            return await self.refuse(expired)
        await self.guarded(lambda: self.replay(key, held, claim, accepted, body))

    async def read_body(self) -> Optional[bytes]:
        """The request body, or None once the answer is sent (too large) or the client is gone."""
        try:
            return await _read_body(self.receive, self.mw.max_request_bytes)
        except _TooLarge:
            await self.answer_json(413, "invalid_argument", "the request body is larger than this route takes")
        except _Disconnected:
            pass
        return None

    def claim_record(self, accepted: AcceptedPayment, body: bytes) -> Record:
        digest = hashlib.sha256()
        for part in (self.scope["method"].encode(), _full_path(self.scope).encode(), self.scope.get("query_string", b"")):
            digest.update(part + b"\0")
        digest.update(body)
        return Record(digest.hexdigest(), _payment_digest(accepted), float(accepted.verified.valid_before) + 60)

    async def guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        """Runs ``work``, then releases the records it still holds, even when cancelled."""
        try:
            await work()
        finally:
            with anyio.CancelScope(shield=True):
                for key, token in self.held.items():
                    await self.mw.store.release(key, token)

    async def take(self, accepted: AcceptedPayment, body: bytes) -> None:
        key, claim = _auth_key(accepted), self.claim_record(accepted, body)
        held = await self.mw.store.claim(key, claim)
        if held is not None:
            return await self.replay(key, held, claim, accepted, body)
        self.held[key] = claim.token
        if accepted.payment_id is not None:
            # The payment-identifier extension: one id, one payment for one request.
            marker = replace(claim, state="done")
            other = await self.mw.store.claim(f"id:{accepted.payment_id}", marker)
            if other is None:
                self.held[f"id:{accepted.payment_id}"] = marker.token
            elif (other.payment, other.fingerprint) != (claim.payment, claim.fingerprint):
                return await self.answer_json(
                    409,
                    "payment_identifier_conflict",
                    "this payment id already paid for a different request or with a different payment; "
                    "use a new payment id",
                )
        await self.serve(accepted, body, key, claim)

    async def replay(self, key: str, held: Record, claim: Record, accepted: AcceptedPayment, body: bytes) -> None:
        if (held.fingerprint, held.payment) != (claim.fingerprint, claim.payment):
            return await self.refuse(
                error("invalid_exact_evm_nonce_already_used", "this payment was already used for another request")
            )
        if held.state == "in_flight":
            return await self.answer_json(
                409, "payment_in_progress", "this payment is being processed for an earlier request; wait for its answer"
            )
        if held.state == "unsettled":
            return await self.settle_held(key, held, accepted, body)
        # The same request with the same payment: the client lost our answer. Answer it again, unpaid twice.
        await self.answer_again(held, accepted, body)

    async def answer_again(self, held: Record, accepted: AcceptedPayment, body: bytes) -> None:
        """Answers a settled payment again: the held response, or for a safe method the handler's anew."""
        if held.body is not None:
            return await self._send(held.status, held.headers, held.body)
        if self.scope["method"] not in SAFE_METHODS:
            return await self.answer_json(
                409,
                "payment_already_served",
                "this payment was already served and its response is no longer held; running the request again "
                "would do it twice",
            )
        self._state(Paid(payer=accepted.verified.payer, payment=accepted))
        captured = _Captured()
        await self.mw.app(self.scope, _Body(body, self.receive), captured)
        headers = captured.headers
        for name in (b"payment-response", b"x-payment-response"):
            value = _header(held.headers, name)
            if value is not None:
                headers = _set(headers, name.decode(), value)
        await self._send(captured.status, _private(headers), captured.body)

    async def settle_held(self, key: str, held: Record, accepted: AcceptedPayment, body: bytes) -> None:
        """A retry of a payment whose settlement's outcome was unknown: take the record over, settle again,
        answer. The record stays unless the settlement definitely fails."""
        mine = replace(held, state="in_flight", token=secrets.token_hex(16))
        if not await self.mw.store.replace(key, held.token, mine):
            return await self.answer_json(
                409, "payment_in_progress", "this payment is being processed for an earlier request; wait for its answer"
            )
        self.held[key] = mine.token  # released if the settlement now definitely fails
        try:
            await self.settle_and_answer(accepted, key, mine, held.status, held.headers, held.body, body)
        except BaseException:
            # Whatever happened, the settlement is still open: put the record back for the next retry.
            with anyio.CancelScope(shield=True):
                await self._record(key, mine, replace(held, token=secrets.token_hex(16)))
            raise

    async def serve(self, accepted: AcceptedPayment, body: bytes, key: str, claim: Record) -> None:
        """Verifies with the facilitator, runs the handler, settles."""
        try:
            verdict = _expect(
                await _call(self.mw.facilitator.verify, accepted.payment, accepted.requirements), VerifyResponse, "verify"
            )
        except Exception as e:
            return await self.upstream_failed("/verify", e, UPSTREAM_MESSAGE)
        if not verdict.is_valid:
            reason = verdict.invalid_reason or "invalid_payment"
            return await self.answer_bill(status_for_reason(reason), reason, verdict.invalid_message or reason)

        self._state(Paid(payer=accepted.verified.payer, payment=accepted))
        captured = _Captured()
        await self.mw.app(self.scope, _Body(body, self.receive), captured)
        if captured.status >= 400:
            # The handler failed: nothing was delivered, so nothing is charged.
            return await self._send(captured.status, captured.headers, captured.body)
        await self.settle_and_answer(accepted, key, claim, captured.status, captured.headers, captured.body, body)

    async def _record(self, key: str, current: Record, new: Record) -> bool:
        """Moves the record this request holds to ``new``; from then on it outlives the request."""
        try:
            stored = await self.mw.store.replace(key, current.token, new)
        except Exception:
            log.exception("paywire: could not record the outcome of a settlement for %s", self.url)
            stored = False
        if stored:
            self.held.clear()  # the payment's records (and its id's) now outlive this request
        return stored

    async def settle_and_answer(
        self,
        accepted: AcceptedPayment,
        key: str,
        record: Record,
        status: int,
        headers: RawHeaders,
        response: Optional[bytes],
        body: bytes,
    ) -> None:
        """Settles, records the outcome, and releases the response."""
        version = self.bill.x402_version
        failure: Optional[Exception] = None
        settled: Optional[SettleResponse] = None
        # Once /settle is asked, its outcome must be recorded even if this request is cancelled meanwhile.
        with anyio.CancelScope(shield=True):
            try:
                settled = _expect(
                    await _call(self.mw.facilitator.settle, accepted.payment, accepted.requirements),
                    SettleResponse,
                    "settle",
                )
            except Exception as e:
                failure = e
            if settled is None or settled.is_pending:
                # The outcome is unknown: hold the response for a retry of the same payment, which settles again.
                await self._record(key, record, replace(record, state="unsettled", status=status, headers=headers, body=response))
            elif settled.success:
                headers = self._settled_headers(headers, accepted, settled)
                kept = response if response is not None and len(response) <= self.mw.max_replay_bytes else None
                await self._record(key, record, replace(record, state="done", status=status, headers=headers, body=kept))
        if settled is None:
            assert failure is not None
            return await self.upstream_failed("/settle", failure, UNCONFIRMED_MESSAGE)
        if settled.is_pending:
            name, value = settlement_header(version, settled)
            reason = settled.error_reason or "settlement_pending"
            return await self.answer_bill(402, reason, UNCONFIRMED_MESSAGE, [(name, value)])
        if not settled.success:
            reason = settled.error_reason or "settlement_failed"
            name, value = settlement_header(version, settled)
            return await self.answer_bill(402, reason, settled.error_message or reason, extra=[(name, value)])
        if response is None:
            # Settled now for a response too large to have been held: run a safe request again.
            return await self.answer_again(replace(record, headers=headers), accepted, body)
        await self._send(status, headers, response)

    def _settled_headers(self, headers: RawHeaders, accepted: AcceptedPayment, settled: SettleResponse) -> RawHeaders:
        version = self.bill.x402_version
        if self.mw.issuer is not None and version >= 2:
            try:
                receipt = self.mw.issuer.issue_receipt(
                    self.url, accepted.verified.payer, settled.network, settled.transaction
                )
                settled = settled.with_extension("offer-receipt", receipt_extension(receipt))
            except PaywireError as e:
                log.warning("paywire: serving a settled payment without a signed receipt: %s", e)
        name, value = settlement_header(version, settled)
        return _private(_set(headers, name, value))

    async def upstream_failed(self, endpoint: str, e: Exception, message: str) -> None:
        if isinstance(e, PaywireError):
            log.warning("paywire: the facilitator failed on %s for %s: %s", endpoint, self.url, e)
            code = e.code
        else:
            log.exception("paywire: the facilitator raised on %s for %s", endpoint, self.url, exc_info=e)
            code = "invalid_facilitator_response"
        await self.answer_json(502, code, message)

    async def refuse(self, e: PaywireError) -> None:
        """Answers a refused payment: the bill again with the reason (402), or 400/409/500/502 by its kind."""
        status = status_for(e)
        if status in (400, 402):
            return await self.answer_bill(status, e.code, e.message)
        await self.answer_json(status, e.code, e.message)

    async def answer_bill(self, status: int, reason: str, message: str, extra: Sequence[Tuple[str, str]] = ()) -> None:
        bill = self.bill
        if self.mw.issuer is not None and bill.x402_version >= 2:
            try:
                bill = self.mw.issuer.sign_bill(bill)
            except PaywireError as e:
                log.warning("paywire: sending a bill without signed offers: %s", e)
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
        head = self.scope["method"] == "HEAD"
        framing = [(k, v) for k, v in headers if k.lower() in (b"content-length", b"transfer-encoding")]
        headers = [(k, v) for k, v in headers if (k, v) not in framing]
        if status < 200 or status in (204, 304):
            body = b""  # no body, and no Content-Length, may go with these
        elif head and not body:
            headers += [(k, v) for k, v in framing if k.lower() == b"content-length"]  # the app's, for GET
        else:
            headers.append((b"content-length", str(len(body)).encode()))
        await self.send({"type": "http.response.start", "status": status, "headers": _with_exposed(headers)})
        await self.send({"type": "http.response.body", "body": b"" if head else body, "more_body": False})

    def _state(self, paid: Paid) -> None:
        self.scope.setdefault("state", {})["paywire"] = paid

    def _serving(self, send: Send) -> Send:
        """Passes a response served by a receipt through, exposed to browsers and kept from shared caches."""

        async def serving(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_exposed(_private(list(message.get("headers", []))))}
            await send(message)

        return serving


#: ASGI extensions that let an app send a response by file handle, past the middleware's hold.
_DIRECT_SEND = ("http.response.pathsend", "http.response.zerocopysend")

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
