"""Gas per paid request on anvil, by how the payment settles: `exact` with EIP-3009, `exact` with Permit2 (the
payer approved Permit2 before), `exact` with Permit2 and an EIP-2612 permit (a payer without gas), and `upto`
(Permit2, a part of the maximum). Each is paid by paywire's client and settled by paywire's facilitator; the
figure is the receipt's `gasUsed` (what the facilitator pays), averaged over the payments.

Then `batch-settlement` at 10, 100 and 1,000 requests per channel: the official Python SDK's client deposits
(ERC-3009) and signs the vouchers; paywire's facilitator settles the deposit, one claim of the last voucher and
one sweep. The figure is the three receipts' `gasUsed` divided by the requests (vouchers send no transaction).

    eval "$(scripts/install-chain.sh)"
    cargo build -p paywire-facilitator
    PAYWIRE_FACILITATOR_BIN=target/debug/paywire-facilitator .tools/python-venv/bin/python tests/e2e/bench_gas.py

A measurement, not a test: it prints figures and exits non-zero only if a payment fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

import conftest
import httpx
import localnet
import test_batch

import paywire

USDC = localnet.USDC
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"


def address(key: str) -> str:
    return paywire.LocalSigner(key).address


def approve(chain: localnet.Chain, owner: str) -> None:
    chain.rpc("anvil_setBalance", [owner, hex(10**18)])
    chain.rpc("anvil_impersonateAccount", [owner])
    data = "0x095ea7b3" + format(int(PERMIT2, 16), "064x") + "f" * 64
    chain.rpc("eth_sendTransaction", [{"from": owner, "to": USDC, "data": data}])
    chain.rpc("anvil_stopImpersonatingAccount", [owner])


def bill(**tag: Any) -> paywire.PaymentRequired:
    return paywire.build_payment_required("http://bench.test/", [paywire.PriceTag("eip155:84532", conftest.PAY_TO, **tag)])


def upto_bill(amount: int) -> paywire.PaymentRequired:
    offer = {"scheme": "upto", "network": "eip155:84532", "amount": str(amount), "asset": USDC,
             "payTo": conftest.PAY_TO, "maxTimeoutSeconds": 300,
             "extra": {"name": "USDC", "version": "2", "assetTransferMethod": "permit2",
                       "facilitatorAddress": localnet.FACILITATOR_ADDRESS}}
    return paywire.PaymentRequired.from_json(json.dumps({"x402Version": 2, "accepts": [offer],
                                                         "resource": {"url": "http://bench.test/"}}))


def settle(facilitator: localnet.Facilitator, chain: localnet.Chain, body: Dict[str, Any]) -> int:
    answer = httpx.post(f"{facilitator.url}/settle", json=body, timeout=60).json()
    if not answer.get("success"):
        raise SystemExit(f"a payment failed: {answer}")
    return int(chain.receipt(answer["transaction"])["gasUsed"], 16)


def body_for(key: str, the_bill: paywire.PaymentRequired, charge: int = 0, nonce: Any = None) -> Dict[str, Any]:
    header = paywire.Payer(paywire.LocalSigner(key)).pay(the_bill, eip2612_nonce=nonce)
    payment = paywire.PaymentPayload.from_header(header.value)
    body: Dict[str, Any] = json.loads(paywire.facilitator_request(payment, the_bill.accepts[0]))
    if charge:
        body["paymentRequirements"]["amount"] = str(charge)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=10, help="payments of each kind (default 10)")
    args = parser.parse_args()
    keys = ["0x" + format(0x7000 + i, "064x") for i in range(4 * args.payments + 13)]
    with localnet.running_chain({address(k): 10**9 for k in keys}) as chain:
        workdir = Path(tempfile.mkdtemp(prefix="paywire-gas-"))
        facilitator = localnet.Facilitator(chain.rpc_url, workdir)
        facilitator.start()
        try:
            pool = iter(keys)
            kinds: Dict[str, Callable[[str], Dict[str, Any]]] = {
                "exact, EIP-3009": lambda k: body_for(k, bill(price="$0.01")),
                "exact, Permit2 (approved before)": lambda k: (approve(chain, address(k)), body_for(
                    k, bill(amount=10_000, asset=USDC, transfer_method="permit2")))[1],
                "exact, Permit2 + EIP-2612 permit (no gas)": lambda k: body_for(
                    k, bill(amount=10_000, asset=USDC, transfer_method="permit2",
                            extensions={"eip2612GasSponsoring": {"info": {"version": "1"}}}), nonce=0),
                "upto, Permit2 (approved before), 4,000 of 10,000": lambda k: (approve(chain, address(k)), body_for(
                    k, upto_bill(10_000), charge=4_000))[1],
            }
            print(f"{'settlement':<52} {'gas per paid request':>22}")
            for name, make in kinds.items():
                gas: List[int] = [settle(facilitator, chain, make(next(pool))) for _ in range(args.payments)]
                print(f"{name:<52} {statistics.mean(gas):>22,.0f}")
            for requests in (10, 100, 1000):
                payer = test_batch.Payer(next(pool))
                charged = requests * test_batch.PRICE
                steps = [
                    payer.deposit(charged, test_batch.PRICE),
                    payer.body({"type": "claim", "claims": [payer.claim_row(charged, charged)]}),
                    payer.body({"type": "settle", "receiver": conftest.PAY_TO, "token": USDC}),
                ]
                total = [settle(facilitator, chain, body) for body in steps]
                name = f"batch-settlement, {requests:,} requests on a channel"
                detail = f"(deposit {total[0]:,} + claim {total[1]:,} + sweep {total[2]:,})"
                print(f"{name:<52} {sum(total) / requests:>22,.0f}  {detail}")
            # A server with many payers claims their channels together and sweeps once.
            channels, requests = 10, 1000
            payers = [test_batch.Payer(next(pool)) for _ in range(channels)]
            charged = requests * test_batch.PRICE
            deposits = [settle(facilitator, chain, p.deposit(charged, test_batch.PRICE)) for p in payers]
            rows = [p.claim_row(charged, charged) for p in payers]
            claim = settle(facilitator, chain, payers[0].body({"type": "claim", "claims": rows}))
            sweep = settle(facilitator, chain, payers[0].body({"type": "settle", "receiver": conftest.PAY_TO,
                                                                "token": USDC}))
            total = sum(deposits) + claim + sweep
            name = f"batch-settlement, {channels} channels x {requests:,} requests"
            detail = f"(10 deposits {sum(deposits):,} + one claim {claim:,} + one sweep {sweep:,})"
            print(f"{name:<52} {total / (channels * requests):>22,.0f}  {detail}")
        finally:
            facilitator.stop()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
