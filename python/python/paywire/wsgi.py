"""WSGI middleware that bills requests with x402, for Flask and any WSGI app.

    from flask import Flask, request
    from paywire import PriceTag
    from paywire.facilitator import FacilitatorClient
    from paywire.wsgi import PaymentMiddleware

    app = Flask(__name__)
    app.wsgi_app = PaymentMiddleware(
        app.wsgi_app,
        routes={"GET /weather": PriceTag("eip155:84532", PAY_TO, "$0.001")},
        facilitator=FacilitatorClient("https://x402.org/facilitator"),
        url_map=app.url_map,
    )

    @app.get("/weather")
    def weather():
        paid = request.environ["paywire"]  # a paywire.Paid
        ...

The exchange is paywire's core gate, as in ``paywire.asgi``: the same bills, checks, replay protection, held
responses and status codes. With ``url_map`` (a Werkzeug ``Map``, as Flask's ``app.url_map``), the router is
asked which rule takes a request, so a request it answers itself (404, 405, a slash redirect) is never
billed; without it, the path is matched in every form a framework might route it in.

The facilitator and the store are called directly (this is synchronous code): use
``paywire.facilitator.FacilitatorClient`` and a store whose methods are plain functions.
"""

from __future__ import annotations

import io
import os
import threading
import time
from http import HTTPStatus
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

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
    claim_summary,
    facilitator_answer,
    facilitator_failed,
    log,
    report_claims,
    store_call,
    write_logs,
)
from ._paywire import Exchange, Paid, Step, StoreEntry

Environ = Dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: The environ key the handler finds the payment under.
ENVIRON_KEY = "paywire"


class Claims(_Claims):
    __doc__ = _Claims.__doc__

    _lock = threading.Lock()
    _running = False
    _ticking = False
    _pid = 0

    def start(self) -> None:
        """Starts the scheduled claims now rather than at the first request, so that what an earlier process
        left in a shared store is claimed even when no request comes. Call it in the process that serves:
        after building the middleware when the server does not fork, or in each worker (gunicorn's
        ``post_fork`` hook with ``preload_app``), never in a process that forks workers afterwards, whose
        claim runs would leave connections and locks to its children."""
        self._check()

    def _check(self) -> None:
        """Starts a claim run on a background thread when one is due and none is running (and, in this process
        the first time, the thread that checks every few seconds)."""
        mw = self.middleware
        if mw is None or not mw.gate.offers_batch:
            return
        pid = os.getpid()
        if self._pid != pid:
            # A worker forked from the process that built the middleware (gunicorn's preload_app): its threads
            # did not come along, and their lock may have been held at the fork.
            self._lock = threading.Lock()
            self._running = self._ticking = False
            self._pid = pid
        with self._lock:
            if not self._ticking:
                try:
                    threading.Thread(target=self._tick, name="paywire-claims", daemon=True).start()
                    self._ticking = True
                except RuntimeError:
                    log.warning("paywire: the scheduled claims' thread could not start; tried again", exc_info=True)
            if self._running or not mw.gate.claim_due():
                return
            self._running = True
        try:
            threading.Thread(target=self._scheduled, name="paywire-claim", daemon=True).start()
        except RuntimeError:
            with self._lock:
                self._running = False
            log.warning("paywire: a scheduled claim could not start; it is tried again later", exc_info=True)

    def _tick(self) -> None:
        while True:
            time.sleep(self.tick_seconds)
            self._check()

    def _scheduled(self) -> None:
        try:
            report_claims(self.run())
        except Exception:
            log.warning("paywire: a scheduled claim failed; it is tried again later", exc_info=True)
        finally:
            with self._lock:
                self._running = False

    def run(self) -> Dict[str, Any]:
        """Claims every channel's charges and sweeps them to the receiver; returns the summary."""
        exchange, step = self._exchange()
        mw = self.middleware
        assert mw is not None
        while True:
            write_logs(step)
            if step.kind == "store":
                try:
                    result = store_call(mw.store, step)
                except Exception as e:
                    step = exchange.feed_store_failed(f"{type(e).__name__}: {e}")
                else:
                    step = exchange.feed_store(result)
            elif step.kind in ("verify", "settle"):
                try:
                    answer = getattr(mw.facilitator, step.kind)(step.payment, step.requirements)
                except Exception as e:
                    step = facilitator_failed(exchange, step.kind, e)
                else:
                    step = facilitator_answer(exchange, step.kind, answer)
            else:
                return claim_summary(step)


def paid(environ: Environ) -> Optional[Paid]:
    """What the request paid with (``environ["paywire"]``), or None for a free request."""
    value = environ.get(ENVIRON_KEY)
    return value if isinstance(value, Paid) else None


class PaymentMiddleware(GateMiddleware):
    """Bills the ``routes`` of the WSGI app ``app`` with x402. The options are ``GateMiddleware``'s (see
    ``paywire._gate``), with a synchronous ``facilitator`` (default ``FacilitatorClient()``) and ``url_map``
    for Flask and Werkzeug apps."""

    app: WSGIApp

    def _router(self, app: Any, url_map: Any) -> Any:
        return url_map

    def _default_facilitator(self) -> Any:
        from .facilitator import FacilitatorClient

        return FacilitatorClient()

    def _claims_type(self) -> type[_Claims]:
        return Claims

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        pattern, no_route = self._framework_route(environ)
        exchange, step = self.gate.handle(
            environ.get("REQUEST_METHOD", "GET"),
            _route_path(environ),
            _full_path(environ),
            _origin(environ),
            _headers(environ),
            framework_pattern=pattern,
            framework_no_route=no_route,
        )
        if exchange is None:
            return self.app(environ, start_response)
        try:
            return _Run(self, exchange, environ, start_response).drive(step)
        finally:
            claims = self.claims
            if isinstance(claims, Claims):
                claims._check()

    def _framework_route(self, environ: Environ) -> Tuple[Optional[str], bool]:
        """Asks the Werkzeug map which rule takes the request: (its rule, False), (None, True) when the router
        answers itself (404, 405, a redirect), or (None, False) without a map."""
        if self.router is None:
            return None, False
        try:
            from werkzeug.exceptions import HTTPException  # type: ignore[import-not-found,unused-ignore]
            from werkzeug.routing import RequestRedirect  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # pragma: no cover - a url_map is Werkzeug's
            return None, False
        try:
            rule, _ = self.router.bind_to_environ(environ).match(return_rule=True)
        except RequestRedirect:
            return None, True
        except HTTPException:
            return None, True
        except Exception:
            return None, False
        return str(rule.rule), False


class _Run:
    """Performs the steps of one exchange."""

    def __init__(self, mw: PaymentMiddleware, exchange: Exchange, environ: Environ, start_response: StartResponse) -> None:
        self.mw = mw
        self.exchange = exchange
        self.environ = environ
        self.start_response = start_response
        self.body = b""
        self.handler_error: Optional[BaseException] = None

    def drive(self, step: Step) -> Iterable[bytes]:
        try:
            while True:
                write_logs(step)
                kind = step.kind
                if kind == "respond":
                    reason = _reason(step.status or 500)
                    self.start_response(f"{step.status} {reason}", list(step.headers or []))
                    return [step.body or b""]
                if kind == "fail":
                    assert self.handler_error is not None
                    raise self.handler_error
                if kind in ("done", "pass_through"):
                    return []
                step = self.perform(step)
        except BaseException:
            if not self.exchange.ended:
                step = self.exchange.cancel()
                while step.kind == "store":
                    step = self.store(step)
            raise

    def perform(self, step: Step) -> Step:
        kind = step.kind
        if kind == "read_body":
            return self.read_body(step.limit or 0)
        if kind == "store":
            return self.store(step)
        if kind == "verify" or kind == "settle":
            method = getattr(self.mw.facilitator, kind)
            try:
                answer = method(step.payment, step.requirements)
            except Exception as e:
                return facilitator_failed(self.exchange, kind, e)
            return facilitator_answer(self.exchange, kind, answer)
        if kind == "hook":
            return self.exchange.feed_hooked(**self.mw.hooks.run_sync(step.hook_point, step.hook_context))
        return self.run_handler(step.paid)

    def read_body(self, limit: int) -> Step:
        stream = self.environ.get("wsgi.input") or io.BytesIO()
        length = self.environ.get("CONTENT_LENGTH") or ""
        try:
            if length.strip():
                size = int(length)
                if size > limit:
                    return self.exchange.feed_body_too_large()
                self.body = stream.read(size)
            elif self.environ.get("wsgi.input_terminated") or "chunked" in self.environ.get("HTTP_TRANSFER_ENCODING", ""):
                self.body = stream.read(limit + 1)
                if len(self.body) > limit:
                    return self.exchange.feed_body_too_large()
            else:
                self.body = b""
        except (OSError, ValueError):
            return self.exchange.feed_client_gone()
        return self.exchange.feed_body(self.body)

    def store(self, step: Step) -> Step:
        try:
            result = store_call(self.mw.store, step)
        except Exception as e:
            return self.exchange.feed_store_failed(f"{type(e).__name__}: {e}")
        return self.exchange.feed_store(result)

    def run_handler(self, paid_with: Optional[Paid]) -> Step:
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(self.body)
        environ["CONTENT_LENGTH"] = str(len(self.body))
        environ[ENVIRON_KEY] = paid_with
        captured: List[Any] = [500, []]

        def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured[0] = int(status.split(" ", 1)[0])
            captured[1] = list(headers)
            return chunks.append

        chunks: List[bytes] = []
        try:
            result = self.mw.app(environ, start_response)
            try:
                for chunk in result:
                    chunks.append(bytes(chunk))
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as e:
            self.handler_error = e
            return self.exchange.feed_handler_failed()
        return self.exchange.feed_handled(captured[0], captured[1], b"".join(chunks))


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _headers(environ: Environ) -> List[Tuple[str, str]]:
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out.append((key[5:].replace("_", "-").lower(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out.append((key.replace("_", "-").lower(), str(value)))
    return out


def _full_path(environ: Environ) -> str:
    """The path and query as the client sent them (the raw request URI when the server gives it)."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    if raw:
        return raw if raw.startswith("/") else "/" + raw.split("/", 3)[-1]
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    return (path or "/") + ("?" + query if query else "")


def _route_path(environ: Environ) -> str:
    """The path within the app (after the mount prefix ``SCRIPT_NAME``)."""
    return str(environ.get("PATH_INFO", "") or "/")


def _origin(environ: Environ) -> str:
    host = environ.get("HTTP_HOST")
    if not host:
        name, port = environ.get("SERVER_NAME", "localhost"), str(environ.get("SERVER_PORT", ""))
        host = name if port in ("", "80", "443") else f"{name}:{port}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"


__all__ = [
    "ALLOWED_HEADERS",
    "Claims",
    "ENVIRON_KEY",
    "EXPOSED_HEADERS",
    "MemoryStore",
    "Paid",
    "PaymentMiddleware",
    "PaymentStore",
    "Route",
    "SignIn",
    "StoreEntry",
    "paid",
]
