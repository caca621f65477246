"""paywire against the official x402 Python SDK (2.25) over real HTTP, both ways:

- the official client (``x402HttpxClient``) pays a FastAPI app behind paywire's middleware;
- paywire's httpx transport pays a FastAPI app behind the official middleware (``PaymentMiddlewareASGI``).

Both servers use the facilitator double, whose ``/verify`` is the official SDK's own verification.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Dict

import httpx
from conftest import PAY_TO, PAYER, PAYER_KEY, served
from eth_account import Account
from fastapi import FastAPI
from x402 import x402Client, x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.clients import x402HttpxClient
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.mechanisms.evm.exact import register_exact_evm_client, register_exact_evm_server

import paywire
import paywire.httpx
from paywire.asgi import PaymentMiddleware
from paywire.facilitator import AsyncFacilitatorClient
from paywire.httpx import PaymentTransport

NETWORK = "eip155:84532"
logging.getLogger("x402").setLevel(logging.ERROR)


def test_the_official_client_pays_a_paywire_server(facilitator):
    app = FastAPI()

    @app.get("/weather")
    async def weather() -> Dict[str, str]:
        return {"forecast": "sunny"}

    app.add_middleware(
        PaymentMiddleware,
        routes={"GET /weather": paywire.PriceTag(NETWORK, PAY_TO, "$0.001")},
        facilitator=AsyncFacilitatorClient(facilitator.url),
    )
    official = register_exact_evm_client(x402Client(), Account.from_key(PAYER_KEY))

    async def buy(url: str) -> httpx.Response:
        async with x402HttpxClient(official, timeout=10) as client:
            return await client.get(f"{url}/weather")

    with served(app) as url:
        r = asyncio.run(buy(url))
    assert r.status_code == 200 and r.json() == {"forecast": "sunny"}
    settled = paywire.SettleResponse.from_header(r.headers["payment-response"])
    assert settled.success and settled.payer == PAYER
    (body,) = facilitator.settled
    assert body["paymentPayload"]["payload"]["authorization"]["from"] == PAYER


def test_paywire_pays_an_official_server(facilitator):
    app = FastAPI()

    @app.get("/weather")
    async def weather() -> Dict[str, str]:
        return {"forecast": "sunny"}

    server = register_exact_evm_server(
        x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=facilitator.url))), NETWORK
    )
    routes = {"GET /weather": {"accepts": {"scheme": "exact", "payTo": PAY_TO, "price": "$0.001", "network": NETWORK}}}
    app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)

    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer), timeout=10) as client:
        unpaid = httpx.get(f"{url}/weather")
        r = client.get(f"{url}/weather")
    # The official server's bill reads in paywire, and paywire's payment passes the official server.
    bill = paywire.PaymentRequired.from_header(unpaid.headers["payment-required"])
    assert bill.accepts[0].amount == 1000
    assert r.status_code == 200, r.text
    assert r.json() == {"forecast": "sunny"}
    settled = paywire.httpx.settlement(r)
    assert settled is not None and settled.success and settled.payer == PAYER
    (body,) = facilitator.settled
    # What paywire sent is what the official server forwarded: `accepted` is the offer exactly as billed.
    assert body["paymentPayload"]["accepted"] == json.loads(bill.accepts[0].raw_json)
