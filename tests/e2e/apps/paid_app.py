"""A paid API for the on-chain fault tests: paywire's ASGI middleware in front of a handler that serves
(/weather), one that answers 500 (/broken) and one that raises (/crash). Each costs PRICE (default $0.01).

    PAY_TO=0x... FACILITATOR_URL=http://... uvicorn paid_app:app
"""

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from paywire import PriceTag
from paywire.asgi import PaymentMiddleware, Route
from paywire.facilitator import AsyncFacilitatorClient

app = FastAPI()


@app.get("/weather")
async def weather(request: Request) -> dict:
    return {"forecast": "sunny", "paid_by": request.state.paywire.payer}


@app.get("/broken")
async def broken() -> JSONResponse:
    return JSONResponse({"error": "the weather service is down"}, status_code=500)


@app.get("/crash")
async def crash() -> dict:
    raise RuntimeError("the handler crashed")


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


tag = PriceTag(os.environ.get("NETWORK", "eip155:84532"), os.environ["PAY_TO"], os.environ.get("PRICE", "$0.01"))
app.add_middleware(
    PaymentMiddleware,
    routes={f"GET /{path}": Route(tag) for path in ("weather", "broken", "crash")},
    facilitator=AsyncFacilitatorClient(os.environ["FACILITATOR_URL"]),
)
