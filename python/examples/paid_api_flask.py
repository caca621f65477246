"""A paid Flask endpoint: GET /weather costs $0.001 (or PRICE) in USDC on Base Sepolia (or NETWORK).

    PAY_TO=0xYourAddress FACILITATOR_URL=https://x402.org/facilitator flask --app paid_api_flask run

paywire's WSGI middleware asks Flask's URL map which rule takes each request, so a request Flask answers
itself (404, a slash redirect) is never billed.
"""

import os

from flask import Flask, jsonify, request

from paywire import PriceTag
from paywire.facilitator import FacilitatorClient
from paywire.wsgi import PaymentMiddleware, Route, paid

PAY_TO = os.environ.get("PAY_TO", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
FACILITATOR_URL = os.environ.get("FACILITATOR_URL", "https://x402.org/facilitator")
PRICE = os.environ.get("PRICE", "$0.001")
NETWORK = os.environ.get("NETWORK", "eip155:84532")

app = Flask(__name__)


@app.get("/weather")
def weather():  # type: ignore[no-untyped-def]
    payment = paid(request.environ)  # who paid, and how much
    return jsonify(forecast="sunny", paid_by=payment.payer if payment else None)


@app.get("/health")
def health():  # type: ignore[no-untyped-def]
    return jsonify(ok=True)


app.wsgi_app = PaymentMiddleware(  # type: ignore[method-assign]
    app.wsgi_app,
    routes={"GET /weather": Route(PriceTag(NETWORK, PAY_TO, PRICE), description="Today's weather")},
    facilitator=FacilitatorClient(FACILITATOR_URL),
    url_map=app.url_map,
)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
