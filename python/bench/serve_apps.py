"""The apps `serve.py` measures: one FastAPI handler behind paywire's middleware or the official x402 middleware,
and the facilitator stub both settle through (it answers /verify and /settle at once, valid and settled).

    uvicorn --factory serve_apps:paywire_app | serve_apps:official_app | serve_apps:facilitator_stub

FACILITATOR_URL names the stub; PAY_TO the payee. With FACILITATOR_URL=inprocess, each middleware gets an
in-process stand-in for the stub instead (an object answering at once, in each SDK's own types), which leaves
the middleware and the framework as all there is to measure.
"""

from __future__ import annotations

import json
import os

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

NETWORK = "eip155:84532"
PAY_TO = os.environ.get("PAY_TO", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
FACILITATOR_URL = os.environ.get("FACILITATOR_URL", "http://127.0.0.1:1")
PAYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TX = "0x" + "ab" * 32


def _handler_app() -> FastAPI:
    app = FastAPI()

    @app.get("/weather")
    async def weather() -> dict:
        return {"forecast": "sunny"}

    return app


def paywire_app() -> FastAPI:
    import paywire
    from paywire import PriceTag
    from paywire.asgi import PaymentMiddleware
    from paywire.facilitator import AsyncFacilitatorClient

    class InProcess:
        verified = paywire.VerifyResponse.from_json(f'{{"isValid":true,"payer":"{PAYER}"}}')
        settled = paywire.SettleResponse.from_json(
            f'{{"success":true,"transaction":"{TX}","network":"{NETWORK}","payer":"{PAYER}"}}')

        async def verify(self, payment: object, requirements: object) -> paywire.VerifyResponse:
            return self.verified

        async def settle(self, payment: object, requirements: object) -> paywire.SettleResponse:
            return self.settled

    app = _handler_app()
    facilitator = InProcess() if FACILITATOR_URL == "inprocess" else AsyncFacilitatorClient(FACILITATOR_URL)
    app.add_middleware(PaymentMiddleware, routes={"GET /weather": PriceTag(NETWORK, PAY_TO, "$0.001")},
                       facilitator=facilitator)
    return app


def official_app() -> FastAPI:
    from x402 import x402ResourceServer
    from x402.http import FacilitatorConfig, HTTPFacilitatorClient
    from x402.http.middleware.fastapi import PaymentMiddlewareASGI
    from x402.mechanisms.evm.exact import register_exact_evm_server
    from x402.schemas import SettleResponse, SupportedKind, SupportedResponse, VerifyResponse

    class InProcess:
        async def verify(self, payload: object, requirements: object) -> VerifyResponse:
            return VerifyResponse(is_valid=True, payer=PAYER)

        async def settle(self, payload: object, requirements: object) -> SettleResponse:
            return SettleResponse(success=True, transaction=TX, network=NETWORK, payer=PAYER)

        def get_supported(self) -> SupportedResponse:
            return SupportedResponse(kinds=[SupportedKind(x402_version=2, scheme="exact", network=NETWORK)])

    app = _handler_app()
    facilitator = (InProcess() if FACILITATOR_URL == "inprocess"
                   else HTTPFacilitatorClient(FacilitatorConfig(url=FACILITATOR_URL)))
    server = register_exact_evm_server(x402ResourceServer(facilitator), NETWORK)
    routes = {"GET /weather": {"accepts": {"scheme": "exact", "payTo": PAY_TO, "price": "$0.001", "network": NETWORK}}}
    app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)
    return app


async def _verify(request: Request) -> Response:
    await request.body()
    return Response(f'{{"isValid":true,"payer":"{PAYER}"}}', media_type="application/json")


async def _settle(request: Request) -> Response:
    await request.body()
    return Response(f'{{"success":true,"transaction":"{TX}","network":"{NETWORK}","payer":"{PAYER}"}}',
                    media_type="application/json")


async def _supported(request: Request) -> Response:
    kinds = [{"x402Version": v, "scheme": "exact", "network": n} for v in (1, 2) for n in (NETWORK, "base-sepolia")]
    return Response(json.dumps({"kinds": kinds, "extensions": [], "signers": {}}), media_type="application/json")


def facilitator_stub() -> Starlette:
    return Starlette(routes=[StarletteRoute("/verify", _verify, methods=["POST"]),
                             StarletteRoute("/settle", _settle, methods=["POST"]),
                             StarletteRoute("/supported", _supported)])
