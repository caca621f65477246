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

The exchange is paywire's core gate (``paywire.Gate``): the same bill, checks, replay protection, held
responses and status codes as every other paywire server (see ARCHITECTURE.md). In short: a priced request
without a payment gets 402 with the bill; a payment is verified offline and by the facilitator, the handler
runs, the payment settles, and only then is the response released with ``PAYMENT-RESPONSE``. A failed
settlement never releases it; a retry of the same payment gets the held response, never a second charge.

Which requests are priced: in a Starlette or FastAPI app, the router is asked which route will take the
request, so a request the router answers itself (404, 405, a trailing-slash redirect) is never billed;
otherwise the path is matched in every form a framework might route it in (letter case, trailing slash,
percent-encoding, ``//``), and priced if any form matches.

The response is held until settlement, so streamed responses arrive whole. The handler sees what was paid
as ``request.state.paywire`` (a ``paywire.Paid``). Responses expose the x402 headers to browsers; add
``ALLOWED_HEADERS`` to your CORS middleware's allowed request headers. Several processes serving the same
routes need one ``PaymentStore`` they share.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import anyio

from ._common import ALLOWED_HEADERS, EXPOSED_HEADERS
from ._gate import (
    Claims as _Claims,
)
from ._gate import (
    GateMiddleware,
    MemoryStore,
    PaymentStore,
    Route,
    SignIn,
    byte_headers,
    claim_summary,
    log,
    perform_facilitator,
    perform_store,
    report_claims,
    text_headers,
    write_logs,
)
from ._paywire import Exchange, Paid, Step, StoreEntry

Scope = Dict[str, Any]
Message = Dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ASGI extensions that let an app send a response by file handle, past the gate's hold.
_DIRECT_SEND = ("http.response.pathsend", "http.response.zerocopysend")


class PaymentMiddleware(GateMiddleware):
    """Bills the ``routes`` of the ASGI app ``app`` with x402. The options are ``GateMiddleware``'s (see
    ``paywire._gate``); ``facilitator`` may be async or not, and defaults to ``AsyncFacilitatorClient()``.
    """

    app: ASGIApp

    def _router(self, app: Any, url_map: Any) -> Any:
        if url_map is not None:
            raise TypeError("url_map is for WSGI apps (Flask); an ASGI app's router is found from the app")
        return _router_of(app)

    def _default_facilitator(self) -> Any:
        from .facilitator import AsyncFacilitatorClient

        return AsyncFacilitatorClient()

    def _claims_type(self) -> type[_Claims]:
        return Claims

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and isinstance(self.claims, Claims):
            return await self.app(scope, _watching_lifespan(self.claims, receive), send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        pattern, no_route = _framework_route(self.router, scope)
        exchange, step = self.gate.handle(
            scope["method"],
            _route_path(scope),
            _full_path(scope),
            _origin(scope),
            text_headers(scope.get("headers", [])),
            framework_pattern=pattern,
            framework_no_route=no_route,
        )
        if exchange is None:
            return await self.app(scope, receive, send)
        try:
            await _Run(self, exchange, scope, receive, send).drive(step)
        finally:
            claims = self.claims
            if isinstance(claims, Claims):
                claims._check()


class Claims(_Claims):
    __doc__ = _Claims.__doc__

    _task: Optional[asyncio.Task[None]] = None
    _ticker: Optional[asyncio.Task[None]] = None
    _loop: Optional[asyncio.AbstractEventLoop] = None
    _stopped = False

    def _start(self) -> None:
        """Starts the background check on the running loop (once per loop), for batch-settlement routes."""
        mw = self.middleware
        if mw is None or self._stopped or not mw.gate.offers_batch:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not on asyncio (trio): claims are the app's, by run()
        if self._loop is not loop:
            self._loop, self._task, self._ticker = loop, None, None
        if self._ticker is None or self._ticker.done():
            self._ticker = loop.create_task(self._tick())

    def _stop(self) -> None:
        """At the app's shutdown: no more scheduled claims (a run in progress finishes)."""
        self._stopped = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _check(self) -> None:
        """Starts a claim run in the background when one is due and none is running."""
        self._start()
        mw, loop = self.middleware, self._loop
        if mw is None or loop is None or self._stopped or (self._task is not None and not self._task.done()):
            return
        if mw.gate.claim_due():
            self._task = loop.create_task(self._scheduled())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            self._check()

    async def _scheduled(self) -> None:
        try:
            report_claims(await self.run())
        except Exception:
            log.warning("paywire: a scheduled claim failed; it is tried again later", exc_info=True)

    async def run(self) -> Dict[str, Any]:
        """Claims every channel's charges and sweeps them to the receiver; returns the summary."""
        exchange, step = self._exchange()
        mw = self.middleware
        assert mw is not None
        while True:
            write_logs(step)
            if step.kind == "store":
                step = await perform_store(mw.store, exchange, step)
            elif step.kind in ("verify", "settle"):
                step = await perform_facilitator(mw.facilitator, exchange, step.kind, step)
            else:
                return claim_summary(step)


def _watching_lifespan(claims: Claims, receive: Receive) -> Receive:
    """`receive` of the app's lifespan, which starts scheduled claims at start-up and stops them at shutdown."""

    async def watched() -> Message:
        message = await receive()
        if message.get("type") == "lifespan.startup":
            claims._start()
        elif message.get("type") == "lifespan.shutdown":
            claims._stop()
        return message

    return watched


class _Run:
    """Performs the steps of one exchange."""

    def __init__(self, mw: PaymentMiddleware, exchange: Exchange, scope: Scope, receive: Receive, send: Send) -> None:
        self.mw = mw
        self.exchange = exchange
        # The app may not send the response by file handle: it is held back, and must be in memory.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k not in _DIRECT_SEND}
        self.scope = {**scope, "extensions": extensions}
        self.receive = receive
        self.send = send
        self.body = b""
        self.handler_error: Optional[BaseException] = None

    async def drive(self, step: Step) -> None:
        try:
            while True:
                write_logs(step)
                kind = step.kind
                if kind == "respond":
                    return await self.respond(step)
                if kind == "fail":
                    assert self.handler_error is not None
                    raise self.handler_error
                if kind in ("done", "pass_through"):
                    return
                if step.shielded:
                    with anyio.CancelScope(shield=True):
                        step = await self.perform(step)
                else:
                    step = await self.perform(step)
        except BaseException:
            if not self.exchange.ended:
                with anyio.CancelScope(shield=True):
                    await self.clean_up()
            raise

    async def perform(self, step: Step) -> Step:
        kind = step.kind
        if kind == "read_body":
            return await self.read_body(step.limit or 0)
        if kind == "store":
            return await self.store(step)
        if kind == "verify" or kind == "settle":
            return await self.facilitate(kind, step)
        if kind == "hook":
            return self.exchange.feed_hooked(**await self.mw.hooks.run(step.hook_point, step.hook_context))
        return await self.run_handler(step.paid)

    async def clean_up(self) -> None:
        step = self.exchange.cancel()
        while step.kind == "store":
            step = await self.store(step)

    async def read_body(self, limit: int) -> Step:
        chunks: List[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return self.exchange.feed_client_gone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return self.exchange.feed_body_too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                self.body = b"".join(chunks)
                return self.exchange.feed_body(self.body)

    async def store(self, step: Step) -> Step:
        return await perform_store(self.mw.store, self.exchange, step)

    async def facilitate(self, endpoint: str, step: Step) -> Step:
        return await perform_facilitator(self.mw.facilitator, self.exchange, endpoint, step)

    async def run_handler(self, paid: Optional[Paid]) -> Step:
        scope = {**self.scope, "state": {**self.scope.get("state", {}), "paywire": paid}}
        captured = _Captured()
        try:
            await self.mw.app(scope, _Body(self.body, self.receive), captured)
        except Exception as e:
            self.handler_error = e
            return self.exchange.feed_handler_failed()
        return self.exchange.feed_handled(captured.status, captured.headers, captured.body)

    async def respond(self, step: Step) -> None:
        await self.send({"type": "http.response.start", "status": step.status,
                         "headers": byte_headers(step.headers or [])})
        await self.send({"type": "http.response.body", "body": step.body or b"", "more_body": False})


class _Body:
    """Replays the buffered request body to the app, then passes on what the server sends (disconnects)."""

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
        self.headers: List[Tuple[str, str]] = []
        self.chunks: List[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = text_headers(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def _full_path(scope: Scope) -> str:
    """The path and query as the client sent them. ASGI servers put the mount prefix (``root_path``) in
    ``path``; older ones left it out."""
    raw = scope.get("raw_path")
    root: str = scope.get("root_path", "")
    if isinstance(raw, bytes) and raw:
        path = raw.decode("latin-1")
    else:
        path = scope["path"]
        path = path if path.startswith(root) else root + path
    query = scope.get("query_string", b"")
    return path + ("?" + query.decode("latin-1") if query else "")


def _route_path(scope: Scope) -> str:
    """The path within the app, as the app's router sees it (percent-encoded as sent, when the server says)."""
    root: str = scope.get("root_path", "")
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else scope["path"]
    return path[len(root):] or "/" if root and path.startswith(root) else path


def _origin(scope: Scope) -> str:
    """The request's scheme and host: the Host header, else the server's address."""
    host = None
    for k, v in scope.get("headers", []):
        if k.lower() == b"host":
            host = v.decode("latin-1")
            break
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def _router_of(app: Any) -> Any:
    """The Starlette router the wrapped app routes with: the app's own (a Starlette or FastAPI app), or the
    one behind the middleware stack (``add_middleware`` puts this middleware above the router)."""
    for _ in range(32):
        router = getattr(app, "router", None)
        if router is not None and hasattr(router, "routes"):
            return router
        if hasattr(app, "routes") and hasattr(app, "not_found"):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def _framework_route(router: Any, scope: Scope) -> Tuple[Optional[str], bool]:
    """Asks a Starlette or FastAPI router which route takes the request: (its pattern, False), or (None, True)
    when the router answers itself (404, 405, a redirect), or (None, False) when it cannot tell (no router, or
    a route kind it does not know)."""
    if router is None:
        return None, False
    try:
        from starlette.routing import Match, Mount, Router
        from starlette.routing import Route as StarletteRoute
    except ImportError:  # pragma: no cover - a router was found, so Starlette is there
        return None, False
    if type(router).not_found is not Router.not_found or getattr(router, "default", None) != router.not_found:
        return None, False  # a custom fallback may serve anything
    return _match(list(router.routes), scope, "", Match, Mount, StarletteRoute)


def _match(routes: List[Any], scope: Scope, prefix: str, Match: Any, Mount: Any, Route_: Any) -> Tuple[Optional[str], bool]:
    partial = None
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception:
            return None, False
        if match == Match.FULL:
            if isinstance(route, Mount):
                inner = getattr(route, "routes", None)
                if not inner:
                    return None, False  # a mounted app of another kind
                return _match(list(inner), {**scope, **child}, prefix + route.path, Match, Mount, Route_)
            path_format = getattr(route, "path_format", None)
            if not isinstance(route, Route_) or not isinstance(path_format, str):
                return None, False
            return prefix + path_format, False
        if match == Match.PARTIAL and partial is None:
            partial = route
    if partial is not None and not isinstance(partial, Route_):
        return None, False
    return None, True


__all__ = [
    "ALLOWED_HEADERS",
    "Claims",
    "EXPOSED_HEADERS",
    "MemoryStore",
    "Paid",
    "PaymentMiddleware",
    "PaymentStore",
    "Route",
    "SignIn",
    "StoreEntry",
]
