"""Paid requests per second through FastAPI: paywire's middleware against the official x402 middleware
(`x402` 2.25, `PaymentMiddlewareASGI`), each under uvicorn in its own process, both settling through the same
facilitator stub (which answers at once), on this machine. Every request carries its own payment, signed
before the clock starts; a load of CONCURRENCY requests at a time over keep-alive connections, sent by node/bench/load.mjs. Then the same
with an in-process stand-in for the stub in each server (serve_apps.py), where the middleware and the
framework are all there is to measure.

    python python/bench/serve.py [--quick]

A benchmark, not a test: it asserts nothing about speed (only that every paid request was served).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Iterator, List, Tuple

import httpx

import paywire

HERE = os.path.dirname(os.path.abspath(__file__))
LOAD = os.path.join(HERE, "..", "..", "node", "bench", "load.mjs")
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CONCURRENCY = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn(app: str, env: dict) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", f"serve_apps:{app}", "--port", str(port), "--log-level", "critical",
         "--no-access-log"], cwd=HERE, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError as error:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{app} did not start") from error
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def load(url: str, headers: List[Tuple[str, str]]) -> float:
    """Sends every paid request, CONCURRENCY at a time (node/bench/load.mjs); returns requests per second."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write("".join(f"{name}\t{value}\n" for name, value in headers))
        f.flush()
        out = subprocess.run(["node", LOAD, url + "/weather", f.name, str(CONCURRENCY)], check=True,
                             capture_output=True, text=True)
    return float(json.loads(out.stdout)["requestsPerSecond"])


def measure(app: str, facilitator: str, count: int) -> float:
    with uvicorn(app, {"FACILITATOR_URL": facilitator}) as url:
        bill = httpx.get(url + "/weather").headers["payment-required"]
        payer = paywire.Payer(paywire.LocalSigner(KEY))
        headers = [(h.name, h.value) for h in (payer.pay(bill) for _ in range(count + 50))]
        load(url, headers[:50])  # warm up
        return load(url, headers[50:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests")
    count = 60 if parser.parse_args().quick else 2000
    with uvicorn("facilitator_stub", {}) as facilitator:
        for label, url in (("the facilitator stub over HTTP", facilitator), ("an in-process stub", "inprocess")):
            ours = measure("paywire_app", url, count)
            theirs = measure("official_app", url, count)
            print(f"-- {label}")
            print(f"FastAPI + paywire:           {ours:8.0f} paid requests/s")
            print(f"FastAPI + official x402:     {theirs:8.0f} paid requests/s")
            print(f"ratio:                       {ours / theirs:8.2f}x")


if __name__ == "__main__":
    main()
