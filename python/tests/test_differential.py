"""Differential tests through the Python API, both ways, against the official x402 Python SDK (2.25), with live
clocks, random keys and random nonces:

- what paywire's ``Payer`` signs, the official facilitator verification accepts;
- what the official client signs, paywire's ``check_payment`` accepts;
- tampered payments are refused by both, and paywire's reason is the official one where both name one.

The official side is tests/oracle/py_oracle.py, shared with the core's differential suite.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any, Callable, Dict, Tuple

import py_oracle
import pytest
from conftest import PAY_TO

import paywire

BILLS = [
    ("v2 Base Sepolia USDC", "$0.01", "eip155:84532", 2),
    ("v2 Base USDC", "$0.25", "eip155:8453", 2),
    ("v2 Polygon USDC", "$0.999999", "eip155:137", 2),
    ("v2 Permit2 MegaUSD", "$0.01", "eip155:4326", 2),
    ("v1 base-sepolia", "$0.05", "base-sepolia", 1),
    ("v1 avalanche", "$0.0001", "avalanche", 1),
]
RESOURCE = "https://api.example.com/premium"


def bill_for(price: str, network: str, version: int) -> paywire.PaymentRequired:
    tag = paywire.PriceTag(network, PAY_TO, price)
    return paywire.build_payment_required(RESOURCE, [tag], x402_version=version, description="Premium")


def wire(bill: paywire.PaymentRequired) -> Dict[str, Any]:
    """The bill as the official client reads it from a 402."""
    return {"header": bill.to_header()} if bill.x402_version == 2 else {"body": bill.to_json()}


def decode(value: str) -> Dict[str, Any]:
    return json.loads(base64.b64decode(value))


@pytest.fixture
def key() -> Tuple[str, paywire.LocalSigner]:
    signer = paywire.LocalSigner.generate()
    return signer.secret_hex(), signer


@pytest.mark.parametrize("label,price,network,version", BILLS, ids=[b[0] for b in BILLS])
def test_paywire_pays_the_official_facilitator_accepts(key, label, price, network, version):
    _, signer = key
    bill = bill_for(price, network, version)
    header = paywire.Payer(signer).pay(bill)
    verdict = py_oracle.verify(decode(header.value), bill.accepts[0].to_dict(), int(time.time()))
    assert verdict["isValid"], f"the official SDK refused paywire's payment: {verdict}"
    assert verdict["payer"] == signer.address


@pytest.mark.parametrize("label,price,network,version", BILLS, ids=[b[0] for b in BILLS])
def test_the_official_client_pays_paywire_accepts(key, label, price, network, version):
    secret, signer = key
    bill = bill_for(price, network, version)
    paid = py_oracle.pay(wire(bill), secret)
    payment = paywire.read_payment({paid["headerName"]: paid["headerValue"]})
    accepted = paywire.check_payment(bill, payment)
    assert accepted.verified.payer == signer.address
    assert accepted.verified.fully_verified
    assert accepted.requirements == bill.accepts[0]


def _auth(p: Dict[str, Any]) -> Dict[str, Any]:
    inner = p["payload"]
    return inner.get("authorization") or inner["permit2Authorization"]


def _set_amount(p: Dict[str, Any]) -> None:
    auth = _auth(p)
    if "permitted" in auth:
        auth["permitted"]["amount"] = str(int(auth["permitted"]["amount"]) + 1)
    else:
        auth["value"] = str(int(auth["value"]) + 1)


def _set_payee(p: Dict[str, Any]) -> None:
    auth = _auth(p)
    auth.get("witness", auth)["to"] = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _expire(p: Dict[str, Any]) -> None:
    auth = _auth(p)
    auth["deadline" if "deadline" in auth else "validBefore"] = str(int(time.time()) - 10)


TAMPERS: Dict[str, Callable[[Dict[str, Any]], None]] = {
    "amount": _set_amount,
    "payee": _set_payee,
    "payer": lambda p: _auth(p).__setitem__("from", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    "expired": _expire,
    "signature": lambda p: p["payload"].__setitem__("signature", p["payload"]["signature"][:-4] + "1b1b"),
}


@pytest.mark.parametrize("network", ["eip155:84532", "eip155:4326"], ids=["EIP-3009", "Permit2"])
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_payments_are_refused_by_both(key, tamper, network):
    secret, _ = key
    bill = bill_for("$0.01", network, 2)
    payload = decode(py_oracle.pay(wire(bill), secret)["headerValue"])
    bad = copy.deepcopy(payload)
    TAMPERS[tamper](bad)
    requirements = bill.accepts[0]
    official = py_oracle.verify(bad, requirements.to_dict(), int(time.time()))
    assert not official["isValid"], f"the official SDK accepted a tampered {tamper}"
    ours = paywire.verify_to_response(paywire.PaymentPayload.from_json(json.dumps(bad)), requirements)
    assert not ours.is_valid and ours.invalid_reason in paywire.error_codes()
    with pytest.raises(paywire.PaywireError) as info:
        paywire.check_payment(bill, paywire.PaymentPayload.from_json(json.dumps(bad)))
    assert info.value.code == ours.invalid_reason or tamper in ("amount", "payee")


def test_official_decoders_read_what_paywire_writes(key):
    from x402.http import decode_payment_required_header, decode_payment_signature_header

    _, signer = key
    bill = bill_for("$0.01", "eip155:84532", 2)
    assert decode_payment_required_header(bill.to_header()).model_dump(by_alias=True, exclude_none=True) == bill.to_dict()
    header = paywire.Payer(signer).pay(bill)
    official = decode_payment_signature_header(header.value).model_dump(by_alias=True, exclude_none=True)
    assert official == header.payload.to_dict()
