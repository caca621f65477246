"""The payment gate's own time per paid request in Python: paywire's core gate driven the way the ASGI and WSGI
middleware drive it, with a facilitator that answers at once, against the core's offline verification of the
same payments alone. The difference is what the gate adds: routing, the bill, the record, the steps.

    python python/bench/gate.py [--quick]

A benchmark, not a test: it asserts nothing about speed (only that every request was served).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, List, Tuple

import paywire
from paywire import _paywire as native

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
ORIGIN = "https://api.example.com"
TAG = paywire.PriceTag("eip155:84532", PAY_TO, "$0.001")
VERIFIED = paywire.VerifyResponse.from_json('{"isValid":true,"payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}')
SETTLED = paywire.SettleResponse.from_json(
    '{"success":true,"transaction":"0x' + "ab" * 32 + '","network":"eip155:84532","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}'
)
HANDLER_HEADERS = [("content-type", "application/json")]
HANDLER_BODY = b'{"forecast":"sunny"}'


def payments(count: int) -> List[Tuple[str, str]]:
    bill = paywire.build_payment_required(ORIGIN + "/weather", [TAG])
    payer = paywire.Payer(paywire.LocalSigner(KEY))
    return [(h.name, h.value) for h in (payer.pay(bill) for _ in range(count))]


def gate_once(gate: native.Gate, header: Tuple[str, str]) -> None:
    exchange, step = gate.handle("GET", "/weather", "/weather", ORIGIN, [header, ("host", "api.example.com")])
    assert exchange is not None
    while True:
        kind = step.kind
        if kind == "read_body":
            step = exchange.feed_body(b"")
        elif kind == "verify":
            step = exchange.feed_verified(VERIFIED)
        elif kind == "run_handler":
            step = exchange.feed_handled(200, HANDLER_HEADERS, HANDLER_BODY)
        elif kind == "settle":
            step = exchange.feed_settled(SETTLED)
        else:
            assert kind == "respond" and step.status == 200, (kind, step.status)
            return


def per_request(run: Callable[[Tuple[str, str]], None], headers: List[Tuple[str, str]], rounds: int) -> float:
    """Median over rounds of the mean seconds per request; each round uses fresh payments."""
    size = len(headers) // rounds
    samples = []
    for r in range(rounds):
        chunk = headers[r * size : (r + 1) * size]
        start = time.perf_counter()
        for header in chunk:
            run(header)
        samples.append((time.perf_counter() - start) / len(chunk))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests")
    args = parser.parse_args()
    rounds, each = (2, 50) if args.quick else (7, 400)
    headers = payments(rounds * each * 3 + 10)
    bill = paywire.build_payment_required(ORIGIN + "/weather", [TAG])

    def verify_only(header: Tuple[str, str]) -> None:
        paywire.check_payment(bill, paywire.PaymentPayload.from_header(header[1]))

    gate = native.Gate([native.PricedRoute([TAG], "GET /weather")])
    gate_once(gate, headers[-1])  # warm up
    verify_only(headers[-2])
    verify = per_request(verify_only, headers[: rounds * each], rounds)
    full = per_request(lambda h: gate_once(gate, h), headers[rounds * each : 2 * rounds * each], rounds)
    # A server that has run for a while: its store is full, and every new payment drops the oldest record.
    small = native.Gate([native.PricedRoute([TAG], "GET /weather")], max_entries=each // 2)
    at_capacity = per_request(lambda h: gate_once(small, h), headers[2 * rounds * each : 3 * rounds * each], rounds)
    print(f"offline verification alone (check_payment):      {verify * 1e6:8.1f} us per request")
    print(f"the gate, one paid request (verify to response): {full * 1e6:8.1f} us per request")
    print(f"what the gate adds beyond verification:           {(full - verify) * 1e6:8.1f} us per request")
    print(f"the same with the store full ({each // 2} records):     {(at_capacity - verify) * 1e6:8.1f} us per request")


if __name__ == "__main__":
    main()
