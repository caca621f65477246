"""Writes tests/vectors/*.json from the official x402 SDKs (npm @x402/* 2.27 with viem 2.55, PyPI x402 2.25).

Every signature, digest, header and verdict in the vectors is produced by an official SDK, with a pinned
clock and nonce, so the files are reproducible: `generate.py --check` regenerates them and fails if any byte
differs. The expected paywire outcomes (reason codes, error codes, policy choices) are paywire's contract and
are written here explicitly; where an official SDK has an opinion (valid or not, which offer it picks) the
generator asserts that it agrees before writing.

Run it with the oracle environment: `python "$(tests/oracle/setup.sh)" tests/oracle/generate.py [--check]`.
"""

from __future__ import annotations

import base64
import copy
import json
import pathlib
import sys

import py_oracle
from ts_client import TsOracle

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
NOW = 1750000000
NONCE = "0x" + bytes(range(32)).hex()
URL = "https://api.example.com/premium-data"
SOURCE = "official SDKs: npm @x402/core, @x402/evm, @x402/extensions 2.27.0 with viem 2.55.0; PyPI x402 2.25.0"


def b64(obj) -> str:
    return base64.b64encode(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()).decode()


def unb64(value: str):
    return json.loads(base64.b64decode(value))


def offer(network="eip155:84532", amount="10000", asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
          extra=None, timeout=60, pay_to=PAY_TO):
    return {"scheme": "exact", "network": network, "amount": amount, "asset": asset, "payTo": pay_to,
            "maxTimeoutSeconds": timeout, "extra": extra if extra is not None else {"name": "USDC", "version": "2"}}


def bill_v2(*accepts, extensions=None):
    b = {"x402Version": 2, "error": "Payment required",
         "resource": {"url": URL, "description": "Premium data", "mimeType": "application/json"},
         "accepts": list(accepts)}
    if extensions is not None:
        b["extensions"] = extensions
    return b


def bill_v1(network="base-sepolia", amount="10000", asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            name="USDC"):
    return {"x402Version": 1, "error": "X-PAYMENT header is required", "accepts": [{
        "scheme": "exact", "network": network, "maxAmountRequired": amount, "resource": URL,
        "description": "Premium data", "mimeType": "application/json", "payTo": PAY_TO, "maxTimeoutSeconds": 60,
        "asset": asset, "extra": {"name": name, "version": "2"}}]}


def wire_bill(b: dict) -> dict:
    """How a bill travels: the v2 header, or the v1 body."""
    return {"header": b64(b)} if b["x402Version"] == 2 else {"body": b}


def doc(description: str, cases, **more) -> dict:
    return {"description": description, "source": SOURCE, **more, "cases": cases}


# --------------------------------------------------------------------------------------------- headers
SPEC_V2 = {
    "PAYMENT-REQUIRED": "eyJ4NDAyVmVyc2lvbiI6MiwiZXJyb3IiOiJQQVlNRU5ULVNJR05BVFVSRSBoZWFkZXIgaXMgcmVxdWlyZWQiLCJyZXNvdXJjZSI6eyJ1cmwiOiJodHRwczovL2FwaS5leGFtcGxlLmNvbS9wcmVtaXVtLWRhdGEiLCJkZXNjcmlwdGlvbiI6IkFjY2VzcyB0byBwcmVtaXVtIG1hcmtldCBkYXRhIiwibWltZVR5cGUiOiJhcHBsaWNhdGlvbi9qc29uIn0sImFjY2VwdHMiOlt7InNjaGVtZSI6ImV4YWN0IiwibmV0d29yayI6ImVpcDE1NTo4NDUzMiIsImFtb3VudCI6IjEwMDAwIiwiYXNzZXQiOiIweDAzNkNiRDUzODQyYzU0MjY2MzRlNzkyOTU0MWVDMjMxOGYzZENGN2UiLCJwYXlUbyI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsIm1heFRpbWVvdXRTZWNvbmRzIjo2MCwiZXh0cmEiOnsibmFtZSI6IlVTREMiLCJ2ZXJzaW9uIjoiMiJ9fV19",
    "PAYMENT-SIGNATURE": "eyJ4NDAyVmVyc2lvbiI6MiwicmVzb3VyY2UiOnsidXJsIjoiaHR0cHM6Ly9hcGkuZXhhbXBsZS5jb20vcHJlbWl1bS1kYXRhIiwiZGVzY3JpcHRpb24iOiJBY2Nlc3MgdG8gcHJlbWl1bSBtYXJrZXQgZGF0YSIsIm1pbWVUeXBlIjoiYXBwbGljYXRpb24vanNvbiJ9LCJhY2NlcHRlZCI6eyJzY2hlbWUiOiJleGFjdCIsIm5ldHdvcmsiOiJlaXAxNTU6ODQ1MzIiLCJhbW91bnQiOiIxMDAwMCIsImFzc2V0IjoiMHgwMzZDYkQ1Mzg0MmM1NDI2NjM0ZTc5Mjk1NDFlQzIzMThmM2RDRjdlIiwicGF5VG8iOiIweDIwOTY5M0JjNmFmYzBDNTMyOGJBMzZGYUYwM0M1MTRFRjMxMjI4N0MiLCJtYXhUaW1lb3V0U2Vjb25kcyI6NjAsImV4dHJhIjp7Im5hbWUiOiJVU0RDIiwidmVyc2lvbiI6IjIifX0sInBheWxvYWQiOnsic2lnbmF0dXJlIjoiMHgyZDZhNzU4OGQ2YWNjYTUwNWNiZjBkOWE0YTIyN2UwYzUyYzZjMzQwMDhjOGU4OTg2YTEyODMyNTk3NjQxNzM2MDhhMmNlNjQ5NjY0MmUzNzdkNmRhOGRiYmY1ODM2ZTliZDE1MDkyZjllY2FiMDVkZWQzZDYyOTNhZjE0OGI1NzFjIiwiYXV0aG9yaXphdGlvbiI6eyJmcm9tIjoiMHg4NTdiMDY1MTlFOTFlM0E1NDUzODc5MWJEYmIwRTIyMzczZTM2YjY2IiwidG8iOiIweDIwOTY5M0JjNmFmYzBDNTMyOGJBMzZGYUYwM0M1MTRFRjMxMjI4N0MiLCJ2YWx1ZSI6IjEwMDAwIiwidmFsaWRBZnRlciI6IjE3NDA2NzIwODkiLCJ2YWxpZEJlZm9yZSI6IjE3NDA2NzIxNTQiLCJub25jZSI6IjB4ZjM3NDY2MTNjMmQ5MjBiNWZkYWJjMDg1NmYyYWViMmQ0Zjg4ZWU2MDM3YjhjYzVkMDRhNzFhNDQ2MmYxMzQ4MCJ9fX0=",
    "PAYMENT-RESPONSE": "eyJzdWNjZXNzIjp0cnVlLCJ0cmFuc2FjdGlvbiI6IjB4MTIzNDU2Nzg5MGFiY2RlZjEyMzQ1Njc4OTBhYmNkZWYxMjM0NTY3ODkwYWJjZGVmMTIzNDU2Nzg5MGFiY2RlZiIsIm5ldHdvcmsiOiJlaXAxNTU6ODQ1MzIiLCJwYXllciI6IjB4ODU3YjA2NTE5RTkxZTNBNTQ1Mzg3OTFiRGJiMEUyMjM3M2UzNmI2NiJ9",
    "PAYMENT-RESPONSE failure": "eyJzdWNjZXNzIjpmYWxzZSwiZXJyb3JSZWFzb24iOiJpbnN1ZmZpY2llbnRfZnVuZHMiLCJuZXR3b3JrIjoiZWlwMTU1Ojg0NTMyIn0=",
}
SPEC_V1 = {
    "X-PAYMENT": "eyJ4NDAyVmVyc2lvbiI6MSwic2NoZW1lIjoiZXhhY3QiLCJuZXR3b3JrIjoiYmFzZS1zZXBvbGlhIiwicGF5bG9hZCI6eyJzaWduYXR1cmUiOiIweDJkNmE3NTg4ZDZhY2NhNTA1Y2JmMGQ5YTRhMjI3ZTBjNTJjNmMzNDAwOGM4ZTg5ODZhMTI4MzI1OTc2NDE3MzYwOGEyY2U2NDk2NjQyZTM3N2Q2ZGE4ZGJiZjU4MzZlOWJkMTUwOTJmOWVjYWIwNWRlZDNkNjI5M2FmMTQ4YjU3MWMiLCJhdXRob3JpemF0aW9uIjp7ImZyb20iOiIweDg1N2IwNjUxOUU5MWUzQTU0NTM4NzkxYkRiYjBFMjIzNzNlMzZiNjYiLCJ0byI6IjB4MjA5NjkzQmM2YWZjMEM1MzI4YkEzNkZhRjAzQzUxNEVGMzEyMjg3QyIsInZhbHVlIjoiMTAwMDAiLCJ2YWxpZEFmdGVyIjoiMTc0MDY3MjA4OSIsInZhbGlkQmVmb3JlIjoiMTc0MDY3MjE1NCIsIm5vbmNlIjoiMHhmMzc0NjYxM2MyZDkyMGI1ZmRhYmMwODU2ZjJhZWIyZDRmODhlZTYwMzdiOGNjNWQwNGE3MWE0NDYyZjEzNDgwIn19fQ==",
    "X-PAYMENT-RESPONSE": "eyJzdWNjZXNzIjp0cnVlLCJ0cmFuc2FjdGlvbiI6IjB4MTIzNDU2Nzg5MGFiY2RlZjEyMzQ1Njc4OTBhYmNkZWYxMjM0NTY3ODkwYWJjZGVmMTIzNDU2Nzg5MGFiY2RlZiIsIm5ldHdvcmsiOiJiYXNlLXNlcG9saWEiLCJwYXllciI6IjB4ODU3YjA2NTE5RTkxZTNBNTQ1Mzg3OTFiRGJiMEUyMjM3M2UzNmI2NiJ9",
    "X-PAYMENT-RESPONSE failure": "eyJzdWNjZXNzIjpmYWxzZSwiZXJyb3JSZWFzb24iOiJpbnN1ZmZpY2llbnRfZnVuZHMiLCJ0cmFuc2FjdGlvbiI6IiIsIm5ldHdvcmsiOiJiYXNlLXNlcG9saWEiLCJwYXllciI6IjB4ODU3YjA2NTE5RTkxZTNBNTQ1Mzg3OTFiRGJiMEUyMjM3M2UzNmI2NiJ9",
}
MESSAGE_OF = {"PAYMENT-REQUIRED": "PaymentRequired", "PAYMENT-SIGNATURE": "PaymentPayload", "X-PAYMENT": "PaymentPayload",
              "PAYMENT-RESPONSE": "SettleResponse", "X-PAYMENT-RESPONSE": "SettleResponse"}


def headers(ts: TsOracle) -> dict:
    cases = []
    for spec, table in (("specs/transports-v2/http.md", SPEC_V2), ("specs/transports-v1/http.md", SPEC_V1)):
        for label, value in table.items():
            header = label.split(" ")[0]
            kind = MESSAGE_OF[header]
            decoded = ts.call("decode", kind=kind, value=value)
            assert decoded == unb64(value)
            cases.append({"name": f"{spec}: {label}", "header": header, "message": kind, "value": value, "json": decoded})
    # Encoded by the official TS encoder: non-ASCII text, extensions and members x402 does not define.
    rich = bill_v2(offer(extra={"name": "USDC", "version": "2", "futureFlag": [1, {"deep": None}]}),
                   extensions={"bazaar": {"info": {"input": {"type": "http", "method": "GET"}}, "schema": {}}})
    rich["resource"]["description"] = "Café ☕ — données premium"
    rich["later"] = {"kept": True}
    samples = [
        ("PAYMENT-REQUIRED", "PaymentRequired", rich),
        ("PAYMENT-RESPONSE", "SettleResponse", {"success": True, "payer": PAYER,
                                                "transaction": "0x" + "ab" * 32, "network": "eip155:8453"}),
    ]
    for header, kind, value in samples:
        encoded = ts.call("encode", kind=kind, value=value)
        assert unb64(encoded) == value
        cases.append({"name": f"@x402/core encodes {kind}", "header": header, "message": kind, "value": encoded,
                      "json": value})
    return doc("Header values and the JSON they decode to. Decoding `value` gives exactly `json`; encoding "
               "`json` (compact, members in the order given) gives exactly `value`.", cases)


# --------------------------------------------------------------------------------------------- networks, assets
def networks(ts: TsOracle) -> dict:
    names = NETWORK_NAMES
    return doc("x402 v1 network names and their chain ids (as @x402/evm 2.27 `EVM_NETWORK_CHAIN_ID_MAP`), "
               "and malformed identifiers.", [
                   *({"network": n, "chainId": c, "caip2": f"eip155:{c}"} for n, c in names.items()),
                   *({"network": bad, "error": "invalid_network"} for bad in
                     ["eip155:", "eip155:0x1", "eip155:08453", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "basee", ""]),
               ])


NETWORK_NAMES: dict = {}


def assets(ts: TsOracle) -> dict:
    cases = []
    for network, entries in DEFAULT_ASSETS.items():
        chain_id = int(network.split(":")[1])
        for entry in entries:
            domain = {"name": entry["name"], "version": entry["version"], "chainId": chain_id,
                      "verifyingContract": entry["asset"]}
            message = {"from": PAYER, "to": PAY_TO, "value": str(10 ** entry["decimals"] // 100), "validAfter": "0",
                       "validBefore": str(NOW + 60), "nonce": NONCE}
            signed = ts.call("signTyped", key=KEY, domain=domain, primaryType="TransferWithAuthorization", message=message)
            cases.append({
                "network": network, "address": entry["asset"], "name": entry["name"], "version": entry["version"],
                "decimals": entry["decimals"], "symbol": entry["symbol"],
                "transferMethod": entry.get("assetTransferMethod", "eip3009"),
                "supportsEip2612": entry.get("supportsEip2612", False),
                "domainSeparator": signed["domainSeparator"],
                "transfer": {"key": KEY, "message": message, "digest": signed["digest"], "signature": signed["signature"]},
            })
    # Permit2 and EIP-2612 typed data, same key.
    permit2 = {"permitted": {"token": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "amount": "10000"},
               "spender": "0x402085c248EeA27D92E8b30b2C58ed07f9E20001", "nonce": str(int(NONCE, 16)),
               "deadline": str(NOW + 60), "witness": {"to": PAY_TO, "validAfter": "0"}}
    p2 = ts.call("signTyped", key=KEY, domain={"name": "Permit2", "chainId": 84532,
                 "verifyingContract": "0x000000000022D473030F116dDEE9F6B43aC78BA3"},
                 primaryType="PermitWitnessTransferFrom", message=permit2)
    permit = {"owner": PAYER, "spender": "0x000000000022D473030F116dDEE9F6B43aC78BA3", "value": "10000000000000000",
              "nonce": "7", "deadline": str(NOW + 60)}
    p2612 = ts.call("signTyped", key=KEY, domain={"name": "MegaUSD", "version": "1", "chainId": 4326,
                    "verifyingContract": "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7"}, primaryType="Permit", message=permit)
    return doc("The default stablecoin table of @x402/evm 2.27 (`DEFAULT_ASSETS`), each entry's EIP-712 domain "
               "separator, and an EIP-3009 transfer signed by a fixed key (viem). Also a Permit2 witness transfer and "
               "an EIP-2612 permit.", cases,
               permit2={"chainId": 84532, "key": KEY, "message": permit2, **p2},
               eip2612={"chainId": 4326, "token": "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7", "name": "MegaUSD",
                        "version": "1", "key": KEY, "message": permit, **p2612})


DEFAULT_ASSETS: dict = {}


# --------------------------------------------------------------------------------------------- money
def money(ts: TsOracle) -> dict:
    cases = []
    for price, network in [("$0.01", "eip155:84532"), ("0.0025", "eip155:8453"), ("$1", "eip155:137"),
                           ("$1.50", "eip155:42161"), ("0.000001", "eip155:84532"), ("$0.01", "eip155:4326"),
                           ("12345.678901", "eip155:1"), ("$0.10", "eip155:38833")]:
        r = ts.call("price", price=price, network=network)
        cases.append({"price": price, "network": network, "amount": r["amount"], "asset": r["asset"], "extra": r["extra"]})
    # paywire refuses what the official servers round or reject; these are paywire's own contract.
    for price, code in [("1e-3", "invalid_price"), ("-1", "invalid_price"), ("abc", "invalid_price"), ("", "invalid_price"),
                        ("$", "invalid_price"), ("1,000", "invalid_price"), ("0", "invalid_price"), (".5", "invalid_price"),
                        ("0.0000001", "price_too_precise"), ("$0.0123456789", "price_too_precise")]:
        cases.append({"price": price, "network": "eip155:84532", "error": code})
    return doc("Money prices turned into atomic units of the network's default stablecoin (amount, asset and "
               "extra as @x402/evm's server computes them), and prices paywire refuses with an error code where "
               "the official servers truncate (`price_too_precise`) or fail.", cases)


# --------------------------------------------------------------------------------------------- payments
def payments(ts: TsOracle) -> dict:
    scenarios = [
        ("v2 EIP-3009, Base Sepolia USDC (domain name USDC)", bill_v2(offer())),
        ("v2 EIP-3009, Base USDC (domain name USD Coin)", bill_v2(offer("eip155:8453", "250000",
                                                                        "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
                                                                        {"name": "USD Coin", "version": "2"}, 300))),
        ("v2 Permit2, MegaUSD (18 decimals)", bill_v2(offer("eip155:4326", "10000000000000000",
                                                            "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7",
                                                            {"name": "MegaUSD", "version": "1", "assetTransferMethod": "permit2"}))),
        ("v2, first offer over the $1 default cap: the second is paid",
         bill_v2(offer(amount="2000000"), offer("eip155:8453", "5000", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
                                                {"name": "USD Coin", "version": "2"}))),
        ("v2, members x402 does not define are echoed verbatim in accepted",
         bill_v2(offer(extra={"name": "USDC", "version": "2", "note": "α"}) | {"zFuture": {"x": [1, 2]}})),
        ("v1 EIP-3009, base-sepolia", bill_v1()),
        ("v1 EIP-3009, base (USD Coin)", bill_v1("base", "1000", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin")),
    ]
    cases = []
    for name, b in scenarios:
        wire = wire_bill(b)
        t = ts.call("pay", bill=wire, key=KEY, now=NOW, nonce=NONCE)
        p = py_oracle.pay(wire, KEY, NOW, NONCE)
        ts_json, py_json = unb64(t["headerValue"]), unb64(p["headerValue"])
        assert ts_json["payload"]["signature"] == py_json["payload"]["signature"], name
        same_json = _sorted(ts_json) == _sorted(py_json)
        cases.append({"name": name, "bill": wire, "key": KEY, "now": NOW, "nonce": NONCE, "expiryMargin": 0,
                      "offerIndex": t["index"], "headerName": t["headerName"], "headerValue": t["headerValue"],
                      "signature": ts_json["payload"]["signature"],
                      "python": {"headerValue": p["headerValue"], "sameJson": same_json}})
    return doc("Bills paid by the official clients with a pinned clock and nonce. paywire, given the same key, time "
               "and nonce and `expiryMargin` 0 (the official validity window), must produce `headerValue` byte for "
               "byte (it is @x402/core's output; the Python SDK signs identically, `python.sameJson` tells whether its "
               "JSON differs only in member order).", cases)


def _sorted(v):
    if isinstance(v, dict):
        return {k: _sorted(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted(x) for x in v]
    return v


# --------------------------------------------------------------------------------------------- selection
def selection(ts: TsOracle) -> dict:
    usdc, base = offer(amount="400000"), offer("eip155:8453", "400000", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
                                               {"name": "USD Coin", "version": "2"})
    pricey = offer(amount="1500000")
    unknown = offer("eip155:31337", "1000", "0x5FbDB2315678afecb367f032d93F642f64180aa3", {"name": "Test", "version": "1"})
    other_payee = offer(pay_to="0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    no_domain = offer(extra={})
    cases = [
        {"name": "default policy takes the first acceptable offer", "policy": {},
         "steps": [{"bill": bill_v2(usdc, base), "expect": {"index": 0}}]},
        {"name": "default policy skips an offer over $1", "policy": {},
         "steps": [{"bill": bill_v2(pricey, base), "expect": {"index": 1}}]},
        {"name": "default policy refuses unknown tokens", "policy": {},
         "steps": [{"bill": bill_v2(unknown), "expect": {"error": "no_acceptable_offer", "refused": [0]}}]},
        {"name": "nothing fits: every offer is listed", "policy": {},
         "steps": [{"bill": bill_v2(pricey, unknown), "expect": {"error": "no_acceptable_offer", "refused": [0, 1]}}]},
        {"name": "preferred chain wins over server order", "policy": {"prefer": [8453]},
         "steps": [{"bill": bill_v2(usdc, base), "expect": {"index": 1}}]},
        {"name": "allowed networks", "policy": {"networks": [8453]},
         "steps": [{"bill": bill_v2(usdc, base), "expect": {"index": 1}}]},
        {"name": "allowed payees", "policy": {"payTo": [PAY_TO]},
         "steps": [{"bill": bill_v2(other_payee, usdc), "expect": {"index": 1}}]},
        {"name": "offers without the token's EIP-712 domain are refused", "policy": {},
         "steps": [{"bill": bill_v2(no_domain, usdc), "expect": {"index": 1}}]},
        {"name": "raised per-payment cap", "policy": {"maxPerPayment": "$2"},
         "steps": [{"bill": bill_v2(pricey), "expect": {"index": 0}}]},
        {"name": "running budget across payments", "policy": {"budget": "$1"},
         "steps": [{"bill": bill_v2(usdc), "expect": {"index": 0}}, {"bill": bill_v2(usdc), "expect": {"index": 0}},
                   {"bill": bill_v2(usdc), "expect": {"error": "no_acceptable_offer", "refused": [0]}}]},
        {"name": "an allowed token with its own caps and budget",
         "policy": {"allowedAssets": [{"chainId": 31337, "address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                                       "maxPerPayment": "1000", "budget": "1500"}]},
         "steps": [{"bill": bill_v2(unknown), "expect": {"index": 0}},
                   {"bill": bill_v2(unknown), "expect": {"error": "no_acceptable_offer", "refused": [0]}}]},
        {"name": "an atomic cap for any token", "policy": {"maxAmount": "999", "allowAnyAsset": True, "maxPerPayment": None},
         "steps": [{"bill": bill_v2(unknown), "expect": {"error": "no_acceptable_offer", "refused": [0]}},
                   {"bill": bill_v2(offer(amount="999")), "expect": {"index": 0}}]},
        {"name": "v1 bill", "policy": {}, "steps": [{"bill": bill_v1(), "expect": {"index": 0}}]},
    ]
    # Where the official client has an opinion (its default spend controls), it must agree.
    for case in cases:
        if case["policy"] or len(case["steps"]) != 1:
            continue
        step = case["steps"][0]
        try:
            got = {"index": ts.call("pay", bill=wire_bill(step["bill"]), key=KEY, now=NOW, nonce=NONCE)["index"]}
        except RuntimeError:
            got = {"error": "no_acceptable_offer"}
        want = {k: v for k, v in step["expect"].items() if k != "refused"}
        if case["name"].startswith("offers without"):
            continue  # the official client signs nothing for such an offer but does not skip it either
        assert got == want, (case["name"], got)
        case["official"] = "agrees"
    for case in cases:
        for step in case["steps"]:
            step["bill"] = wire_bill(step["bill"])
    return doc("Bills and the offer a payer chooses under a policy; each step of a case pays (and spends budget) "
               "before the next. Policy members: networks (chain ids), payTo, maxPerPayment (USD string or null; "
               "default \"$1\"), budget (USD), maxAmount (atomic), allowAnyAsset, allowedAssets "
               "[{chainId, address, maxPerPayment, budget} atomic], prefer (chain ids). `official: agrees` marks cases "
               "the official client's default spend controls decide the same way.", cases)


# --------------------------------------------------------------------------------------------- verification
def verification(ts: TsOracle) -> dict:
    cases = []
    base = {
        "v2 EIP-3009": bill_v2(offer()),
        "v2 Permit2": bill_v2(offer("eip155:4326", "10000000000000000", "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7",
                                    {"name": "MegaUSD", "version": "1", "assetTransferMethod": "permit2"})),
        "v1 EIP-3009": bill_v1(),
    }
    for label, b in base.items():
        paid = ts.call("pay", bill=wire_bill(b), key=KEY, now=NOW, nonce=NONCE)
        payment = unb64(paid["headerValue"])
        req = b["accepts"][0]
        permit2 = "Permit2" in label
        v1 = label.startswith("v1")
        tweaks = [("valid", {}, None)]
        if v1:
            tweaks.append(("not yet valid", {"now": NOW - 700}, "invalid_exact_evm_payload_authorization_valid_after"))
        tweaks += [
            ("expired", {"now": NOW + 55}, "permit2_deadline_expired" if permit2 else
             "invalid_exact_evm_payload_authorization_valid_before"),
            ("wrong amount", {"req": {("maxAmountRequired" if v1 else "amount"): str(int(req["maxAmountRequired" if v1 else "amount"]) + 1)}},
             "permit2_amount_mismatch" if permit2 else ("invalid_exact_evm_payload_authorization_value" if v1 else
                                                        "invalid_exact_evm_payload_authorization_value_mismatch")),
            ("wrong payee", {"req": {"payTo": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}},
             "invalid_permit2_recipient_mismatch" if permit2 else "invalid_exact_evm_payload_recipient_mismatch"),
            ("tampered signature", {"sig": True}, "invalid_permit2_signature" if permit2 else "invalid_exact_evm_payload_signature"),
            ("signed by another key", {"from": True}, "invalid_permit2_signature" if permit2 else "invalid_exact_evm_payload_signature"),
        ]
        if not permit2:
            tweaks += [
                ("wrong EIP-712 domain name", {"req": {"extra": {"name": "USD Coin", "version": "2"}}},
                 "invalid_exact_evm_payload_signature"),
                ("missing EIP-712 domain", {"req": {"extra": {}}}, "invalid_exact_evm_missing_eip712_domain"),
            ]
        if not v1:
            tweaks.append(("wrong network", {"req": {"network": "eip155:8453"}}, "invalid_network"))
            if not permit2:
                tweaks.append(("signed for another chain id", {"req": {"network": "eip155:8453"}, "accepted": True},
                               "invalid_exact_evm_payload_signature"))
        for name, t, reason in tweaks:
            p, r, now = copy.deepcopy(payment), copy.deepcopy(req), t.get("now", NOW)
            r.update(t.get("req", {}))
            if t.get("accepted"):
                p["accepted"].update(t["req"])
            inner = p["payload"]
            if t.get("sig"):
                s = inner["signature"]
                inner["signature"] = s[:10] + ("0" if s[10] != "0" else "1") + s[11:]
            if t.get("from"):
                auth = inner["permit2Authorization" if permit2 else "authorization"]
                auth["from"] = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            official_ts = ts.call("verify", payload=p, requirements=r, now=now)["isValid"]
            official_py = py_oracle.verify(p, r, now)["isValid"]
            expected_valid = reason is None
            assert official_ts == expected_valid and official_py == expected_valid, (label, name, official_ts, official_py)
            case = {"name": f"{label}: {name}", "payment": b64(p), "requirements": r, "now": now,
                    "expect": {"isValid": expected_valid} | ({"invalidReason": reason} if reason else {}),
                    "official": {"ts": official_ts, "py": official_py}}
            case["expect"]["payer"] = inner["permit2Authorization" if permit2 else "authorization"]["from"]
            cases.append(case)
    # The spec's own signature (payer 0x857b…6b66), valid at its time.
    spec = unb64(SPEC_V1["X-PAYMENT"])
    spec_req = bill_v1()["accepts"][0]
    official_ts = ts.call("verify", payload=spec, requirements=spec_req, now=1740672100)["isValid"]
    official_py = py_oracle.verify(spec, spec_req, 1740672100)["isValid"]
    assert official_ts and official_py
    cases.append({"name": "the x402 specification's published signature", "payment": SPEC_V1["X-PAYMENT"],
                  "requirements": spec_req, "now": 1740672100,
                  "expect": {"isValid": True, "payer": "0x857b06519E91e3A54538791bDbb0E22373e36b66"},
                  "official": {"ts": official_ts, "py": official_py}})
    # A smart-wallet signature: only the chain can judge it (the official verifiers, seeing no code at the payer,
    # refuse it; paywire says it needs on-chain verification).
    sw = copy.deepcopy(unb64(paid_v2_header(ts)))
    sw["payload"]["signature"] = "0x" + "ab" * 200
    req = bill_v2(offer())["accepts"][0]
    cases.append({"name": "v2 EIP-3009: smart-wallet-length signature", "payment": b64(sw), "requirements": req, "now": NOW,
                  "expect": {"isValid": False, "invalidReason": "onchain_verification_required", "payer": PAYER},
                  "official": {"ts": ts.call("verify", payload=sw, requirements=req, now=NOW)["isValid"],
                               "py": py_oracle.verify(sw, req, NOW)["isValid"]}})
    return doc("Payments (signed by the official TS client) checked offline against requirements at time `now`. "
               "`expect` is paywire's verdict with x402's canonical reason; `official` is what the official "
               "facilitators' verify (TS and Python, with a chain stand-in) answered.", cases)


def paid_v2_header(ts: TsOracle) -> str:
    return ts.call("pay", bill=wire_bill(bill_v2(offer())), key=KEY, now=NOW, nonce=NONCE)["headerValue"]


# --------------------------------------------------------------------------------------------- credentials
def credentials(ts: TsOracle) -> dict:
    req = {"scheme": "exact", "network": "eip155:8453", "asset": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
           "payTo": PAYER, "amount": "10000"}
    out = ts.call("credentials", key=KEY, now=1703123456, resourceUrl=URL, requirements=req,
                  payer="0x857b06519E91e3A54538791bDbb0E22373e36b66", network="eip155:8453",
                  transaction="0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef")
    for o in out["offers"]:
        assert ts.call("verifyCredential", kind="offer", credential=o)
    for r in out["receipts"]:
        assert ts.call("verifyCredential", kind="receipt", credential=r)
    return doc("Signed offers and receipts of the offer-receipt extension, issued by @x402/extensions 2.27 at "
               "1703123456 with the key below (EIP-712, and JWS ES256K with a did:key kid signed with RFC 6979). "
               "paywire issuing the same statements must produce the same bytes, and must verify these against "
               "`signer`.", [], key=KEY, signer=out["signer"], kid=out["kid"], issuedAt=1703123456, resourceUrl=URL,
               requirements=req, offerValiditySeconds=60, offers=out["offers"], receipts=out["receipts"])


# --------------------------------------------------------------------------------------------- malformed
def malformed(_: TsOracle) -> dict:
    good_bill = b64(bill_v2(offer()))
    cases = [
        ("header", "", "header_empty"),
        ("header", "eyJhIjoxfQ", "header_missing_padding"),
        ("header", "eyJhIjoxfQ-_", "header_base64url"),
        ("header", "eyJh IjoxfQ==", "header_invalid_base64"),
        ("header", "e=yJhIjoxfQ=", "header_invalid_base64"),
        ("header", "A" * 16388, "header_too_large"),
        ("header", "aGVsbG8=", "invalid_json"),
        ("paymentRequired", b64([1, 2]), "invalid_payment_required"),
        ("paymentRequired", b64({"x402Version": 3, "accepts": []}), "invalid_x402_version"),
        ("paymentRequired", b64({"x402Version": "2", "accepts": []}), "invalid_payment_required"),
        ("paymentRequired", b64({"x402Version": 2, "accepts": [offer()]}), "invalid_payment_required"),
        ("paymentRequired", b64({"x402Version": 2, "resource": {"url": URL}, "accepts": []}), "invalid_payment_required"),
        ("paymentRequired", b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer(network="base")]}), "invalid_payment_requirements"),
        ("paymentRequired", b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer(amount="1e6")]}), "invalid_payment_requirements"),
        ("paymentRequired", b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer() | {"amount": 10000}]}), "invalid_payment_requirements"),
        ("paymentRequired", b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer(timeout=0)]}), "invalid_payment_requirements"),
        ("paymentRequired", base64.b64encode(b'{"x402Version":2,"x402Version":1}').decode(), "invalid_payment_required"),
        ("paymentRequired", good_bill[:-8] + "AAAAAAA=", "invalid_json"),
        ("payment", b64({"x402Version": 2, "payload": {}}), "invalid_payload"),
        ("payment", b64({"x402Version": 1, "network": "base", "payload": {}}), "invalid_payload"),
        ("payment", b64({"x402Version": 2, "accepted": offer(), "payload": "0x"}), "invalid_payload"),
        ("settleResponse", b64({"success": True, "network": "eip155:8453"}), "invalid_settle_response"),
        ("settleResponse", b64({"success": "yes"}), "invalid_settle_response"),
        ("settleResponse", b64([]), "invalid_settle_response"),
    ]
    return doc("Malformed inputs and the error code each must give. `kind` says how the input is read: a bare "
               "header value, or a header holding a PaymentRequired, a PaymentPayload or a SettleResponse.",
               [{"kind": k, "input": i, "error": c} for k, i, c in cases])


GENERATORS = {
    "headers": headers, "networks": networks, "assets": assets, "money": money, "payments": payments,
    "selection": selection, "verification": verification, "credentials": credentials, "malformed": malformed,
}


def main() -> int:
    check = "--check" in sys.argv
    with TsOracle() as ts:
        tables = ts.call("tables")
        NETWORK_NAMES.update(tables["networks"])
        DEFAULT_ASSETS.update(tables["assets"])
        outputs = {name: gen(ts) for name, gen in GENERATORS.items()}
    failed = []
    for name, content in outputs.items():
        text = json.dumps(content, indent=2, ensure_ascii=False) + "\n"
        path = VECTORS / f"{name}.json"
        if check:
            if not path.exists() or path.read_text() != text:
                failed.append(name)
        else:
            VECTORS.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if failed:
        print(f"vectors differ from what the official SDKs generate now: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"{'checked' if check else 'wrote'} {len(outputs)} vector files in {VECTORS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
