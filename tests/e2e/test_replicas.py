"""Replicas of one paid API behind a load balancer of the tests' own (tests/e2e/load_balancer.py), sharing one
real Redis server: a FastAPI replica (paywire.asgi with paywire.redis.AsyncRedisStore), an Express replica
(paywire's middleware with its RedisStore) and a JDK HttpServer replica (Kotlin's PaymentFilter with
RedisPaymentStore), settling through paywire's facilitator on anvil with Circle's USDC.

- The case measured before replicas could share a store (10 responses served for 5 payments): five payments,
  each sent twice at the same moment through the balancer, so to two replicas. Each is served once (the
  handlers' own run counters say so) and charged once.
- A replica killed with SIGKILL in the middle of a paid request, once while its /settle answer is on the way
  (the payer is charged, nothing was served) and once while its /verify answer is (nothing settled): the
  client's retries through the balancer get "in progress" until the record has been in flight for
  takeoverAfter, then another replica takes the payment over, settles it (the facilitator repeats the first
  settlement, or makes it) and serves it, once.
"""

from __future__ import annotations

import contextlib
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Tuple

import httpx
import pytest
from conftest import (
    PAY_TO,
    PRICE_ATOMIC,
    Chain,
    assert_settled,
    balances,
    charged_once,
    payer_key,
)
from load_balancer import LoadBalancer
from localnet import redis_server
from parties import Server, jvm_httpserver, node_express, python_asgi
from settle_link import Link

import paywire

PUBLIC_URL = "https://api.replicas.test"
TAKEOVER_AFTER = 3


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@contextlib.contextmanager
def replicas(link: Link, redis_url: str) -> Iterator[Tuple[Dict[str, Server], LoadBalancer]]:
    """A Python, a Node and a Kotlin replica on one Redis, behind a fresh balancer."""
    extra = {"REDIS_URL": redis_url, "PUBLIC_URL": PUBLIC_URL, "TAKEOVER_AFTER": str(TAKEOVER_AFTER)}
    with python_asgi(link.url, PAY_TO, app="app", extra=extra) as python, \
            node_express(link.url, PAY_TO, app="app", extra=extra) as node, \
            jvm_httpserver(link.url, PAY_TO, app="app", extra=extra) as kotlin:
        servers = {"python": python, "node": node, "kotlin": kotlin}
        balancer = LoadBalancer([s.base for s in servers.values()])
        try:
            yield servers, balancer
        finally:
            balancer.close()


def served(servers: Dict[str, Server]) -> int:
    """How many times the replicas' handlers ran, all together."""
    return sum(httpx.get(s.url("/served"), timeout=10).json()["served"] for s in servers.values()
               if s.process.poll() is None)


def payment(balancer: LoadBalancer, key: str) -> Dict[str, str]:
    bill = httpx.get(f"{balancer.url}/weather", timeout=30)
    assert bill.status_code == 402, bill.text
    required = paywire.PaymentRequired.from_header(bill.headers["payment-required"])
    return paywire.Payer(paywire.LocalSigner(key)).pay(required).headers


def test_five_payments_each_sent_to_both_replicas_at_once_are_served_and_charged_once(
        chain: Chain, link: Link, redis_url: str) -> None:
    with replicas(link, redis_url) as (servers, balancer):
        keys = [payer_key() for _ in range(5)]
        before = {k: chain.balance(paywire.LocalSigner(k).address) for k in keys}
        payee_before = chain.balance(PAY_TO)
        headers = [payment(balancer, k) for k in keys]
        ran_before = served(servers)
        routed_before = len(balancer.routed)
        jobs = [h for h in headers for _ in range(2)]
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda h: httpx.get(f"{balancer.url}/weather", headers=h, timeout=60), jobs))
        # The balancer spread the requests over the three replicas, each payment's two to two of them.
        backends = [b for _, b, _ in balancer.routed[routed_before:]]
        assert sorted(set(backends)) == sorted(s.base for s in servers.values())
        for i, key in enumerate(keys):
            pair = answers[2 * i: 2 * i + 2]
            assert {a.status_code for a in pair} <= {200, 409}, [(a.status_code, a.text[:200]) for a in pair]
            ok = [a for a in pair if a.status_code == 200]
            assert ok, [a.text[:200] for a in pair]
            settled = paywire.SettleResponse.from_header(ok[0].headers["payment-response"])
            assert_settled(chain, settled.transaction, paywire.LocalSigner(key).address)
            assert before[key] - chain.balance(paywire.LocalSigner(key).address) == PRICE_ATOMIC, "charged once"
        assert chain.balance(PAY_TO) - payee_before == 5 * PRICE_ATOMIC
        assert served(servers) - ran_before == 5, "each payment served exactly once across the replicas"


@pytest.mark.parametrize("victim,held", [("python", "/settle"), ("node", "/settle"), ("kotlin", "/settle"),
                                         ("node", "/verify")])
def test_a_replica_killed_mid_request_has_the_payment_taken_over_by_another(
        chain: Chain, link: Link, redis_url: str, victim: str, held: str) -> None:
    with replicas(link, redis_url) as (servers, balancer):
        survivors = {name: s for name, s in servers.items() if name != victim}
        key = payer_key()
        payer = paywire.LocalSigner(key).address
        before = balances(chain, payer)
        header = payment(balancer, key)
        settles = len(link.settle_answers)
        # The first attempt lands on the victim, which is killed while the facilitator's answer is held.
        link.hold(held)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(lambda: httpx.get(servers[victim].url(), headers=header, timeout=60))
            assert link.held.wait(30), f"the victim never called {held}"
            servers[victim].process.send_signal(signal.SIGKILL)
            servers[victim].process.wait(10)
            killed_at = time.monotonic()
            with pytest.raises(httpx.HTTPError):
                first.result()
        link.let_go()
        if held == "/settle":
            assert link.settle_answers[-1]["success"] is True, "the facilitator settled before the kill"
        # The client pays again with the same payment through the balancer, as often as it takes.
        statuses: List[int] = []
        while True:
            retry = httpx.get(f"{balancer.url}/weather", headers=header, timeout=60)
            statuses.append(retry.status_code)
            if retry.status_code != 409:
                break
            assert retry.json()["error"] == "payment_in_progress"
            assert time.monotonic() - killed_at < TAKEOVER_AFTER + 30, statuses
            time.sleep(0.5)
        assert retry.status_code == 200, retry.text
        assert retry.json()["served_by"] in survivors
        assert statuses[0] == 409 or time.monotonic() - killed_at >= TAKEOVER_AFTER, statuses
        settled = paywire.SettleResponse.from_header(retry.headers["payment-response"])
        if held == "/settle":
            assert settled.transaction == link.settle_answers[settles]["transaction"], "the first settlement"
        charged_once(chain, settled.transaction, payer, before)
        after = balances(chain, payer)
        assert served(survivors) == 1, "served once, by a survivor"
        # Later retries get the survivor's held response again; nothing more is charged or served.
        again = httpx.get(f"{balancer.url}/weather", headers=header, timeout=60)
        assert (again.status_code, again.content) == (200, retry.content)
        assert balances(chain, payer) == after
        assert served(survivors) == 1


def test_a_response_held_by_one_replica_is_collected_through_the_balancer_from_another(
        chain: Chain, link: Link, redis_url: str) -> None:
    with replicas(link, redis_url) as (servers, balancer):
        key = payer_key()
        payer = paywire.LocalSigner(key).address
        before = balances(chain, payer)
        header = payment(balancer, key)
        # The facilitator settles, but both of the first replica's /settle answers are lost: it holds the
        # handler's response for a retry and answers without serving it.
        link.fault, link.drops = "drop", 2
        lost = httpx.get(f"{balancer.url}/weather", headers=header, timeout=60)
        assert lost.status_code in (502, 503, 504), lost.text
        assert "sunny" not in lost.text
        first = balancer.routed[-1][1]
        holder = next(name for name, s in servers.items() if s.base == first)
        # The balancer sends the retry to the next replica, which settles again (the facilitator repeats the
        # transaction) and serves the response the first replica's handler made.
        retry = httpx.get(f"{balancer.url}/weather", headers=header, timeout=60)
        assert retry.status_code == 200, retry.text
        assert balancer.routed[-1][1] != first
        assert retry.json()["served_by"] == holder
        settled = paywire.SettleResponse.from_header(retry.headers["payment-response"])
        assert settled.transaction == link.settle_answers[-1]["transaction"]
        charged_once(chain, settled.transaction, payer, before)
        assert served(servers) == 1, "the handler ran once, on the first replica"
