"""Three paywire facilitator instances sharing one PostgreSQL server (Debian's, on loopback), settling on anvil
with Circle's USDC from three keys that the instances lease to one another:

- 200 payments settled at once, spread over the instances, a quarter of them sent to two instances at the
  same moment: each settled exactly once on chain, one transaction per payment, no nonce error;
- an instance killed with SIGKILL while four settlements wait on their broadcast and a fifth is claimed: the
  others take over its key and its settlements, the four mine with no request asking for them, and all five
  end settled once each;
- the killed instance started again gets a key back from the others, and settles;
- a database written by a newer facilitator is refused at start; the password never appears in a log.

The first instance reaches anvil through the tests' fault-injecting proxy, which holds its broadcasts.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest
from conftest import PAY_TO, PRICE_ATOMIC
from localnet import Chain, Facilitator, env, postgres_server, running_chain, write_config
from rpc_proxy import RpcProxy

import paywire

# anvil's development accounts 2, 3 and 4 (each funded with ETH by anvil): the settling keys all three share.
SETTLERS = [
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
]
PAYERS = ["0x" + format(0x5000 + i, "064x") for i in range(230)]
FUNDED = 1_000_000_000
LEASE = 2.0
PASSWORD = "pw-instances-db-secret-7d41"
_payers = iter(PAYERS)


def address(key: str) -> str:
    return paywire.LocalSigner(key).address


def body(key: str) -> str:
    the_bill = paywire.build_payment_required(
        "http://e2e.test/weather", [paywire.PriceTag("eip155:84532", PAY_TO, "$0.01")]
    )
    header = paywire.Payer(paywire.LocalSigner(key)).pay(the_bill)
    return paywire.facilitator_request(paywire.PaymentPayload.from_header(header.value), the_bill.accepts[0])


def nonce(chain: Chain, who: str) -> int:
    return int(str(chain.rpc("eth_getTransactionCount", [who, "latest"])), 16)


def sent_by_settlers(chain: Chain) -> int:
    return sum(nonce(chain, address(k)) for k in SETTLERS)


class Cluster:
    """The instances of this module, on one database: instance 0 through the proxy, the others direct."""

    def __init__(self, chain: Chain, proxy: RpcProxy, url: str) -> None:
        self.chain, self.proxy, self.url = chain, proxy, url
        self.workdir = Path(tempfile.mkdtemp(prefix="paywire-instances-"))
        self.instances: List[Facilitator] = []
        for i in range(3):
            self.instances.append(self.make(i, proxy.url if i == 0 else chain.rpc_url))

    def make(self, i: int, rpc_url: str, postgres: Optional[str] = None) -> Facilitator:
        workdir = self.workdir / f"instance-{i}"
        workdir.mkdir(exist_ok=True)
        names = [f"PW_SETTLER_{n}" for n in range(len(SETTLERS))]
        config = write_config(
            workdir / "facilitator.toml",
            [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": names}],
            rpc=10.0, receipt=10.0, stuck_after=2.0, keeper_interval=0.2, lease=LEASE,
        )
        environ = {"PW_RPC": rpc_url, **dict(zip(names, SETTLERS))}
        return Facilitator("", workdir, config=config, environ=environ, postgres=postgres or self.url,
                           args=["--log-format", "json"])

    def health(self, f: Facilitator) -> Dict[str, Any]:
        answer: Dict[str, Any] = httpx.get(f"{f.url}/health", timeout=10).json()
        return answer

    def held(self, f: Facilitator) -> List[str]:
        return [k["address"] for c in self.health(f)["chains"] for k in c["keys"] if k["held"]]

    def wait_spread(self, live: List[Facilitator], timeout: float = 30) -> Dict[int, List[str]]:
        """Waits until the live instances hold every key between them, none more than its share."""
        share = -(-len(SETTLERS) // len(live))
        deadline = time.monotonic() + timeout
        while True:
            held = {id(f): self.held(f) for f in live}
            keys = [k for ks in held.values() for k in ks]
            if len(keys) == len(SETTLERS) == len(set(keys)) and all(0 < len(k) <= share for k in held.values()):
                return {i: held[id(f)] for i, f in enumerate(live)}
            assert time.monotonic() < deadline, f"the keys never spread over the instances: {held}"
            time.sleep(0.2)

    def logs(self) -> str:
        return "".join(f.log.read_text(errors="replace") for f in self.instances if f.log.exists())

    def stop(self) -> None:
        for f in self.instances:
            f.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with running_chain({address(k): FUNDED for k in PAYERS}) as c:
        yield c


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_server(PASSWORD) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(chain: Chain, database: str) -> Iterator[Cluster]:
    proxy = RpcProxy(chain.rpc_url)
    c = Cluster(chain, proxy, database)
    try:
        # Started at the same moment: the first migration runs once, under the database's lock.
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda f: f.start(), c.instances))
        c.wait_spread(c.instances)
        yield c
    finally:
        c.stop()
        proxy.close()


def settle(url: str, payment: str, timeout: float = 60) -> Dict[str, Any]:
    answer: Dict[str, Any] = httpx.post(f"{url}/settle", content=payment, timeout=timeout,
                                        headers={"content-type": "application/json"}).json()
    return answer


def settle_until_done(urls: List[str], payment: str, timeout: float = 90) -> Dict[str, Any]:
    """What an x402 server does with a settlement that is pending or refused for now: asks again (here, each
    time at the next instance) until it is concluded."""
    deadline = time.monotonic() + timeout
    turn = 0
    while True:
        try:
            answer = settle(urls[turn % len(urls)], payment)
        except httpx.HTTPError as error:
            answer = {"success": False, "errorReason": f"transport: {error}"}
        if answer.get("success"):
            return answer
        assert time.monotonic() < deadline, answer
        turn += 1
        time.sleep(0.3)


def test_200_concurrent_settlements_over_three_instances_settle_once_each(chain: Chain, cluster: Cluster) -> None:
    payers = [next(_payers) for _ in range(200)]
    payments = [body(k) for k in payers]
    before = {k: chain.balance(address(k)) for k in payers}
    sent_before = sent_by_settlers(chain)
    urls = [f.url for f in cluster.instances]
    # Payment i goes to instance i % 3; every fourth also to the next instance at the same moment, as a
    # load balancer's retry does.
    jobs = [(i, urls[i % 3]) for i in range(200)] + [(i, urls[(i + 1) % 3]) for i in range(0, 200, 4)]
    with ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(lambda job: (job[0], settle_until_done([job[1]], payments[job[0]])), jobs))
    by_payment: Dict[int, set] = {}
    for i, answer in answers:
        assert answer["success"], answer
        by_payment.setdefault(i, set()).add(answer["transaction"])
    assert all(len(hashes) == 1 for hashes in by_payment.values()), "one payment answered with two transactions"
    senders = set()
    for i, key in enumerate(payers):
        assert before[key] - chain.balance(address(key)) == PRICE_ATOMIC, f"payer {i} not charged exactly once"
        receipt = chain.receipt(next(iter(by_payment[i])))
        assert receipt["status"] == "0x1"
        senders.add(receipt["from"].lower())
    assert senders == {address(k).lower() for k in SETTLERS}, "every instance's key settled some"
    assert sent_by_settlers(chain) - sent_before == 200, "one transaction per payment, none sent twice"
    problems = [line for line in cluster.logs().splitlines() if "nonce" in line.lower() and "WARN" in line.upper()]
    assert not problems, problems[:3]


def test_an_instance_killed_mid_settlement_has_its_settlements_finished_by_the_others(
        chain: Chain, cluster: Cluster) -> None:
    victim, others = cluster.instances[0], cluster.instances[1:]
    proxy = cluster.proxy
    payers = [next(_payers) for _ in range(5)]
    payments = [body(k) for k in payers]
    before = {k: chain.balance(address(k)) for k in payers}
    sent_before = sent_by_settlers(chain)
    victim_keys = cluster.held(victim)
    assert len(victim_keys) == 1

    def broadcasts() -> int:
        return proxy.calls.count("eth_sendRawTransaction")

    def estimates() -> int:
        return proxy.calls.count("eth_estimateGas")

    proxy.hold = 60
    # Four settlements signed, recorded and stuck in their broadcast (the keeper's rebroadcasts too)...
    proxy.fault("eth_sendRawTransaction", "hang", 1000)
    start = broadcasts()
    threads = [threading.Thread(target=lambda p=p: _ignore(lambda: settle(victim.url, p, 30)), daemon=True)
               for p in payments[:4]]
    for t in threads:
        t.start()
    _wait(lambda: broadcasts() - start >= 4, "four broadcasts held")
    # ...and a fifth claimed, held before its gas estimate (nothing signed for it yet).
    start = estimates()
    proxy.fault("eth_estimateGas", "hang", 1)
    fifth = threading.Thread(target=lambda: _ignore(lambda: settle(victim.url, payments[4], 30)), daemon=True)
    fifth.start()
    _wait(lambda: estimates() - start >= 1, "the fifth settlement's gas estimate held")
    assert victim.process is not None
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(10)
    victim.process = None
    proxy.clear()
    assert all(chain.balance(address(k)) == before[k] for k in payers), "nothing reached the chain before the kill"

    # With no request at all, the instance that takes the dead one's key finishes what it sent.
    _wait(lambda: all(before[k] - chain.balance(address(k)) == PRICE_ATOMIC for k in payers[:4]),
          "the four sent settlements mined without being asked for again", timeout=60)
    # Asked again, each is answered from the chain; the fifth (claimed, never signed) is settled afresh.
    urls = [f.url for f in others]
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda p: settle_until_done(urls, p), payments))
    for key, answer in zip(payers, answers):
        assert answer["success"], answer
        assert before[key] - chain.balance(address(key)) == PRICE_ATOMIC, "charged exactly once"
    held = cluster.wait_spread(others)
    assert victim_keys[0] in [k for ks in held.values() for k in ks], "the dead instance's key was taken over"
    assert sent_by_settlers(chain) - sent_before == 5, "the adopted transactions mined; none was signed again"
    takeovers = [json.loads(line) for line in cluster.logs().splitlines()
                 if '"settling keys changed hands"' in line and '"adopted":4' in line]
    assert takeovers, "an instance adopted the four settlements the dead one sent"


def test_a_restarted_instance_gets_a_key_back_and_settles(chain: Chain, cluster: Cluster) -> None:
    victim = cluster.instances[0]
    victim.start()
    held = cluster.wait_spread(cluster.instances)
    assert all(len(keys) == 1 for keys in held.values()), held
    key = next(_payers)
    before = chain.balance(address(key))
    answer = settle_until_done([victim.url], body(key))
    assert before - chain.balance(address(key)) == PRICE_ATOMIC
    assert chain.receipt(answer["transaction"])["from"].lower() == held[0][0].lower()


def test_a_database_from_a_newer_facilitator_is_refused(cluster: Cluster) -> None:
    psql = str(Path(env("PAYWIRE_POSTGRES_BIN")) / "psql")
    subprocess.run([psql, cluster.url, "-qc", "INSERT INTO paywire_schema (version) VALUES (99)"], check=True)
    try:
        late = cluster.make(9, cluster.chain.rpc_url)
        with pytest.raises(RuntimeError, match="schema is version 99, newer than this facilitator's [0-9]+"):
            late.start()
    finally:
        subprocess.run([psql, cluster.url, "-qc", "DELETE FROM paywire_schema WHERE version = 99"], check=True)


def test_the_database_password_is_never_logged(cluster: Cluster) -> None:
    logs = cluster.logs() + "".join(
        p.read_text(errors="replace") for p in cluster.workdir.glob("instance-*/facilitator.log"))
    assert "schema" in logs and PASSWORD not in logs
    for f in cluster.instances:
        if f.url and f.process is not None:
            assert PASSWORD not in json.dumps(cluster.health(f))


def _ignore(call: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):
        call()


def _wait(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.02)
