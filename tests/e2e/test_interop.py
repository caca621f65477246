"""paywire and the official x402 SDKs on one chain, through paywire's facilitator: the official clients
(x402 for Python, @x402/fetch) pay paywire's servers, and every paywire client pays the official
@x402/express server, whose facilitator is paywire's. Each payment moves exactly the price, once, on chain."""

from __future__ import annotations

from typing import Iterator

import pytest
from conftest import PAY_TO, Chain, Facilitator, balances, charged_once, payer_key
from eth_account import Account
from parties import CLIENTS, SERVERS, Server, official_express, official_fetch_client
from x402 import x402ClientSync
from x402.http.clients import x402_requests
from x402.mechanisms.evm.exact import register_exact_evm_client

import paywire


@pytest.fixture(scope="module", params=list(SERVERS))
def paywire_server(request: pytest.FixtureRequest, facilitator: Facilitator) -> Iterator[Server]:
    with SERVERS[request.param](facilitator.url, PAY_TO) as s:
        yield s


@pytest.fixture(scope="module")
def official_server(facilitator: Facilitator) -> Iterator[Server]:
    with official_express(facilitator.url, PAY_TO) as s:
        yield s


def test_the_official_python_client_pays_a_paywire_server(chain: Chain, paywire_server: Server) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    session = x402_requests(register_exact_evm_client(x402ClientSync(), Account.from_key(key)))
    response = session.get(paywire_server.url(), timeout=60)
    assert response.status_code == 200, response.text
    assert payer in response.text  # the handler saw who paid
    receipt = paywire.SettleResponse.from_header(response.headers["PAYMENT-RESPONSE"])
    assert receipt.success and receipt.payer == payer
    charged_once(chain, receipt.transaction, payer, before)


def test_the_official_fetch_client_pays_a_paywire_server(chain: Chain, paywire_server: Server) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    outcome = official_fetch_client(paywire_server.url(), key)
    assert outcome.status == 200, outcome.output
    assert payer in outcome.body
    assert outcome.transaction, outcome.output
    charged_once(chain, outcome.transaction, payer, before)


@pytest.mark.parametrize("client", list(CLIENTS))
def test_a_paywire_client_pays_the_official_express_server(chain: Chain, official_server: Server, client: str) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    outcome = CLIENTS[client](official_server.url(), key)
    assert outcome.status == 200, outcome.output
    assert "sunny" in outcome.body
    assert outcome.transaction, outcome.output
    charged_once(chain, outcome.transaction, payer, before)
