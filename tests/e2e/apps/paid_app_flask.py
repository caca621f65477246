"""A paid Flask API for the on-chain fault tests: paywire's WSGI middleware in front of a handler that serves
(/weather), one that answers 500 (/broken) and one that raises (/crash). Each costs PRICE (default $0.01).
UPTO_FACILITATOR (the facilitator's upto key) adds GET /generate, metered with the upto scheme (at most UPTO_MAX,
charging the `used` query parameter); BATCH_AUTHORIZER adds GET /batch, paid from batch-settlement channels
(BATCH_PRICE units a request), and POST /claim, which claims and sweeps (free).

    PAY_TO=0x... FACILITATOR_URL=http://... PORT=... python paid_app_flask.py
"""

import json
import os

from flask import Flask, jsonify, request

from paywire import PriceTag
from paywire.facilitator import FacilitatorClient
from paywire.wsgi import Claims, PaymentMiddleware, Route, paid

app = Flask(__name__)


@app.get("/weather")
def weather():  # type: ignore[no-untyped-def]
    return jsonify(forecast="sunny", paid_by=paid(request.environ).payer)  # type: ignore[union-attr]


@app.get("/broken")
def broken():  # type: ignore[no-untyped-def]
    return jsonify(error="the weather service is down"), 500


@app.get("/crash")
def crash():  # type: ignore[no-untyped-def]
    raise RuntimeError("the handler crashed")


@app.get("/health")
def health():  # type: ignore[no-untyped-def]
    return jsonify(ok=True)


@app.get("/generate")
def generate():  # type: ignore[no-untyped-def]
    # An upto route: the handler reports what the request used, in atomic units.
    used = request.args["used"]
    return jsonify(generated="tokens", charged=used), 200, {"Settlement-Overrides": json.dumps({"amount": used})}


@app.get("/batch")
def batch():  # type: ignore[no-untyped-def]
    return jsonify(item="paid from a channel")


@app.post("/claim")
def claim():  # type: ignore[no-untyped-def]
    return jsonify(claims.run())


USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
network = os.environ.get("NETWORK", "eip155:84532")
tag = PriceTag(network, os.environ["PAY_TO"], os.environ.get("PRICE", "$0.01"))
routes = {f"GET /{path}": Route(tag) for path in ("weather", "broken", "crash")}
if os.environ.get("UPTO_FACILITATOR"):
    routes["GET /generate"] = Route(PriceTag(
        network, os.environ["PAY_TO"], amount=int(os.environ.get("UPTO_MAX", "50000")), asset=USDC, scheme="upto",
        extra={"facilitatorAddress": os.environ["UPTO_FACILITATOR"]}))
if os.environ.get("BATCH_AUTHORIZER"):
    routes["GET /batch"] = Route(PriceTag(
        network, os.environ["PAY_TO"], amount=int(os.environ.get("BATCH_PRICE", "1000")), asset=USDC,
        scheme="batch-settlement", extra={"receiverAuthorizer": os.environ["BATCH_AUTHORIZER"], "withdrawDelay": 900}))
# Claims when a test asks (POST /claim), not on a schedule.
claims = Claims(every_seconds=0)
app.wsgi_app = PaymentMiddleware(  # type: ignore[method-assign]
    app.wsgi_app,
    routes,
    facilitator=FacilitatorClient(os.environ["FACILITATOR_URL"]),
    url_map=app.url_map,
    claims=claims,
)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
