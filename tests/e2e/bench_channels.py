"""Paid requests per second through one FastAPI (paywire.asgi under uvicorn) and one Express server, paid by
paywire's Python client (httpx) one after another, on anvil with paywire's facilitator: `batch-settlement` (after
the channel's deposit, each request is a voucher the server checks offline: no facilitator call, no
transaction) against `exact` (each request verified and settled on chain by the facilitator).

    eval "$(scripts/install-chain.sh)"
    cargo build -p paywire-facilitator
    PAYWIRE_FACILITATOR_BIN=target/debug/paywire-facilitator PAYWIRE_NODE_DIR=$PWD/node \\
      .tools/python-venv/bin/python tests/e2e/bench_channels.py

A measurement, not a test: it prints figures and exits non-zero only if a request fails.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import conftest
import httpx
import localnet
from parties import node_express, python_asgi

import paywire
import paywire.httpx

PRICE = 1000


def rate(url: str, key: str, requests: int) -> float:
    """Requests per second for `requests` paid requests after a first one (which may deposit)."""
    transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
    with httpx.Client(transport=transport, timeout=60) as client:
        first = client.get(url)
        if first.status_code != 200:
            raise SystemExit(f"a request failed: {first.status_code} {first.text}")
        started = time.perf_counter()
        for _ in range(requests):
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"a request failed: {response.status_code} {response.text}")
        return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="paid requests per figure (default 200)")
    args = parser.parse_args()
    keys = ["0x" + format(0x7100 + i, "064x") for i in range(8)]
    with localnet.running_chain({paywire.LocalSigner(k).address: 10**10 for k in keys}) as chain:
        workdir = Path(tempfile.mkdtemp(prefix="paywire-rate-"))
        facilitator = localnet.Facilitator(chain.rpc_url, workdir)
        facilitator.start()
        pool = iter(keys)
        extra = {"BATCH_AUTHORIZER": localnet.FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
        try:
            print(f"{'server':<10} {'scheme':<18} {'paid requests per second':>26}")
            for name, serve in (("FastAPI", python_asgi), ("Express", node_express)):
                with serve(facilitator.url, conftest.PAY_TO, price="$0.001", app="paid_app", extra=extra) as server:
                    channel = rate(server.url("/batch"), next(pool), args.requests)
                    exact = rate(server.url("/weather"), next(pool), max(args.requests // 10, 10))
                print(f"{name:<10} {'batch-settlement':<18} {channel:>26,.0f}")
                print(f"{name:<10} {'exact':<18} {exact:>26,.1f}")
        finally:
            facilitator.stop()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
