"""A paid API for the on-chain fault tests: paywire's ASGI middleware in front of a handler that serves
(/weather), one that answers 500 (/broken) and one that raises (/crash). Each costs PRICE (default $0.01).

    PAY_TO=0x... FACILITATOR_URL=http://... uvicorn paid_app:app

STORE_URL names a payment store shared with other processes, over HTTP (test_shared_store.py serves it), and
REDIS_URL one on Redis (paywire.redis); PUBLIC_URL the origin the processes share; TAKEOVER_AFTER the seconds
before a payment left in flight by a dead replica is taken over (default 300); SIGN_IN=1 turns sign-in-with-x
on (a wallet that paid signs in again without paying); ACCESS_ISSUERS (comma-separated addresses) and
ACCESS_LIFETIME accept passes (receipts) those keys signed instead of a payment, PASS_FACILITATOR names in
bills the facilitator that issues them, and OFFER_KEY signs the bills' offers (which state prices to it). BROWSER_BUNDLE names paywire's
browser build (node/wasm/paywire.mjs), served free with the test page (apps/browser/) at /page/, so a page on
this origin pays /weather (test_browser.py). TRANSFER_METHOD=permit2 asks for PRICE_ATOMIC (default 10000)
of Base Sepolia's USDC paid through Permit2 instead (test_permit2.py). UPTO_FACILITATOR (the facilitator's upto
key) adds GET /generate, metered with the upto scheme: at most UPTO_MAX (default 50000) units of USDC, charging
the `used` query parameter (the Settlement-Overrides header the handler sets). BATCH_AUTHORIZER (the receiver
authorizer, e.g. the facilitator's key) adds GET /batch, paid from batch-settlement channels, BATCH_PRICE (default
1000) units of USDC a request, and POST /claim, which claims the channels' charges and sweeps them (free);
BATCH_AUTHORIZER_KEY instead makes the server hold its receiver authorizer (it signs claims and refunds);
BATCH_METHOD=permit2 asks for deposits through Permit2.
"""

import json
import os
from typing import Any, Optional

import httpx
import redis.asyncio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from paywire import AccessPolicy, Issuer, LocalSigner, PriceTag, StoreEntry
from paywire.asgi import Claims, PaymentMiddleware, PaymentStore, Route
from paywire.facilitator import AsyncFacilitatorClient, FacilitatorClient
from paywire.redis import AsyncRedisStore


class SharedStore(PaymentStore):
    """The store service's four operations, each one atomic there."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.AsyncClient()

    async def _call(self, op: str, **body: Any) -> Any:
        r = await self.client.post(f"{self.url}/{op}", json=body)
        r.raise_for_status()
        return r.json()

    @staticmethod
    def _entry(text: Optional[str]) -> Optional[StoreEntry]:
        return None if text is None else StoreEntry.from_json(text)

    async def claim(self, key: str, entry: StoreEntry) -> Optional[StoreEntry]:  # type: ignore[override]
        answer = await self._call("claim", key=key, entry=entry.to_json(), expiresAt=entry.expires_at)
        return self._entry(answer["entry"])

    async def get(self, key: str) -> Optional[StoreEntry]:  # type: ignore[override]
        return self._entry((await self._call("get", key=key))["entry"])

    async def replace(self, key: str, token: str, entry: StoreEntry) -> bool:  # type: ignore[override]
        answer = await self._call("replace", key=key, token=token, entry=entry.to_json(), expiresAt=entry.expires_at)
        return bool(answer["replaced"])

    async def release(self, key: str, token: str) -> None:  # type: ignore[override]
        await self._call("release", key=key, token=token)


app = FastAPI()


served = 0


@app.get("/weather")
async def weather(request: Request) -> dict:
    # served_by: a response held by one process and collected from another still names the first; `served`
    # counts the handler's runs, so a test can tell a response answered again from one served again.
    global served
    served += 1
    return {"forecast": "sunny", "paid_by": request.state.paywire.payer, "served_by": "python"}


@app.get("/generate")
async def generate(used: str, response: Response) -> dict:
    # An upto route: the handler reports what the request used, in atomic units ("50%" and "$0.01" work too).
    response.headers["Settlement-Overrides"] = json.dumps({"amount": used})
    return {"generated": "tokens", "charged": used}


# Claims by schedule: off unless a test asks (BATCH_CLAIM_EVERY seconds, BATCH_CLAIM_AT atomic units), so the
# other tests claim when they say (POST /claim).
claims = Claims(every_seconds=int(os.environ.get("BATCH_CLAIM_EVERY", "0")),
                at_amount=int(os.environ.get("BATCH_CLAIM_AT", "0")))
claims.tick_seconds = 0.5


@app.get("/batch")
async def batch(request: Request) -> dict:
    return {"item": "paid from a channel", "paid_by": request.state.paywire.payer}


@app.post("/claim")
async def claim() -> dict:
    return await claims.run()


@app.get("/served")
async def served_count() -> dict:
    return {"served": served}


@app.get("/broken")
async def broken() -> JSONResponse:
    return JSONResponse({"error": "the weather service is down"}, status_code=500)


@app.get("/crash")
async def crash() -> dict:
    raise RuntimeError("the handler crashed")


PAGE_FILES = {"index.html": "text/html", "paywire.mjs": "text/javascript"}


@app.get("/page/{name}")
async def page(name: str) -> Response:
    bundle = os.environ.get("BROWSER_BUNDLE")
    if bundle is None or name not in PAGE_FILES:
        return JSONResponse({"error": "not found"}, status_code=404)
    path = bundle if name == "paywire.mjs" else os.path.join(os.path.dirname(__file__), "browser", name)
    return FileResponse(path, media_type=PAGE_FILES[name], headers={"Cache-Control": "no-store"})


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


# GAS_SPONSORING declares the facilitator's eip2612GasSponsoring: a payer may send an EIP-2612 permit for Permit2.
sponsoring = {"eip2612GasSponsoring": {"info": {"description": "The facilitator approves Permit2 for you",
                                                "version": "1"}}}
tag = (
    PriceTag(os.environ.get("NETWORK", "eip155:84532"), os.environ["PAY_TO"],
             amount=int(os.environ.get("PRICE_ATOMIC", "10000")), asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
             transfer_method="permit2", extensions=sponsoring if os.environ.get("GAS_SPONSORING") else None)
    if os.environ.get("TRANSFER_METHOD") == "permit2"
    else PriceTag(os.environ.get("NETWORK", "eip155:84532"), os.environ["PAY_TO"], os.environ.get("PRICE", "$0.01"))
)
routes = {f"GET /{path}": Route(tag) for path in ("weather", "broken", "crash")}
# UPTO_FACILITATOR=supported: the tag leaves the facilitator's address out, and the facilitator's /supported
# answer fills it in.
from_supported = os.environ.get("UPTO_FACILITATOR") == "supported"
if os.environ.get("UPTO_FACILITATOR"):
    routes["GET /generate"] = Route(PriceTag(
        os.environ.get("NETWORK", "eip155:84532"), os.environ["PAY_TO"], amount=int(os.environ.get("UPTO_MAX", "50000")),
        asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e", scheme="upto",
        extra=None if from_supported else {"facilitatorAddress": os.environ["UPTO_FACILITATOR"]}))
authorizer_key = os.environ.get("BATCH_AUTHORIZER_KEY")
if authorizer_key:
    os.environ["BATCH_AUTHORIZER"] = LocalSigner(authorizer_key).address
if os.environ.get("BATCH_AUTHORIZER"):
    routes["GET /batch"] = Route(PriceTag(
        os.environ.get("NETWORK", "eip155:84532"), os.environ["PAY_TO"], amount=int(os.environ.get("BATCH_PRICE", "1000")),
        asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e", scheme="batch-settlement",
        transfer_method=os.environ.get("BATCH_METHOD", "eip3009"),
        extra={"receiverAuthorizer": os.environ["BATCH_AUTHORIZER"], "withdrawDelay": 900}))
app.add_middleware(
    PaymentMiddleware,
    routes=routes,
    facilitator=AsyncFacilitatorClient(os.environ["FACILITATOR_URL"]),
    supported=FacilitatorClient(os.environ["FACILITATOR_URL"]).supported() if from_supported else None,
    store=(
        AsyncRedisStore(redis.asyncio.from_url(os.environ["REDIS_URL"]))
        if os.environ.get("REDIS_URL")
        else SharedStore(os.environ["STORE_URL"])
        if os.environ.get("STORE_URL")
        else None
    ),
    public_url=os.environ.get("PUBLIC_URL"),
    takeover_after=int(os.environ.get("TAKEOVER_AFTER", "90")),
    sign_in=os.environ.get("SIGN_IN") == "1",
    access=(
        AccessPolicy(os.environ["ACCESS_ISSUERS"].split(","), int(os.environ.get("ACCESS_LIFETIME", "3600")))
        if os.environ.get("ACCESS_ISSUERS")
        else None
    ),
    pass_facilitator=os.environ.get("PASS_FACILITATOR"),
    issuer=Issuer(LocalSigner(os.environ["OFFER_KEY"])) if os.environ.get("OFFER_KEY") else None,
    claims=claims,
    receiver_authorizer=LocalSigner(authorizer_key) if authorizer_key else None,
)
