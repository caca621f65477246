"""Sign-in-with-x on chain: a wallet pays once through paywire's facilitator on anvil (exactly the price moves,
once), then signs in for N more requests to the same resource: each is served, no token moves, no block is
mined. Against paywire's Python and Node servers with paywire's Python client, the official Python client
(x402 2.25's SIWX extension) against paywire, and paywire's client against the official @x402/express server
with the official extension."""

from __future__ import annotations

import asyncio
from typing import Callable, List

import httpx
import pytest
from conftest import PAY_TO, Chain, Facilitator, balances, charged_once, payer_key
from eth_account import Account
from parties import Server, node_express, official_express, python_asgi
from x402 import x402Client
from x402.extensions.sign_in_with_x import CreateSIWxClientExtensionOptions, create_siwx_client_extension
from x402.http.clients import x402HttpxClient
from x402.mechanisms.evm.exact import register_exact_evm_client

import paywire
import paywire.httpx
from paywire.httpx import PaymentTransport

N = 5
SIGN_IN = {"SIGN_IN": "1"}


def block(chain: Chain) -> int:
    return int(str(chain.rpc("eth_blockNumber", [])), 16)


def served(server: Server) -> int:
    return int(httpx.get(server.url("/served")).json()["served"])


def pays_once_then_signs_in(chain: Chain, server: Server, visit: Callable[[str, str], List[httpx.Response]]) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    answers = visit(server.url(), key)
    assert [r.status_code for r in answers] == [200] * (N + 1), [r.text for r in answers]
    settled = paywire.SettleResponse.from_header(answers[0].headers["payment-response"])
    charged_once(chain, settled.transaction, payer, before)
    assert all("payment-response" not in r.headers for r in answers[1:])
    assert served(server) == N + 1


def paywire_visits(url: str, key: str) -> List[httpx.Response]:
    with httpx.Client(transport=PaymentTransport(paywire.Payer(paywire.LocalSigner(key))), timeout=60) as client:
        return [client.get(url) for _ in range(N + 1)]


def official_visits(url: str, key: str) -> List[httpx.Response]:
    account = Account.from_key(key)
    client = register_exact_evm_client(x402Client(), account)
    client.register_extension(create_siwx_client_extension(CreateSIWxClientExtensionOptions(signers=[account])))

    async def go() -> List[httpx.Response]:
        async with x402HttpxClient(client, timeout=60) as http:
            return [await http.get(url) for _ in range(N + 1)]

    return asyncio.run(go())


@pytest.mark.parametrize("serve", [python_asgi, node_express], ids=["python-asgi", "node-express"])
def test_a_wallet_pays_once_then_signs_in_with_no_transaction(chain: Chain, facilitator: Facilitator, serve) -> None:  # type: ignore[no-untyped-def]
    with serve(facilitator.url, PAY_TO, app="faults", extra=SIGN_IN) as server:
        key = payer_key()
        payer = paywire.LocalSigner(key).address
        before = balances(chain, payer)
        with httpx.Client(transport=PaymentTransport(paywire.Payer(paywire.LocalSigner(key))), timeout=60) as client:
            first = client.get(server.url())
            settled = paywire.httpx.settlement(first)
            assert first.status_code == 200 and settled is not None and settled.success
            charged_once(chain, settled.transaction, payer, before)
            height, paid = block(chain), balances(chain, payer)
            again = [client.get(server.url()) for _ in range(N)]
        assert [r.status_code for r in again] == [200] * N
        assert all(paywire.httpx.payment(r) is None for r in again)
        assert all(r.json()["paid_by"] == payer for r in again)
        # Nothing moved and nothing was mined: a sign-in is checked offline.
        assert balances(chain, payer) == paid and block(chain) == height
        assert served(server) == N + 1
        # A wallet that never paid is refused its sign-in, then pays once.
        other = payer_key()
        other_before = balances(chain, paywire.LocalSigner(other).address)
        with httpx.Client(transport=PaymentTransport(paywire.Payer(paywire.LocalSigner(other))), timeout=60) as client:
            r = client.get(server.url())
        tx = paywire.httpx.settlement(r)
        assert r.status_code == 200 and tx is not None
        charged_once(chain, tx.transaction, paywire.LocalSigner(other).address, other_before)


def test_the_official_client_pays_once_then_signs_in_to_paywire(chain: Chain, facilitator: Facilitator) -> None:
    with python_asgi(facilitator.url, PAY_TO, app="faults", extra=SIGN_IN) as server:
        height_before = block(chain)
        pays_once_then_signs_in(chain, server, official_visits)
        assert block(chain) == height_before + 1


def test_paywire_pays_once_then_signs_in_to_the_official_server(chain: Chain, facilitator: Facilitator) -> None:
    with official_express(facilitator.url, PAY_TO, extra=SIGN_IN) as server:
        height_before = block(chain)
        pays_once_then_signs_in(chain, server, paywire_visits)
        assert block(chain) == height_before + 1
