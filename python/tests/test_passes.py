"""Passes in Python, over real HTTP on loopback: a FastAPI app that accepts passes a trusted issuer signed and
names where to get one (pass_facilitator), and paywire's httpx and requests clients trusting that pass
facilitator. The pass facilitator is a small stand-in that signs a receipt for the transaction it is asked
about (the real one, which checks the transaction on chain, is tested on anvil in tests/e2e/test_passes.py);
the facilitator double settles the first payment."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List

import httpx
import pytest
import requests
from conftest import ISSUER_KEY, PAY_TO, PAYER, PAYER_KEY, served
from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route as StarletteRoute

import paywire
import paywire.httpx
import paywire.requests
from paywire.asgi import PaymentMiddleware
from paywire.facilitator import AsyncFacilitatorClient
from paywire.httpx import PaymentTransport
from paywire.requests import PaymentAdapter

TAG = paywire.PriceTag("eip155:84532", PAY_TO, "$0.001")


class PassFacilitator:
    """Signs a pass for each request (or answers 503 when `down`), and keeps what it was asked."""

    def __init__(self) -> None:
        self.issuer = paywire.Issuer(paywire.LocalSigner(ISSUER_KEY))
        self.asked: List[Dict[str, Any]] = []
        self.down = False
        self.url = ""

        async def issue(request: StarletteRequest) -> JSONResponse:
            body = await request.json()
            self.asked.append({"path": request.url.path, **body})
            if self.down:
                return JSONResponse({"success": False}, status_code=503)
            receipt = self.issuer.issue_receipt(body["resource"], PAYER, "eip155:84532", body["transaction"])
            return JSONResponse({"success": True, "header": receipt.to_header(), "issuer": self.issuer.address,
                                 "expiresAt": int(time.time()) + 600})

        self.app = Starlette(routes=[StarletteRoute("/passes/transaction", issue, methods=["POST"])])


@pytest.fixture
def passes() -> Iterator[PassFacilitator]:
    p = PassFacilitator()
    with served(p.app) as url:
        p.url = url
        yield p


def shop(facilitator_url: str, passes: PassFacilitator) -> tuple[FastAPI, List[bool]]:
    app = FastAPI()
    paid: List[bool] = []

    @app.get("/weather")
    async def weather(request: Request) -> Dict[str, str]:
        paid.append(request.state.paywire.payment is not None)
        return {"forecast": "sunny"}

    app.add_middleware(
        PaymentMiddleware,
        routes={"GET /weather": TAG},
        facilitator=AsyncFacilitatorClient(facilitator_url, timeout=5),
        access=paywire.AccessPolicy([passes.issuer.address], 600),
        pass_facilitator=passes.url,
        # The server's signed offers state its prices to the facilitator; without them no pass is offered.
        issuer=paywire.Issuer(paywire.LocalSigner(PAYER_KEY)),
    )
    return app, paid


def test_a_trusting_client_pays_once_then_gets_and_presents_a_pass(facilitator: Any, passes: PassFacilitator) -> None:
    app, paid = shop(facilitator.url, passes)
    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with served(app) as url:
        bill = paywire.decode_header_json(httpx.get(f"{url}/weather").headers["payment-required"])
        assert bill["extensions"]["paywire-pass"]["info"]["endpoint"] == f"{passes.url}/passes/transaction"
        with httpx.Client(transport=PaymentTransport(payer, pass_facilitators=[passes.url])) as client:
            first = client.get(f"{url}/weather")
            later = [client.get(f"{url}/weather") for _ in range(3)]
    settled = paywire.httpx.settlement(first)
    assert first.status_code == 200 and settled is not None and settled.success
    assert [r.status_code for r in later] == [200, 200, 200]
    assert all(paywire.httpx.payment(r) is None for r in later)
    assert paid == [True, False, False, False] and facilitator.settle_calls == 1
    (asked,) = passes.asked
    assert asked["path"] == "/passes/transaction" and asked["transaction"] == settled.transaction
    assert asked["resource"] == f"{url}/weather" and asked["signature"].startswith("0x")
    assert asked["offer"]["format"] == "eip712"


def test_requests_presents_passes_too_and_an_untrusted_facilitator_is_never_called(
    facilitator: Any, passes: PassFacilitator
) -> None:
    app, paid = shop(facilitator.url, passes)
    with served(app) as url:
        untrusting = requests.Session()
        untrusting.mount("http://", PaymentAdapter(paywire.Payer(paywire.LocalSigner(PAYER_KEY))))
        untrusting.get(f"{url}/weather")
        assert paywire.requests.payment(untrusting.get(f"{url}/weather")) is not None
        assert passes.asked == []
        trusting = requests.Session()
        trusting.mount("http://", PaymentAdapter(paywire.Payer(paywire.LocalSigner(PAYER_KEY)),
                                                 pass_facilitators=[passes.url]))
        trusting.get(f"{url}/weather")
        with_pass = trusting.get(f"{url}/weather")
    assert with_pass.status_code == 200 and paywire.requests.payment(with_pass) is None
    assert paid == [True, True, True, False] and len(passes.asked) == 1


def test_a_failing_pass_facilitator_fails_nothing_the_call_pays(facilitator: Any, passes: PassFacilitator) -> None:
    passes.down = True
    app, paid = shop(facilitator.url, passes)
    with served(app) as url, httpx.Client(
        transport=PaymentTransport(paywire.Payer(paywire.LocalSigner(PAYER_KEY)), pass_facilitators=[passes.url])
    ) as client:
        client.get(f"{url}/weather")
        again = client.get(f"{url}/weather")
    assert again.status_code == 200 and paywire.httpx.payment(again) is not None
    assert len(passes.asked) == 1 and paid == [True, True]


def test_an_unreachable_pass_facilitator_fails_nothing(facilitator: Any) -> None:
    from conftest import closed_port_url

    dead = PassFacilitator()
    dead.url = closed_port_url()
    app, paid = shop(facilitator.url, dead)
    with served(app) as url, httpx.Client(
        transport=PaymentTransport(paywire.Payer(paywire.LocalSigner(PAYER_KEY)), pass_facilitators=[dead.url])
    ) as client:
        client.get(f"{url}/weather")
        again = client.get(f"{url}/weather")
    assert again.status_code == 200 and paywire.httpx.payment(again) is not None
    assert paid == [True, True]
