"""Paid requests per second through 1, 2 or 3 replicas of one paid API sharing one Redis server, on anvil.

    eval "$(scripts/install-chain.sh)"; eval "$(scripts/install-redis.sh)"
    cargo build --release -p paywire-facilitator
    cd tests/e2e && PAYWIRE_FACILITATOR_BIN=../../target/release/paywire-facilitator PAYWIRE_NODE_DIR=$PWD/../../node \\
        ../../.tools/python-venv/bin/python bench_replicas.py [--replicas 1] [--lang node|python] \\
        [--payments 300] [--concurrency 32]

A measurement, not a test: it prints figures and exits non-zero only if a request fails. The replicas are the
tests' paid app (tests/e2e/apps: Express with paywire's middleware, or FastAPI with paywire.asgi) with paywire's
Redis store; one paywire facilitator (release build, 3 keys, SQLite) settles on anvil. The payments are signed
before the clock starts; the load generator sends each request to the next replica in turn (client-side
balancing, so no proxy process shares the cores). Two passes: "paid", every payment new (verify, handler,
settle through the facilitator, records in Redis), then "replayed", the same requests again (each answered from
its record in Redis: no facilitator call).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, List

import conftest
import httpx
from bench_facilitator import SETTLERS, report, timed
from localnet import redis_server, write_config
from parties import Server, node_express, python_asgi

import paywire

PUBLIC_URL = "https://api.bench.test"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--lang", choices=["node", "python"], default="node")
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="paywire-bench-replicas-"))
    names = [f"PW_BENCH_KEY_{i}" for i in range(3)]
    config = write_config(workdir / "facilitator.toml",
                          [{"chain_id": 84532, "urls_env": "PW_BENCH_RPC", "keys_env": names}])
    with conftest.funded_chain() as chain, redis_server() as redis_url, contextlib.ExitStack() as stack:
        facilitator = conftest.Facilitator("", workdir, config=config,
                                           environ={"PW_BENCH_RPC": chain.rpc_url, **dict(zip(names, SETTLERS))})
        facilitator.start()
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.callback(facilitator.stop)
        serve = node_express if args.lang == "node" else python_asgi
        extra = {"REDIS_URL": redis_url, "PUBLIC_URL": PUBLIC_URL}
        replicas: List[Server] = [stack.enter_context(serve(facilitator.url, conftest.PAY_TO, app="app", extra=extra))
                                  for _ in range(args.replicas)]
        return measure(replicas, args)


def measure(replicas: List[Server], args: argparse.Namespace) -> int:
    bill = httpx.get(replicas[0].url(), timeout=30)
    required = paywire.PaymentRequired.from_header(bill.headers["payment-required"])
    keys = conftest.PAYER_KEYS
    headers = [paywire.Payer(paywire.LocalSigner(keys[i % len(keys)])).pay(required).headers
               for i in range(args.payments)]
    clients = [httpx.Client(base_url=r.base, timeout=60, limits=httpx.Limits(max_connections=args.concurrency))
               for r in replicas]

    def get(i: int) -> Callable[[], bool]:
        client = clients[i % len(clients)]
        return lambda: client.get("/weather", headers=headers[i]).status_code == 200

    failures = 0
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for what in ("paid", "replayed"):
            wall, latencies, failed = timed(pool, [get(i) for i in range(args.payments)])
            report(f"{what} requests through {len(replicas)} {args.lang} replica(s)", wall, latencies, failed)
            failures += failed
    served = sum(httpx.get(r.url("/served")).json()["served"] for r in replicas)
    print(f"handler runs: {served} for {args.payments} payments; concurrency {args.concurrency}")
    return 0 if failures == 0 and served == args.payments else 1


if __name__ == "__main__":
    raise SystemExit(main())
