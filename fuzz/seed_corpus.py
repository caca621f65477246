"""Seeds each fuzz target's corpus with the messages of tests/vectors (header values and JSON) and with the
inputs in fuzz/regressions that once made a target fail."""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "corpus"
seeds: list[str] = []


def walk(value):
    if isinstance(value, str) and len(value) > 8:
        seeds.append(value)
    elif isinstance(value, dict):
        if value:
            seeds.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        for v in value.values():
            walk(v)
    elif isinstance(value, list):
        for v in value:
            walk(v)


for f in sorted((ROOT / "tests" / "vectors").glob("*.json")):
    walk(json.loads(f.read_text()))


def batch_seeds() -> None:
    """batch-settlement payments (deposit, voucher, refund, claim), which no vector file holds yet."""
    address = "0x" + "11" * 20
    channel = {"payer": address, "payerAuthorizer": address, "receiver": "0x" + "33" * 20,
               "receiverAuthorizer": "0x" + "44" * 20, "token": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
               "withdrawDelay": 900, "salt": "0x" + "00" * 32}
    voucher = {"channelId": "0x" + "5a" * 32, "maxClaimableAmount": "1000", "signature": "0x" + "ab" * 65}
    accepted = {"scheme": "batch-settlement", "network": "eip155:84532", "amount": "1000",
                "asset": channel["token"], "payTo": channel["receiver"], "maxTimeoutSeconds": 3600,
                "extra": {"receiverAuthorizer": channel["receiverAuthorizer"], "withdrawDelay": 900,
                          "name": "USDC", "version": "2"}}
    deposit = {"amount": "100000", "authorization": {"erc3009Authorization": {
        "validAfter": "0", "validBefore": "1770000000", "salt": "0x" + "07" * 32, "signature": "0x" + "cd" * 65}}}
    claim = {"voucher": {"channel": channel, "maxClaimableAmount": "1000"}, "signature": voucher["signature"],
             "totalClaimed": "1000"}
    for payload in ({"type": "deposit", "channelConfig": channel, "voucher": voucher, "deposit": deposit},
                    {"type": "voucher", "channelConfig": channel, "voucher": voucher},
                    {"type": "refund", "channelConfig": channel, "voucher": voucher, "amount": "5",
                     "refundNonce": "1", "claims": [claim]},
                    {"type": "claim", "claims": [claim], "claimAuthorizerSignature": "0x" + "ef" * 65},
                    {"type": "settle", "receiver": channel["receiver"], "token": channel["token"]}):
        seeds.append(json.dumps({"x402Version": 2, "accepted": accepted, "payload": payload}, separators=(",", ":")))


batch_seeds()
targets = ["header", "payment_required", "payment_payload", "facilitator_messages", "verify",
           "money_and_networks", "credentials", "decode_any", "gate"]


def gate_seeds() -> list[str]:
    """The gate target's script format (fuzz_targets/gate.rs): a request of tests/vectors/gate.json, then the
    outcomes the case feeds it, one letter each."""
    letters = {"body": "b", "bodyTooLarge": "B", "clientGone": "g", "verified": "v", "settled": "s",
               "facilitatorFailed": "f", "handled": "h", "handlerFailed": "H"}
    out = []
    for case in json.loads((ROOT / "tests" / "vectors" / "gate.json").read_text())["cases"]:
        moves = case["moves"]
        for i, move in enumerate(moves):
            if "start" not in move:
                continue
            r = move["request"]
            header = next((("v1:" if n.lower() == "x-payment" else "") + v for n, v in r["headers"]
                           if n.lower() in ("payment-signature", "x-payment")), "")
            lines = [r["method"], r["pathAndQuery"], header, str(move["now"])]
            for feed in moves[i + 1:]:
                if feed.get("feed") != move["start"] or "input" not in feed:
                    continue
                (kind, value), = feed["input"].items()
                if kind == "store":
                    continue
                arg = value if isinstance(value, str) else ""
                if kind in ("verified", "settled"):
                    arg = json.dumps(value, separators=(",", ":"))
                elif kind == "handled":
                    arg = str(value["status"])
                elif kind == "hooked":
                    # What the hooks decided: k go on, K abort (with the reason), X a hook raised.
                    if "abort" in value:
                        lines.append("K" + value["abort"]["reason"])
                    elif "failed" in value:
                        lines.append("X" + value["failed"])
                    else:
                        lines.append("k")
                    continue
                lines.append(letters[kind] + arg)
            out.append("\n".join(lines))
    return out

for target in targets:
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(dict.fromkeys(gate_seeds() if target == "gate" else seeds)):
        (d / f"vector-{i:04d}").write_text(s)
    # Inputs that once failed, kept so every run tries them again.
    for old in sorted((ROOT / "fuzz" / "regressions" / target).glob("*")):
        (d / f"regression-{old.name}").write_bytes(old.read_bytes())
print(f"seeded {len(targets)} corpora from tests/vectors")
