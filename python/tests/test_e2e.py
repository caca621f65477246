"""End to end over real HTTP on loopback: a FastAPI app behind paywire's ASGI middleware, served by uvicorn;
paywire's httpx and requests clients; the facilitator double (facilitator_double.py) served by uvicorn too."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Optional

import httpx
import pytest
import requests
from conftest import ISSUER_KEY, PAY_TO, PAYER, PAYER_KEY, closed_port_url, served
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

import paywire
import paywire.httpx
import paywire.requests
from paywire.asgi import PaymentMiddleware, Route
from paywire.facilitator import AsyncFacilitatorClient
from paywire.httpx import AsyncPaymentTransport, PaymentTransport
from paywire.requests import PaymentAdapter

NETWORK = "eip155:84532"
SECRET = "the paid content"


class Shop:
    """A paid API: a FastAPI app, its handler call counts, and the middleware's settings."""

    def __init__(self, facilitator_url: str, **options: Any) -> None:
        self.calls: Dict[str, int] = {}
        app = FastAPI()

        def count(name: str) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1

        @app.get("/weather")
        async def weather(request: Request) -> Dict[str, Any]:
            count("weather")
            paid = request.state.paywire
            return {"forecast": SECRET, "payer": paid.payer, "amount": str(paid.payment.verified.amount) if paid.payment else None}

        @app.post("/echo")
        async def echo(request: Request) -> Response:
            count("echo")
            return Response(await request.body(), media_type="application/octet-stream")

        @app.get("/unavailable")
        async def unavailable() -> JSONResponse:
            count("unavailable")
            return JSONResponse({"error": SECRET}, status_code=503)

        @app.get("/crash")
        async def crash() -> None:
            count("crash")
            raise RuntimeError("handler bug")

        @app.get("/slow")
        async def slow() -> Dict[str, str]:
            count("slow")
            await asyncio.sleep(0.5)
            return {"forecast": SECRET}

        @app.get("/v1/weather")
        async def v1_weather() -> Dict[str, str]:
            count("v1")
            return {"forecast": SECRET}

        @app.get("/free")
        async def free() -> Dict[str, str]:
            return {"free": "yes"}

        @app.post("/free-upload")
        async def free_upload(request: Request) -> Dict[str, int]:
            return {"bytes": len(await request.body())}

        tag = paywire.PriceTag(NETWORK, PAY_TO, "$0.001")
        app.add_middleware(
            PaymentMiddleware,
            routes={
                "GET /weather": Route(tag, description="Weather", mime_type="application/json"),
                "POST /echo": tag,
                "GET /unavailable": tag,
                "GET /crash": tag,
                "GET /slow": tag,
                "GET /v1/weather": Route(paywire.PriceTag("base-sepolia", PAY_TO, "$0.001"), x402_version=1),
            },
            facilitator=AsyncFacilitatorClient(facilitator_url, timeout=5),
            **options,
        )
        self.app = app


@pytest.fixture
def shop(facilitator):
    shop = Shop(facilitator.url)
    with served(shop.app) as url:
        shop.url = url
        yield shop


def payer(**kwargs: Any) -> paywire.Payer:
    return paywire.Payer(paywire.LocalSigner(PAYER_KEY), paywire.Policy(max_per_payment="$0.01"), **kwargs)


def paying_client(p: Optional[paywire.Payer] = None, transport: Optional[httpx.BaseTransport] = None) -> httpx.Client:
    return httpx.Client(transport=PaymentTransport(p or payer(), transport), timeout=10)


def test_free_routes_pass_through(shop):
    assert httpx.get(f"{shop.url}/free").json() == {"free": "yes"}


def test_paid_request_is_served_with_its_settlement(shop, facilitator):
    with paying_client() as client:
        r = client.get(f"{shop.url}/weather")
    assert r.status_code == 200, r.text
    assert r.json() == {"forecast": SECRET, "payer": PAYER, "amount": "1000"}
    settled = paywire.httpx.settlement(r)
    assert settled is not None and settled.success and settled.transaction.startswith("0x")
    assert settled.payer == PAYER and settled.network == NETWORK
    # Members the facilitator adds beyond x402 ("fee") are not passed on to the buyer.
    assert "fee" not in json.loads(paywire.decode_header_text(r.headers["payment-response"]))
    assert paywire.httpx.payment(r).amount == 1000
    assert r.headers["cache-control"] == "private"
    assert (facilitator.verify_calls, facilitator.settle_calls, shop.calls["weather"]) == (1, 1, 1)


def test_a_payment_in_flight_is_not_served_twice(shop, facilitator):
    header = payer().pay(httpx.get(f"{shop.url}/slow").headers["payment-required"])

    async def both():
        async with httpx.AsyncClient(timeout=10) as client:
            return await asyncio.gather(*(client.get(f"{shop.url}/slow", headers=header.headers) for _ in range(2)))

    statuses = sorted(r.status_code for r in asyncio.run(both()))
    assert statuses == [200, 409]
    assert (facilitator.settle_calls, shop.calls["slow"]) == (1, 1)


@pytest.mark.parametrize("trouble", ["down", "garbage"])
def test_facilitator_trouble_is_a_502_and_nothing_is_served(facilitator, trouble):
    if trouble == "garbage":
        facilitator.mode = "garbage"
    shop = Shop(closed_port_url() if trouble == "down" else facilitator.url)
    with served(shop.app) as url, paying_client() as client:
        r = client.get(f"{url}/weather")
    assert r.status_code == 502
    body = r.json()
    expected = "facilitator_unreachable" if trouble == "down" else "invalid_facilitator_response"
    assert body["error"] == expected and body["message"]
    assert SECRET not in r.text and shop.calls == {}


def test_settlement_pending_is_retried_once(shop, facilitator):
    facilitator.mode = "pending_then_ok"
    with paying_client() as client:
        r = client.get(f"{shop.url}/weather")
    assert r.status_code == 200 and paywire.httpx.settlement(r).success
    assert facilitator.settle_calls == 2
    first, second = (h for h in facilitator.auth_headers if h["endpoint"] == "settle")
    assert first == second


class LosesFirstPaidResponse(httpx.BaseTransport):
    """Delivers requests, but loses the response to the first paid one (a dropped connection)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if "payment-signature" in request.headers and not self.lost:
            self.lost = True
            response.read()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_lost_response_and_retry_cost_one_payment(shop, facilitator):
    p = payer()
    with paying_client(p, LosesFirstPaidResponse()) as client:
        with pytest.raises(httpx.ReadError):
            client.get(f"{shop.url}/weather")
        r = client.get(f"{shop.url}/weather")
    assert r.status_code == 200 and r.json()["forecast"] == SECRET
    assert paywire.httpx.payment(r).reused, "the retry signed a second payment"
    assert facilitator.settle_calls == 1 and shop.calls["weather"] == 1
    assert p.spent_usd == "$0.001"


def test_request_body_is_kept_for_the_paid_retry(shop, facilitator):
    data = bytes(range(256)) * 40
    with paying_client() as client:
        r = client.post(f"{shop.url}/echo", content=data)
    assert r.status_code == 200 and r.content == data
    assert facilitator.settle_calls == 1


def test_a_request_that_carries_a_payment_is_never_paid_again(shop, facilitator):
    stale = payer().pay(paywire.build_payment_required(f"{shop.url}/weather", [paywire.PriceTag(NETWORK, PAY_TO, "$0.0001")]))
    p = payer()
    with paying_client(p) as client:
        r = client.get(f"{shop.url}/weather", headers=stale.headers)
    assert r.status_code == 402 and p.spent_usd == "$0"
    assert paywire.httpx.payment(r) is None


def test_v1_route(shop, facilitator):
    unpaid = httpx.get(f"{shop.url}/v1/weather")
    assert unpaid.status_code == 402 and "payment-required" not in unpaid.headers
    assert unpaid.json()["x402Version"] == 1
    with paying_client() as client:
        r = client.get(f"{shop.url}/v1/weather")
    assert r.status_code == 200 and r.json() == {"forecast": SECRET}
    assert paywire.httpx.payment(r).name == "X-PAYMENT"
    assert "x-payment-response" in r.headers and paywire.httpx.settlement(r).success


def test_async_transport(shop, facilitator):
    async def run():
        async with httpx.AsyncClient(transport=AsyncPaymentTransport(payer()), timeout=10) as client:
            return await client.get(f"{shop.url}/weather")

    r = asyncio.run(run())
    assert r.status_code == 200 and paywire.httpx.settlement(r).success


def test_async_transport_awaits_an_async_signer(shop, facilitator):
    local = paywire.LocalSigner(PAYER_KEY)

    class RemoteSigner:
        address = local.address
        calls = 0

        async def sign_digest(self, digest: bytes) -> bytes:
            RemoteSigner.calls += 1
            await asyncio.sleep(0)
            return local.sign_digest(digest)

    signer = RemoteSigner()

    async def run():
        transport = AsyncPaymentTransport(paywire.Payer(signer))
        async with httpx.AsyncClient(transport=transport, timeout=10) as client:
            return await client.get(f"{shop.url}/weather")

    r = asyncio.run(run())
    assert r.status_code == 200 and RemoteSigner.calls == 1


def test_requests_adapter(shop, facilitator):
    session = requests.Session()
    session.mount("http://", PaymentAdapter(payer()))
    r = session.post(f"{shop.url}/echo", data=b"hello")
    assert r.status_code == 200 and r.content == b"hello"
    assert paywire.requests.settlement(r).success
    assert paywire.requests.payment(r).payer == PAYER
    assert facilitator.settle_calls == 1


def test_requests_adapter_streams_uploads_and_refuses_to_pay_for_a_stream(shop, facilitator):
    session = requests.Session()
    session.mount("http://", PaymentAdapter(payer()))
    free = session.post(f"{shop.url}/free-upload", data=(chunk for chunk in [b"a" * 1000, b"b" * 24]))
    assert free.json() == {"bytes": 1024}
    with pytest.raises(paywire.PaywireError) as info:
        session.post(f"{shop.url}/echo", data=(chunk for chunk in [b"x"]))
    assert info.value.code == "invalid_argument" and "stream" in info.value.message
    assert facilitator.verify_calls == 0


def test_receipts_stand_in_for_a_new_payment(facilitator):
    issuer_signer = paywire.LocalSigner(ISSUER_KEY)
    shop = Shop(
        facilitator.url,
        issuer=paywire.Issuer(issuer_signer),
        access=paywire.AccessPolicy([issuer_signer.address], 3600),
    )
    with served(shop.app) as url:
        unpaid = httpx.get(f"{url}/weather")
        offers = paywire.offers_in(paywire.PaymentRequired.from_header(unpaid.headers["payment-required"]))
        assert len(offers) == 1 and offers[0].verify([issuer_signer.address])["signer"] == issuer_signer.address
        with paying_client() as client:
            paid = client.get(f"{url}/weather")
        receipt = paywire.receipt_in(paywire.httpx.settlement(paid))
        assert receipt is not None and receipt.verify([issuer_signer.address])["payload"]["payer"] == PAYER
        again = httpx.get(f"{url}/weather", headers={paywire.RECEIPT_HEADER: receipt.to_header()})
        assert again.status_code == 200 and again.json()["forecast"] == SECRET
        elsewhere = httpx.get(f"{url}/slow", headers={paywire.RECEIPT_HEADER: receipt.to_header()})
        assert elsewhere.status_code == 402, "a receipt for one resource opened another"
    assert facilitator.settle_calls == 1


def test_a_stolen_payment_id_does_not_unlock_anothers_response(facilitator):
    declared = paywire.payment_identifier_declaration(True)
    shop = Shop(facilitator.url)
    tag = paywire.PriceTag(NETWORK, PAY_TO, "$0.001", extensions={"payment-identifier": declared})
    app = FastAPI()

    @app.get("/mine")
    async def mine(request: Request) -> Dict[str, str]:
        return {"secret": f"{SECRET} for {request.state.paywire.payer}"}

    app.add_middleware(PaymentMiddleware, routes={"GET /mine": tag}, facilitator=AsyncFacilitatorClient(facilitator.url))
    with served(app) as url:
        bill = httpx.get(f"{url}/mine").headers["payment-required"]
        victim = payer().pay(bill)
        assert victim.payment_id and httpx.get(f"{url}/mine", headers=victim.headers).status_code == 200
        thief = paywire.Payer(paywire.LocalSigner.generate()).pay(bill)
        forged = json.loads(paywire.decode_header_text(thief.value))
        forged["extensions"]["payment-identifier"]["info"]["id"] = victim.payment_id
        stolen = httpx.get(f"{url}/mine", headers={"PAYMENT-SIGNATURE": paywire.encode_json_text(json.dumps(forged))})
    assert stolen.status_code == 409 and stolen.json()["error"] == "payment_identifier_conflict"
    assert SECRET not in stolen.text
    assert facilitator.settle_calls == 1 and shop.calls == {}


def test_mounted_apps_and_path_patterns_are_billed(facilitator):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount
    from starlette.routing import Route as StarletteRoute

    async def file(request):
        return PlainTextResponse(SECRET)

    inner = Starlette(routes=[StarletteRoute("/files/{p:path}", file, methods=["GET", "HEAD"])])
    tag = paywire.PriceTag(NETWORK, PAY_TO, "$0.001")
    inner_paid = PaymentMiddleware(inner, {"GET /files/{p:path}": tag}, facilitator=AsyncFacilitatorClient(facilitator.url))
    app = Starlette(routes=[Mount("/api", app=inner_paid)])
    with served(app) as url:
        for path in ("/api/files/a", "/api/files/a/b/c.txt"):
            r = httpx.get(f"{url}{path}")
            assert r.status_code == 402, path
            bill = paywire.PaymentRequired.from_header(r.headers["payment-required"])
            assert bill.resource["url"] == f"{url}{path}"
        head = httpx.head(f"{url}/api/files/a")
        assert head.status_code == 402 and head.content == b""
        with paying_client() as client:
            paid = client.get(f"{url}/api/files/a/b")
        assert paid.status_code == 200 and paid.text == SECRET
    assert facilitator.settle_calls == 1


def test_a_sync_facilitator_client_drives_the_middleware(facilitator):
    from paywire.facilitator import FacilitatorClient

    app = FastAPI()

    @app.get("/weather")
    async def weather() -> Dict[str, str]:
        return {"forecast": SECRET}

    app.add_middleware(
        PaymentMiddleware,
        routes={"GET /weather": paywire.PriceTag(NETWORK, PAY_TO, "$0.001")},
        facilitator=FacilitatorClient(facilitator.url, headers=lambda: {"verify": {"Authorization": "Bearer v"}, "settle": {"Authorization": "Bearer s"}, "bazaar": {}}),
    )
    with served(app) as url, paying_client() as client:
        r = client.get(f"{url}/weather")
    assert r.status_code == 200 and r.json() == {"forecast": SECRET}
    assert [h["authorization"] for h in facilitator.auth_headers] == ["Bearer v", "Bearer s"]


def test_receipts_can_be_refused_per_route(facilitator):
    issuer_signer = paywire.LocalSigner(ISSUER_KEY)
    app = FastAPI()

    @app.api_route("/doc", methods=["GET", "POST"])
    async def doc() -> Dict[str, str]:
        return {"doc": SECRET}

    cheap, dear = paywire.PriceTag(NETWORK, PAY_TO, "$0.001"), paywire.PriceTag(NETWORK, PAY_TO, "$0.009")
    app.add_middleware(
        PaymentMiddleware,
        routes={"GET /doc": cheap, "POST /doc": Route(dear, receipts=False)},
        facilitator=AsyncFacilitatorClient(facilitator.url),
        issuer=paywire.Issuer(issuer_signer),
        access=paywire.AccessPolicy([issuer_signer.address], 3600),
    )
    with served(app) as url:
        with paying_client() as client:
            receipt = paywire.receipt_in(paywire.httpx.settlement(client.get(f"{url}/doc")))
        presented = {paywire.RECEIPT_HEADER: receipt.to_header()}
        assert httpx.get(f"{url}/doc", headers=presented).status_code == 200
        assert httpx.post(f"{url}/doc", headers=presented).status_code == 402
