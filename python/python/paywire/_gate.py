"""What the ASGI and WSGI middleware share: turning their configuration into the core's ``Gate``, and the
moves that are the same on both sides of the sync/async line. Every decision is the core's (``Gate``,
``Exchange``, ``Step``); this module only converts arguments and results."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._paywire import (
    AccessPolicy,
    Exchange,
    Gate,
    Issuer,
    PaywireError,
    PricedRoute,
    PriceTag,
    SettleResponse,
    Step,
    StoreEntry,
    SupportedResponse,
    VerifyResponse,
)
from .hooks import Hooks

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
class SignIn:
    """Sign-in-with-x settings: v2 bills declare a sign-in challenge, and a wallet that paid for a resource
    signs in to it again (``SIGN-IN-WITH-X``) for ``access_seconds`` without paying. A sign-in is used once,
    must be at most ``max_age_seconds`` old, and expires after ``expiration_seconds`` when set."""

    statement: Optional[str] = None
    access_seconds: int = 86_400
    max_age_seconds: int = 300
    expiration_seconds: Optional[int] = None


class MemoryStore:
    """The gate's own store of payment records, in this process's memory (the default). At most
    ``max_entries`` records and ``max_bytes`` of held responses are kept; past either, the oldest served
    records go first. Several processes serving the same routes need one ``PaymentStore`` they share."""

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes


class PaymentStore:
    """A store of payment records shared by several processes (a Redis key or an SQL row per key). Each method
    must be atomic on its key. Keep ``entry.to_json()`` and give it back with ``StoreEntry.from_json``; drop
    it after ``entry.expires_at`` (Unix seconds). The ASGI middleware awaits coroutine methods; the WSGI
    middleware calls them directly."""

    def claim(self, key: str, entry: StoreEntry) -> Any:
        """Stores ``entry`` under ``key`` and returns None, or returns the live entry already there."""
        raise NotImplementedError

    def get(self, key: str) -> Any:
        """The live entry under ``key``, if any."""
        raise NotImplementedError

    def replace(self, key: str, token: str, entry: StoreEntry) -> Any:
        """Stores ``entry`` under ``key`` if the live entry there has ``token``; returns whether it did."""
        raise NotImplementedError

    def release(self, key: str, token: str) -> Any:
        """Forgets the entry under ``key`` if it has ``token``."""
        raise NotImplementedError


class GateMiddleware:
    """What the ASGI and WSGI middleware share: their options, made into the core's gate.

    ``routes`` maps ``"[METHOD] /path"`` patterns to a ``Route`` or ``PriceTag``: ``{name}`` matches one path
    segment, ``{name:path}`` and ``*`` match the rest, no method matches every method, and a HEAD of a priced
    GET gets the bill (it is never charged for). ``facilitator`` verifies and settles: a
    ``paywire.facilitator`` client, or any object whose ``verify`` and ``settle`` return paywire's
    ``VerifyResponse`` and ``SettleResponse``; the default is the public x402.org facilitator (test networks
    only). ``url_map`` is a Werkzeug ``Map`` (Flask's ``app.url_map``, WSGI only) to ask which rule takes a
    request; Starlette's router is found from the app. ``access`` lets a valid receipt
    (``X-PAYWIRE-RECEIPT``) stand in for a new payment; ``issuer`` signs offers in bills and a receipt into
    each settlement. ``public_url`` is the app's external origin (``https://api.example.com``): bills, offers
    and receipts name it instead of the request's Host header, which a client chooses. ``store`` is a
    ``MemoryStore`` (the default) or a ``PaymentStore`` shared by processes. ``case_sensitive`` tells ``/A``
    from ``/a`` (for routers that do). ``takeover_after`` (seconds) is how long a payment may stay in flight
    before a retry of the same request takes it over: its process died mid-request (a replica killed); keep
    it above your slowest request. ``hooks`` (``paywire.hooks.Hooks``) runs your code before and after
    ``/verify`` and ``/settle`` and when either fails. ``sign_in`` (True or a ``SignIn``) lets a wallet that
    paid for a resource sign in to it again without paying (sign-in-with-x). ``pass_facilitator`` (a
    facilitator's base URL) names in bills where a client that paid gets a pass, which ``access`` must then
    trust (the facilitator's credential key). ``claims`` (a ``Claims``) is how the app claims what its
    ``batch-settlement`` routes charged. ``receiver_authorizer`` (a ``LocalSigner`` or any signer) is the key
    of those routes' ``extra.receiverAuthorizer`` when the server holds it: it signs their claims and payers'
    cooperative refunds (without it, the facilitator signs claims as the delegated authorizer, and refunds are
    refused: only the server knows what it charged); a batch-settlement tag without ``receiverAuthorizer`` then
    takes its address. ``supported`` (the ``/supported`` answer of the facilitator given as ``facilitator``, e.g.
    ``FacilitatorClient(url).supported()``, read when the middleware is built) fills in what price tags leave out,
    as the official servers do: an upto tag's ``facilitatorAddress`` and a batch-settlement tag's
    ``receiverAuthorizer``. Another facilitator's answer would name keys the settling one does not hold.
    """

    def __init__(
        self,
        app: Any,
        routes: Mapping[Optional[str], Union[Route, PriceTag, Sequence[PriceTag]]],
        *,
        facilitator: Any = None,
        url_map: Any = None,
        access: Optional[AccessPolicy] = None,
        issuer: Optional[Issuer] = None,
        store: Union[MemoryStore, PaymentStore, None] = None,
        public_url: Optional[str] = None,
        allow_onchain_signatures: bool = False,
        max_request_bytes: int = 10 * 1024 * 1024,
        max_replay_bytes: int = 1024 * 1024,
        case_sensitive: bool = False,
        takeover_after: int = 300,
        hooks: Optional[Hooks] = None,
        sign_in: Union[bool, SignIn] = False,
        pass_facilitator: Optional[str] = None,
        claims: Optional[Claims] = None,
        receiver_authorizer: Any = None,
        supported: Optional[SupportedResponse] = None,
    ) -> None:
        self.app = app
        # batch-settlement charges are claimed on the claims' schedule (by default every five minutes).
        self.claims: Claims = claims if claims is not None else self._claims_type()()
        self.claims.middleware = self
        signing = SignIn() if sign_in is True else sign_in if isinstance(sign_in, SignIn) else None
        self.hooks = hooks or Hooks()
        self.router = self._router(app, url_map)
        priced = []
        for pattern, value in routes.items():
            route = value if isinstance(value, Route) else Route(value)
            priced.append(
                PricedRoute(
                    route.price_tags(),
                    pattern,
                    description=route.description,
                    mime_type=route.mime_type,
                    x402_version=route.x402_version,
                    receipts=route.receipts,
                )
            )
        bounds = store if isinstance(store, MemoryStore) else MemoryStore()
        self.gate = Gate(
            priced,
            public_url=public_url,
            issuer=issuer,
            access=access,
            allow_onchain_signatures=allow_onchain_signatures,
            max_request_bytes=max_request_bytes,
            max_replay_bytes=max_replay_bytes,
            case_sensitive=case_sensitive,
            external_store=store is not None and not isinstance(store, MemoryStore),
            max_entries=bounds.max_entries,
            max_bytes=bounds.max_bytes,
            takeover_after=takeover_after,
            hooks=self.hooks.points("server"),
            **sign_in_options(signing),
            pass_facilitator=pass_facilitator,
            receiver_authorizer=receiver_authorizer,
            claim_every_seconds=self.claims.every_seconds,
            claim_at_amount=self.claims.at_amount,
            supported=supported,
        )
        if self.gate.names_client_host:
            log.warning(
                "paywire: receipts and signed offers will name the Host header the client sends; "
                "set public_url to the app's external origin"
            )
        self.facilitator = self._default_facilitator() if facilitator is None else facilitator
        self.store = None if store is None or isinstance(store, MemoryStore) else store

    def _router(self, app: Any, url_map: Any) -> Any:
        """The router to ask which route takes a request, or None."""
        raise NotImplementedError

    def _default_facilitator(self) -> Any:
        """The facilitator client used when none is given."""
        raise NotImplementedError

    def _claims_type(self) -> type[Claims]:
        """The framework's ``Claims``, for the one made when none is given."""
        raise NotImplementedError


class Claims:
    """Claims what ``batch-settlement`` routes charged. The middleware claims by itself, in the background:
    once the oldest charge not claimed is ``every_seconds`` old (five minutes by default; what an earlier
    process left counts as served at the first request), once the charges since the last claim reach ``at_amount``
    atomic units (0: not by amount), and at once when a payer starts a withdrawal (what is not claimed when
    the offer's withdraw delay ends goes back to the payer). An ``every_seconds`` above half a route's withdraw
    delay (900 s by default) is refused when the middleware is made. ``every_seconds=0`` and ``at_amount=0`` leave
    claims to you: call ``run()`` from time to time, well within the withdraw delay. Each run claims every
    channel's charges at the facilitator in one transaction per offer and sweeps them to the receiver; it
    returns the summary (``{"claims": [...], "settles": [...]}``). Vouchers are only claimable while the
    server keeps them: with several processes, or to survive a restart, give the middleware a shared
    ``PaymentStore``."""

    #: How often the background check runs (seconds).
    tick_seconds = 5.0

    def __init__(self, every_seconds: int = 300, at_amount: int = 0) -> None:
        if every_seconds < 0 or at_amount < 0:
            raise ValueError("every_seconds and at_amount are 0 (off) or more")
        self.every_seconds = every_seconds
        self.at_amount = at_amount
        self.middleware: Optional[GateMiddleware] = None

    def _exchange(self) -> Tuple[Exchange, Step]:
        if self.middleware is None:
            raise RuntimeError(
                "paywire: these Claims are not attached to a middleware yet (pass claims= to PaymentMiddleware; "
                "a framework builds its middleware on the first request)"
            )
        return self.middleware.gate.claim()


def report_claims(summary: Dict[str, Any]) -> None:
    """Logs what a scheduled claim run did: each claim and sweep, a failure as a warning."""
    for kind in ("claims", "settles"):
        for row in summary.get(kind, []):
            if row.get("success"):
                log.info("paywire: %s %s on %s in %s", kind[:-1], row.get("amount"), row.get("network"),
                         row.get("transaction"))
            else:
                log.warning("paywire: a scheduled %s failed (%s); it is tried again later", kind[:-1],
                            row.get("errorReason"))


def claim_summary(step: Step) -> Dict[str, Any]:
    """The summary a claim exchange ended with; a failure (the store or the facilitator) raises."""
    import json

    body = json.loads((step.body or b"{}").decode("utf-8"))
    if step.kind != "respond" or step.status != 200:
        raise RuntimeError(f"paywire: the claim failed ({step.status}): {body}")
    summary: Dict[str, Any] = body
    return summary


def sign_in_options(sign_in: Optional[SignIn]) -> Dict[str, Any]:
    """The core gate's sign-in arguments for ``sign_in`` (None: off)."""
    if sign_in is None:
        return {}
    return dict(
        sign_in=True,
        sign_in_statement=sign_in.statement,
        sign_in_access_seconds=sign_in.access_seconds,
        sign_in_max_age_seconds=sign_in.max_age_seconds,
        sign_in_expiration_seconds=sign_in.expiration_seconds,
    )


def write_logs(step: Step) -> None:
    """Writes the step's log lines to the ``paywire`` logger."""
    for level, message in step.logs:
        log.log(logging.ERROR if level == "error" else logging.WARNING, message)


def store_call(store: Any, step: Step) -> Any:
    """Calls the store method a "store" step asks for; returns its result (a coroutine for an async store)."""
    op = step.op
    if op == "claim":
        return store.claim(step.key, step.entry)
    if op == "get":
        return store.get(step.key)
    if op == "replace":
        return store.replace(step.key, step.token, step.entry)
    return store.release(step.key, step.token)


def facilitator_failed(exchange: Exchange, endpoint: str, error: BaseException) -> Step:
    """Feeds a facilitator call that raised; a non-paywire exception is logged with its traceback."""
    if isinstance(error, PaywireError):
        return exchange.feed_facilitator_failed(error.message, error.code)
    log.error("paywire: the facilitator object raised on %s", endpoint, exc_info=error)
    return exchange.feed_facilitator_failed(f"{type(error).__name__}: {error}")


def facilitator_answer(exchange: Exchange, endpoint: str, answer: Any) -> Step:
    """Feeds a facilitator's answer, which must be paywire's ``VerifyResponse`` or ``SettleResponse``."""
    kind = VerifyResponse if endpoint == "verify" else SettleResponse
    if not isinstance(answer, kind):
        message = (
            f"the facilitator object's {endpoint}() returned {type(answer).__name__}, not paywire.{kind.__name__}"
        )
        return exchange.feed_facilitator_failed(message, "invalid_facilitator_response")
    if isinstance(answer, VerifyResponse):
        return exchange.feed_verified(answer)
    return exchange.feed_settled(answer)


def wants_await(method: Any) -> bool:
    """Whether a facilitator or store method is a coroutine function."""
    return inspect.iscoroutinefunction(method)


async def perform_store(store: Any, exchange: Exchange, step: Step) -> Step:
    """Performs a "store" step on ``store`` (awaiting an async one) and feeds its answer or failure."""
    try:
        result = store_call(store, step)
        if wants_await(getattr(store, step.op or "", None)) or hasattr(result, "__await__"):
            result = await result
    except Exception as e:
        return exchange.feed_store_failed(f"{type(e).__name__}: {e}")
    return exchange.feed_store(result)


async def perform_facilitator(facilitator: Any, exchange: Exchange, endpoint: str, step: Step) -> Step:
    """Performs a "verify" or "settle" step with ``facilitator`` (a sync one in a worker thread) and feeds its
    answer or failure."""
    import anyio.to_thread

    method = getattr(facilitator, endpoint)
    try:
        if wants_await(method):
            answer = await method(step.payment, step.requirements)
        else:
            answer = await anyio.to_thread.run_sync(lambda: method(step.payment, step.requirements))
            if hasattr(answer, "__await__"):
                answer = await answer
    except Exception as e:
        return facilitator_failed(exchange, endpoint, e)
    return facilitator_answer(exchange, endpoint, answer)


def text_headers(raw: Sequence[Tuple[bytes, bytes]]) -> List[Tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]


def byte_headers(headers: Sequence[Tuple[str, str]]) -> List[Tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def state_for(paid: Any) -> Dict[str, Any]:
    """What the handler sees as ``request.state.paywire``."""
    return {"paywire": paid}


__all__ = ["Claims", "MemoryStore", "PaymentStore", "Route", "SignIn"]
