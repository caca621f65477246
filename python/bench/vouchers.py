"""A batch-settlement voucher checked offline from Python, against the `exact` offline verification: what a
server does per request before its accounting. Both start from the header value a request carries.

    python python/bench/vouchers.py [--quick]

`verify_voucher` (decode, read the voucher payload, the channel against the offer, the channel id, the
signature) against `verify_to_response` of an `exact` EIP-3009 payment (decode, the offer, the window, the
signature). A benchmark, not a test: it asserts only that every voucher and payment is valid.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable, List

import paywire

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
AUTHORIZER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
ORIGIN = "https://api.example.com"
BATCH_DOMAIN = {"name": "x402 Batch Settlement", "version": "1", "chainId": 84532,
                "verifyingContract": "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003"}


def batch_offer() -> paywire.PaymentRequirements:
    tag = paywire.PriceTag("eip155:84532", PAY_TO, amount=1000, asset=USDC, scheme="batch-settlement",
                           extra={"receiverAuthorizer": AUTHORIZER, "withdrawDelay": 900})
    return paywire.build_payment_required(ORIGIN + "/batch", [tag]).accepts[0]


def vouchers(offer: paywire.PaymentRequirements, count: int) -> List[str]:
    """Header values of `count` vouchers of one channel (cumulative amounts 1000, 2000, ...)."""
    signer = paywire.LocalSigner(KEY)
    config = {"payer": signer.address, "payerAuthorizer": signer.address, "receiver": PAY_TO,
              "receiverAuthorizer": AUTHORIZER, "token": USDC, "withdrawDelay": 900, "salt": "0x" + "00" * 32}
    typed = {"domain": BATCH_DOMAIN, "primaryType": "ChannelConfig", "message": config}
    channel_id = "0x" + paywire.typed_data_hashes(typed)["digest"].hex()
    out = []
    for n in range(1, count + 1):
        message = {"channelId": channel_id, "maxClaimableAmount": str(n * 1000)}
        digest = paywire.typed_data_hashes({"domain": BATCH_DOMAIN, "primaryType": "Voucher", "message": message})
        signature = "0x" + signer.sign_digest(digest["digest"]).hex()
        payload = {"type": "voucher", "channelConfig": config, "voucher": {**message, "signature": signature}}
        text = json.dumps({"x402Version": 2, "payload": payload, "accepted": json.loads(offer.raw_json)})
        out.append(paywire.PaymentPayload.from_json(text).to_header())
    return out


def interleaved(runs: List[Callable[[str], None]], headers: List[List[str]], rounds: int) -> List[float]:
    """Median over rounds of the mean seconds per check, for each of `runs` on its `headers`; each round
    runs every one of them in turn, so a machine that slows down or speeds up weighs on all alike."""
    size = len(headers[0]) // rounds
    samples: List[List[float]] = [[] for _ in runs]
    for r in range(rounds):
        for i, run in enumerate(runs):
            chunk = headers[i][r * size : (r + 1) * size]
            start = time.perf_counter()
            for header in chunk:
                run(header)
            samples[i].append((time.perf_counter() - start) / len(chunk))
    return [statistics.median(s) for s in samples]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a smoke run: few checks")
    args = parser.parse_args()
    rounds, each = (2, 50) if args.quick else (21, 500)
    offer = batch_offer()
    voucher_headers = vouchers(offer, rounds * each)
    tag = paywire.PriceTag("eip155:84532", PAY_TO, "$0.001")
    bill = paywire.build_payment_required(ORIGIN + "/weather", [tag])
    payer = paywire.Payer(paywire.LocalSigner(KEY))
    exact_headers = [payer.pay(bill).value for _ in range(rounds * each)]
    exact_offer = bill.accepts[0]
    now = int(time.time())

    def check_voucher(header: str) -> None:
        assert paywire.verify_voucher(paywire.PaymentPayload.from_header(header), offer).is_valid

    def check_exact(header: str) -> None:
        assert paywire.verify_to_response(paywire.PaymentPayload.from_header(header), exact_offer, now).is_valid

    check_voucher(voucher_headers[0])
    check_exact(exact_headers[0])
    exact, voucher = interleaved([check_exact, check_voucher], [exact_headers, voucher_headers], rounds)
    print(f"exact, offline verification (verify_to_response): {exact * 1e6:7.1f} us, {1 / exact:8.0f} per second")
    print(f"batch-settlement voucher (verify_voucher):        {voucher * 1e6:7.1f} us, {1 / voucher:8.0f} per second")
    print(f"ratio: {voucher / exact:.2f}x")


if __name__ == "__main__":
    main()
