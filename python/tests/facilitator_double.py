"""A facilitator test double served over real HTTP: ``/verify`` is the official x402 SDK's own facilitator
verification (tests/oracle/py_oracle.py) against an in-memory chain; ``/settle`` re-verifies and then marks
the authorization used on that chain instead of broadcasting it. The real on-chain facilitator is tested
in its own suite; this double lets the Python suite drive every facilitator outcome on purpose.

``mode`` picks the behaviour: "ok"; "verify_invalid" (every payment invalid); "settle_fails" (settlement
refused with insufficient_funds); "garbage" (answers that are not x402); "settle_down_once" (the first
/settle fails with a 502, settling nothing); "pending_then_ok" and "pending_twice" (the first one or two
/settle calls report settlement_pending, later ones reconcile against the transaction and succeed).
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Dict, List, Set, Tuple

import py_oracle
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from x402 import x402FacilitatorSync
from x402.mechanisms.evm.exact import register_exact_evm_facilitator
from x402.schemas import PaymentPayload, PaymentRequirements
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequirementsV1

NETWORKS = ["eip155:84532", "eip155:8453"]
# The address the chain stand-in says the facilitator settles from.
FACILITATOR_ADDRESS = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


class _Chain(py_oracle._Chain):
    """The oracle's chain stand-in, with authorizations that stay used once settled."""

    def __init__(self, requirements: dict, used: Set[Tuple[str, str]]) -> None:
        super().__init__(requirements)
        self.used = used

    def get_chain_id(self) -> int:
        return 84532

    def read_contract(self, address, abi, function_name, *args) -> Any:
        if function_name == "authorizationState":
            authorizer, nonce = args
            nonce = nonce.hex() if isinstance(nonce, (bytes, bytearray)) else str(nonce)
            return (str(authorizer).lower(), nonce.lower().removeprefix("0x")) in self.used
        return super().read_contract(address, abi, function_name, *args)


class FacilitatorDouble:
    def __init__(self) -> None:
        self.mode = "ok"
        self.verify_calls = 0
        self.settle_calls = 0
        self.settled: List[Dict[str, Any]] = []
        self.auth_headers: List[Dict[str, str]] = []
        self.used: Set[Tuple[str, str]] = set()
        self.pending: Set[Tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/verify", self._verify, methods=["POST"]),
                Route("/settle", self._settle, methods=["POST"]),
                Route("/supported", self._supported, methods=["GET"]),
            ]
        )

    def _official_verify(self, body: dict) -> dict:
        payload, requirements = body["paymentPayload"], body["paymentRequirements"]
        network = requirements["network"]
        networks = [network] if network.startswith("eip155:") else ["eip155:84532"]
        facilitator = register_exact_evm_facilitator(
            x402FacilitatorSync(), _Chain(requirements, self.used), networks
        )
        if payload["x402Version"] == 1:
            pp, pr = PaymentPayloadV1.model_validate(payload), PaymentRequirementsV1.model_validate(requirements)
        else:
            pp, pr = PaymentPayload.model_validate(payload), PaymentRequirements.model_validate(requirements)
        return facilitator.verify(pp, pr).model_dump(by_alias=True, exclude_none=True)

    async def _verify(self, request: Request) -> Response:
        self.verify_calls += 1
        self.auth_headers.append({"endpoint": "verify", "authorization": request.headers.get("authorization", "")})
        if self.mode == "garbage":
            return PlainTextResponse("<html>upstream error</html>", status_code=200)
        body = json.loads(await request.body())
        if self.mode == "verify_invalid":
            return JSONResponse({"isValid": False, "invalidReason": "insufficient_funds", "payer": "0x0"})
        return JSONResponse(self._official_verify(body))

    async def _settle(self, request: Request) -> Response:
        self.settle_calls += 1
        self.auth_headers.append({"endpoint": "settle", "authorization": request.headers.get("authorization", "")})
        if self.mode == "garbage" or (self.mode == "settle_down_once" and self.settle_calls == 1):
            return PlainTextResponse("<html>upstream error</html>", status_code=502)
        body = json.loads(await request.body())
        network = body["paymentRequirements"]["network"]
        if self.mode == "settle_fails":
            return JSONResponse(
                {"success": False, "errorReason": "insufficient_funds", "transaction": "", "network": network}
            )
        authorization = body["paymentPayload"]["payload"]["authorization"]
        key = (authorization["from"].lower(), authorization["nonce"].lower().removeprefix("0x"))
        tx = "0x" + hashlib.sha256(json.dumps(authorization, sort_keys=True).encode()).hexdigest()
        pending_for = {"pending_then_ok": 1, "pending_twice": 2}.get(self.mode, 0)
        with self._lock:
            if key in self.pending:
                # A settlement broadcast earlier: reconcile against its transaction instead of paying twice.
                if self.settle_calls <= pending_for:
                    return JSONResponse(
                        {"success": False, "errorReason": "settlement_pending", "transaction": tx, "network": network}
                    )
                self.pending.discard(key)
            else:
                verdict = self._official_verify(body)
                if not verdict.get("isValid"):
                    return JSONResponse(
                        {
                            "success": False,
                            "errorReason": verdict.get("invalidReason", "invalid_payload"),
                            "transaction": "",
                            "network": network,
                            "payer": verdict.get("payer"),
                        }
                    )
                self.used.add(key)
                if self.settle_calls <= pending_for:
                    self.pending.add(key)
                    return JSONResponse(
                        {"success": False, "errorReason": "settlement_pending", "transaction": tx, "network": network}
                    )
        self.settled.append(body)
        return JSONResponse(
            {"success": True, "transaction": tx, "network": network, "payer": authorization["from"], "fee": "0"}
        )

    async def _supported(self, request: Request) -> Response:
        kinds = [{"x402Version": 2, "scheme": "exact", "network": n} for n in NETWORKS]
        kinds += [{"x402Version": 1, "scheme": "exact", "network": "base-sepolia"}]
        return JSONResponse({"kinds": kinds, "extensions": [], "signers": {"eip155:*": [FACILITATOR_ADDRESS]}})
