"""Two server processes in two languages behind one origin, sharing one payment store: FastAPI with
paywire.asgi and Express with paywire's middleware, settling through paywire's facilitator on anvil. The store
is a service of the test's own (over HTTP), then a real Redis server with paywire's Redis stores
(`paywire.redis.AsyncRedisStore`, Node's `RedisStore`), whose layout and scripts are the core's. A payment taken by one process and replayed to the other, one after the other
or at the same time, is answered from the record the first wrote and settled once; nothing is served unpaid.
The store's entries are the core's JSON, the same in both languages, so the processes read each other's."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, Optional, Tuple

import httpx
import pytest
from conftest import PAY_TO, Chain, balances, charged_once, payer_key
from localnet import redis_server
from parties import Server, node_express, python_asgi
from settle_link import Link

import paywire

PUBLIC_URL = "https://api.shared.test"


class StoreService:
    """A payment store shared by processes: claim (insert if absent, else the live entry), get, replace (if the
    live entry has the token) and release (if it has the token), each atomic under one lock; an entry is gone
    after its expiresAt."""

    def __init__(self) -> None:
        self.entries: Dict[str, Tuple[str, float]] = {}
        self.lock = threading.Lock()
        self.claims = 0
        self.redis_url: Optional[str] = None  # set when the processes share Redis instead
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                answer = service.apply(self.path.strip("/"), body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _live(self, key: str) -> Optional[Tuple[str, float]]:
        held = self.entries.get(key)
        if held is not None and held[1] <= time.time():
            del self.entries[key]
            return None
        return held

    def apply(self, op: str, body: dict) -> dict:
        key = body["key"]
        with self.lock:
            live = self._live(key)
            token = json.loads(live[0])["token"] if live else None
            if op == "claim":
                self.claims += 1
                if live:
                    return {"entry": live[0]}
                self.entries[key] = (body["entry"], float(body["expiresAt"]))
                return {"entry": None}
            if op == "get":
                return {"entry": live[0] if live else None}
            if op == "replace":
                if token != body["token"]:
                    return {"replaced": False}
                self.entries[key] = (body["entry"], float(body["expiresAt"]))
                return {"replaced": True}
            if op == "release":
                if token == body["token"]:
                    del self.entries[key]
                return {}
        raise ValueError(op)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module", params=["service", "redis"])
def processes(request: pytest.FixtureRequest, link: Link) -> Iterator[Tuple[Server, Server, StoreService]]:
    store = StoreService()
    with contextlib.ExitStack() as stack:
        if request.param == "redis":
            store.redis_url = stack.enter_context(redis_server())
            extra = {"REDIS_URL": store.redis_url, "PUBLIC_URL": PUBLIC_URL}
        else:
            extra = {"STORE_URL": store.url, "PUBLIC_URL": PUBLIC_URL}
        python = stack.enter_context(python_asgi(link.url, PAY_TO, app="app", extra=extra))
        node = stack.enter_context(node_express(link.url, PAY_TO, app="app", extra=extra))
        try:
            yield python, node, store
        finally:
            store.close()


def _payment(server: Server, key: str) -> Dict[str, str]:
    """A payment for the shared resource, from the bill of `server` (which names the shared origin)."""
    bill = httpx.get(server.url(), timeout=30)
    assert bill.status_code == 402
    required = paywire.PaymentRequired.from_header(bill.headers["payment-required"])
    assert required.resource is not None and required.resource["url"] == f"{PUBLIC_URL}/weather"
    return paywire.Payer(paywire.LocalSigner(key)).pay(required).headers


@pytest.mark.parametrize("first", ["python", "node"])
def test_a_payment_replayed_to_the_other_process_is_answered_from_the_record_and_settled_once(
    chain: Chain, processes: Tuple[Server, Server, StoreService], first: str
) -> None:
    python, node, _ = processes
    taker, other = (python, node) if first == "python" else (node, python)
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    header = _payment(taker, key)
    paid = httpx.get(taker.url(), headers=header, timeout=60)
    assert paid.status_code == 200, paid.text
    settled = paywire.SettleResponse.from_header(paid.headers["payment-response"])
    # The other process, in another language, finds the record and answers with the same response.
    replay = httpx.get(other.url(), headers=header, timeout=60)
    assert (replay.status_code, replay.content) == (200, paid.content)
    assert replay.headers["payment-response"] == paid.headers["payment-response"]
    charged_once(chain, settled.transaction, payer, before)


def test_one_payment_sent_to_both_processes_at_once_is_served_and_settled_once(
    chain: Chain, processes: Tuple[Server, Server, StoreService]
) -> None:
    python, node, _ = processes
    for _ in range(4):
        key = payer_key()
        payer = paywire.LocalSigner(key).address
        before = balances(chain, payer)
        header = _payment(python, key)
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda s, h=header: httpx.get(s.url(), headers=h, timeout=60), [python, node] * 2))
        statuses = sorted(a.status_code for a in answers)
        # Each answer is the served response or "in progress"; none is a second settlement.
        assert set(statuses) <= {200, 409}, [(a.status_code, a.text[:200]) for a in answers]
        served = [a for a in answers if a.status_code == 200]
        assert served, statuses
        assert len({a.headers["payment-response"] for a in served}) == 1
        transaction = paywire.SettleResponse.from_header(served[0].headers["payment-response"]).transaction
        charged_once(chain, transaction, payer, before)


def test_a_payment_for_the_shared_origin_is_refused_for_another_resource_by_either_process(
    chain: Chain, processes: Tuple[Server, Server, StoreService]
) -> None:
    python, node, _ = processes
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    header = _payment(python, key)
    for server in (python, node):
        other = httpx.get(server.url("/weather?city=elsewhere"), headers=header, timeout=60)
        assert other.status_code == 402
        bill = paywire.PaymentRequired.from_header(other.headers["payment-required"])
        assert bill.error == "payment_resource_mismatch"
    assert balances(chain, payer) == before


@pytest.mark.parametrize("first", ["python", "node"])
def test_a_response_held_by_one_process_is_collected_from_the_other(
    chain: Chain, processes: Tuple[Server, Server, StoreService], link: Link, first: str
) -> None:
    python, node, _ = processes
    holder, other = (python, node) if first == "python" else (node, python)
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    header = _payment(holder, key)
    # The facilitator settles, but both of the holder's /settle answers are lost: it keeps the handler's
    # response for a retry and answers without serving it.
    link.fault, link.drops = "drop", 2
    lost = httpx.get(holder.url(), headers=header, timeout=60)
    assert lost.status_code in (502, 503, 504), lost.text
    assert "sunny" not in lost.text
    assert link.settle_answers[-1]["success"] is True
    # The retry lands on the other process, in the other language: it settles again (the facilitator repeats
    # the first transaction) and serves the response the holder's handler made, not a new one.
    retry = httpx.get(other.url(), headers=header, timeout=60)
    assert retry.status_code == 200, retry.text
    assert retry.json()["served_by"] == first
    settled = paywire.SettleResponse.from_header(retry.headers["payment-response"])
    assert settled.transaction == link.settle_answers[-1]["transaction"]
    charged_once(chain, settled.transaction, payer, before)


def test_each_record_is_the_cores_json_and_expires_with_its_payment(
    processes: Tuple[Server, Server, StoreService]
) -> None:
    _, _, store = processes
    if store.redis_url is None:
        records = [(json.loads(text)["token"], text, expires) for text, expires in store.entries.values()]
    else:
        import redis

        client = redis.Redis.from_url(store.redis_url)
        records = []
        for key in client.keys(paywire.REDIS_KEY_PREFIX + "*"):
            # On Redis a record is one hash: the token the scripts compare, and the entry.
            assert set(client.hkeys(key)) == {b"token", b"entry"}
            records.append((client.hget(key, "token").decode(), client.hget(key, "entry").decode(),
                            float(client.expiretime(key))))
    assert records, "the earlier payments left no record in the store"
    for token, text, expires in records:
        entry = paywire.StoreEntry.from_json(text)
        assert entry.token == token
        assert abs(expires - entry.expires_at) <= 1
        assert entry.expires_at > time.time()
