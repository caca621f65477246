"""Hooks: your code at fixed points of a payment, as the official x402 SDKs offer them.

    from paywire.hooks import Abort, Hooks

    hooks = Hooks()
    hooks.on_before_verify(lambda ctx: Abort("blocked_payer") if ctx.payer in BLOCKED else None)
    hooks.on_after_settle(lambda ctx: ledger.record(ctx.payer, ctx.settle_response["transaction"]))
    app.add_middleware(PaymentMiddleware, routes=..., hooks=hooks)

The points are the core's exchange machines' (``paywire_core::hooks``), so a hook runs at the same moment,
with the same context, in Python, Node, Kotlin and Swift:

- server (``PaymentMiddleware``, ``PaidTools``): ``before_verify``, ``after_verify``, ``verify_failure``,
  ``before_settle``, ``after_settle``, ``settle_failure``;
- client (``PaymentTransport``, ``PayingSession``, ...): ``before_payment_creation``,
  ``after_payment_creation``, ``payment_creation_failure``.

A hook takes a ``HookContext`` and returns None, or an ``Abort`` before anything is paid or charged
(``before_*`` and ``after_verify``): the client then raises ``payment_aborted``, the server answers the bill
with the abort's reason. A hook that raises there stops the exchange too (``hook_failed``; nothing paid or
charged). After the money moved, or when a step failed, hooks only observe: an ``Abort`` or an exception is
logged and ignored. A hook cannot stand in for the facilitator. Hooks may be coroutine functions, except in
the synchronous adapters (WSGI, requests, the sync httpx transport).
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Union

log = logging.getLogger("paywire")

#: The points of the payment gate.
SERVER_POINTS = ("before_verify", "after_verify", "verify_failure", "before_settle", "after_settle", "settle_failure")
#: The points of the paying client.
CLIENT_POINTS = ("before_payment_creation", "after_payment_creation", "payment_creation_failure")


@dataclass(frozen=True)
class Abort:
    """Returned by a hook to stop the exchange: ``reason`` is machine-readable (the bill's ``error`` on the
    server), ``message`` is for a person."""

    reason: str
    message: Optional[str] = None


@dataclass(frozen=True)
class HookContext:
    """What a hook is told. Members that do not apply to the point are None. The messages are the x402 JSON
    objects as sent (camel-case members)."""

    #: The point, e.g. "before_verify".
    hook: str
    #: The request's method.
    method: str
    #: The resource's URL.
    resource: str
    #: Client: the bill being paid.
    payment_required: Optional[Dict[str, Any]] = None
    #: The offer paid.
    requirements: Optional[Dict[str, Any]] = None
    #: The payment as sent.
    payment_payload: Optional[Dict[str, Any]] = None
    #: Who pays (checksummed address).
    payer: Optional[str] = None
    #: Server: the facilitator's ``/verify`` answer.
    verify_response: Optional[Dict[str, Any]] = None
    #: Server: the facilitator's ``/settle`` answer.
    settle_response: Optional[Dict[str, Any]] = None
    #: What failed: ``{"code", "message"}``.
    error: Optional[Dict[str, Any]] = None

    @classmethod
    def from_step(cls, context: Mapping[str, Any]) -> HookContext:
        """The context of a hook step (the core's JSON context as a dict)."""
        return cls(
            hook=str(context.get("hook", "")),
            method=str(context.get("method", "")),
            resource=str(context.get("resource", "")),
            payment_required=context.get("paymentRequired"),
            requirements=context.get("requirements"),
            payment_payload=context.get("paymentPayload"),
            payer=context.get("payer"),
            verify_response=context.get("verifyResponse"),
            settle_response=context.get("settleResponse"),
            error=context.get("error"),
        )


Hook = Callable[[HookContext], Union[None, Abort, Awaitable[Optional[Abort]]]]


class Hooks:
    """Hooks by point, run in the order they were added. Give it to a server adapter (``hooks=``) or a paying
    client; the same object may serve both."""

    def __init__(self) -> None:
        self._hooks: Dict[str, List[Hook]] = {}

    def on(self, point: str, hook: Hook) -> Hooks:
        """Adds ``hook`` at ``point`` (a name of ``SERVER_POINTS`` or ``CLIENT_POINTS``); returns self."""
        if point not in SERVER_POINTS + CLIENT_POINTS:
            raise ValueError(f"there is no hook point {point!r}; the points are {', '.join(SERVER_POINTS + CLIENT_POINTS)}")
        if not callable(hook):
            raise TypeError(f"a hook must be callable, not {type(hook).__name__}")
        self._hooks.setdefault(point, []).append(hook)
        return self

    def on_before_verify(self, hook: Hook) -> Hooks:
        """Before ``/verify``, after the offline checks; may abort."""
        return self.on("before_verify", hook)

    def on_after_verify(self, hook: Hook) -> Hooks:
        """After ``/verify`` accepted, before the handler runs; may abort."""
        return self.on("after_verify", hook)

    def on_verify_failure(self, hook: Hook) -> Hooks:
        """``/verify`` refused the payment or failed."""
        return self.on("verify_failure", hook)

    def on_before_settle(self, hook: Hook) -> Hooks:
        """The handler delivered, before the payment's first ``/settle``; may abort (nothing is sent then)."""
        return self.on("before_settle", hook)

    def on_after_settle(self, hook: Hook) -> Hooks:
        """The payment settled and is recorded, before the response is sent."""
        return self.on("after_settle", hook)

    def on_settle_failure(self, hook: Hook) -> Hooks:
        """``/settle`` refused the payment, left it pending or failed."""
        return self.on("settle_failure", hook)

    def on_before_payment_creation(self, hook: Hook) -> Hooks:
        """Client: a bill is to be paid, before the payment is chosen and signed; may abort."""
        return self.on("before_payment_creation", hook)

    def on_after_payment_creation(self, hook: Hook) -> Hooks:
        """Client: a payment was created, before it is sent."""
        return self.on("after_payment_creation", hook)

    def on_payment_creation_failure(self, hook: Hook) -> Hooks:
        """Client: creating a payment failed (the policy refused every offer, the signer failed)."""
        return self.on("payment_creation_failure", hook)

    def points(self, side: Optional[str] = None) -> List[str]:
        """The points with hooks (of one ``side``, "server" or "client", when given), for the core's machines."""
        allowed = SERVER_POINTS if side == "server" else CLIENT_POINTS if side == "client" else None
        return [p for p in self._hooks if allowed is None or p in allowed]

    async def run(self, point: Optional[str], context: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        """Runs the hooks at ``point``, awaiting coroutine ones; returns the arguments of ``feed_hooked``."""
        ctx = HookContext.from_step(context or {})
        for hook in self._hooks.get(point or "", []):
            try:
                result = hook(ctx)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as e:
                return _failed(point, e)
            if isinstance(result, Abort):
                return {"abort": result.reason, "message": result.message}
        return {}

    def run_sync(self, point: Optional[str], context: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        """Runs the hooks at ``point`` in a synchronous adapter; a coroutine hook counts as one that raised."""
        ctx = HookContext.from_step(context or {})
        for hook in self._hooks.get(point or "", []):
            try:
                result = hook(ctx)
                if inspect.isawaitable(result):
                    if inspect.iscoroutine(result):
                        result.close()
                    raise TypeError("a coroutine hook cannot run in a synchronous adapter; use the async one")
            except Exception as e:
                return _failed(point, e)
            if isinstance(result, Abort):
                return {"abort": result.reason, "message": result.message}
        return {}


def _failed(point: Optional[str], error: Exception) -> Dict[str, Any]:
    # The core decides what a raise means at this point and logs its message; the traceback is for debugging.
    log.debug("paywire: a %s hook raised", point, exc_info=error)
    return {"failed": f"{type(error).__name__}: {error}"}


__all__ = ["Abort", "CLIENT_POINTS", "Hook", "HookContext", "Hooks", "SERVER_POINTS"]
