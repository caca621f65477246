"""A paid FastAPI endpoint: GET /weather costs $0.001 (or PRICE) in USDC on Base Sepolia (or NETWORK).

    PAY_TO=0xYourAddress FACILITATOR_URL=https://x402.org/facilitator uvicorn paid_api:app

Unpaid requests get a 402 with the bill; paid ones are verified, served, and settled by the facilitator.

Replicas behind a load balancer must share one payment store, or a payment sent to two of them at once is
served twice: set REDIS_URL (`pip install "paywire[redis]"`) and the same PUBLIC_URL (the origin clients use)
on every replica.
"""

import os

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from paywire import PriceTag
from paywire.asgi import ALLOWED_HEADERS, PaymentMiddleware, PaymentStore, Route
from paywire.facilitator import AsyncFacilitatorClient

PAY_TO = os.environ.get("PAY_TO", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
FACILITATOR_URL = os.environ.get("FACILITATOR_URL", "https://x402.org/facilitator")
PRICE = os.environ.get("PRICE", "$0.001")
NETWORK = os.environ.get("NETWORK", "eip155:84532")
REDIS_URL = os.environ.get("REDIS_URL")
PUBLIC_URL = os.environ.get("PUBLIC_URL")

app = FastAPI()


def shared_store(url: str) -> PaymentStore:
    """The payment store replicas share on Redis (the same keys and scripts as Node's and Kotlin's)."""
    import redis.asyncio

    from paywire.redis import AsyncRedisStore

    return AsyncRedisStore(redis.asyncio.Redis.from_url(url))


@app.get("/weather")
async def weather(request: Request) -> dict[str, str]:
    paid = request.state.paywire  # who paid, and how much
    return {"forecast": "sunny", "paid_by": paid.payer}


@app.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


app.add_middleware(
    PaymentMiddleware,
    routes={
        "GET /weather": Route(PriceTag(NETWORK, PAY_TO, PRICE), description="Today's weather"),
    },
    facilitator=AsyncFacilitatorClient(FACILITATOR_URL),
    store=shared_store(REDIS_URL) if REDIS_URL else None,  # None: this process's memory (one process only)
    public_url=PUBLIC_URL,
)
# For browsers: let the payment headers through CORS (added last, so it runs first). paywire itself exposes
# the x402 response headers.
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_headers=ALLOWED_HEADERS.split(", "))
