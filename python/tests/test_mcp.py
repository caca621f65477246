"""Paid MCP tools over real MCP sessions (the ``mcp`` SDK's in-memory streams and its streamable HTTP
transport under uvicorn), settled by the facilitator double (the official SDK's verification): paywire's
client against paywire's tools, and the official x402 MCP client and server against paywire's."""

from __future__ import annotations

import contextlib
import json
from typing import Any, AsyncIterator, Dict, List

import anyio
import pytest
from conftest import PAY_TO, PAYER, PAYER_KEY, served
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.fastmcp import FastMCP
from mcp.shared.memory import create_connected_server_and_client_session

import paywire
from paywire.facilitator import AsyncFacilitatorClient
from paywire.mcp import MCP_PAYMENT_RESPONSE_META_KEY, PaidTools, PayingSession, paid, tool_settlement

NETWORK = "eip155:84532"
PRICE = "$0.001"


def tag() -> paywire.PriceTag:
    return paywire.PriceTag(NETWORK, PAY_TO, PRICE)


def payer(**policy: Any) -> paywire.Payer:
    return paywire.Payer(paywire.LocalSigner(PAYER_KEY), paywire.Policy(**policy))


def weather_server(facilitator_url: str, calls: List[Dict[str, Any]]) -> FastMCP:
    server = FastMCP("weather")
    tools = PaidTools(facilitator=AsyncFacilitatorClient(facilitator_url))

    @server.tool()
    @tools(tag())
    async def get_weather(city: str, days: int = 1) -> str:
        who = paid()
        calls.append({"city": city, "days": days, "payer": who.payer if who else None})
        return f"sunny in {city} for {days} day(s)"

    @server.tool(name="forecast")
    @tools(tag(), name="forecast")
    def sync_forecast(city: str) -> Dict[str, Any]:
        calls.append({"city": city})
        return {"city": city, "temperature": 21}

    @server.tool()
    @tools(tag())
    async def broken(city: str) -> str:
        calls.append({"city": city, "broken": True})
        raise RuntimeError("the weather station is down")

    @server.tool()
    async def free(city: str) -> str:
        return f"free weather for {city}"

    return server


@contextlib.asynccontextmanager
async def session_with(server: FastMCP) -> AsyncIterator[ClientSession]:
    async with create_connected_server_and_client_session(server) as session:
        yield session


@pytest.mark.anyio
async def test_an_unpaid_call_gets_the_bill_and_the_tool_does_not_run(facilitator: Any) -> None:
    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        result = await session.call_tool("get_weather", {"city": "Paris"})
    assert result.isError
    bill = result.structuredContent
    assert bill is not None and bill["x402Version"] == 2
    assert bill["resource"] == {"url": "mcp://tool/get_weather", "description": "Tool: get_weather", "mimeType": "application/json"}
    assert bill["accepts"][0]["amount"] == "1000"
    assert json.loads(result.content[0].text) == bill  # type: ignore[union-attr]
    assert calls == [] and facilitator.settle_calls == 0


@pytest.mark.anyio
async def test_an_agent_pays_once_and_gets_the_result_with_its_settlement(facilitator: Any) -> None:
    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        paying = PayingSession(session, payer())
        result = await paying.call_tool("get_weather", {"city": "Paris", "days": 2})
        assert not result.isError
        assert result.content[0].text == "sunny in Paris for 2 day(s)"  # type: ignore[union-attr]
        settled = tool_settlement(result)
        assert settled is not None and settled.success and settled.transaction
        assert calls == [{"city": "Paris", "days": 2, "payer": PAYER}]
        assert facilitator.settle_calls == 1
        # A sync tool named apart from its function, returning a dict.
        forecast = await paying.call_tool("forecast", {"city": "Oslo"})
        assert forecast.structuredContent == {"city": "Oslo", "temperature": 21}
        assert tool_settlement(forecast) is not None
        # A free tool costs nothing; the session's other methods pass through.
        free = await paying.call_tool("free", {"city": "Rome"})
        assert free.content[0].text == "free weather for Rome"  # type: ignore[union-attr]
        assert {t.name for t in (await paying.list_tools()).tools} == {"get_weather", "forecast", "broken", "free"}
    assert facilitator.settle_calls == 2
    assert len(facilitator.settled) == 2


@pytest.mark.anyio
async def test_a_failing_tool_settles_nothing(facilitator: Any) -> None:
    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        result = await PayingSession(session, payer()).call_tool("broken", {"city": "Lima"})
    assert result.isError
    assert "the weather station is down" in result.content[0].text  # type: ignore[union-attr]
    assert MCP_PAYMENT_RESPONSE_META_KEY not in (result.meta or {})
    assert len(calls) == 1 and facilitator.settle_calls == 0


@pytest.mark.anyio
async def test_a_failed_settlement_never_returns_the_content(facilitator: Any) -> None:
    facilitator.mode = "settle_fails"
    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        result = await PayingSession(session, payer()).call_tool("get_weather", {"city": "Bern"})
    assert result.isError
    assert "sunny" not in result.model_dump_json()
    bill = result.structuredContent
    assert bill is not None and bill["error"] == "insufficient_funds"
    assert bill[MCP_PAYMENT_RESPONSE_META_KEY]["success"] is False


@pytest.mark.anyio
async def test_the_policy_refuses_a_tool_that_costs_too_much(facilitator: Any) -> None:
    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        with pytest.raises(paywire.PaywireError) as refused:
            await PayingSession(session, payer(max_per_payment="$0.0001")).call_tool("get_weather", {"city": "Kyiv"})
    assert refused.value.code == "no_acceptable_offer"
    assert calls == [] and facilitator.verify_calls == 0


@pytest.mark.anyio
async def test_a_payment_replayed_for_other_arguments_is_refused_and_a_lost_answer_is_not_charged_twice(
    facilitator: Any,
) -> None:
    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        bill_result = await session.call_tool("get_weather", {"city": "Rome"})
        bill = paywire.PaymentRequired.from_json(json.dumps(bill_result.structuredContent))
        header = payer().pay(bill)
        payment = json.loads(paywire.decode_header_text(header.value))
        meta = {"x402/payment": payment}
        first = await session.call_tool("get_weather", {"city": "Rome"}, meta=meta)
        assert not first.isError and len(calls) == 1
        # The same payment for other arguments: refused, the tool does not run.
        other = await session.call_tool("get_weather", {"city": "Lima"}, meta=meta)
        assert other.isError and len(calls) == 1
        # The same call again (its answer lost): the held result, the same settlement, no second charge.
        again = await session.call_tool("get_weather", {"city": "Rome"}, meta=meta)
        assert again.model_dump() == first.model_dump()
        # Sent twice at once: one run, one settlement.
        bill_two = paywire.PaymentRequired.from_json(json.dumps(bill_result.structuredContent))
        fresh = json.loads(paywire.decode_header_text(payer().pay(bill_two).value))
        results: List[Any] = []

        async def send() -> None:
            results.append(await session.call_tool("get_weather", {"city": "Oslo"}, meta={"x402/payment": fresh}))

        async with anyio.create_task_group() as group:
            group.start_soon(send)
            group.start_soon(send)
        assert sum(1 for r in results if not r.isError) >= 1
        assert [c["city"] for c in calls] == ["Rome", "Oslo"]
    assert facilitator.settle_calls == 2


@pytest.mark.anyio
async def test_malformed_payments_are_refused_with_the_bill(facilitator: Any) -> None:
    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        for junk in ["not json", 12, {"x402Version": 2}, [1], "eyJ4In0=", {"x402Version": 2, "accepted": None}]:
            result = await session.call_tool("get_weather", {"city": "Rome"}, meta={"x402/payment": junk})
            assert result.isError, junk
            assert result.structuredContent and result.structuredContent["accepts"], junk
    assert calls == [] and facilitator.verify_calls == 0


@pytest.mark.anyio
async def test_streamable_http(facilitator: Any) -> None:
    calls: List[Dict[str, Any]] = []
    server = weather_server(facilitator.url, calls)
    with served(server.streamable_http_app(), lifespan="on") as url:
        async with streamable_http_client(f"{url}/mcp") as (read, write, _), ClientSession(read, write) as session:
            await session.initialize()
            result = await PayingSession(session, payer()).call_tool("get_weather", {"city": "Quito"})
    assert not result.isError and tool_settlement(result) is not None
    assert calls == [{"city": "Quito", "days": 1, "payer": PAYER}]
    assert facilitator.settle_calls == 1


@pytest.mark.anyio
async def test_the_official_client_pays_a_paywire_tool(facilitator: Any) -> None:
    from eth_account import Account
    from x402 import x402Client
    from x402.mcp import x402MCPSession
    from x402.mechanisms.evm.exact import ExactEvmClientScheme
    from x402.mechanisms.evm.signers import EthAccountSigner

    calls: List[Dict[str, Any]] = []
    async with session_with(weather_server(facilitator.url, calls)) as session:
        client = x402Client()
        client.register(NETWORK, ExactEvmClientScheme(EthAccountSigner(Account.from_key(PAYER_KEY))))
        official = x402MCPSession(session, client)
        result = await official.call_tool("get_weather", {"city": "Lisbon"})
    assert not result.is_error, result
    assert result.payment_made and result.payment_response is not None and result.payment_response.success
    assert calls == [{"city": "Lisbon", "days": 1, "payer": PAYER}]
    assert facilitator.settle_calls == 1


@pytest.mark.anyio
async def test_paywire_pays_an_official_tool(facilitator: Any) -> None:
    from x402 import x402ResourceServer
    from x402.http import FacilitatorConfig, HTTPFacilitatorClient
    from x402.mcp.server import create_payment_wrapper
    from x402.mechanisms.evm.exact import ExactEvmServerScheme
    from x402.schemas import ResourceConfig

    resource_server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=facilitator.url)))
    resource_server.register(NETWORK, ExactEvmServerScheme())
    resource_server.initialize()
    accepts = resource_server.build_payment_requirements(
        ResourceConfig(scheme="exact", network=NETWORK, pay_to=PAY_TO, price=PRICE)
    )
    server = FastMCP("official")
    calls: List[str] = []

    @server.tool()
    @create_payment_wrapper(resource_server, accepts=accepts)
    async def get_weather(city: str) -> str:
        calls.append(city)
        return json.dumps({"city": city, "weather": "sunny"})

    async with session_with(server) as session:
        result = await PayingSession(session, payer()).call_tool("get_weather", {"city": "Accra"})
    assert not result.isError, result
    assert json.loads(result.content[0].text) == {"city": "Accra", "weather": "sunny"}  # type: ignore[union-attr]
    settled = tool_settlement(result)
    assert settled is not None and settled.success
    assert calls == ["Accra"] and facilitator.settle_calls == 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
