"""Sign-in-with-x over real HTTP on loopback: a wallet that paid once gets the resource again by signing in,
without paying. paywire's server (FastAPI behind the ASGI middleware, Flask behind the WSGI one) and clients
(httpx, requests), and interop both ways with the official x402 2.25 Python extension (its SIWX client
extension paying and signing in to paywire; paywire signing in to an official server). The facilitator is
the double (facilitator_double.py), which counts settlements: a sign-in never settles."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any, Dict, List, Optional

import httpx
import requests
from conftest import PAY_TO, PAYER, PAYER_KEY, served, served_wsgi
from eth_account import Account
from fastapi import FastAPI, Request
from flask import Flask
from x402 import x402Client, x402ResourceServer
from x402.extensions.sign_in_with_x import (
    CreateSIWxClientExtensionOptions,
    DeclareSIWxOptions,
    InMemorySIWxStorage,
    create_siwx_client_extension,
    create_siwx_resource_server_extension,
    declare_siwx_extension,
)
from x402.extensions.sign_in_with_x.hooks import CreateSIWxRequestHookOptions
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.clients import x402HttpxClient
from x402.http.middleware.fastapi import PaymentMiddlewareASGI
from x402.mechanisms.evm.exact import register_exact_evm_client, register_exact_evm_server

import paywire
import paywire.httpx
from paywire import StoreEntry
from paywire.asgi import PaymentMiddleware, PaymentStore, SignIn
from paywire.facilitator import AsyncFacilitatorClient, FacilitatorClient
from paywire.httpx import PaymentTransport
from paywire.requests import PaymentAdapter
from paywire.wsgi import PaymentMiddleware as WsgiPaymentMiddleware

NETWORK = "eip155:84532"
TAG = paywire.PriceTag(NETWORK, PAY_TO, "$0.001")
OTHER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
logging.getLogger("x402").setLevel(logging.ERROR)


class Recording(httpx.BaseTransport):
    """A transport that keeps the headers of every request it sends."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: List[httpx.Headers] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.headers.copy())
        return self.inner.handle_request(request)


def shop(facilitator_url: str, **options: Any) -> tuple[FastAPI, List[Dict[str, Any]]]:
    app = FastAPI()
    seen: List[Dict[str, Any]] = []

    @app.get("/weather")
    async def weather(request: Request) -> Dict[str, str]:
        paid = request.state.paywire
        seen.append({"payer": paid.payer, "paid": paid.payment is not None})
        return {"forecast": "sunny"}

    app.add_middleware(
        PaymentMiddleware,
        routes={"GET /weather": TAG},
        facilitator=AsyncFacilitatorClient(facilitator_url, timeout=5),
        sign_in=options.pop("sign_in", True),
        **options,
    )
    return app, seen


def payer(key: str = PAYER_KEY) -> paywire.Payer:
    return paywire.Payer(paywire.LocalSigner(key))


def test_a_wallet_that_paid_signs_in_and_is_served_without_paying(facilitator: Any) -> None:
    app, seen = shop(facilitator.url)
    recording = Recording()
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer(), recording)) as client:
        first = client.get(f"{url}/weather")
        second = client.get(f"{url}/weather")
        third = client.get(f"{url}/weather")
        # The sign-in a client sent, replayed by someone who saw it, is refused.
        used = [h["sign-in-with-x"] for h in recording.sent if "sign-in-with-x" in h]
        replay = httpx.get(f"{url}/weather", headers={"SIGN-IN-WITH-X": used[-1]})
    assert first.status_code == 200 and paywire.httpx.payment(first) is not None
    for signed_in in (second, third):
        assert signed_in.status_code == 200 and signed_in.json() == {"forecast": "sunny"}
        assert paywire.httpx.payment(signed_in) is None and "payment-response" not in signed_in.headers
        assert signed_in.headers["cache-control"] == "private"
    assert seen == [{"payer": PAYER, "paid": True}, {"payer": PAYER, "paid": False}, {"payer": PAYER, "paid": False}]
    assert facilitator.settle_calls == 1
    # The first call tried no sign-in that could succeed; the next two each signed a fresh challenge.
    assert len(used) == 3 and len(set(used)) == 3
    assert replay.status_code == 402 and replay.json()["error"] == "invalid_siwx_nonce"
    bill = paywire.decode_header_json(replay.headers["payment-required"])
    assert bill["extensions"]["sign-in-with-x"]["info"]["domain"] == url.removeprefix("http://")


def test_a_wallet_that_never_paid_is_refused_then_pays(facilitator: Any) -> None:
    app, seen = shop(facilitator.url)
    with served(app) as url:
        with httpx.Client(transport=PaymentTransport(payer())) as client:
            assert client.get(f"{url}/weather").status_code == 200
        with httpx.Client(transport=PaymentTransport(payer(OTHER_KEY))) as other:
            r = other.get(f"{url}/weather")
    assert r.status_code == 200 and paywire.httpx.payment(r) is not None
    assert facilitator.settle_calls == 2
    assert [s["paid"] for s in seen] == [True, True]


def test_sign_ins_are_refused_with_reasons(facilitator: Any) -> None:
    app, _ = shop(facilitator.url, sign_in=SignIn(max_age_seconds=60))
    with served(app) as url:
        with httpx.Client(transport=PaymentTransport(payer())) as client:
            client.get(f"{url}/weather")
        unpaid = httpx.get(f"{url}/weather")
        info = paywire.decode_header_json(unpaid.headers["payment-required"])["extensions"]["sign-in-with-x"]["info"]
        account = Account.from_key(PAYER_KEY)

        def signed(**change: Any) -> str:
            from x402.extensions.sign_in_with_x import create_siwx_payload, encode_siwx_header

            complete = {**info, "chainId": NETWORK, "type": "eip191", **change}
            target = f"http://{complete['domain']}/weather"
            payload = asyncio.run(create_siwx_payload(complete, account, target))
            return str(encode_siwx_header(payload))

        def refused(header: str) -> str:
            r = httpx.get(f"{url}/weather", headers={"SIGN-IN-WITH-X": header})
            assert r.status_code == 402 and "sunny" not in r.text
            return str(r.json()["error"])

        assert refused(signed(domain="evil.test", uri="http://evil.test/weather")) == "invalid_siwx_domain_mismatch"
        assert refused(signed(chainId="eip155:1")) == "invalid_siwx_unsupported_chain"
        assert refused(signed(issuedAt="2020-01-01T00:00:00Z")) == "invalid_siwx_issued_at_too_old"
        assert refused(signed(expirationTime="2020-01-01T00:00:00Z")) == "invalid_siwx_expired"
        tampered = json.loads(base64.b64decode(signed()))
        tampered["address"] = Account.from_key(OTHER_KEY).address
        assert refused(base64.b64encode(json.dumps(tampered).encode()).decode()) == "invalid_siwx_signature"
        assert refused("not base64 at all") == "invalid_siwx_payload"
        good = signed()
        assert httpx.get(f"{url}/weather", headers={"SIGN-IN-WITH-X": good}).status_code == 200
        assert refused(good) == "invalid_siwx_nonce"
    assert facilitator.settle_calls == 1


def test_without_sign_in_the_client_pays_and_without_it_on_the_server_nothing_is_declared(facilitator: Any) -> None:
    app, _ = shop(facilitator.url)
    plain, _ = shop(facilitator.url, sign_in=False)
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer(), sign_in=False)) as client:
        client.get(f"{url}/weather")
        again = client.get(f"{url}/weather")
    assert paywire.httpx.payment(again) is not None and facilitator.settle_calls == 2
    with served(plain) as url:
        bill = paywire.decode_header_json(httpx.get(f"{url}/weather").headers["payment-required"])
    assert "sign-in-with-x" not in (bill.get("extensions") or {})


def test_wsgi_and_requests_sign_in_too(facilitator: Any) -> None:
    flask_app = Flask(__name__)
    served_count = {"n": 0}

    @flask_app.get("/weather")
    def weather() -> Dict[str, str]:
        served_count["n"] += 1
        return {"forecast": "sunny"}

    flask_app.wsgi_app = WsgiPaymentMiddleware(  # type: ignore[method-assign]
        flask_app.wsgi_app,
        routes={"GET /weather": TAG},
        facilitator=FacilitatorClient(facilitator.url, timeout=5),
        url_map=flask_app.url_map,
        sign_in=True,
    )
    session = requests.Session()
    session.mount("http://", PaymentAdapter(payer()))
    with served_wsgi(flask_app) as url:
        first = session.get(f"{url}/weather")
        second = session.get(f"{url}/weather")
    assert first.status_code == 200 and paywire.requests.payment(first) is not None
    assert second.status_code == 200 and paywire.requests.payment(second) is None
    assert served_count["n"] == 2 and facilitator.settle_calls == 1


def _official_client(key: str = PAYER_KEY) -> x402Client:
    account = Account.from_key(key)
    client = register_exact_evm_client(x402Client(), account)
    client.register_extension(create_siwx_client_extension(CreateSIWxClientExtensionOptions(signers=[account])))
    return client


def test_the_official_client_pays_then_signs_in_to_a_paywire_server(facilitator: Any) -> None:
    app, seen = shop(facilitator.url)

    async def visit(url: str) -> List[httpx.Response]:
        async with x402HttpxClient(_official_client(), timeout=10) as client:
            return [await client.get(f"{url}/weather") for _ in range(3)]

    with served(app) as url:
        answers = asyncio.run(visit(url))
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert "payment-response" in answers[0].headers
    assert all("payment-response" not in r.headers for r in answers[1:])
    assert [s["paid"] for s in seen] == [True, False, False]
    assert facilitator.settle_calls == 1


def test_paywire_pays_then_signs_in_to_an_official_server(facilitator: Any) -> None:
    app = FastAPI()
    served_count = {"n": 0}

    @app.get("/weather")
    async def weather() -> Dict[str, str]:
        served_count["n"] += 1
        return {"forecast": "sunny"}

    server = register_exact_evm_server(
        x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=facilitator.url))), NETWORK
    )
    routes = {
        "GET /weather": {
            "accepts": {"scheme": "exact", "payTo": PAY_TO, "price": "$0.001", "network": NETWORK},
            "extensions": declare_siwx_extension(DeclareSIWxOptions(network=NETWORK)),
        }
    }
    app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)
    recording = Recording()
    with served(app) as url:
        # The official extension needs the server's origin, known once it listens.
        options = CreateSIWxRequestHookOptions(origin=url, storage=InMemorySIWxStorage())
        server.register_extension(create_siwx_resource_server_extension(options))
        with httpx.Client(transport=PaymentTransport(payer(), recording), timeout=10) as client:
            first = client.get(f"{url}/weather")
            second = client.get(f"{url}/weather")
    assert first.status_code == 200, first.text
    assert paywire.httpx.payment(first) is not None
    assert second.status_code == 200, second.text
    assert paywire.httpx.payment(second) is None
    assert any("sign-in-with-x" in h for h in recording.sent)
    assert served_count["n"] == 2 and facilitator.settle_calls == 1


class DictStore(PaymentStore):
    """A store shared by two apps (two "replicas"), in memory, as a shared store's four atomic operations."""

    def __init__(self) -> None:
        self.entries: Dict[str, StoreEntry] = {}

    async def claim(self, key: str, entry: StoreEntry) -> Optional[StoreEntry]:  # type: ignore[override]
        held = self.entries.get(key)
        if held is not None:
            return held
        self.entries[key] = entry
        return None

    async def get(self, key: str) -> Optional[StoreEntry]:  # type: ignore[override]
        return self.entries.get(key)

    async def replace(self, key: str, token: str, entry: StoreEntry) -> bool:  # type: ignore[override]
        held = self.entries.get(key)
        if held is None or held.token != token:
            return False
        self.entries[key] = entry
        return True

    async def release(self, key: str, token: str) -> None:  # type: ignore[override]
        held = self.entries.get(key)
        if held is not None and held.token == token:
            del self.entries[key]


def test_replicas_sharing_a_store_share_who_paid_and_which_sign_ins_were_used(facilitator: Any) -> None:
    store = DictStore()
    first, seen_first = shop(facilitator.url, store=store)
    second, seen_second = shop(facilitator.url, store=store)
    recording = Recording()
    with served(first) as url_a, served(second) as url_b:
        with httpx.Client(transport=PaymentTransport(payer(), recording)) as client:
            assert client.get(f"{url_a}/weather").status_code == 200
        # The second replica, on another origin here, asks for its own sign-in: the wallet paid for the path.
        with httpx.Client(transport=PaymentTransport(payer())) as client:
            signed_in = client.get(f"{url_b}/weather")
        used = [h["sign-in-with-x"] for h in recording.sent if "sign-in-with-x" in h]
    assert signed_in.status_code == 200 and paywire.httpx.payment(signed_in) is None
    assert [s["paid"] for s in seen_first + seen_second] == [True, False]
    assert facilitator.settle_calls == 1
    assert any(key.startswith("siwx:paid:GET:/weather:") for key in store.entries)
    assert any(key.startswith("siwx:nonce:") for key in store.entries)
    assert len(used) == 1
