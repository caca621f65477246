"""A paid Flask API for the on-chain fault tests: paywire's WSGI middleware in front of a handler that serves
(/weather), one that answers 500 (/broken) and one that raises (/crash). Each costs PRICE (default $0.01).

    PAY_TO=0x... FACILITATOR_URL=http://... PORT=... python paid_app_flask.py
"""

import os

from flask import Flask, jsonify, request

from paywire import PriceTag
from paywire.facilitator import FacilitatorClient
from paywire.wsgi import PaymentMiddleware, paid

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


tag = PriceTag(os.environ.get("NETWORK", "eip155:84532"), os.environ["PAY_TO"], os.environ.get("PRICE", "$0.01"))
app.wsgi_app = PaymentMiddleware(  # type: ignore[method-assign]
    app.wsgi_app,
    {f"GET /{path}": tag for path in ("weather", "broken", "crash")},
    facilitator=FacilitatorClient(os.environ["FACILITATOR_URL"]),
    url_map=app.url_map,
)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
