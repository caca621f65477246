"""Differential tests, both ways, between paywire (its CLI) and the official x402 SDKs, with live clocks and
random nonces and keys:

- what paywire signs, the official TypeScript and Python facilitators accept;
- what the official TypeScript and Python clients sign, paywire accepts;
- bills paywire builds, the official clients pay, and both sides verify the result;
- tampered payments are refused by all of them.

Run with the oracle environment (tests/oracle/setup.sh) and PAYWIRE_BIN pointing at the CLI.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "oracle"))

import py_oracle  # noqa: E402
from ts_client import TsOracle  # noqa: E402

PAYWIRE = os.environ.get("PAYWIRE_BIN", str(ROOT / "target" / "debug" / "paywire"))
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

# (label, price, network, x402 version): bills built by paywire's own server code.
BILLS = [
    ("v2 Base Sepolia USDC", "$0.01", "eip155:84532", 2),
    ("v2 Base USDC", "$0.25", "eip155:8453", 2),
    ("v2 Polygon USDC", "$0.999999", "eip155:137", 2),
    ("v2 Permit2 MegaUSD", "$0.01", "eip155:4326", 2),
    ("v1 base-sepolia", "$0.05", "base-sepolia", 1),
    ("v1 avalanche", "$0.0001", "avalanche", 1),
]


def paywire(*args: str, env: dict | None = None, check_codes=(0,)) -> tuple[int, dict]:
    proc = subprocess.run([PAYWIRE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    assert proc.returncode in check_codes, f"paywire {args[0]} exited {proc.returncode}: {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}


def bill_wire(bill_out: dict) -> tuple[dict, str]:
    """The bill as the official clients take it, and as paywire's --bill flag takes it."""
    if "value" in bill_out:
        return {"header": bill_out["value"]}, bill_out["value"]
    return {"body": bill_out["body"]}, json.dumps(bill_out["body"])


def requirements_of(bill_out: dict) -> dict:
    return (bill_out.get("bill") or bill_out["body"])["accepts"][0]


def decode(header_value: str) -> dict:
    return json.loads(base64.b64decode(header_value))


@pytest.fixture(scope="module")
def ts():
    with TsOracle() as oracle:
        yield oracle


@pytest.fixture()
def key() -> tuple[str, str]:
    _, out = paywire("keygen")
    return out["privateKey"], out["address"]


@pytest.mark.parametrize("label,price,network,version", BILLS, ids=[b[0] for b in BILLS])
def test_paywire_pays_official_facilitators_accept(ts, key, label, price, network, version):
    secret, address = key
    _, bill = paywire("bill", "--price", price, "--network", network, "--pay-to", PAY_TO, "--x402-version", str(version))
    _, bill_arg = bill_wire(bill)
    _, paid = paywire("pay", "--key-env", "PAYWIRE_TEST_KEY", "--bill", bill_arg, env={"PAYWIRE_TEST_KEY": secret})
    payload, requirements, now = decode(paid["value"]), requirements_of(bill), int(time.time())
    assert payload == paid["payload"]
    for sdk, verdict in (("ts", ts.call("verify", payload=payload, requirements=requirements, now=now)),
                         ("py", py_oracle.verify(payload, requirements, now))):
        assert verdict["isValid"], f"{sdk} refused paywire's payment: {verdict}"
        assert verdict["payer"].lower() == address.lower()


@pytest.mark.parametrize("sdk", ["ts", "py"])
@pytest.mark.parametrize("label,price,network,version", BILLS, ids=[b[0] for b in BILLS])
def test_official_clients_pay_paywire_accepts(ts, key, sdk, label, price, network, version):
    secret, address = key
    _, bill = paywire("bill", "--price", price, "--network", network, "--pay-to", PAY_TO, "--x402-version", str(version))
    wire, bill_arg = bill_wire(bill)
    paid = ts.call("pay", bill=wire, key=secret) if sdk == "ts" else py_oracle.pay(wire, secret)
    code, verdict = paywire("verify", "--payment", paid["headerValue"], "--bill", bill_arg, check_codes=(0, 1))
    assert code == 0 and verdict["isValid"], f"paywire refused the {sdk} payment: {verdict}"
    assert verdict["payer"].lower() == address.lower()
    # And the official facilitators agree on their own client's payment.
    payload, requirements, now = decode(paid["headerValue"]), requirements_of(bill), int(time.time())
    assert ts.call("verify", payload=payload, requirements=requirements, now=now)["isValid"]
    assert py_oracle.verify(payload, requirements, now)["isValid"]


def _auth(p: dict) -> dict:
    inner = p["payload"]
    return inner.get("authorization") or inner["permit2Authorization"]


def _is_permit2(p: dict) -> bool:
    return "permitted" in _auth(p)


def _amount(p: dict) -> str:
    return _auth(p)["permitted"]["amount"] if _is_permit2(p) else _auth(p)["value"]


def _set_value(p: dict, value: str) -> None:
    auth = _auth(p)
    if "permitted" in auth:
        auth["permitted"]["amount"] = value
    else:
        auth["value"] = value


def _set_payee(p: dict, payee: str) -> None:
    auth = _auth(p)
    if "witness" in auth:
        auth["witness"]["to"] = payee
    else:
        auth["to"] = payee


def _expire(p: dict) -> None:
    auth = _auth(p)
    auth["deadline" if "deadline" in auth else "validBefore"] = str(int(time.time()) - 10)


TAMPERS = {
    "amount": lambda p: _set_value(p, str(int(_amount(p)) + 1)),
    "payee": lambda p: _set_payee(p, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    "payer": lambda p: _auth(p).__setitem__("from", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    "nonce": lambda p: _auth(p).__setitem__("nonce", "12345" if _is_permit2(p) else "0x" + "22" * 32),
    "expired": _expire,
    "signature": lambda p: p["payload"].__setitem__("signature", p["payload"]["signature"][:-4] + "1b1b"),
}
PATHS = [("EIP-3009", "eip155:84532"), ("Permit2", "eip155:4326")]


@pytest.mark.parametrize("path,network", PATHS, ids=[p for p, _ in PATHS])
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_payments_are_refused_by_everyone(ts, key, tamper, path, network):
    secret, _ = key
    _, bill = paywire("bill", "--price", "$0.01", "--network", network, "--pay-to", PAY_TO)
    wire, bill_arg = bill_wire(bill)
    payload = decode(ts.call("pay", bill=wire, key=secret)["headerValue"])
    assert ("permit2Authorization" in payload["payload"]) == (path == "Permit2")
    bad = copy.deepcopy(payload)
    TAMPERS[tamper](bad)
    header = base64.b64encode(json.dumps(bad, separators=(",", ":")).encode()).decode()
    code, verdict = paywire("verify", "--payment", header, "--bill", bill_arg, check_codes=(1,))
    assert not verdict["isValid"] and verdict["invalidReason"]
    now, requirements = int(time.time()), requirements_of(bill)
    for sdk, official in (("ts", ts.call("verify", payload=bad, requirements=requirements, now=now)),
                          ("py", py_oracle.verify(bad, requirements, now))):
        assert not official["isValid"], f"{sdk} accepted a payment with a tampered {tamper}"
        assert not official.get("invalidReason", "").startswith("exception:"), official


def test_official_decoders_read_paywire_headers(ts, key):
    secret, _ = key
    _, bill = paywire("bill", "--price", "$0.01", "--network", "eip155:84532", "--pay-to", PAY_TO)
    assert ts.call("decode", kind="PaymentRequired", value=bill["value"]) == bill["bill"]
    _, paid = paywire("pay", "--key-env", "K", "--bill", bill["value"], env={"K": secret})
    assert ts.call("decode", kind="PaymentPayload", value=paid["value"]) == paid["payload"]
