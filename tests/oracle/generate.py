"""Writes tests/vectors/*.json from the official x402 SDKs (npm @x402/* 2.27 with viem 2.55, PyPI x402 2.25).

Every signature, digest, header and official verdict in the vectors comes from an official SDK, with a pinned
clock and nonce, so the files are reproducible: `generate.py --check` regenerates them and fails if any byte
differs. The expected paywire outcomes (reason codes, error codes, policy choices) are paywire's contract and
are written here explicitly; where an official SDK has an opinion (valid or not, which offer it picks), the
generator records it and, unless a case says why paywire differs, asserts that it agrees.

The formats are described in tests/vectors/README.md. Run with the oracle environment:
`"$(tests/oracle/setup.sh)" tests/oracle/generate.py [--check]`.
"""

from __future__ import annotations

import base64
import copy
import json
import pathlib
import sys

import exchange_vectors
import py_oracle
from ts_client import TsOracle

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
FORMAT_VERSION = 1

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
OTHER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
NOW = 1750000000
NONCE = "0x" + bytes(range(32)).hex()
URL = "https://api.example.com/premium-data"
USDC_BASE_SEPOLIA = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
USDC_BASE = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
MEGAUSD = "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7"
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
PROXY = "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SOURCE = "official SDKs: npm @x402/core, @x402/evm, @x402/extensions 2.27.0 with viem 2.55.0; PyPI x402 2.25.0"


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def b64(obj) -> str:
    return base64.b64encode(compact(obj).encode()).decode()


def unb64(value: str):
    return json.loads(base64.b64decode(value))


def offer(network="eip155:84532", amount="10000", asset=USDC_BASE_SEPOLIA, extra=None, timeout=60, pay_to=PAY_TO):
    return {"scheme": "exact", "network": network, "amount": amount, "asset": asset, "payTo": pay_to,
            "maxTimeoutSeconds": timeout, "extra": extra if extra is not None else {"name": "USDC", "version": "2"}}


MEGA = {"name": "MegaUSD", "version": "1", "assetTransferMethod": "permit2"}


def batch_offer(network="eip155:84532", asset=USDC_BASE_SEPOLIA, extra=None, amount="1000"):
    """A batch-settlement offer; `minDeposit` fixes the deposit (the SDKs' own defaults differ)."""
    base = {"receiverAuthorizer": OTHER, "withdrawDelay": 900, "name": "USDC", "version": "2", "minDeposit": "100000"}
    return {"scheme": "batch-settlement", "network": network, "amount": amount, "asset": asset, "payTo": PAY_TO,
            "maxTimeoutSeconds": 300, "extra": base | (extra or {})}


def bill_v2(*accepts, extensions=None):
    b = {"x402Version": 2, "error": "Payment required",
         "resource": {"url": URL, "description": "Premium data", "mimeType": "application/json"},
         "accepts": list(accepts)}
    if extensions is not None:
        b["extensions"] = extensions
    return b


def bill_v1(network="base-sepolia", amount="10000", asset=USDC_BASE_SEPOLIA, name="USDC"):
    return {"x402Version": 1, "error": "X-PAYMENT header is required", "accepts": [{
        "scheme": "exact", "network": network, "maxAmountRequired": amount, "resource": URL,
        "description": "Premium data", "mimeType": "application/json", "payTo": PAY_TO, "maxTimeoutSeconds": 60,
        "asset": asset, "extra": {"name": name, "version": "2"}}]}


def wire_bill(b: dict) -> dict:
    """How a bill travels: the v2 header, or the v1 body (as its exact text)."""
    return {"header": b64(b)} if b["x402Version"] == 2 else {"body": compact(b)}


def doc(description: str, cases: list) -> dict:
    assert cases, description
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    return {"description": description, "source": SOURCE, "formatVersion": FORMAT_VERSION, "cases": cases}


def payment_identifier_declaration(required: bool) -> dict:
    return {"info": {"required": required}, "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": {"required": {"type": "boolean"},
                       "id": {"type": "string", "minLength": 16, "maxLength": 128, "pattern": "^[a-zA-Z0-9_-]+$"}},
        "required": ["required"]}}


EIP2612_DECLARATION = {"info": {"description": "The facilitator accepts EIP-2612 gasless Permit to `Permit2` canonical contract.",
                                "version": "1"}, "schema": {}}


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
            text = base64.b64decode(value).decode()
            assert json.loads(text) == decoded
            cases.append({"name": f"{spec}: {label}", "header": header, "message": kind, "value": value,
                          "jsonText": text, "json": decoded})
    rich = bill_v2(offer(extra={"name": "USDC", "version": "2", "futureFlag": [1, {"deep": None}]}),
                   extensions={"bazaar": {"info": {"input": {"type": "http", "method": "GET"}}, "schema": {}}})
    rich["resource"]["description"] = "Café ☕ — données premium / <b>"
    rich["later"] = {"kept": True}
    samples = [
        ("PAYMENT-REQUIRED", "PaymentRequired", rich),
        ("PAYMENT-RESPONSE", "SettleResponse", {"success": True, "payer": PAYER, "transaction": "0x" + "ab" * 32,
                                                "network": "eip155:8453"}),
    ]
    for header, kind, value in samples:
        encoded = ts.call("encode", kind=kind, value=value)
        text = base64.b64decode(encoded).decode()
        assert json.loads(text) == value
        cases.append({"name": f"@x402/core encodes a {kind} with non-ASCII text and unknown members",
                      "header": header, "message": kind, "value": encoded, "jsonText": text, "json": value})
    return doc("Header values and the JSON they carry. Decoding `value` gives the UTF-8 text `jsonText` (and the "
               "JSON value `json`); standard padded base64 of `jsonText` is `value`; parsing `value` as `message` "
               "succeeds.", cases)


def responses(_: TsOracle) -> dict:
    bill = bill_v2(offer())
    v1 = bill_v1()
    pay = SPEC_V2["PAYMENT-SIGNATURE"]
    cases = [
        {"name": "402: v2 header, lower-case name", "read": "paymentRequired",
         "headers": [["payment-required", b64(bill)]], "body": "{}", "expect": {"x402Version": 2, "json": bill}},
        {"name": "402: v2 header, mixed-case name", "read": "paymentRequired",
         "headers": [["Payment-Required", b64(bill)], ["Content-Type", "application/json"]], "body": "{}",
         "expect": {"x402Version": 2, "json": bill}},
        {"name": "402: the v2 header wins over a v1 body", "read": "paymentRequired",
         "headers": [["PAYMENT-REQUIRED", b64(bill)]], "body": compact(v1), "expect": {"x402Version": 2, "json": bill}},
        {"name": "402: v1 body", "read": "paymentRequired", "headers": [["content-type", "application/json"]],
         "body": json.dumps(v1, indent=2), "expect": {"x402Version": 1, "json": v1}},
        {"name": "402: neither a header nor a body", "read": "paymentRequired", "headers": [], "body": "",
         "expect": {"error": "invalid_payment_required"}},
        {"name": "402: an HTML body is not a bill", "read": "paymentRequired", "headers": [],
         "body": "<html>pay</html>", "expect": {"error": "invalid_json"}},
        {"name": "request: v2 payment, lower-case name", "read": "payment", "headers": [["payment-signature", pay]],
         "body": "", "expect": {"x402Version": 2, "json": unb64(pay)}},
        {"name": "request: v1 payment", "read": "payment", "headers": [["X-Payment", SPEC_V1["X-PAYMENT"]]],
         "body": "", "expect": {"x402Version": 1, "json": unb64(SPEC_V1["X-PAYMENT"])}},
        {"name": "request: no payment", "read": "payment", "headers": [["accept", "*/*"]], "body": "",
         "expect": {"none": True}},
        {"name": "request: an unpadded payment header", "read": "payment",
         "headers": [["PAYMENT-SIGNATURE", pay.rstrip("=")]], "body": "", "expect": {"error": "header_missing_padding"}},
        {"name": "response: v2 receipt", "read": "settlement", "headers": [["payment-response", SPEC_V2["PAYMENT-RESPONSE"]]],
         "body": "", "expect": {"json": unb64(SPEC_V2["PAYMENT-RESPONSE"])}},
        {"name": "response: v1 receipt", "read": "settlement",
         "headers": [["X-PAYMENT-RESPONSE", SPEC_V1["X-PAYMENT-RESPONSE"]]], "body": "",
         "expect": {"json": unb64(SPEC_V1["X-PAYMENT-RESPONSE"])}},
        {"name": "response: no receipt", "read": "settlement", "headers": [], "body": "", "expect": {"none": True}},
    ]
    return doc("Reading x402 messages from HTTP header lists (names in any letter case) and bodies: a 402's bill "
               "(`read: paymentRequired`: the PAYMENT-REQUIRED header, else a v1 JSON body), a request's payment "
               "(`payment`: PAYMENT-SIGNATURE, else X-PAYMENT) and a response's receipt (`settlement`: "
               "PAYMENT-RESPONSE, else X-PAYMENT-RESPONSE). `expect` is the message (its version and JSON value), "
               "`none` when the message is absent, or an error code.", cases)


# --------------------------------------------------------------------------------------------- networks, assets
def networks(_: TsOracle) -> dict:
    cases = [{"name": f"v1 name {n}", "network": n, "expect": {"chainId": c, "caip2": f"eip155:{c}"}}
             for n, c in NETWORK_NAMES.items()]
    cases += [{"name": "CAIP-2 Base", "network": "eip155:8453", "expect": {"chainId": 8453, "caip2": "eip155:8453"}}]
    cases += [{"name": f"malformed {bad!r}", "network": bad, "expect": {"error": "invalid_network"}} for bad in
              ["eip155:", "eip155:0x1", "eip155:08453", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "basee", ""]]
    return doc("Network identifiers: x402 v1 names (as @x402/evm 2.27 `EVM_NETWORK_CHAIN_ID_MAP`) and CAIP-2, with "
               "the chain id and CAIP-2 form each names, or an error.", cases)


NETWORK_NAMES: dict = {}
DEFAULT_ASSETS: dict = {}


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
                "name": f"{network} {entry['symbol']} {entry['asset']}",
                "asset": {"network": network, "address": entry["asset"], "eip712Name": entry["name"],
                          "eip712Version": entry["version"], "decimals": entry["decimals"], "symbol": entry["symbol"],
                          "transferMethod": entry.get("assetTransferMethod", "eip3009"),
                          "supportsEip2612": entry.get("supportsEip2612", False)},
                "domainSeparator": signed["domainSeparator"],
                "transfer": {"key": KEY, "message": message, "digest": signed["digest"], "signature": signed["signature"]},
            })
    return doc("The default stablecoin table of @x402/evm 2.27 (`DEFAULT_ASSETS`, in its order; the first entry of a "
               "network is what a money price is paid in), each token's EIP-712 domain separator, and an EIP-3009 "
               "transfer signed with a fixed key (viem). paywire's table must hold exactly these entries.", cases)


def typed_data(ts: TsOracle) -> dict:
    spec_domain = {"name": "USDC", "version": "2", "chainId": 84532, "verifyingContract": USDC_BASE_SEPOLIA}
    spec_message = {"from": "0x857b06519E91e3A54538791bDbb0E22373e36b66", "to": PAY_TO, "value": "10000",
                    "validAfter": "1740672089", "validBefore": "1740672154",
                    "nonce": "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"}
    spec = ts.call("signTyped", key=KEY, domain=spec_domain, primaryType="TransferWithAuthorization", message=spec_message)
    items = [
        ("EIP-3009 transfer, Base Sepolia USDC", "TransferWithAuthorization", spec_domain,
         dict(spec_message, **{"from": PAYER})),
        ("Permit2 witness transfer, Base Sepolia", "PermitWitnessTransferFrom",
         {"name": "Permit2", "chainId": 84532, "verifyingContract": PERMIT2},
         {"permitted": {"token": USDC_BASE_SEPOLIA, "amount": "10000"}, "spender": PROXY,
          "nonce": str(int(NONCE, 16)), "deadline": str(NOW + 60), "witness": {"to": PAY_TO, "validAfter": "0"}}),
        ("EIP-2612 permit for Permit2, MegaUSD", "Permit",
         {"name": "MegaUSD", "version": "1", "chainId": 4326, "verifyingContract": MEGAUSD},
         {"owner": PAYER, "spender": PERMIT2, "value": "10000000000000000", "nonce": "7", "deadline": str(NOW + 60)}),
    ]
    items += batch_typed_data(ts)
    cases = []
    for name, primary, domain, message in items:
        signed = ts.call("signTyped", key=KEY, domain=domain, primaryType=primary, message=message)
        cases.append({"name": name, "primaryType": primary, "domain": domain, "message": message, "key": KEY,
                      "signer": PAYER, **signed})
    cases.append({"name": "the x402 specification's published signature (key unknown)",
                  "primaryType": "TransferWithAuthorization", "domain": spec_domain, "message": spec_message,
                  "signer": "0x857b06519E91e3A54538791bDbb0E22373e36b66", "domainSeparator": spec["domainSeparator"],
                  "digest": spec["digest"],
                  "signature": "0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c"})
    return doc("EIP-712 typed data paywire signs, hashed and signed by viem: `domainSeparator` and `digest` of "
               "`message` under `domain`; `signature` recovers to `signer`; with `key`, signing `digest` (RFC 6979) "
               "gives exactly `signature`. Integers are decimal strings.", cases)


BATCH_DOMAIN = {"name": "x402 Batch Settlement", "version": "1", "chainId": 84532,
                "verifyingContract": "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003"}
BATCH_AUTHORIZER = OTHER
BATCH_SALT = "0x" + "ab" * 32


def batch_typed_data(ts: TsOracle) -> list:
    """batch-settlement's signed types: the channel id (the digest of a ChannelConfig, checked against both SDKs'
    computeChannelId), a voucher, a refund, a claim of two channels, an ERC-3009 deposit authorization. The
    signatures of both SDKs' own signing helpers are asserted equal to viem's."""
    from eth_account import Account
    from x402.mechanisms.evm.batch_settlement import authorizer_signer
    from x402.mechanisms.evm.batch_settlement.client.voucher import sign_voucher
    from x402.mechanisms.evm.batch_settlement.types import ChannelConfig, VoucherClaim
    from x402.mechanisms.evm.batch_settlement.utils import compute_channel_id
    from x402.mechanisms.evm.signers import EthAccountSigner

    configs = [
        {"payer": PAYER, "payerAuthorizer": PAYER, "receiver": PAY_TO, "receiverAuthorizer": BATCH_AUTHORIZER,
         "token": USDC_BASE_SEPOLIA, "withdrawDelay": 900, "salt": "0x" + "00" * 32},
        {"payer": PAYER, "payerAuthorizer": "0x0000000000000000000000000000000000000000", "receiver": PAY_TO,
         "receiverAuthorizer": BATCH_AUTHORIZER, "token": USDC_BASE_SEPOLIA, "withdrawDelay": 2592000,
         "salt": BATCH_SALT},
    ]
    items = []
    ids = []
    for n, config in enumerate(configs):
        theirs = ts.call("channelId", config=config, network="eip155:84532")
        py_config = ChannelConfig(payer=config["payer"], payer_authorizer=config["payerAuthorizer"],
                                  receiver=config["receiver"], receiver_authorizer=config["receiverAuthorizer"],
                                  token=config["token"], withdraw_delay=config["withdrawDelay"], salt=config["salt"])
        assert compute_channel_id(py_config, "eip155:84532") == theirs, "the SDKs disagree on a channel id"
        ids.append((theirs, py_config))
        items.append((f"batch-settlement channel id (ChannelConfig {n + 1})", "ChannelConfig", BATCH_DOMAIN, config))
    account = Account.from_key(KEY)
    voucher = {"channelId": ids[0][0], "maxClaimableAmount": "340282366920938463463374607431768211455"}
    py_voucher = sign_voucher(EthAccountSigner(account), ids[0][0], voucher["maxClaimableAmount"], "eip155:84532")
    refund = {"channelId": ids[1][0], "nonce": "3", "amount": "123456"}
    py_refund = authorizer_signer.sign_refund(authorizer_signer.LocalAuthorizerSigner(account), ids[1][0], 123456, 3,
                                              "eip155:84532")
    claims = {"claims": [{"channelId": ids[0][0], "maxClaimableAmount": "5000", "totalClaimed": "4000"},
                         {"channelId": ids[1][0], "maxClaimableAmount": "70000", "totalClaimed": "70000"}]}
    rows = [VoucherClaim(channel=ids[0][1], max_claimable_amount="5000", signature="0x", total_claimed="4000"),
            VoucherClaim(channel=ids[1][1], max_claimable_amount="70000", signature="0x", total_claimed="70000")]
    py_claim = authorizer_signer.sign_claim_batch(authorizer_signer.LocalAuthorizerSigner(account), rows, "eip155:84532")
    deposit = {"from": PAYER, "to": "0x4020806089470a89826cB9fB1f4059150b550004", "value": "100000",
               "validAfter": "0", "validBefore": str(NOW + 300), "nonce": NONCE}
    for name, primary, domain, message, python_signature in [
        ("batch-settlement voucher (largest uint128)", "Voucher", BATCH_DOMAIN, voucher, py_voucher.signature),
        ("batch-settlement refund", "Refund", BATCH_DOMAIN, refund, py_refund),
        ("batch-settlement claim of two channels", "ClaimBatch", BATCH_DOMAIN, claims, py_claim),
        ("batch-settlement ERC-3009 deposit to the collector", "ReceiveWithAuthorization",
         {"name": "USDC", "version": "2", "chainId": 84532, "verifyingContract": USDC_BASE_SEPOLIA}, deposit, None),
    ]:
        if python_signature is not None:
            signed = ts.call("signTyped", key=KEY, domain=domain, primaryType=primary, message=message)
            assert signed["signature"] == python_signature, f"the SDKs sign {name} differently"
        items.append((name, primary, domain, message))
    return items


# --------------------------------------------------------------------------------------------- money
def money(ts: TsOracle) -> dict:
    cases = []
    for price, network in [("$0.01", "eip155:84532"), ("0.0025", "eip155:8453"), ("$1", "eip155:137"),
                           ("$1.50", "eip155:42161"), ("0.000001", "eip155:84532"), ("$0.01", "eip155:4326"),
                           ("12345.678901", "eip155:1"), ("$0.10", "eip155:38833"), ("$ 2", "eip155:8453"),
                           ("0.5 USD", "eip155:8453")]:
        r = ts.call("price", price=price, network=network)
        cases.append({"name": f"{price} on {network}", "price": price, "network": network, "payTo": PAY_TO,
                      "expect": {"amount": r["amount"], "asset": r["asset"], "extra": r["extra"]}})
    for price, code in [("1e-3", "invalid_price"), ("-1", "invalid_price"), ("abc", "invalid_price"), ("", "invalid_price"),
                        ("$", "invalid_price"), ("1,000", "invalid_price"), ("0", "invalid_price"), (".5", "invalid_price"),
                        ("1 USDT", "invalid_price"), ("0.0000001", "price_too_precise"),
                        ("$0.0123456789", "price_too_precise")]:
        cases.append({"name": f"refused {price!r}", "price": price, "network": "eip155:84532", "payTo": PAY_TO,
                      "expect": {"error": code}})
    return doc("A price tag (`price` on `network` to `payTo`) turned into an offer: `amount`, `asset` and `extra` as "
               "@x402/evm's server computes them. paywire refuses with an error code what the official servers round "
               "(`price_too_precise`), treat as free (zero) or reject.", cases)


# --------------------------------------------------------------------------------------------- payments
PAYMENT_ID = "pay_" + bytes(range(16)).hex()  # the 16 bytes a payer draws after the 32-byte nonce


def payments(ts: TsOracle) -> dict:
    scenarios = [
        ("v2 EIP-3009, Base Sepolia USDC (domain name USDC)", bill_v2(offer()), {}),
        ("v2 EIP-3009, Base USDC (domain name USD Coin)",
         bill_v2(offer("eip155:8453", "250000", USDC_BASE, {"name": "USD Coin", "version": "2"}, 300)), {}),
        ("v2 Permit2, MegaUSD (18 decimals)", bill_v2(offer("eip155:4326", "10000000000000000", MEGAUSD, MEGA)), {}),
        ("v2 Permit2 with the eip2612GasSponsoring extension",
         bill_v2(offer("eip155:4326", "10000000000000000", MEGAUSD, MEGA),
                 extensions={"eip2612GasSponsoring": EIP2612_DECLARATION}), {"eip2612Nonce": "7"}),
        ("v2 with the payment-identifier extension",
         bill_v2(offer(), extensions={"payment-identifier": payment_identifier_declaration(True)}),
         {"paymentId": PAYMENT_ID}),
        ("v2, first offer over the $1 default cap: the second is paid",
         bill_v2(offer(amount="2000000"), offer("eip155:8453", "5000", USDC_BASE, {"name": "USD Coin", "version": "2"})), {}),
        ("v2, members x402 does not define are echoed verbatim in accepted",
         bill_v2(offer(extra={"name": "USDC", "version": "2", "note": "α"}) | {"zFuture": {"x": [1, 2]}}), {}),
        ("v2 batch-settlement: a first payment deposits extra.minDeposit through the ERC-3009 collector",
         bill_v2(batch_offer()), {}),
        ("v2 batch-settlement on Base (USD Coin), a one-hour withdraw delay",
         bill_v2(batch_offer("eip155:8453", USDC_BASE, {"name": "USD Coin", "version": "2", "withdrawDelay": 3600,
                                                        "minDeposit": "500000"}, amount="25000")), {}),
        ("v2 batch-settlement: a first deposit through Permit2 (extra.assetTransferMethod permit2)",
         bill_v2(batch_offer(extra={"assetTransferMethod": "permit2"})), {}),
        ("v1 EIP-3009, base-sepolia", bill_v1(), {}),
        ("v1 EIP-3009, base (USD Coin)", bill_v1("base", "1000", USDC_BASE, "USD Coin"), {}),
    ]
    cases = []
    for name, b, opts in scenarios:
        wire = wire_bill(b)
        t = ts.call("pay", bill=wire, key=KEY, now=NOW, nonce=NONCE, **opts)
        ts_json = unb64(t["headerValue"])
        case = {"name": name, "bill": wire, "key": KEY, "now": NOW, "nonce": NONCE, "expiryMargin": 0}
        if "eip2612Nonce" in opts:
            case["eip2612Nonce"] = opts["eip2612Nonce"]
        case["expect"] = {"offerIndex": t["index"], "headerName": t["headerName"], "headerValue": t["headerValue"]}
        if not opts:
            p = py_oracle.pay(wire, KEY, NOW, NONCE)
            py_json = unb64(p["headerValue"])
            if "signature" in ts_json["payload"]:
                assert ts_json["payload"]["signature"] == py_json["payload"]["signature"], name
            else:  # a channel payment: the same deposit and voucher, signatures included
                assert _sorted(ts_json["payload"]) == _sorted(py_json["payload"]), name
            case["python"] = {"headerValue": p["headerValue"], "sameJson": _sorted(ts_json) == _sorted(py_json)}
        cases.append(case)
    return doc("Bills paid by the official TypeScript client with a pinned clock (`now`) and randomness (`nonce`, "
               "the 32 bytes of the authorization nonce; a payer that also needs a payment-identifier id draws 16 "
               "more bytes, which cycle from the start of `nonce`). paywire, given the same key, time and randomness, "
               "the default policy, `expiryMargin` 0 (the official validity window) and, when given, the token's "
               "EIP-2612 nonce `eip2612Nonce`, must choose `offerIndex` and produce `headerValue` byte for byte. "
               "`python` is the Python SDK's header for the same inputs (same signature; `sameJson` tells whether its "
               "JSON differs only in member order); it is informative, not for byte comparison.", cases)


def _sorted(v):
    if isinstance(v, dict):
        return {k: _sorted(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted(x) for x in v]
    return v


# --------------------------------------------------------------------------------------------- selection
def selection(ts: TsOracle) -> dict:
    usdc = offer(amount="400000")
    base = offer("eip155:8453", "400000", USDC_BASE, {"name": "USD Coin", "version": "2"})
    pricey = offer(amount="1500000")
    token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    unknown = offer("eip155:31337", "1000", token, {"name": "Test", "version": "1"})
    other_payee = offer(pay_to=OTHER)
    no_domain = offer(extra={})
    cases = [
        ("default policy takes the first acceptable offer", {}, [(bill_v2(usdc, base), {"index": 0})]),
        ("default policy skips an offer over $1", {}, [(bill_v2(pricey, base), {"index": 1})]),
        ("default policy refuses unknown tokens", {}, [(bill_v2(unknown), {"error": "no_acceptable_offer", "refused": [0]})]),
        ("nothing fits: every offer is listed", {}, [(bill_v2(pricey, unknown), {"error": "no_acceptable_offer", "refused": [0, 1]})]),
        ("preferred chain wins over server order", {"prefer": [8453]}, [(bill_v2(usdc, base), {"index": 1})]),
        ("allowed networks", {"networks": [8453]}, [(bill_v2(usdc, base), {"index": 1})]),
        ("networks by v1 name", {"networks": ["base"]}, [(bill_v2(usdc, base), {"index": 1})]),
        ("allowed payees", {"payTo": [PAY_TO]}, [(bill_v2(other_payee, usdc), {"index": 1})]),
        ("offers without the token's EIP-712 domain are refused", {}, [(bill_v2(no_domain, usdc), {"index": 1})]),
        ("raised per-payment cap", {"maxPerPayment": "$2"}, [(bill_v2(pricey), {"index": 0})]),
        ("no per-payment cap", {"maxPerPayment": "none"}, [(bill_v2(offer(amount="900000000")), {"index": 0})]),
        ("running budget across payments", {"budget": "$1"},
         [(bill_v2(usdc), {"index": 0}), (bill_v2(usdc), {"index": 0}),
          (bill_v2(usdc), {"error": "no_acceptable_offer", "refused": [0]})]),
        ("an allowed token with its own caps and budget",
         {"allowedAssets": [{"chainId": 31337, "address": token, "maxPerPayment": "1000", "budget": "1500"}]},
         [(bill_v2(unknown), {"index": 0}), (bill_v2(unknown), {"error": "no_acceptable_offer", "refused": [0]})]),
        ("a raised cap for a known stablecoin still counts against the USD budget",
         {"budget": "$1", "allowedAssets": [{"chainId": 84532, "address": USDC_BASE_SEPOLIA, "maxPerPayment": "5000000"}]},
         [(bill_v2(offer(amount="2000000")), {"error": "no_acceptable_offer", "refused": [0]}),
          (bill_v2(offer(amount="900000")), {"index": 0})]),
        ("an atomic cap for any token", {"maxAmount": "999", "allowAnyAsset": True, "maxPerPayment": "none"},
         [(bill_v2(unknown), {"error": "no_acceptable_offer", "refused": [0]}), (bill_v2(offer(amount="999")), {"index": 0})]),
        ("v1 bill", {}, [(bill_v1(), {"index": 0})]),
    ]
    out = []
    for name, policy, steps in cases:
        case = {"name": name, "key": KEY, "now": NOW, "nonce": NONCE, "policy": policy,
                "steps": [{"bill": wire_bill(b), "expect": e} for b, e in steps]}
        if not policy and len(steps) == 1 and not name.startswith("offers without"):
            b, want = steps[0]
            try:
                got = {"index": ts.call("pay", bill=wire_bill(b), key=KEY, now=NOW, nonce=NONCE)["index"]}
            except RuntimeError:
                got = {"error": "no_acceptable_offer"}
            assert got == {k: v for k, v in want.items() if k != "refused"}, (name, got)
            case["official"] = "agrees"
        out.append(case)
    return doc("Bills and the offer a payer with `key` (at `now`, randomness `nonce`) chooses under `policy`; each "
               "step pays (and spends budget) before the next. `expect` is the chosen offer's index, or the error "
               "with the indexes of every refused offer. The policy is paywire's JSON policy: networks and prefer "
               "(chain ids or names), payTo, maxPerPayment (USD string, \"none\" for no cap; default \"$1\"), budget "
               "(USD), maxAmount (atomic), allowAnyAsset, allowedAssets [{chainId, address, maxPerPayment, budget}] "
               "(atomic). `official: agrees` marks cases where the official client's default spend controls choose "
               "the same.", out)


# --------------------------------------------------------------------------------------------- verification
def flip_s(signature: str) -> str:
    raw = bytes.fromhex(signature[2:])
    s = SECP256K1_N - int.from_bytes(raw[32:64], "big")
    v = 28 if raw[64] == 27 else 27
    return "0x" + (raw[:32] + s.to_bytes(32, "big") + bytes([v])).hex()


def verification(ts: TsOracle) -> dict:
    cases = []

    def add(name, payment, requirements, now, reason, *, differs=None, payer=PAYER, may_raise=False):
        official_ts = ts.call("verify", payload=payment, requirements=requirements, now=now)
        official_py = py_oracle.verify(payment, requirements, now)
        valid = reason is None
        if not valid and not may_raise:
            for verdict in (official_ts, official_py):
                assert not verdict.get("invalidReason", "").startswith("exception:"), (name, verdict)
        agrees = official_ts["isValid"] == valid and official_py["isValid"] == valid
        assert agrees or differs, (name, official_ts, official_py)
        case = {"name": name, "payment": b64(payment), "requirements": requirements, "now": now,
                "expect": {"isValid": valid} | ({"invalidReason": reason} if reason else {}) | {"payer": payer},
                "official": {"ts": official_ts["isValid"], "py": official_py["isValid"], "agrees": agrees}}
        if differs:
            case["official"]["why"] = differs
        cases.append(case)

    bills = {
        "v2 EIP-3009": bill_v2(offer()),
        "v2 Permit2": bill_v2(offer("eip155:4326", "10000000000000000", MEGAUSD, MEGA)),
        "v1 EIP-3009": bill_v1(),
    }
    paid = {label: unb64(ts.call("pay", bill=wire_bill(b), key=KEY, now=NOW, nonce=NONCE)["headerValue"])
            for label, b in bills.items()}
    for label, b in bills.items():
        payment, req = paid[label], b["accepts"][0]
        permit2, v1 = "Permit2" in label, label.startswith("v1")
        amount_key = "maxAmountRequired" if v1 else "amount"
        auth_key = "permit2Authorization" if permit2 else "authorization"

        def variant(edit=None, req_edit=None, payment=payment, req=req):
            p, r = copy.deepcopy(payment), copy.deepcopy(req)
            if edit:
                edit(p)
            if req_edit:
                r.update(req_edit)
            return p, r

        add(f"{label}: valid", *variant(), NOW, None)
        add(f"{label}: still valid 6 s before validBefore", *variant(), NOW + 54, None)
        add(f"{label}: expired (less than 6 s left)", *variant(), NOW + 55,
            "permit2_deadline_expired" if permit2 else "invalid_exact_evm_payload_authorization_valid_before")
        if v1:
            add(f"{label}: not yet valid", *variant(), NOW - 700, "invalid_exact_evm_payload_authorization_valid_after")
        add(f"{label}: wrong amount", *variant(req_edit={amount_key: str(int(req[amount_key]) + 1)}),
            NOW, "permit2_amount_mismatch" if permit2 else ("invalid_exact_evm_payload_authorization_value" if v1 else
                                                            "invalid_exact_evm_payload_authorization_value_mismatch"))
        add(f"{label}: wrong payee", *variant(req_edit={"payTo": OTHER}), NOW,
            "invalid_permit2_recipient_mismatch" if permit2 else "invalid_exact_evm_payload_recipient_mismatch")
        bad_sig = "invalid_permit2_signature" if permit2 else "invalid_exact_evm_payload_signature"

        def set_sig(value):
            return lambda p: p["payload"].__setitem__("signature", value)

        sig = payment["payload"]["signature"]
        add(f"{label}: tampered signature", *variant(set_sig(sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:])), NOW, bad_sig)
        add(f"{label}: from names another address", *variant(lambda p, k=auth_key: p["payload"][k].__setitem__("from", OTHER)),
            NOW, bad_sig, payer=OTHER)
        high_s_why = ("viem and eth-account recover high-s signatures, and so does Permit2 on chain; paywire accepts "
                      "only the canonical low-s form (EIP-2) of every signature" if permit2 else
                      "viem and eth-account recover high-s signatures; USDC's ECRecover rejects them on chain")
        add(f"{label}: high-s twin of the signature", *variant(set_sig(flip_s(sig))), NOW, bad_sig, differs=high_s_why)
        add(f"{label}: v written as 0/1", *variant(set_sig(sig[:-2] + format(int(sig[-2:], 16) - 27, "02x"))), NOW, bad_sig,
            differs="viem reads v 0/1 as a recovery id; the ecrecover precompile, and so the token or Permit2, rejects "
                    "it on chain")
        add(f"{label}: 64-byte signature", *variant(set_sig(sig[:-2])), NOW, bad_sig)
        add(f"{label}: 66-byte signature (a smart wallet's form)", *variant(set_sig(sig + "00")), NOW,
            "onchain_verification_required")
        if not permit2:
            add(f"{label}: wrong EIP-712 domain name", *variant(req_edit={"extra": {"name": "USD Coin", "version": "2"}}),
                NOW, "invalid_exact_evm_payload_signature")
            add(f"{label}: missing EIP-712 domain", *variant(req_edit={"extra": {}}), NOW,
                "invalid_exact_evm_missing_eip712_domain")
            add(f"{label}: wrong asset", *variant(req_edit={"asset": "0x" + "42" * 20}), NOW,
                "invalid_exact_evm_payload_signature" if v1 else "asset_mismatch")
        add(f"{label}: wrong network", *variant(req_edit={"network": "base" if v1 else "eip155:8453"}), NOW,
            "invalid_exact_evm_network_mismatch", may_raise=True)
        add(f"{label}: unsupported scheme", *variant(req_edit={"scheme": "deferred"}), NOW, "unsupported_scheme",
            may_raise=True, differs="the official Python facilitator checks only the payment's own scheme, not the "
                                    "requirements'")
        add(f"{label}: an exact payment for an upto offer", *variant(req_edit={"scheme": "upto"}), NOW,
            "invalid_scheme", may_raise=True,
            differs="the official Python facilitator checks only the payment's own scheme, not the requirements'")
        if not v1 and not permit2:
            def other_chain(p):
                p["accepted"]["network"] = "eip155:8453"
            add(f"{label}: signed for another chain id", *variant(other_chain, {"network": "eip155:8453"}), NOW,
                "invalid_exact_evm_payload_signature")
            add(f"{label}: an EIP-3009 payment for an offer that asks for Permit2",
                *variant(req_edit={"extra": {"name": "USDC", "version": "2", "assetTransferMethod": "permit2"}}), NOW,
                "unsupported_payload_type",
                differs="the official facilitators verify whatever kind the payload is; paywire holds the payer to "
                        "the offer's transfer method")

    # Permit2 authorizations the official client never makes, signed with viem: a witness not yet valid, and a
    # spender other than the x402 proxy.
    base = paid["v2 Permit2"]
    req = bills["v2 Permit2"]["accepts"][0]
    for name, edit, reason in [
        ("v2 Permit2: witness not yet valid", lambda a: a["witness"].__setitem__("validAfter", str(NOW + 100)),
         "permit2_not_yet_valid"),
        ("v2 Permit2: spender is not the x402 proxy", lambda a: a.__setitem__("spender", OTHER), "invalid_permit2_spender"),
    ]:
        p = copy.deepcopy(base)
        auth = p["payload"]["permit2Authorization"]
        edit(auth)
        message = {k: auth[k] for k in ("permitted", "spender", "nonce", "deadline", "witness")}
        p["payload"]["signature"] = ts.call("signTyped", key=KEY, primaryType="PermitWitnessTransferFrom", message=message,
                                            domain={"name": "Permit2", "chainId": 4326, "verifyingContract": PERMIT2})["signature"]
        add(name, p, req, NOW, reason)

    # EIP-2612 gas sponsoring, as the official client builds it.
    sponsored = bill_v2(offer("eip155:4326", "10000000000000000", MEGAUSD, MEGA),
                        extensions={"eip2612GasSponsoring": EIP2612_DECLARATION})
    p = unb64(ts.call("pay", bill=wire_bill(sponsored), key=KEY, now=NOW, nonce=NONCE, eip2612Nonce="7")["headerValue"])
    req = sponsored["accepts"][0]
    add("v2 Permit2 + EIP-2612 sponsoring: valid", p, req, NOW, None)
    q = copy.deepcopy(p)
    q["extensions"]["eip2612GasSponsoring"]["info"]["amount"] = str(2**256 - 1)
    add("v2 Permit2 + EIP-2612 sponsoring: permit for another amount", q, req, NOW, "permit2_2612_amount_mismatch",
        differs="the official facilitators leave the amount to the settleWithPermit simulation; the x402 Permit2 proxy "
                "reverts unless the permit is for exactly the amount")
    q = copy.deepcopy(p)
    q["extensions"]["eip2612GasSponsoring"]["info"]["spender"] = OTHER
    add("v2 Permit2 + EIP-2612 sponsoring: permit for another spender", q, req, NOW, "eip2612_spender_not_permit2",
        differs="the official Python facilitator accepts any spender when the Permit2 allowance already suffices")

    # The specification's own signature (payer 0x857b…6b66), valid at its time.
    spec = unb64(SPEC_V1["X-PAYMENT"])
    add("the x402 specification's published signature", spec, bill_v1()["accepts"][0], 1740672100, None,
        payer="0x857b06519E91e3A54538791bDbb0E22373e36b66")
    return doc("Payments (signed by the official TS client, or with viem where it never signs such terms) checked "
               "offline against `requirements` at Unix time `now`. `expect` is paywire's verdict: valid or not, the "
               "x402 reason, and the payer (checksummed). `official` is what the official facilitators' verification "
               "(TS and Python, with a stand-in chain: the payer has no code, the asset has code, simulations pass) "
               "answered; where they differ from paywire, `why` says why.", cases)


# --------------------------------------------------------------------------------------------- credentials
def credentials(ts: TsOracle) -> dict:
    req = {"scheme": "exact", "network": "eip155:8453", "asset": USDC_BASE, "payTo": PAYER, "amount": "10000"}
    tx = "0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"
    receipt_payer = "0x857b06519E91e3A54538791bDbb0E22373e36b66"
    issued_at = 1703123456
    out = ts.call("credentials", key=KEY, now=issued_at, resourceUrl=URL, requirements=req, payer=receipt_payer,
                  network="eip155:8453", transaction=tx)
    cases = []
    for credential in out["offers"]:
        verified = ts.call("verifyCredential", kind="offer", credential=credential)
        if credential["format"] == "eip712":
            assert verified["signer"] == out["signer"], verified
        cases.append({"name": f"offer, {credential['format']}", "kind": "offer", "format": credential["format"],
                      "key": KEY, "signer": out["signer"], "kid": out["kid"],
                      "input": {"resourceUrl": URL, "acceptIndex": 0, "requirements": req, "validUntil": issued_at + 60},
                      "expect": credential})
    for credential, with_tx in zip(out["receipts"], [True, False, True, False]):
        verified = ts.call("verifyCredential", kind="receipt", credential=credential)
        if credential["format"] == "eip712":
            assert verified["signer"] == out["signer"], verified
        inputs = {"resourceUrl": URL, "payer": receipt_payer, "network": "eip155:8453", "issuedAt": issued_at}
        if with_tx:
            inputs["transaction"] = tx
        cases.append({"name": f"receipt, {credential['format']}, {'with' if with_tx else 'without'} transaction",
                      "kind": "receipt", "format": credential["format"], "key": KEY, "signer": out["signer"],
                      "kid": out["kid"], "input": inputs, "expect": credential})
    return doc("Signed offers and receipts of the offer-receipt extension, issued by @x402/extensions 2.27 (EIP-712, "
               "and JWS ES256K with the key's did:key as `kid`, signed with RFC 6979) and verified back by it. paywire "
               "issuing `input` with `key` in `format` must produce `expect` exactly, and must verify `expect` as "
               "signed by `signer`.", cases)


# --------------------------------------------------------------------------------------------- malformed
def malformed(_: TsOracle) -> dict:
    good_bill = b64(bill_v2(offer()))
    items = [
        ("empty header", "header", "", "header_empty"),
        ("unpadded base64", "header", "eyJhIjoxfQ", "header_missing_padding"),
        ("base64url alphabet", "header", "eyJhIjoxfQ-_", "header_base64url"),
        ("a space inside", "header", "eyJh IjoxfQ==", "header_invalid_base64"),
        ("padding in the middle", "header", "e=yJhIjoxfQ=", "header_invalid_base64"),
        ("over 16 KiB", "header", "A" * 16388, "header_too_large"),
        ("base64 of non-JSON", "header", "aGVsbG8=", "invalid_json"),
        ("a JSON array", "paymentRequired", b64([1, 2]), "invalid_payment_required"),
        ("x402Version 3", "paymentRequired", b64({"x402Version": 3, "accepts": []}), "invalid_x402_version"),
        ("x402Version as a string", "paymentRequired", b64({"x402Version": "2", "accepts": []}), "invalid_payment_required"),
        ("no offers", "paymentRequired", b64({"x402Version": 2, "resource": {"url": URL}, "accepts": []}), "invalid_payment_required"),
        ("a v1 network name in a v2 offer", "paymentRequired",
         b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer(network="base")]}), "invalid_payment_requirements"),
        ("an amount in scientific notation", "paymentRequired",
         b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer(amount="1e6")]}), "invalid_payment_requirements"),
        ("an amount as a JSON number", "paymentRequired",
         b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer() | {"amount": 10000}]}), "invalid_payment_requirements"),
        ("maxTimeoutSeconds 0", "paymentRequired",
         b64({"x402Version": 2, "resource": {"url": URL}, "accepts": [offer(timeout=0)]}), "invalid_payment_requirements"),
        ("a duplicate key", "paymentRequired", base64.b64encode(b'{"x402Version":2,"x402Version":1}').decode(),
         "invalid_payment_required"),
        ("truncated JSON", "paymentRequired", good_bill[:-8] + "AAAAAAA=", "invalid_json"),
        ("a v2 payment without accepted", "payment", b64({"x402Version": 2, "payload": {}}), "invalid_payload"),
        ("a v1 payment without scheme", "payment", b64({"x402Version": 1, "network": "base", "payload": {}}), "invalid_payload"),
        ("a payload that is a string", "payment", b64({"x402Version": 2, "accepted": offer(), "payload": "0x"}), "invalid_payload"),
        ("a successful receipt without a transaction", "settleResponse", b64({"success": True, "network": "eip155:8453"}),
         "invalid_settle_response"),
        ("success as a string", "settleResponse", b64({"success": "yes"}), "invalid_settle_response"),
        ("a receipt that is an array", "settleResponse", b64([]), "invalid_settle_response"),
    ]
    return doc("Malformed inputs and the error code each must give. `kind` says how `input` is read: a bare header "
               "value (`header`), or a header holding a PaymentRequired, a PaymentPayload (`payment`) or a "
               "SettleResponse.", [{"name": n, "kind": k, "input": i, "error": c} for n, k, i, c in items])


GENERATORS = {
    "headers": headers, "responses": responses, "networks": networks, "assets": assets, "typed_data": typed_data,
    "money": money, "payments": payments, "selection": selection, "verification": verification,
    "credentials": credentials, "malformed": malformed,
    "routes": lambda _: exchange_doc("Route tables: for each pattern list (matched with or without letter case), the "
                                     "requests that are priced (and by which pattern index) and those that are free, "
                                     "and framework route patterns and the index they are priced under (null: free).",
                                     exchange_vectors.routes()),
    "gate": lambda ts: exchange_doc("The payment gate, move by move: each case builds a gate, starts exchanges and "
                                    "feeds them; every step must match its expectation. Payments are the official "
                                    "TypeScript client's for the gate's bills.", exchange_vectors.gate(ts)),
    "client": lambda ts: exchange_doc("The paying client, move by move: each case makes one payer, starts calls and "
                                      "feeds them; every action must match its expectation. Expected payment headers "
                                      "are the official TypeScript client's for the same bill, key, time and nonce.",
                                      exchange_vectors.client(ts)),
}


def exchange_doc(description: str, cases: list) -> dict:
    """An exchange file: paywire's contract, with the official client's payments (see exchange_vectors.py)."""
    return doc(description, cases)


def main() -> int:
    check = "--check" in sys.argv
    with TsOracle() as ts:
        tables = ts.call("tables")
        NETWORK_NAMES.update(tables["networks"])
        DEFAULT_ASSETS.update(tables["assets"])
        outputs = {name: gen(ts) for name, gen in GENERATORS.items()}
    stale = sorted(p.stem for p in VECTORS.glob("*.json") if p.stem not in outputs)
    failed = []
    for name, content in outputs.items():
        text = json.dumps(content, indent=2, ensure_ascii=False) + "\n"
        path = VECTORS / f"{name}.json"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                failed.append(name)
        else:
            VECTORS.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        failed += [f"{s} (no generator writes it)" for s in stale]
    if failed:
        print(f"vectors differ from what the official SDKs generate now: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"{'checked' if check else 'wrote'} {len(outputs)} vector files in {VECTORS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
