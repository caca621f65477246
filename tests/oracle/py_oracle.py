"""The official x402 Python SDK (PyPI `x402` 2.25, eth-account) as an oracle for paywire's tests.

`pay` drives the SDK's client with a pinned clock and nonce (the client reads `time.time` once and
`os.urandom(32)` once per payment; signing is RFC 6979). `verify` runs the SDK's own facilitator
verification with a chain stand-in: the payer has no code (an EOA), the asset and Permit2 contracts have
code, and simulations succeed. The signature check is the SDK's own hashing and ecrecover.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from typing import Any

from eth_account import Account
from x402 import x402Client, x402FacilitatorSync
from x402.http import x402HTTPClient
from x402.mechanisms.evm.exact import register_exact_evm_client, register_exact_evm_facilitator
from x402.schemas import PaymentPayload, PaymentRequirements
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequirementsV1

# The SDK logs every refused signature at warning level; the oracle reports verdicts instead.
logging.getLogger("x402").setLevel(logging.ERROR)

PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
EXACT_PERMIT2_PROXY = "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"


@contextlib.contextmanager
def pinned(now: int | None, nonce: str | None):
    real_time, real_urandom = time.time, os.urandom
    if now is not None:
        time.time = lambda: float(now)
    if nonce is not None:
        fixed = bytes.fromhex(nonce.removeprefix("0x"))
        os.urandom = lambda n: (fixed * (n // len(fixed) + 1))[:n]
    try:
        yield
    finally:
        time.time, os.urandom = real_time, real_urandom


def pay(bill: dict, key: str, now: int | None = None, nonce: str | None = None) -> dict:
    """bill = {"header": PAYMENT-REQUIRED value} or {"body": v1 JSON}; returns the payment header."""
    from x402.mechanisms.evm.batch_settlement.client import BatchSettlementEvmScheme

    account = Account.from_key(key)
    client = register_exact_evm_client(x402Client(), account)
    http = x402HTTPClient(client.register("eip155:*", BatchSettlementEvmScheme(account)))
    headers = {"PAYMENT-REQUIRED": bill["header"]} if "header" in bill else {}
    body = json.loads(bill["body"]) if isinstance(bill.get("body"), str) else bill.get("body")
    pr = http.get_payment_required_response(lambda n: headers.get(n.upper()), body)
    with pinned(now, nonce):
        payload = asyncio.run(http.create_payment_payload(pr))
    ((name, value),) = http.encode_payment_signature_header(payload).items()
    return {"headerName": name, "headerValue": value}


class _Chain:
    """Implements the SDK's FacilitatorEvmSigner without a chain."""

    def __init__(self, requirements: dict):
        self.contracts = {a.lower() for a in (requirements["asset"], PERMIT2, EXACT_PERMIT2_PROXY)}
        self.extra = requirements.get("extra") or {}

    def get_addresses(self) -> list[str]:
        return ["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"]

    def get_chain_id(self) -> int:
        return 84532

    def get_code(self, address: str) -> bytes:
        return b"\x60\x80" if address.lower() in self.contracts else b""

    def read_contract(self, address, abi, function_name, *args) -> Any:
        return {
            "transferWithAuthorization": None,
            "balanceOf": 10**30,
            "allowance": 2**256 - 1,
            "authorizationState": False,
            "name": self.extra.get("name"),
            "version": self.extra.get("version"),
            "PERMIT2": PERMIT2,
        }[function_name]

    def verify_typed_data(self, *args, **kwargs) -> bool:
        raise RuntimeError("not used by the exact EVM verifier")

    def get_balance(self, address: str, token_address: str) -> int:
        return 10**30

    def write_contract(self, *a, **k):
        raise RuntimeError("offline")

    def send_transaction(self, *a, **k):
        raise RuntimeError("offline")

    def wait_for_transaction_receipt(self, *a, **k):
        raise RuntimeError("offline")


def verify(payload: dict, requirements: dict, now: int) -> dict:
    """The SDK facilitator's VerifyResponse for a payment against requirements at time `now`."""
    network = requirements["network"]
    networks = [network] if network.startswith("eip155:") else ["eip155:84532"]
    facilitator = register_exact_evm_facilitator(x402FacilitatorSync(), _Chain(requirements), networks)
    if payload["x402Version"] == 1:
        pp, pr = PaymentPayloadV1.model_validate(payload), PaymentRequirementsV1.model_validate(requirements)
    else:
        pp, pr = PaymentPayload.model_validate(payload), PaymentRequirements.model_validate(requirements)
    with pinned(now, None):
        try:
            return facilitator.verify(pp, pr).model_dump(by_alias=True, exclude_none=True)
        except Exception as e:  # the SDK raises for payloads it cannot even route
            return {"isValid": False, "invalidReason": f"exception: {type(e).__name__}: {e}"}
