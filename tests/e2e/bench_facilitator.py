"""Facilitator throughput on anvil: verifies/s, settles/s and p50/p99 latency, every settle from one key.

    eval "$(scripts/install-chain.sh)"
    cargo build --release -p paywire-facilitator
    PAYWIRE_FACILITATOR_BIN=target/release/paywire-facilitator .tools/python-venv/bin/python \\
        tests/e2e/bench_facilitator.py [--payments 500] [--concurrency 32]

A measurement, not a test: it prints figures and exits non-zero only if a payment fails. The payments are
signed before the clock starts; each is verified once and then settled once, over HTTP keep-alive.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, List, Tuple

import conftest
import httpx

import paywire


def timed(pool: ThreadPoolExecutor, jobs: List[Callable[[], bool]]) -> Tuple[float, List[float], int]:
    def run(job: Callable[[], bool]) -> Tuple[float, bool]:
        start = time.perf_counter()
        ok = job()
        return time.perf_counter() - start, ok

    start = time.perf_counter()
    results = list(pool.map(run, jobs))
    return time.perf_counter() - start, [r[0] for r in results], sum(1 for r in results if not r[1])


def report(what: str, wall: float, latencies: List[float], failures: int) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{what}: {len(latencies) / wall:.0f}/s over {len(latencies)}, "
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, failures {failures}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    keys = conftest.PAYER_KEYS
    with conftest.funded_chain() as chain:
        return measure(chain, keys, args.payments, args.concurrency)


def measure(chain: conftest.Chain, keys: List[str], payments: int, concurrency: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="paywire-bench-"))
    facilitator = conftest.Facilitator(chain.rpc_url, workdir)
    facilitator.start()
    try:
        bill = paywire.build_payment_required(
            "http://bench.test/r", [paywire.PriceTag("eip155:84532", conftest.PAY_TO, "$0.001")]
        )
        payers = [paywire.Payer(paywire.LocalSigner(k)) for k in keys]
        bodies = [
            paywire.facilitator_request(
                paywire.PaymentPayload.from_header(payers[i % len(payers)].pay(bill).value), bill.accepts[0]
            )
            for i in range(payments)
        ]
        client = httpx.Client(base_url=facilitator.url, headers={"Content-Type": "application/json"}, timeout=60,
                              limits=httpx.Limits(max_connections=concurrency))

        def post(path: str, body: str, key: str) -> Callable[[], bool]:
            return lambda: bool(client.post(path, content=body).json().get(key))

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            report("verify", *timed(pool, [post("/verify", b, "isValid") for b in bodies]))
            report("settle", *timed(pool, [post("/settle", b, "success") for b in bodies]))
        settled = httpx.get(f"{facilitator.url}/health").json()
        print(f"settled on chain: {settled['succeeded']} of {settled['settlements']}; concurrency {concurrency}")
        return 0 if settled["succeeded"] == payments else 1
    finally:
        facilitator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
