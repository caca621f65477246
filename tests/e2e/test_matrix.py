"""Every paywire client pays every paywire server through paywire's facilitator on anvil, as users run them:
the Rust CLI (`paywire fetch`), python/examples/agent.py (httpx), node/examples/agent.mjs (fetch) and the
Kotlin example agent (java.net.http) against python/examples/paid_api.py (FastAPI), paid_api_flask.py
(Flask), node/examples/paid-api.mjs (Express), paid-api-fastify.mjs (Fastify) and kotlin/examples/PaidApi.kt
(the JDK's HttpServer). Each payment must move exactly the price, once, in a transaction that is on chain."""

from __future__ import annotations

from typing import Iterator

import pytest
from conftest import PAY_TO, Chain, Facilitator, balances, charged_once, payer_key
from parties import CLIENTS, SERVERS, Server

import paywire


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, facilitator: Facilitator) -> Iterator[Server]:
    with SERVERS[request.param](facilitator.url, PAY_TO) as s:
        yield s


@pytest.mark.parametrize("client", list(CLIENTS))
def test_client_pays_server(chain: Chain, server: Server, client: str) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    outcome = CLIENTS[client](server.url(), key)
    assert outcome.status == 200, outcome.output
    assert payer in outcome.body, outcome.body  # the handler saw who paid
    assert outcome.transaction, outcome.output
    charged_once(chain, outcome.transaction, payer, before)


@pytest.mark.parametrize("client", list(CLIENTS))
def test_a_client_that_cannot_pay_is_refused_and_moves_nothing(chain: Chain, server: Server, client: str) -> None:
    """A payer without USDC: the facilitator refuses it, the server answers 402 again, nothing moves."""
    key = "0x" + format(0x3000 + list(CLIENTS).index(client), "064x")
    payer = paywire.LocalSigner(key).address
    payee = chain.balance(PAY_TO)
    outcome = CLIENTS[client](server.url(), key)
    assert outcome.status == 402, outcome.output
    assert "insufficient_funds" in outcome.body + outcome.output  # the client is told why
    assert outcome.transaction is None
    assert (chain.balance(payer), chain.balance(PAY_TO)) == (0, payee)
