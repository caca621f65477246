"""paywire against the official x402 Python SDK (2.25, eth-account with coincurve: its fastest configuration),
measured in one run on this machine. Prints each figure and the ratio.

    python python/bench/compare_official.py [--quick]

- pay: a PAYMENT-REQUIRED header value in, a PAYMENT-SIGNATURE header value out (parse, select, sign, encode);
- verify: a PAYMENT-SIGNATURE header value checked offline against the offer (parse, match, recover);
- cold: a new Python process that imports the SDK and makes one payment (wall time and peak RSS).

Warm figures are the median of several timing rounds, each the mean over many calls; cold figures are the
median of several processes. A benchmark, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import textwrap
import time
from typing import Callable, List, Tuple

import coincurve  # noqa: F401  (present so eth-account signs with libsecp256k1, the official SDK's fastest path)
from eth_account import Account
from x402 import x402ClientSync, x402FacilitatorSync
from x402.http import decode_payment_signature_header, x402HTTPClientSync
from x402.mechanisms.evm.exact import register_exact_evm_client, register_exact_evm_facilitator

import paywire

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "oracle"))
import py_oracle

logging.getLogger("x402").setLevel(logging.ERROR)
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
BILL = paywire.build_payment_required(
    "https://api.example.com/weather", [paywire.PriceTag("eip155:84532", PAY_TO, "$0.001")], description="Weather"
)
HEADER = BILL.to_header()


def per_call(fn: Callable[[], object], rounds: int, calls: int) -> float:
    """Median over rounds of the mean seconds per call."""
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def official_pay() -> Callable[[], str]:
    client = x402HTTPClientSync(register_exact_evm_client(x402ClientSync(), Account.from_key(KEY)))

    def pay() -> str:
        required = client.get_payment_required_response(lambda name: HEADER if name.upper() == "PAYMENT-REQUIRED" else None)
        payload = client.create_payment_payload(required)
        return client.encode_payment_signature_header(payload)["PAYMENT-SIGNATURE"]

    return pay


def paywire_pay() -> Callable[[], str]:
    payer = paywire.Payer(paywire.LocalSigner(KEY))
    return lambda: payer.pay(HEADER).value


def official_verify(value: str) -> Callable[[], bool]:
    requirements = BILL.accepts[0].to_dict()
    facilitator = register_exact_evm_facilitator(x402FacilitatorSync(), py_oracle._Chain(requirements), ["eip155:84532"])
    from x402.schemas import PaymentRequirements

    offer = PaymentRequirements.model_validate(requirements)

    def verify() -> bool:
        return facilitator.verify(decode_payment_signature_header(value), offer).is_valid

    return verify


def paywire_verify(value: str) -> Callable[[], bool]:
    return lambda: paywire.check_payment(BILL, paywire.PaymentPayload.from_header(value)).verified.fully_verified


# Each cold script reports its own peak RSS (VmHWM): a child's rusage would include the parent's memory,
# which Linux carries across fork and exec.
PEAK_RSS = """
import sys
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(hwm, file=sys.stderr)
"""

COLD_PAYWIRE = f"""
import paywire
payer = paywire.Payer(paywire.LocalSigner({KEY!r}))
print(payer.pay({HEADER!r}).value[:16])
""" + PEAK_RSS

COLD_OFFICIAL = f"""
from eth_account import Account
from x402 import x402ClientSync
from x402.http import x402HTTPClientSync
from x402.mechanisms.evm.exact import register_exact_evm_client
client = x402HTTPClientSync(register_exact_evm_client(x402ClientSync(), Account.from_key({KEY!r})))
required = client.get_payment_required_response(lambda n: {HEADER!r} if n.upper() == "PAYMENT-REQUIRED" else None)
print(client.encode_payment_signature_header(client.create_payment_payload(required))["PAYMENT-SIGNATURE"][:16])
""" + PEAK_RSS


def cold(script: str, runs: int) -> Tuple[float, float]:
    """Median wall seconds and median peak RSS (MiB) of a fresh interpreter running `script`."""
    walls: List[float] = []
    rss: List[float] = []
    for _ in range(runs + 1):  # the first run warms the page cache and is dropped
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        assert done.returncode == 0, f"the cold script failed: {done.stderr}"
        rss.append(int(done.stderr.split()[-1]) / 1024)
    return statistics.median(walls[1:]), statistics.median(rss[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run, not for reporting)")
    args = parser.parse_args()
    rounds, calls, runs = (3, 50, 3) if args.quick else (7, 500, 9)

    value = paywire_pay()()
    official_value = official_pay()()
    assert paywire_verify(official_value)() and official_verify(value)(), "the two SDKs disagree on a payment"

    rows = []
    ours, theirs = per_call(paywire_pay(), rounds, calls), per_call(official_pay(), rounds, calls)
    rows.append(("pay (header in, header out)", f"{ours * 1e6:.1f} µs", f"{theirs * 1e6:.1f} µs", theirs / ours))
    ours, theirs = per_call(paywire_verify(value), rounds, calls), per_call(official_verify(value), rounds, calls)
    rows.append(("verify offline (header in)", f"{ours * 1e6:.1f} µs", f"{theirs * 1e6:.1f} µs", theirs / ours))
    (ours_s, ours_mb), (theirs_s, theirs_mb) = cold(COLD_PAYWIRE, runs), cold(COLD_OFFICIAL, runs)
    rows.append(("cold import and pay: wall", f"{ours_s:.3f} s", f"{theirs_s:.3f} s", theirs_s / ours_s))
    rows.append(("cold import and pay: peak RSS", f"{ours_mb:.1f} MiB", f"{theirs_mb:.1f} MiB", theirs_mb / ours_mb))

    print(f"paywire {paywire.__version__} vs x402 (official) on Python {sys.version.split()[0]}")
    print(f"{'':32} {'paywire':>12} {'official':>12} {'ratio':>8}")
    for name, a, b, ratio in rows:
        print(f"{name:32} {a:>12} {b:>12} {ratio:>7.1f}x")


if __name__ == "__main__":
    main()
