"""Paid MCP tools, both sides, on the x402 MCP transport (``x402/payment`` in a call's ``_meta``).

An agent pays for tools through a ``PayingSession``, a stand-in for the ``mcp`` SDK's ``ClientSession``:

    from mcp import ClientSession
    from paywire import Payer, Policy, LocalSigner
    from paywire.mcp import PayingSession

    async with ClientSession(read, write) as session:
        await session.initialize()
        paying = PayingSession(session, Payer(LocalSigner(KEY), Policy(max_per_payment="$0.10")))
        result = await paying.call_tool("get_weather", {"city": "Paris"})

A server prices its FastMCP tools with ``PaidTools``:

    from mcp.server.fastmcp import FastMCP
    from paywire import PriceTag
    from paywire.mcp import PaidTools

    mcp = FastMCP("weather")
    paid = PaidTools(facilitator=AsyncFacilitatorClient(FACILITATOR_URL))

    @mcp.tool()
    @paid(PriceTag("eip155:84532", PAY_TO, "$0.001"))
    async def get_weather(city: str) -> str:
        return f"sunny in {city}"

Every decision is the core's, as for HTTP: the tool call is priced, checked and settled by the same gate
(``paywire.Gate``: bill, offline check, the payment bound to this tool and these arguments, replays answered
from the record, the result held until the payment settles), and paid by the same client
(``paywire.PaidFetch``: spend policy, one payment per call, a payment kept for a retry when the outcome is
open). ``paywire_core::mcp`` maps the tool call onto them; this module only moves JSON between them and the
``mcp`` SDK. A tool's resource is ``mcp://tool/{name}``, as the official SDKs name it.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import anyio
import anyio.to_thread

from ._gate import (
    MemoryStore,
    PaymentStore,
    perform_facilitator,
    perform_store,
    write_logs,
)
from ._paywire import (
    MCP_PAYMENT_META_KEY,
    MCP_PAYMENT_RESPONSE_META_KEY,
    Exchange,
    FetchStep,
    Gate,
    Paid,
    PaidFetch,
    Payer,
    PaywireError,
    PriceTag,
    SettleResponse,
    Step,
    mcp_arguments_body,
    mcp_call_params,
    mcp_handler_response,
    mcp_result_response,
    mcp_tool_head,
    mcp_tool_request,
    mcp_tool_result,
    mcp_tool_route,
)
from .hooks import Hooks

_PAID: contextvars.ContextVar[Optional[Paid]] = contextvars.ContextVar("paywire_mcp_paid", default=None)


def paid() -> Optional[Paid]:
    """What paid for the tool call running now (inside a tool priced by ``PaidTools``), else None."""
    return _PAID.get()


def tool_settlement(result: Any) -> Optional[SettleResponse]:
    """The settlement a tool result carries (``_meta["x402/payment-response"]``), if any."""
    meta = getattr(result, "meta", None)
    value = meta.get(MCP_PAYMENT_RESPONSE_META_KEY) if isinstance(meta, dict) else None
    if not isinstance(value, dict):
        return None
    try:
        return SettleResponse.from_json(json.dumps(value))
    except PaywireError:
        return None


def _result_json(result: Any) -> str:
    """A ``CallToolResult`` (or its dict) as JSON text, wire names."""
    if hasattr(result, "model_dump_json"):
        return str(result.model_dump_json(by_alias=True, exclude_none=True))
    return json.dumps(result)


# ---------------------------------------------------------------------------------------------------------
# The paying side.


class PayingSession:
    """Calls MCP tools through ``session`` (an ``mcp.ClientSession``, or anything with its ``call_tool``) and
    pays the ones that bill, with ``payer`` under its policy. A call is paid at most once; a call whose
    paid outcome was left open (no answer, the payment still settling) keeps its payment, so calling the
    same tool with the same arguments again sends the same payment instead of paying twice. Everything
    else is passed to ``session`` as it is.

    ``signer`` is for a payer made with ``Payer.for_address`` (a wallet that signs elsewhere): an async
    function from digests to 65-byte signatures. ``hooks`` (``paywire.hooks.Hooks``) runs your code before
    and after each payment is created and when creating one fails.
    """

    def __init__(
        self,
        session: Any,
        payer: Payer,
        *,
        signer: Optional[Callable[[List[bytes]], Any]] = None,
        hooks: Optional[Hooks] = None,
    ) -> None:
        self.session = session
        self.payer = payer
        self.signer = signer
        self.hooks = hooks or Hooks()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    async def call_tool(
        self,
        name: str,
        arguments: Optional[Mapping[str, Any]] = None,
        read_timeout_seconds: Any = None,
        progress_callback: Any = None,
        *,
        meta: Optional[Mapping[str, Any]] = None,
    ) -> Any:
        """Calls tool ``name`` and returns its ``CallToolResult``; a bill is paid once and the call made
        again with the payment. The settlement is in the result's ``_meta["x402/payment-response"]``
        (``tool_settlement(result)``). Raises ``PaywireError`` when the policy refuses every offer or the signer
        fails; a bill that is not paid (not x402, or a second one) is returned as the result it is."""
        method, url, body = mcp_tool_request(name, json.dumps(dict(arguments or {})))
        fetch, step = PaidFetch.start(
            self.payer, method, url, [], body, sign_inline=self.signer is None, hooks=self.hooks.points("client")
        )
        meta_json = json.dumps(dict(meta)) if meta else None
        last: Any = None
        last_body = b""
        while True:
            kind = step.kind
            if kind == "send":
                params = json.loads(mcp_call_params(step, meta_json))
                try:
                    last = await self.session.call_tool(
                        params["name"],
                        params.get("arguments"),
                        read_timeout_seconds,
                        progress_callback,
                        meta=params.get("_meta"),
                    )
                except Exception:
                    # A paid call's payment stays remembered (its outcome is open).
                    step = fetch.feed_send_failed()
                    if step.kind == "raise":
                        raise
                    continue
                except BaseException:
                    fetch.feed_send_failed()
                    raise
                status, headers, last_body = mcp_result_response(_result_json(last))
                step = fetch.feed_response(status, headers)
            elif kind == "read_body":
                step = fetch.feed_body(last_body)
            elif kind == "sign":
                step = await self._sign(fetch, step)
            elif kind == "hook":
                step = fetch.feed_hooked(**await self.hooks.run(step.hook_point, step.hook_context))
            elif kind == "fail":
                raise step.error  # type: ignore[misc]
            else:  # done
                return last

    async def _sign(self, fetch: PaidFetch, step: FetchStep) -> FetchStep:
        assert self.signer is not None
        try:
            signatures = self.signer(list(step.digests))
            if hasattr(signatures, "__await__"):
                signatures = await signatures
        except Exception as e:
            return fetch.feed_sign_failed(f"{type(e).__name__}: {e}")
        return fetch.feed_signatures(list(signatures))


# ---------------------------------------------------------------------------------------------------------
# The serving side.


class PaidTools:
    """Prices MCP tools: ``@paid(PriceTag(...))`` under ``@mcp.tool()`` makes a FastMCP tool bill its calls
    and run only once a payment is verified, returning its result only once the payment has settled, with
    the settlement in ``_meta["x402/payment-response"]``.

    ``facilitator`` verifies and settles (a ``paywire.facilitator`` client, async or not; the default is the
    public x402.org facilitator, test networks only). ``store`` is a ``MemoryStore`` (the default, one per
    tool) or a ``PaymentStore`` shared by processes. A tool sees what paid for its call with
    ``paywire.mcp.paid()``. ``hooks`` (``paywire.hooks.Hooks``) runs your code before and after ``/verify``
    and ``/settle`` and when either fails.
    """

    def __init__(
        self,
        *,
        facilitator: Any = None,
        store: Union[MemoryStore, PaymentStore, None] = None,
        allow_onchain_signatures: bool = False,
        max_request_bytes: int = 1024 * 1024,
        max_replay_bytes: int = 1024 * 1024,
        takeover_after: int = 300,
        hooks: Optional[Hooks] = None,
    ) -> None:
        self.hooks = hooks or Hooks()
        if facilitator is None:
            from .facilitator import AsyncFacilitatorClient

            facilitator = AsyncFacilitatorClient()
        self.facilitator = facilitator
        self.store = None if store is None or isinstance(store, MemoryStore) else store
        self._bounds = store if isinstance(store, MemoryStore) else MemoryStore()
        self._options: Dict[str, Any] = dict(
            allow_onchain_signatures=allow_onchain_signatures,
            max_request_bytes=max_request_bytes,
            max_replay_bytes=max_replay_bytes,
            takeover_after=takeover_after,
            hooks=self.hooks.points("server"),
        )

    def gate(self, name: str, tags: Union[PriceTag, Sequence[PriceTag]], description: Optional[str] = None) -> Gate:
        """The gate of tool ``name``."""
        tag_list = [tags] if isinstance(tags, PriceTag) else list(tags)
        return Gate(
            [mcp_tool_route(name, tag_list, description)],
            external_store=self.store is not None,
            max_entries=self._bounds.max_entries,
            max_bytes=self._bounds.max_bytes,
            **self._options,
        )

    def __call__(
        self,
        tags: Union[PriceTag, Sequence[PriceTag]],
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator pricing a tool at ``tags`` (the client picks one). ``name`` is the tool's name when it
        is not the function's (as given to ``@mcp.tool(name=...)``)."""

        def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
            from mcp.server.fastmcp import Context
            from mcp.types import CallToolResult

            tool = name or handler.__name__
            gate = self.gate(tool, tags, description)

            @functools.wraps(handler)
            async def wrapped(**kwargs: Any) -> Any:
                ctx = kwargs.pop("ctx", None)
                result = await self.call(gate, tool, handler, kwargs, _meta_of(ctx))
                return CallToolResult.model_validate_json(result)

            # FastMCP injects the request context into a parameter annotated Context: add one, so the call's
            # _meta reaches the gate, and say the tool returns a CallToolResult (passed through as it is).
            signature = inspect.signature(handler)
            context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Context)
            wrapped.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=[*signature.parameters.values(), context], return_annotation=CallToolResult
            )
            wrapped.__annotations__ = {**handler.__annotations__, "ctx": Context, "return": CallToolResult}
            return wrapped

        return decorate

    async def call(
        self,
        gate: Gate,
        tool: str,
        handler: Callable[..., Any],
        arguments: Dict[str, Any],
        meta: Optional[Dict[str, Any]],
    ) -> str:
        """Serves one call of ``tool`` on ``gate`` (the MCP SDK's glue, for SDKs other than FastMCP): returns
        the tool result as JSON text."""
        method, path_and_query, origin, headers = mcp_tool_head(tool, json.dumps(meta) if meta else None)
        exchange, step = gate.start(0, method, path_and_query, origin, headers)
        return await _Call(self, exchange, handler, arguments).drive(step)


def _meta_of(ctx: Any) -> Optional[Dict[str, Any]]:
    """The call's ``_meta`` from a FastMCP ``Context``."""
    try:
        meta = ctx.request_context.meta
    except (AttributeError, ValueError, LookupError):
        return None
    if meta is None:
        return None
    dumped = meta.model_dump(by_alias=True, mode="json")
    return dumped if isinstance(dumped, dict) else None


def _to_result(value: Any) -> str:
    """A tool's return value as a ``CallToolResult``'s JSON text."""
    from mcp.types import CallToolResult, ContentBlock, TextContent
    from pydantic import BaseModel, TypeAdapter

    if isinstance(value, CallToolResult):
        return _result_json(value)
    if isinstance(value, str):
        return _result_json(CallToolResult(content=[TextContent(type="text", text=value)]))
    try:
        block = TypeAdapter(ContentBlock).validate_python(value) if isinstance(value, BaseModel) else None
    except ValueError:
        block = None
    if block is not None:
        return _result_json(CallToolResult(content=[block]))
    from pydantic_core import to_jsonable_python

    data = to_jsonable_python(value, by_alias=True)
    structured = data if isinstance(data, dict) else None
    return _result_json(
        CallToolResult(content=[TextContent(type="text", text=json.dumps(data))], structuredContent=structured)
    )


class _Call:
    """Performs the steps of one paid tool call."""

    def __init__(self, tools: PaidTools, exchange: Exchange, handler: Callable[..., Any], arguments: Dict[str, Any]):
        from pydantic_core import to_json

        self.tools = tools
        self.exchange = exchange
        self.handler = handler
        self.arguments = arguments
        self.arguments_json = to_json(arguments, by_alias=True).decode()
        self.handler_error: Optional[BaseException] = None

    async def drive(self, step: Step) -> str:
        try:
            while True:
                write_logs(step)
                kind = step.kind
                if kind == "respond":
                    return mcp_tool_result(step.status or 0, step.headers or [], step.body or b"")
                if kind == "fail":
                    assert self.handler_error is not None
                    raise self.handler_error
                if step.shielded:
                    with anyio.CancelScope(shield=True):
                        step = await self.perform(step)
                else:
                    step = await self.perform(step)
        except BaseException:
            if not self.exchange.ended:
                with anyio.CancelScope(shield=True):
                    step = self.exchange.cancel()
                    while step.kind == "store":
                        step = await self.store(step)
            raise

    async def perform(self, step: Step) -> Step:
        kind = step.kind
        if kind == "read_body":
            return self.exchange.feed_body(mcp_arguments_body(self.arguments_json))
        if kind == "store":
            return await self.store(step)
        if kind in ("verify", "settle"):
            return await self.facilitate(kind, step)
        if kind == "run_handler":
            return await self.run_handler(step.paid)
        if kind == "hook":
            return self.exchange.feed_hooked(**await self.tools.hooks.run(step.hook_point, step.hook_context))
        raise PaywireError(f"the gate asked for an unknown step {kind!r}")

    async def store(self, step: Step) -> Step:
        return await perform_store(self.tools.store, self.exchange, step)

    async def facilitate(self, endpoint: str, step: Step) -> Step:
        return await perform_facilitator(self.tools.facilitator, self.exchange, endpoint, step)

    async def run_handler(self, paid_by: Optional[Paid]) -> Step:
        token = _PAID.set(paid_by)
        try:
            if inspect.iscoroutinefunction(self.handler):
                value = await self.handler(**self.arguments)
            else:
                value = await anyio.to_thread.run_sync(
                    contextvars.copy_context().run, functools.partial(self.handler, **self.arguments)
                )
            result = _to_result(value)
        except Exception as e:
            self.handler_error = e
            return self.exchange.feed_handler_failed()
        finally:
            _PAID.reset(token)
        status, headers, body = mcp_handler_response(result)
        return self.exchange.feed_handled(status, headers, body)


__all__ = [
    "MCP_PAYMENT_META_KEY",
    "MCP_PAYMENT_RESPONSE_META_KEY",
    "MemoryStore",
    "PaidTools",
    "PayingSession",
    "PaymentStore",
    "paid",
    "tool_settlement",
]
