"""paywire on an edge runtime: a Hono app with paywire's Hono middleware runs under workerd (Cloudflare Workers'
runtime, from npm) on the npm package's worker build (the WebAssembly core, imported as a module, since Workers
refuse to compile WebAssembly from bytes). paywire's clients pay it and the payments settle on anvil through
paywire's facilitator.

PAYWIRE_NODE_DIR names the built npm package (esbuild is its dev dependency), PAYWIRE_NODE_TEST_DIR the folder
where the packed package, hono and workerd are installed."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import parties
import pytest
from conftest import (
    FACILITATOR_ADDRESS,
    PAY_TO,
    PRICE_ATOMIC,
    Chain,
    Facilitator,
    balances,
    charged_once,
    free_port,
    payer_key,
    stop,
    wait_for,
)
from localnet import env

import paywire
import paywire.httpx

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def workerd_api(facilitator: Facilitator, public_url: str = "") -> Iterator[str]:
    """The worker under its own workerd process (its own memory, as another Workers isolate has); its base URL.
    `public_url` is the origin its bills name (isolates behind one domain share it)."""
    out = Path(tempfile.mkdtemp(prefix="paywire-edge-"))
    port = free_port()
    subprocess.run(["node", str(HERE / "edge_worker.mjs"), str(out), str(port), PAY_TO, facilitator.url, public_url,
                    FACILITATOR_ADDRESS], check=True, timeout=120)
    workerd = Path(env("PAYWIRE_NODE_TEST_DIR")) / "node_modules" / ".bin" / "workerd"
    with open(out / "workerd.log", "w") as log:
        process = subprocess.Popen([str(workerd), "serve", str(out / "config.capnp")], stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_for(f"http://127.0.0.1:{port}/health", process=process, timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)
            shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def edge_api(facilitator: Facilitator) -> Iterator[str]:
    with workerd_api(facilitator) as url:
        yield url


def test_an_unpaid_request_gets_the_bill(edge_api: str) -> None:
    response = httpx.get(f"{edge_api}/weather")
    assert response.status_code == 402
    bill = paywire.PaymentRequired.from_header(response.headers["payment-required"])
    assert bill.accepts[0].amount == PRICE_ATOMIC
    assert bill.accepts[0].pay_to == PAY_TO
    # A free route is free.
    assert httpx.get(f"{edge_api}/health").status_code == 200


@pytest.mark.parametrize("client", [parties.python_client, parties.node_client, parties.cli_client])
def test_a_client_pays_the_edge_app_and_the_payment_settles_on_anvil(client, edge_api: str, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    outcome = client(f"{edge_api}/weather", key)
    assert outcome.status == 200, outcome.output
    assert outcome.transaction, outcome.output
    charged_once(chain, outcome.transaction, payer, before)


@pytest.mark.parametrize("client", [parties.python_client, parties.node_client], ids=["python", "node"])
def test_a_metered_route_on_the_edge_charges_what_its_handler_used(client, edge_api: str, chain: Chain) -> None:  # type: ignore[no-untyped-def]
    """upto on workerd: the payer signs for at most $0.01, the handler reports what it used, and exactly that
    settles on anvil through the upto proxy; the handler's Settlement-Overrides never reaches the client."""
    from test_permit2 import approve_permit2, charged_through_upto, moved

    key = payer_key()
    approve_permit2(chain, key)
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    outcome = client(f"{edge_api}/generate?used=2345", key)
    assert outcome.status == 200 and outcome.transaction, outcome.output
    charged_through_upto(chain, outcome.transaction, payer, 2345)
    assert moved(chain, payer, before) == 2345
    # The handler's header is the middleware's, never the client's.
    transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
    with httpx.Client(transport=transport, timeout=60) as c:
        answer = c.get(f"{edge_api}/generate?used=10")
    assert answer.status_code == 200, answer.text
    assert "settlement-overrides" not in {k.lower() for k in answer.headers}


def test_one_payment_sent_twice_at_once_is_charged_once(edge_api: str, chain: Chain) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    bill = httpx.get(f"{edge_api}/weather").headers["payment-required"]
    header = paywire.Payer(paywire.LocalSigner(key)).pay(paywire.PaymentRequired.from_header(bill))
    served_before = httpx.get(f"{edge_api}/served").json()["served"]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: httpx.get(f"{edge_api}/weather", headers={header.name: header.value},
                                                      timeout=60), range(2)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200, [a.text for a in answers]
    assert statuses[1] in (200, 409), [a.text for a in answers]
    # The handler ran once, and the payer paid the price once.
    assert httpx.get(f"{edge_api}/served").json()["served"] == served_before + 1
    assert balances(chain, payer) == (before[0] - PRICE_ATOMIC, before[1] + PRICE_ATOMIC)
    paid = next(a for a in answers if a.status_code == 200)
    charged_once(chain, paywire.SettleResponse.from_header(paid.headers["payment-response"]).transaction, payer, before)


def test_a_tampered_payment_is_refused_and_moves_nothing(edge_api: str, chain: Chain) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    bill = paywire.PaymentRequired.from_header(httpx.get(f"{edge_api}/weather").headers["payment-required"])
    header = paywire.Payer(paywire.LocalSigner(key)).pay(bill)
    # Pay 1 unit more than signed: the signature no longer matches the authorization.
    payment = json.loads(base64.b64decode(header.value))
    authorization = payment["payload"]["authorization"]
    authorization["value"] = str(int(authorization["value"]) + 1)
    tampered = base64.b64encode(json.dumps(payment).encode()).decode()
    response = httpx.get(f"{edge_api}/weather", headers={header.name: tampered})
    assert response.status_code == 402, response.text
    assert balances(chain, payer) == before


def test_a_settled_payment_replayed_to_another_isolate_is_refused_and_charged_once(
        facilitator: Facilitator, chain: Chain) -> None:
    """Workers run many isolates, each with its own memory store: a payment served by one and sent to another
    must not be served there (the facilitator finds its authorization used) nor charged again."""
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    with workerd_api(facilitator, "https://edge.test") as one, workerd_api(facilitator, "https://edge.test") as other:
        bill = paywire.PaymentRequired.from_header(httpx.get(f"{one}/weather").headers["payment-required"])
        header = paywire.Payer(paywire.LocalSigner(key)).pay(bill)
        first = httpx.get(f"{one}/weather", headers={header.name: header.value}, timeout=60)
        assert first.status_code == 200, first.text
        transaction = paywire.SettleResponse.from_header(first.headers["payment-response"]).transaction
        charged_once(chain, transaction, payer, before)
        replay = httpx.get(f"{other}/weather", headers={header.name: header.value}, timeout=60)
        assert replay.status_code == 402, replay.text
        assert "sunny" not in replay.text
        assert httpx.get(f"{other}/served").json()["served"] == 0
    assert balances(chain, payer) == (before[0] - PRICE_ATOMIC, before[1] + PRICE_ATOMIC)
