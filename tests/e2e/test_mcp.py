"""Paid MCP tools on chain: agents (paywire's Python and Node sessions, the official x402 MCP client) call a
paywire FastMCP server's paid tool over stdio, and paywire's agent pays an official x402 MCP server; every
payment is settled by paywire's facilitator on anvil and moves exactly the price, once."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Dict

import anyio
import pytest
from conftest import PAY_TO, Chain, Facilitator, balances, charged_once, payer_key
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

import paywire
from paywire.mcp import PayingSession, tool_settlement

APPS = Path(__file__).resolve().parent / "apps"


def server_env(facilitator: Facilitator) -> Dict[str, str]:
    return {**os.environ, "FACILITATOR_URL": facilitator.url, "PAY_TO": PAY_TO, "PRICE": "$0.01"}


@contextlib.asynccontextmanager
async def stdio_session(facilitator: Facilitator) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=[str(APPS / "mcp_server.py")], env=server_env(facilitator))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def test_a_python_agent_pays_a_paid_tool_once_over_stdio(chain: Chain, facilitator: Facilitator) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)

    async def run() -> Any:
        async with stdio_session(facilitator) as session:
            unpaid = await session.call_tool("get_weather", {"city": "Paris"})
            assert unpaid.isError and unpaid.structuredContent is not None
            assert balances(chain, payer) == before  # a bill charges nothing
            free = await PayingSession(session, paywire.Payer(paywire.LocalSigner(key))).call_tool("free", {"city": "Rome"})
            assert tool_settlement(free) is None
            return await PayingSession(session, paywire.Payer(paywire.LocalSigner(key))).call_tool("get_weather", {"city": "Paris"})

    result = anyio.run(run)
    assert not result.isError, result
    assert result.content[0].text == f"sunny in Paris, paid by {payer}"
    settled = tool_settlement(result)
    assert settled is not None and settled.success
    charged_once(chain, settled.transaction, payer, before)


def test_a_payment_replayed_to_another_server_process_is_refused_and_charged_once(
    chain: Chain, facilitator: Facilitator
) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)

    async def run() -> Any:
        async with stdio_session(facilitator) as first:
            unpaid = await first.call_tool("get_weather", {"city": "Oslo"})
            bill = paywire.PaymentRequired.from_json(json.dumps(unpaid.structuredContent))
            header = paywire.Payer(paywire.LocalSigner(key)).pay(bill)
            meta = {"x402/payment": json.loads(paywire.decode_header_text(header.value))}
            served = await first.call_tool("get_weather", {"city": "Oslo"}, meta=meta)
        # A second process with its own memory: the same payment, sent again.
        async with stdio_session(facilitator) as second:
            replayed = await second.call_tool("get_weather", {"city": "Oslo"}, meta=meta)
        return served, replayed

    served, replayed = anyio.run(run)
    assert not served.isError, served
    assert replayed.isError, replayed
    assert "sunny" not in replayed.model_dump_json()
    settled = tool_settlement(served)
    assert settled is not None and settled.success
    charged_once(chain, settled.transaction, payer, before)


def test_a_node_agent_pays_a_paid_tool_once_over_stdio(chain: Chain, facilitator: Facilitator) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    env = {
        **server_env(facilitator),
        "PRIVATE_KEY": key,
        "SERVER_COMMAND": sys.executable,
        "SERVER_ARGS": json.dumps([str(APPS / "mcp_server.py")]),
    }
    run = subprocess.run(["node", str(APPS / "mcp_agent.mjs")], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert not result.get("isError"), result
    assert result["content"][0]["text"] == f"sunny in Lagos, paid by {payer}"
    settled = result["_meta"]["x402/payment-response"]
    assert settled["success"]
    charged_once(chain, settled["transaction"], payer, before)


def test_the_official_client_pays_a_paywire_tool_once(chain: Chain, facilitator: Facilitator) -> None:
    from eth_account import Account
    from x402 import x402Client
    from x402.mcp import x402MCPSession
    from x402.mechanisms.evm.exact import ExactEvmClientScheme
    from x402.mechanisms.evm.signers import EthAccountSigner

    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)

    async def run() -> Any:
        async with stdio_session(facilitator) as session:
            client = x402Client()
            client.register("eip155:84532", ExactEvmClientScheme(EthAccountSigner(Account.from_key(key))))
            return await x402MCPSession(session, client).call_tool("get_weather", {"city": "Accra"})

    result = anyio.run(run)
    assert not result.is_error, result
    assert result.payment_made and result.payment_response is not None and result.payment_response.success
    charged_once(chain, result.payment_response.transaction, payer, before)


def test_paywire_pays_an_official_tool_once(chain: Chain, facilitator: Facilitator) -> None:
    from mcp.server.fastmcp import FastMCP
    from mcp.shared.memory import create_connected_server_and_client_session
    from x402 import x402ResourceServer
    from x402.http import FacilitatorConfig, HTTPFacilitatorClient
    from x402.mcp.server import create_payment_wrapper
    from x402.mechanisms.evm.exact import ExactEvmServerScheme
    from x402.schemas import ResourceConfig

    resource_server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=facilitator.url)))
    resource_server.register("eip155:84532", ExactEvmServerScheme())
    resource_server.initialize()
    accepts = resource_server.build_payment_requirements(
        ResourceConfig(scheme="exact", network="eip155:84532", pay_to=PAY_TO, price="$0.01")
    )
    server = FastMCP("official")

    @server.tool()
    @create_payment_wrapper(resource_server, accepts=accepts)
    async def get_weather(city: str) -> str:
        return json.dumps({"city": city, "weather": "sunny"})

    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)

    async def run() -> Any:
        async with create_connected_server_and_client_session(server) as session:
            return await PayingSession(session, paywire.Payer(paywire.LocalSigner(key))).call_tool("get_weather", {"city": "Lima"})

    result = anyio.run(run)
    assert not result.isError, result
    settled = tool_settlement(result)
    assert settled is not None and settled.success
    charged_once(chain, settled.transaction, payer, before)


@pytest.fixture(autouse=True)
def _node_dir() -> None:
    if not os.environ.get("PAYWIRE_NODE_TEST_DIR"):
        pytest.fail("PAYWIRE_NODE_TEST_DIR must name node/test (with the packed paywire installed)")
