"""Facilitator throughput on anvil: verifies/s, settles/s and p50/p99 latency, settling from 1 to 4 keys, from
one instance on SQLite or from several instances sharing one PostgreSQL server.

    eval "$(scripts/install-chain.sh)"; eval "$(scripts/install-postgres.sh)"
    cargo build --release -p paywire-facilitator
    PAYWIRE_FACILITATOR_BIN=target/release/paywire-facilitator .tools/python-venv/bin/python \\
        tests/e2e/bench_facilitator.py [--payments 500] [--concurrency 32] [--keys 1] [--proxy] [--instances N]

With `--instances N` (PostgreSQL), N instances share the keys (each leases its share) and the load generator
sends each request to the next instance in turn.

A measurement, not a test: it prints figures and exits non-zero only if a payment fails. The payments are
signed before the clock starts; each is verified once and then settled once, over HTTP keep-alive. With
`--proxy`, every node call goes through the tests' fault-injecting JSON-RPC proxy (idle: no fault set).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, List, Tuple

import conftest
import httpx
import localnet
from rpc_proxy import RpcProxy

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
    parser.add_argument("--keys", type=int, default=1, choices=range(1, len(SETTLERS) + 1))
    parser.add_argument("--proxy", action="store_true", help="node calls through the idle fault proxy")
    parser.add_argument("--instances", type=int, default=0,
                        help="N instances on one PostgreSQL server (default: one instance on SQLite)")
    args = parser.parse_args()
    keys = conftest.PAYER_KEYS
    with conftest.funded_chain() as chain:
        proxy = RpcProxy(chain.rpc_url) if args.proxy else None
        try:
            return measure(chain, proxy.url if proxy else chain.rpc_url, keys, args)
        finally:
            if proxy:
                proxy.close()


# anvil's development accounts 1, 5, 6 and 7 (each funded with ETH by anvil).
SETTLERS = [
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
]


def measure(chain: conftest.Chain, rpc_url: str, keys: List[str], args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="paywire-bench-"))
    names = [f"PW_BENCH_KEY_{i}" for i in range(args.keys)]
    config = workdir / "facilitator.toml"
    config.write_text(
        "[[chain]]\nchain_id = 84532\nrpc_urls_env = \"PW_BENCH_RPC\"\nkeys = ["
        + ", ".join(f'{{ env = "{n}" }}' for n in names) + "]\n"
    )
    environ = {"PW_BENCH_RPC": rpc_url, **dict(zip(names, SETTLERS))}
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(localnet.postgres_server()) if args.instances else None
        facilitators = []
        for i in range(max(1, args.instances)):
            home = workdir / f"instance-{i}"
            home.mkdir()
            facilitators.append(conftest.Facilitator("", home, config=config, environ=environ, postgres=url,
                                                     args=["--lease", "3"] if url else []))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.callback(lambda: [f.stop() for f in facilitators])
        for f in facilitators:
            f.start()
        if url:
            wait_for_keys(facilitators, args.keys)
        return run(facilitators, keys, args)


def wait_for_keys(facilitators: List[conftest.Facilitator], keys: int) -> None:
    """Until the instances hold every key between them, each at least one when there are enough."""
    deadline = time.monotonic() + 60
    while True:
        held = [sum(k["held"] for c in httpx.get(f"{f.url}/health").json()["chains"] for k in c["keys"])
                for f in facilitators]
        if sum(held) == keys and (keys < len(facilitators) or min(held) > 0):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the keys never spread over the instances: {held}")
        time.sleep(0.2)


def run(facilitators: List[conftest.Facilitator], keys: List[str], args: argparse.Namespace) -> int:
    payments, concurrency = args.payments, args.concurrency
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
    clients = [httpx.Client(base_url=f.url, headers={"Content-Type": "application/json"}, timeout=60,
                            limits=httpx.Limits(max_connections=concurrency)) for f in facilitators]

    def post(i: int, path: str, key: str) -> Callable[[], bool]:
        client = clients[i % len(clients)]
        return lambda: bool(client.post(path, content=bodies[i]).json().get(key))

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        report("verify", *timed(pool, [post(i, "/verify", "isValid") for i in range(payments)]))
        report("settle", *timed(pool, [post(i, "/settle", "success") for i in range(payments)]))
    settled = httpx.get(f"{facilitators[0].url}/health").json()
    where = f"{len(facilitators)} instance(s) on PostgreSQL" if args.instances else "one instance on SQLite"
    print(f"settled on chain: {settled['succeeded']} of {settled['settlements']}; concurrency {concurrency}, "
          f"{args.keys} key(s), {where}{', through the idle fault proxy' if args.proxy else ''}")
    logs = "".join(f.log.read_text(errors="replace") for f in facilitators)
    errors = [line for line in logs.splitlines() if "nonce" in line.lower()]
    print(f"log lines naming a nonce problem: {len(errors)}")
    return 0 if settled["succeeded"] == payments else 1


if __name__ == "__main__":
    raise SystemExit(main())
