"""Faults on the way from a paid request to a settled payment, on anvil with paywire's facilitator, for both
paywire servers (tests/e2e/apps: FastAPI and Express behind paywire's middleware) and paywire's Python client:
a failing handler, a facilitator killed mid-request, a settle answer lost, a facilitator restarted between
verify and settle, and fifty clients paying at once. Whatever happens, a payment settles at most once and
nothing is served unpaid."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest
from conftest import (
    PAY_TO,
    PRICE_ATOMIC,
    Chain,
    Facilitator,
    assert_settled,
    balances,
    charged_once,
    payer_key,
)
from localnet import env
from parties import SERVERS, Server
from settle_link import Link

import paywire
import paywire.httpx

# anvil's account 2: this module's own facilitator, so killing it leaves the other suites' facilitator alone.
FAULTY_FACILITATOR_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"


@pytest.fixture(scope="module")
def link(chain: Chain) -> Iterator[Link]:
    workdir = Path(tempfile.mkdtemp(prefix="paywire-faults-"))
    # A transaction anvil's pool holds back (fifty settlements of one key arrive out of order) is replaced
    # after 5 s rather than the default 20 s, within the clients' patience.
    facilitator = Facilitator(chain.rpc_url, workdir, key=FAULTY_FACILITATOR_KEY, args=["--stuck-after", "5"])
    facilitator.start()
    link = Link(facilitator)
    try:
        yield link
    finally:
        link.close()
        facilitator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def healthy(link: Link) -> Iterator[None]:
    """Each test starts with a running facilitator and no fault armed."""
    if link.facilitator.process is None:
        link.facilitator.start()
    link.fault = None
    link.drops = 1
    link.settle_answers.clear()
    yield


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, link: Link) -> Iterator[Server]:
    with SERVERS[request.param](link.url, PAY_TO, app="faults") as s:
        yield s


def client(key: str) -> httpx.Client:
    return httpx.Client(transport=paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key))), timeout=60)


def served(response: httpx.Response) -> paywire.SettleResponse:
    """The receipt of a response that served the resource after settling."""
    assert response.status_code == 200, response.text
    receipt = paywire.httpx.settlement(response)
    assert receipt is not None and receipt.success
    return receipt


def diagnosis(server: Server, link: Link) -> str:
    """What the facilitator logged last and, for the JVM server, where its threads are: for a run that failed."""
    log = link.facilitator.log.read_text(errors="replace") if link.facilitator.log.exists() else ""
    lines = log.splitlines()
    warnings = [line for line in lines if " WARN " in line or " ERROR " in line]
    parts = ["the facilitator's warnings:", *warnings[-40:], "the facilitator's log, its end:", *lines[-40:]]
    jcmd = shutil.which("jcmd")
    if jcmd and server.process.args[0] == "java":
        dump = subprocess.run([jcmd, str(server.process.pid), "Thread.print"], capture_output=True, text=True, timeout=60)
        parts += ["the JVM server's threads:", dump.stdout]
    return "\n".join(parts)


def address(key: str) -> str:
    return paywire.LocalSigner(key).address


@pytest.mark.parametrize("path", ["/broken", "/crash"])
def test_a_failing_handler_settles_nothing(chain: Chain, server: Server, link: Link, path: str) -> None:
    key = payer_key()
    before = balances(chain, address(key))
    with client(key) as c:
        try:
            response: Optional[httpx.Response] = c.get(server.url(path))
        except httpx.RemoteProtocolError:
            # The JDK's HttpServer answers a handler that throws by closing the connection; paywire rethrows
            # the handler's error to it, as every adapter hands a failed handler back to its framework.
            assert "jvm" in server.name and path == "/crash"
            response = None
    if response is not None:
        assert response.status_code == 500, response.text
        receipt = paywire.httpx.settlement(response)
        assert receipt is None or not receipt.success
    assert link.settle_answers == []  # /settle was never called
    assert balances(chain, address(key)) == before


def test_a_facilitator_killed_mid_request_serves_nothing_and_the_retry_pays_once(
    chain: Chain, server: Server, link: Link
) -> None:
    key = payer_key()
    before = balances(chain, address(key))
    with client(key) as c:
        link.fault = "kill"
        response = c.get(server.url())
        # Nothing served, and the client is told why (a 5xx naming the facilitator), so it may retry.
        assert response.status_code in (502, 503, 504), response.text
        assert "sunny" not in response.text
        assert response.json()["error"] == "facilitator_unreachable", response.text
        assert balances(chain, address(key)) == before
        link.facilitator.start()  # back up, on the same database
        retry = c.get(server.url())
        receipt = served(retry)
        # The retry reused the payment the client had signed: one authorization, one transfer.
        first, second = paywire.httpx.payment(response), paywire.httpx.payment(retry)
        assert first is not None and second is not None and second.value == first.value
    charged_once(chain, receipt.transaction, address(key), before)


def test_a_lost_settle_answer_is_asked_again_and_charged_once(chain: Chain, server: Server, link: Link) -> None:
    """The connection closes without the /settle answer: every facilitator client asks once more (the core's
    rule) and gets the first transaction; the request is served, the payer charged once."""
    key = payer_key()
    before = balances(chain, address(key))
    with client(key) as c:
        link.fault = "drop"
        response = c.get(server.url())
    receipt = served(response)
    assert [a["transaction"] for a in link.settle_answers] == [receipt.transaction] * 2
    charged_once(chain, receipt.transaction, address(key), before)


def test_settle_answers_lost_twice_and_a_retry_charge_once(chain: Chain, server: Server, link: Link) -> None:
    key = payer_key()
    before = balances(chain, address(key))
    with client(key) as c:
        link.fault, link.drops = "drop", 2
        response = c.get(server.url())
        assert response.status_code in (502, 503, 504), response.text
        assert "sunny" not in response.text
        # The facilitator did settle; the server never heard.
        assert len(link.settle_answers) == 2 and link.settle_answers[0]["success"], link.settle_answers
        retry = c.get(server.url())
    receipt = served(retry)
    # Every later settle answered with the first transaction: nothing was broadcast twice.
    assert [a["transaction"] for a in link.settle_answers] == [receipt.transaction] * 3
    charged_once(chain, receipt.transaction, address(key), before)


def test_a_facilitator_restarted_between_verify_and_settle_loses_nothing(
    chain: Chain, server: Server, link: Link
) -> None:
    key = payer_key()
    before = balances(chain, address(key))
    with client(key) as c:
        link.fault = "restart"
        response = c.get(server.url())
    receipt = served(response)
    charged_once(chain, receipt.transaction, address(key), before)


def test_fifty_concurrent_paying_clients_each_settle_once(chain: Chain, server: Server, link: Link) -> None:
    keys = [payer_key() for _ in range(50)]
    payee = chain.balance(PAY_TO)

    def pay(key: str) -> httpx.Response | Exception:
        try:
            with client(key) as c:
                return c.get(server.url())
        except httpx.HTTPError as e:
            return e

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(pay, keys))
    failed = [a if isinstance(a, Exception) else (a.status_code, a.text) for a in answers
              if isinstance(a, Exception) or a.status_code != 200]
    assert failed == [], f"{len(failed)} failed: {failed[:3]}\n{diagnosis(server, link)}"
    responses = [a for a in answers if isinstance(a, httpx.Response)]
    receipts = [paywire.httpx.settlement(r) for r in responses]
    transactions = {r.transaction for r in receipts if r is not None and r.success}
    assert len(transactions) == 50
    assert len(link.settle_answers) == 50 and all(a["success"] for a in link.settle_answers)
    assert chain.balance(PAY_TO) - payee == 50 * PRICE_ATOMIC
    for key, r in zip(keys, receipts):
        assert r is not None
        assert chain.balance(address(key)) == 1_000_000_000 - PRICE_ATOMIC
        assert_settled(chain, r.transaction, address(key))


def test_the_cli_tells_how_to_retry_a_lost_answer_without_paying_twice(chain: Chain, server: Server, link: Link) -> None:
    """`paywire fetch` cannot remember a payment between runs, so when the outcome is open it prints the header
    to send again; the run that sends it pays nothing new and gets the content."""
    key = payer_key()
    before = balances(chain, address(key))
    fetch = [env("PAYWIRE_BIN"), "fetch", server.url(), "--key-env", "PAYWIRE_KEY"]
    link.fault, link.drops = "drop", 2
    first = subprocess.run(fetch, env={**os.environ, "PAYWIRE_KEY": key}, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1 and "facilitator_unreachable" in first.stdout, first.stdout + first.stderr
    found = re.search(r"to retry without paying twice, add -H '([^:]+): ([^']+)'", first.stderr)
    assert found, first.stderr
    again = subprocess.run([*fetch, "-H", f"{found.group(1)}: {found.group(2)}", "--json"],
                           env={**os.environ, "PAYWIRE_KEY": key}, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    answer = json.loads(again.stdout)
    assert answer["payment"] is None  # nothing new was signed
    receipt = paywire.SettleResponse.from_header(answer["headers"]["payment-response"])
    assert receipt.success and [a["transaction"] for a in link.settle_answers] == [receipt.transaction] * 3
    charged_once(chain, receipt.transaction, address(key), before)
