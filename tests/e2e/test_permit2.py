"""`exact` payments through Permit2, settled on anvil by paywire's facilitator through the x402 exact Permit2
proxy (tests/contracts, at its canonical address, over Permit2 compiled from Uniswap's sources): a payer who
approved Permit2, a payer without gas whose EIP-2612 permit approves it in the settlement
(`eip2612GasSponsoring`), and what an attacker or a broken network tries — a replay to a facilitator that forgot
the payment, concurrent settles, a lost broadcast answer across a restart, a payer who never approved. Each
ends in the chain's truth: exactly the price moved, once, to the payee.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import httpx
import pytest
from conftest import PAY_TO, PRICE_ATOMIC, USDC
from localnet import (
    FACILITATOR_ADDRESS,
    FACILITATOR_KEY,
    Chain,
    Facilitator,
    env,
    running_chain,
    write_config,
)
from parties import (
    APPS,
    Outcome,
    Server,
    cli_client,
    jvm_httpserver,
    kotlin_client,
    node_client,
    node_express,
    node_fastify,
    node_hono,
    official_express,
    official_fetch_client,
    python_asgi,
    python_client,
    python_flask,
)
from rpc_proxy import RpcProxy
from settle_link import Link

import paywire
import paywire.httpx

PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
EXACT_PROXY = "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
KEYS = ["0x" + format(0x5000 + i, "064x") for i in range(80)]
FUNDED = 1_000_000_000
_keys = iter(KEYS)
FAST = dict(rpc=2.0, receipt=4.0, stuck_after=1.0, keeper_interval=0.2)


def address(key: str) -> str:
    return paywire.LocalSigner(key).address


def word(value: int) -> str:
    return format(value, "064x")


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with running_chain({address(k): FUNDED for k in KEYS}) as c:
        yield c


@pytest.fixture(scope="module")
def proxy(chain: Chain) -> Iterator[RpcProxy]:
    p = RpcProxy(chain.rpc_url)
    yield p
    p.close()


class Facilitators:
    """Facilitators started by this module (each with its own database), stopped at its end."""

    def __init__(self) -> None:
        self.started: List[Facilitator] = []
        self.dirs: List[Path] = []

    def start(self, rpc_url: str) -> Facilitator:
        workdir = Path(tempfile.mkdtemp(prefix="paywire-permit2-"))
        self.dirs.append(workdir)
        chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_KEY"]}]
        config = write_config(workdir / "facilitator.toml", chains, **FAST)
        f = Facilitator("", workdir, config=config, environ={"PW_RPC": rpc_url, "PW_KEY": FACILITATOR_KEY})
        f.start()
        self.started.append(f)
        return f

    def stop(self) -> None:
        for f in self.started:
            f.stop()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def facilitators() -> Iterator[Facilitators]:
    fs = Facilitators()
    yield fs
    fs.stop()


@pytest.fixture(scope="module")
def facilitator(proxy: RpcProxy, facilitators: Facilitators) -> Facilitator:
    """paywire's facilitator, every node call through the fault-injecting proxy."""
    return facilitators.start(proxy.url)


def approve_permit2(chain: Chain, key: str) -> None:
    """The payer approves Permit2 once, as a Permit2 payer does (anvil sends it for the payer's address)."""
    owner = address(key)
    chain.rpc("anvil_setBalance", [owner, hex(10**18)])
    chain.rpc("anvil_impersonateAccount", [owner])
    data = "0x095ea7b3" + word(int(PERMIT2, 16)) + "f" * 64  # approve(Permit2, 2^256-1)
    tx = chain.rpc("eth_sendTransaction", [{"from": owner, "to": USDC, "data": data}])
    chain.rpc("anvil_stopImpersonatingAccount", [owner])
    assert chain.receipt(str(tx))["status"] == "0x1"


def permit2_bill(**extensions: Any) -> paywire.PaymentRequired:
    tag = paywire.PriceTag("eip155:84532", PAY_TO, amount=PRICE_ATOMIC, asset=USDC, transfer_method="permit2",
                           extensions=extensions or None)
    return paywire.build_payment_required("http://e2e.test/weather", [tag])


def request_body(key: str, bill: paywire.PaymentRequired, eip2612_nonce: Any = None) -> Dict[str, Any]:
    header = paywire.Payer(paywire.LocalSigner(key)).pay(bill, eip2612_nonce=eip2612_nonce)
    payment = paywire.PaymentPayload.from_header(header.value)
    body: Dict[str, Any] = json.loads(paywire.facilitator_request(payment, bill.accepts[0]))
    return body


def post(f: Facilitator, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
    response = httpx.post(f"{f.url}{path}", json=body, timeout=60)
    assert response.status_code == 200, response.text
    answer: Dict[str, Any] = response.json()
    return answer


def paid_through_proxy(chain: Chain, tx: str, payer: str) -> None:
    """`tx` called the exact Permit2 proxy, succeeded, and its one USDC Transfer moved the price from
    `payer` to PAY_TO."""
    receipt = chain.receipt(tx)
    assert receipt["status"] == "0x1", receipt
    assert receipt["to"].lower() == EXACT_PROXY.lower()
    transfers = [log for log in receipt["logs"] if log["topics"][0] == TRANSFER]
    assert len(transfers) == 1, receipt["logs"]
    (log,) = transfers
    assert log["address"].lower() == USDC.lower()
    assert (int(log["topics"][1], 16), int(log["topics"][2], 16)) == (int(payer, 16), int(PAY_TO, 16))
    assert int(log["data"], 16) == PRICE_ATOMIC


def balances(chain: Chain, payer: str) -> tuple:
    return chain.balance(payer), chain.balance(PAY_TO)


def moved_once(chain: Chain, payer: str, before: tuple) -> None:
    after = balances(chain, payer)
    assert (before[0] - after[0], after[1] - before[1]) == (PRICE_ATOMIC, PRICE_ATOMIC)


def test_contracts_sit_at_the_canonical_addresses(chain: Chain) -> None:
    for contract in (PERMIT2, EXACT_PROXY, "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"):
        assert len(str(chain.rpc("eth_getCode", [contract, "latest"]))) > 1000, contract
    # Permit2's EIP-712 domain is its canonical address's on this chain, as every SDK signs it.
    separator = chain.rpc("eth_call", [{"to": PERMIT2, "data": "0x3644e515"}, "latest"])  # DOMAIN_SEPARATOR()
    assert separator == "0x010f27a92fb9a32622f44f001dc4d15706a85b33499cfc2ce9033113ab26592c"


def test_supported_advertises_gas_sponsoring(facilitator: Facilitator) -> None:
    supported = httpx.get(f"{facilitator.url}/supported").json()
    assert "eip2612GasSponsoring" in supported["extensions"]


def test_a_permit2_payment_settles_through_the_proxy_once(chain: Chain, facilitator: Facilitator,
                                                            facilitators: Facilitators) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    body = request_body(key, permit2_bill())
    assert post(facilitator, "/verify", body) == {"isValid": True, "payer": address(key)}
    first = post(facilitator, "/settle", body)
    assert first["success"] is True, first
    paid_through_proxy(chain, first["transaction"], address(key))
    # Asked again: the recorded answer, nothing sent.
    assert post(facilitator, "/settle", body) == first
    moved_once(chain, address(key), before)
    # A facilitator that never saw it (its own database) cannot settle it again: Permit2 spent the nonce.
    forgetful = facilitators.start(chain.rpc_url)
    replay = post(forgetful, "/settle", body)
    assert (replay["success"], replay["errorReason"]) == (False, "permit2_invalid_nonce"), replay
    assert post(forgetful, "/verify", body)["invalidReason"] == "permit2_invalid_nonce"
    moved_once(chain, address(key), before)


def test_a_payer_who_never_approved_permit2_is_told_so_and_charged_nothing(chain: Chain,
                                                                             facilitator: Facilitator) -> None:
    key = next(_keys)
    before = balances(chain, address(key))
    body = request_body(key, permit2_bill())
    verdict = post(facilitator, "/verify", body)
    assert (verdict["isValid"], verdict["invalidReason"]) == (False, "permit2_allowance_required"), verdict
    assert "approve Permit2" in verdict["invalidMessage"]
    settled = post(facilitator, "/settle", body)
    assert (settled["success"], settled["errorReason"]) == (False, "permit2_allowance_required"), settled
    assert balances(chain, address(key)) == before


SPONSORED = {"eip2612GasSponsoring": {"info": {"description": "The facilitator approves Permit2 for you",
                                               "version": "1"}}}


def test_a_payer_without_gas_pays_with_an_eip2612_permit(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    payer = address(key)
    before = balances(chain, payer)
    body = request_body(key, permit2_bill(**SPONSORED), eip2612_nonce=0)
    assert body["paymentPayload"]["extensions"]["eip2612GasSponsoring"]["info"]["spender"] == PERMIT2
    assert post(facilitator, "/verify", body) == {"isValid": True, "payer": payer}
    settled = post(facilitator, "/settle", body)
    assert settled["success"] is True, settled
    paid_through_proxy(chain, settled["transaction"], payer)
    moved_once(chain, payer, before)
    # The payer holds no ETH and sent nothing: the facilitator paid for the approval and the transfer.
    assert chain.rpc("eth_getBalance", [payer, "latest"]) == "0x0"
    assert chain.rpc("eth_getTransactionCount", [payer, "latest"]) == "0x0"
    # The permit approved exactly the price, which the transfer used up.
    allowance = chain.rpc("eth_call", [{"to": USDC, "data": "0xdd62ed3e" + word(int(payer, 16)) + word(int(PERMIT2, 16))},
                                       "latest"])
    assert int(str(allowance), 16) == 0


def test_a_permit_never_replaces_a_larger_approval(chain: Chain, facilitator: Facilitator) -> None:
    """A payer who approved Permit2 without limit sends a permit anyway (its endpoint could not read the
    allowance, or lied): the facilitator settles without it, so the approval its other Permit2 payments use
    stands, less the price."""
    key = next(_keys)
    payer = address(key)
    approve_permit2(chain, key)
    before = balances(chain, payer)
    body = request_body(key, permit2_bill(**SPONSORED), eip2612_nonce=0)
    assert "signature" in body["paymentPayload"]["extensions"]["eip2612GasSponsoring"]["info"]
    settled = post(facilitator, "/settle", body)
    assert settled["success"] is True, settled
    paid_through_proxy(chain, settled["transaction"], payer)
    moved_once(chain, payer, before)
    assert approvals(chain, settled["transaction"]) == 0
    allowance = chain.rpc("eth_call", [{"to": USDC, "data": "0xdd62ed3e" + word(int(payer, 16)) + word(int(PERMIT2, 16))},
                                       "latest"])
    assert int(str(allowance), 16) == 2**256 - 1 - PRICE_ATOMIC


def test_an_eip2612_permit_for_more_than_the_price_is_refused_offline(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    body = request_body(key, permit2_bill(**SPONSORED), eip2612_nonce=0)
    body["paymentPayload"]["extensions"]["eip2612GasSponsoring"]["info"]["amount"] = str(2**256 - 1)
    verdict = post(facilitator, "/verify", body)
    assert (verdict["isValid"], verdict["invalidReason"]) == (False, "permit2_2612_amount_mismatch"), verdict


def test_concurrent_settles_of_one_payment_broadcast_it_once(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    body = request_body(key, permit2_bill())
    answers: List[Dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(post(facilitator, "/settle", body))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    successes = [a for a in answers if a["success"]]
    assert successes and {a["transaction"] for a in successes} == {successes[0]["transaction"]}, answers
    assert all(a["success"] or a["errorReason"] == "settlement_pending" for a in answers), answers
    paid_through_proxy(chain, successes[0]["transaction"], address(key))
    moved_once(chain, address(key), before)


def test_a_lost_broadcast_answer_is_followed_across_a_restart_and_charges_once(
        chain: Chain, proxy: RpcProxy, facilitator: Facilitator) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    body = request_body(key, permit2_bill())
    proxy.fault("eth_sendRawTransaction", "lose")
    first = post(facilitator, "/settle", body)
    assert (first["success"], first["errorReason"]) == (False, "settlement_pending"), first
    # The facilitator restarts: it reads the Permit2 settlement back from its database and follows it.
    facilitator.restart()
    again = post(facilitator, "/settle", body)
    assert again["success"] is True and again["transaction"] == first["transaction"], again
    paid_through_proxy(chain, again["transaction"], address(key))
    moved_once(chain, address(key), before)


@pytest.fixture(scope="module")
def permit2_server(facilitator: Facilitator) -> Iterator[Server]:
    """FastAPI with paywire's middleware asking for Permit2 (tests/e2e/apps/paid_app.py)."""
    extra = {"TRANSFER_METHOD": "permit2", "PRICE_ATOMIC": str(PRICE_ATOMIC)}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        yield server


@pytest.mark.parametrize("client", [python_client, official_fetch_client], ids=["paywire-python", "official-ts"])
def test_clients_pay_a_permit2_api_once(chain: Chain, permit2_server: Server, client: Any) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    outcome = client(permit2_server.url(), key)
    assert outcome.status == 200, outcome.output
    assert outcome.transaction, outcome.output
    paid_through_proxy(chain, outcome.transaction, address(key))
    moved_once(chain, address(key), before)


def test_an_api_answers_412_to_a_payer_who_never_approved_permit2(chain: Chain, permit2_server: Server) -> None:
    key = next(_keys)
    before = balances(chain, address(key))
    outcome = python_client(permit2_server.url(), key)
    assert outcome.status == 412, outcome.output
    assert "permit2_allowance_required" in outcome.output
    assert balances(chain, address(key)) == before



# ---- eip2612GasSponsoring from the clients: they read the chain through the endpoint their user names ----

APPROVAL = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"  # Approval(address,address,uint256)


@pytest.fixture(scope="module")
def sponsored_server(facilitator: Facilitator) -> Iterator[Server]:
    """FastAPI asking for Permit2 and declaring eip2612GasSponsoring (tests/e2e/apps/paid_app.py)."""
    extra = {"TRANSFER_METHOD": "permit2", "PRICE_ATOMIC": str(PRICE_ATOMIC), "GAS_SPONSORING": "1"}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        yield server


def approvals(chain: Chain, tx: str) -> int:
    return sum(1 for log in chain.receipt(tx)["logs"] if log["topics"][0] == APPROVAL)


@pytest.mark.parametrize("client", [cli_client, python_client, node_client, kotlin_client],
                         ids=["rust-cli", "python", "node", "kotlin"])
def test_clients_read_the_chain_and_pay_without_ever_approving_permit2(chain: Chain, sponsored_server: Server,
                                                                       client: Any) -> None:
    key = next(_keys)
    payer = address(key)
    before = balances(chain, payer)
    outcome = client(sponsored_server.url(), key, {"PAYWIRE_RPC_URLS": f"eip155:84532={chain.rpc_url}"})
    assert outcome.status == 200 and outcome.transaction, outcome.output
    paid_through_proxy(chain, outcome.transaction, payer)
    moved_once(chain, payer, before)
    # The permit rode with the payment: the payer holds no ETH and sent nothing.
    assert approvals(chain, outcome.transaction) == 1
    assert chain.rpc("eth_getBalance", [payer, "latest"]) == "0x0"
    assert chain.rpc("eth_getTransactionCount", [payer, "latest"]) == "0x0"
    # A second call reads the nonce the first permit advanced, and pays again the same way.
    again = client(sponsored_server.url(), key, {"PAYWIRE_RPC_URLS": f"eip155:84532={chain.rpc_url}"})
    assert again.status == 200 and again.transaction and again.transaction != outcome.transaction, again.output
    assert approvals(chain, again.transaction) == 1


def test_a_payer_who_approved_permit2_sends_no_permit(chain: Chain, sponsored_server: Server) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    outcome = python_client(sponsored_server.url(), key, {"PAYWIRE_RPC_URLS": f"eip155:84532={chain.rpc_url}"})
    assert outcome.status == 200 and outcome.transaction, outcome.output
    paid_through_proxy(chain, outcome.transaction, address(key))
    moved_once(chain, address(key), before)
    # The infinite approval stands: no permit overwrote it with the price.
    assert approvals(chain, outcome.transaction) == 0


class LyingRpc:
    """A JSON-RPC endpoint that answers every call with one number (an attacker's or a broken node); `endless`:
    followed by spaces for 60 s (still JSON, until the client hangs up); a call whose selector is `hang` is never
    answered (the connection stays open)."""

    def __init__(self, number: int, endless: bool = False, hang: str = "") -> None:
        answer = json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0x" + format(number, "064x")}).encode()
        self.calls: List[Dict[str, Any]] = []
        calls = self.calls
        stop = self.stop = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                call = json.loads(self.rfile.read(int(self.headers["content-length"])))
                calls.append(call)
                if hang and call["params"][0]["data"].startswith(hang):
                    stop.wait(120)
                    return
                self.send_response(200)
                self.send_header("content-type", "application/json")
                if not endless:
                    self.send_header("content-length", str(len(answer)))
                    self.send_header("connection", "close")  # see settle_link.py
                else:
                    self.close_connection = True  # the body ends when the connection does
                self.end_headers()
                # The client may stop reading at its limit and close.
                with contextlib.suppress(OSError):
                    self.wfile.write(answer)
                    until = time.monotonic() + 60
                    while endless and not stop.is_set() and time.monotonic() < until:
                        self.wfile.write(b" " * 4096)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/SECRET-KEY"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def pay(self, client: Any, url: str, key: str) -> Tuple[Outcome, List[str], float]:
        """`client` pays `url` reading the chain here (closed after): its outcome, the selectors it read, and
        the seconds it took."""
        started = time.monotonic()
        try:
            outcome = client(url, key, {"PAYWIRE_RPC_URLS": f"eip155:84532={self.url}"})
        finally:
            self.close()
        return outcome, [c["params"][0]["data"][:10] for c in self.calls], time.monotonic() - started


@pytest.mark.parametrize("client", [python_client, node_client], ids=["python", "node"])
def test_a_lying_endpoint_costs_the_payer_nothing_and_is_never_shown(chain: Chain, sponsored_server: Server,
                                                                     client: Any) -> None:
    key = next(_keys)
    before = balances(chain, address(key))
    # A wrong nonce: the permit cannot approve, the facilitator refuses, and nothing moves.
    outcome, reads, _ = LyingRpc(7).pay(client, sponsored_server.url(), key)
    assert reads == ["0xdd62ed3e", "0x7ecebe00"], reads
    assert outcome.status in (402, 412) and not outcome.transaction, outcome.output
    assert balances(chain, address(key)) == before
    assert "SECRET-KEY" not in outcome.output
    # An endpoint claiming a large allowance: no permit is sent, and the payer is told to approve Permit2.
    outcome, reads, _ = LyingRpc(2**255).pay(client, sponsored_server.url(), key)
    assert reads == ["0xdd62ed3e"], reads
    assert outcome.status == 412 and "permit2_allowance_required" in outcome.output, outcome.output
    assert balances(chain, address(key)) == before
    assert "SECRET-KEY" not in outcome.output


@pytest.mark.parametrize("client", [cli_client, python_client, node_client, kotlin_client],
                         ids=["rust-cli", "python", "node", "kotlin"])
def test_a_flooding_endpoint_is_no_answer_and_costs_the_payer_nothing(chain: Chain, sponsored_server: Server,
                                                                      client: Any) -> None:
    """The allowance read is answered with a word and then spaces for a minute: the client stops reading at the
    core's 64 KiB (well before its 15 s deadline), takes it as no answer, asks nothing more and sends no permit:
    the payer, who never approved Permit2, is told so and charged nothing."""
    key = next(_keys)
    before = balances(chain, address(key))
    outcome, reads, took = LyingRpc(0, endless=True).pay(client, sponsored_server.url(), key)
    assert took < 12, f"{took:.1f} s: the answer was read past the limit"
    assert reads == ["0xdd62ed3e"], reads
    assert outcome.status == 412 and "permit2_allowance_required" in outcome.body + outcome.output, outcome.output
    assert balances(chain, address(key)) == before
    assert "SECRET-KEY" not in outcome.output


def test_a_hung_endpoint_costs_a_payment_the_core_deadline(chain: Chain, sponsored_server: Server) -> None:
    """The allowance read never answers: after the core's 15 s the endpoint is given up (the nonce is not asked),
    no permit goes, and nothing moves. The CLI's own timeout (60 s) never comes into it."""
    key = next(_keys)
    before = balances(chain, address(key))
    outcome, reads, took = LyingRpc(7, hang="0xdd62ed3e").pay(cli_client, sponsored_server.url(), key)
    assert 15 <= took < 30, took
    assert reads == ["0xdd62ed3e"], reads
    assert outcome.status == 412 and not outcome.transaction, outcome.output
    assert balances(chain, address(key)) == before


# ---- upto: a Permit2 witness transfer for a maximum; the server charges what was used, at most that ----

UPTO_PROXY = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"
MAX_ATOMIC = 50_000  # the most a metered call may cost: $0.05
SERVED_MAX = 10_000  # the most GET /generate may cost: $0.01


def upto_bill(facilitator_address: str = FACILITATOR_ADDRESS, **extensions: Any) -> Dict[str, Any]:
    return {
        "x402Version": 2,
        "error": "Payment required",
        "resource": {"url": "http://e2e.test/generate", "description": "Metered", "mimeType": "application/json"},
        "accepts": [{
            "scheme": "upto", "network": "eip155:84532", "amount": str(MAX_ATOMIC), "asset": USDC, "payTo": PAY_TO,
            "maxTimeoutSeconds": 300,
            "extra": {"name": "USDC", "version": "2", "assetTransferMethod": "permit2",
                      "facilitatorAddress": facilitator_address},
        }],
        **({"extensions": extensions} if extensions else {}),
    }


def upto_body(key: str, bill: Dict[str, Any], charge: int, eip2612_nonce: Any = None) -> Dict[str, Any]:
    """paywire's paying client signs the bill; the server asks to settle `charge` (the amount it used)."""
    parsed = paywire.PaymentRequired.from_json(json.dumps(bill))
    header = paywire.Payer(paywire.LocalSigner(key)).pay(parsed, eip2612_nonce=eip2612_nonce)
    payment = json.loads(paywire.PaymentPayload.from_header(header.value).raw_json)
    return settle_body(payment, bill, charge)


def settle_body(payment: Dict[str, Any], bill: Dict[str, Any], charge: int) -> Dict[str, Any]:
    requirements = {**bill["accepts"][0], "amount": str(charge)}
    return {"x402Version": 2, "paymentPayload": payment, "paymentRequirements": requirements}


def charged_through_upto(chain: Chain, tx: str, payer: str, amount: int) -> None:
    receipt = chain.receipt(tx)
    assert receipt["status"] == "0x1", receipt
    assert receipt["to"].lower() == UPTO_PROXY.lower()
    assert receipt["from"].lower() == FACILITATOR_ADDRESS.lower()
    transfers = [log for log in receipt["logs"] if log["topics"][0] == TRANSFER]
    assert len(transfers) == 1, receipt["logs"]
    assert (int(transfers[0]["topics"][1], 16), int(transfers[0]["topics"][2], 16)) == (int(payer, 16), int(PAY_TO, 16))
    assert int(transfers[0]["data"], 16) == amount


def moved(chain: Chain, payer: str, before: tuple) -> int:
    after = balances(chain, payer)
    assert before[0] - after[0] == after[1] - before[1]
    return int(before[0] - after[0])


def test_supported_names_the_upto_facilitator(facilitator: Facilitator) -> None:
    kinds = httpx.get(f"{facilitator.url}/supported").json()["kinds"]
    upto = [k for k in kinds if k["scheme"] == "upto"]
    assert upto == [{"x402Version": 2, "scheme": "upto", "network": "eip155:84532",
                     "extra": {"facilitatorAddress": FACILITATOR_ADDRESS}}]


def test_upto_charges_what_the_server_asks_once(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    payer = address(key)
    before = balances(chain, payer)
    bill = upto_bill()
    verify_body = upto_body(key, bill, MAX_ATOMIC)
    assert post(facilitator, "/verify", verify_body) == {"isValid": True, "payer": payer}
    used = 12_345
    body = settle_body(verify_body["paymentPayload"], bill, used)
    first = post(facilitator, "/settle", body)
    assert (first["success"], first["amount"]) == (True, str(used)), first
    charged_through_upto(chain, first["transaction"], payer, used)
    assert post(facilitator, "/settle", body) == first
    # One settlement per authorization: asked again for another amount, the first answer stands.
    assert post(facilitator, "/settle", settle_body(verify_body["paymentPayload"], bill, MAX_ATOMIC)) == first
    assert moved(chain, payer, before) == used


def test_upto_refuses_more_than_the_maximum(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    body = upto_body(key, upto_bill(), MAX_ATOMIC + 1)
    settled = post(facilitator, "/settle", body)
    assert (settled["success"], settled["errorReason"]) == (
        False, "invalid_upto_evm_payload_settlement_exceeds_amount"), settled
    assert balances(chain, address(key)) == before


def test_upto_charging_nothing_sends_nothing_and_stays_settled(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    payer = address(key)
    before = balances(chain, payer)
    sent_before = chain.rpc("eth_getTransactionCount", [FACILITATOR_ADDRESS, "latest"])
    bill = upto_bill()
    body = upto_body(key, bill, 0)
    zero = post(facilitator, "/settle", body)
    assert (zero["success"], zero["transaction"], zero["amount"]) == (True, "", "0"), zero
    # The same authorization asked for more afterwards: still the recorded nothing.
    assert post(facilitator, "/settle", settle_body(body["paymentPayload"], bill, 1000)) == zero
    assert chain.rpc("eth_getTransactionCount", [FACILITATOR_ADDRESS, "latest"]) == sent_before
    assert balances(chain, payer) == before


def test_upto_for_another_facilitator_is_refused(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    stranger = address(KEYS[-1])
    body = upto_body(key, upto_bill(stranger), MAX_ATOMIC)
    verdict = post(facilitator, "/verify", body)
    assert (verdict["isValid"], verdict["invalidReason"]) == (False, "upto_facilitator_mismatch"), verdict
    # A witness altered to name this facilitator no longer matches the payer's signature.
    body["paymentPayload"]["payload"]["permit2Authorization"]["witness"]["facilitator"] = FACILITATOR_ADDRESS
    body["paymentRequirements"]["extra"]["facilitatorAddress"] = FACILITATOR_ADDRESS
    body["paymentPayload"]["accepted"]["extra"]["facilitatorAddress"] = FACILITATOR_ADDRESS
    verdict = post(facilitator, "/verify", body)
    assert (verdict["isValid"], verdict["invalidReason"]) == (False, "invalid_permit2_signature"), verdict


def test_upto_from_a_payer_without_gas(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    payer = address(key)
    before = balances(chain, payer)
    body = upto_body(key, upto_bill(**SPONSORED), 7_000, eip2612_nonce=0)
    settled = post(facilitator, "/settle", body)
    assert settled["success"] is True, settled
    charged_through_upto(chain, settled["transaction"], payer, 7_000)
    assert moved(chain, payer, before) == 7_000
    assert chain.rpc("eth_getTransactionCount", [payer, "latest"]) == "0x0"


def official_payload(key: str, bill: Dict[str, Any], scheme: str) -> Dict[str, Any]:
    run = subprocess.run(["node", str(APPS / "official_payload.mjs")], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PRIVATE_KEY": key, "SCHEME": scheme, "BILL": json.dumps(bill),
                              "PAYWIRE_NODE_TEST_DIR": env("PAYWIRE_NODE_TEST_DIR")})
    assert run.returncode == 0, run.stderr
    payload: Dict[str, Any] = json.loads(run.stdout)
    return payload


def test_the_official_upto_client_is_settled_by_paywire(chain: Chain, facilitator: Facilitator) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    payer = address(key)
    before = balances(chain, payer)
    bill = upto_bill()
    payment = official_payload(key, bill, "upto")
    assert payment["payload"]["permit2Authorization"]["spender"] == UPTO_PROXY
    assert post(facilitator, "/verify", settle_body(payment, bill, MAX_ATOMIC)) == {"isValid": True, "payer": payer}
    settled = post(facilitator, "/settle", settle_body(payment, bill, 20_000))
    assert (settled["success"], settled["amount"]) == (True, "20000"), settled
    charged_through_upto(chain, settled["transaction"], payer, 20_000)
    assert moved(chain, payer, before) == 20_000


def test_a_paywire_upto_payment_passes_the_official_sdk_shape(chain: Chain) -> None:
    """paywire's upto payload is byte for byte the official client's, but for the signature and nonce."""
    key = next(_keys)
    bill = upto_bill()
    ours = json.loads(paywire.PaymentPayload.from_header(
        paywire.Payer(paywire.LocalSigner(key)).pay(paywire.PaymentRequired.from_json(json.dumps(bill))).value
    ).raw_json)
    theirs = official_payload(key, bill, "upto")
    for p in (ours, theirs):
        p["payload"]["signature"] = "0x"
        p["payload"]["permit2Authorization"]["nonce"] = "0"
        p["payload"]["permit2Authorization"]["deadline"] = "0"
    assert ours["payload"] == theirs["payload"]
    assert ours["accepted"] == theirs["accepted"]


@pytest.fixture(scope="module", params=["python-asgi", "node-express", "jvm-httpserver"])
def metered_server(request: Any, facilitator: Facilitator) -> Iterator[Server]:
    """A paywire API (tests/e2e/apps/paid_app.*, and the JDK server's FaultsApp) with GET /generate metered by
    upto, at most SERVED_MAX (the example agents' policy allows $0.01 per payment)."""
    serve = {"python-asgi": python_asgi, "node-express": node_express, "jvm-httpserver": jvm_httpserver}[request.param]
    extra = {"UPTO_FACILITATOR": FACILITATOR_ADDRESS, "UPTO_MAX": str(SERVED_MAX)}
    app = "faults" if request.param == "jvm-httpserver" else "paid_app"
    with serve(facilitator.url, PAY_TO, app=app, extra=extra) as server:
        yield server


@pytest.mark.parametrize("serve", [python_flask, node_fastify, node_hono],
                         ids=["python-flask", "node-fastify", "node-hono"])
def test_flask_fastify_and_hono_charge_what_their_handler_used(chain: Chain, facilitator: Facilitator, serve: Any) -> None:
    """The other server adapters meter with upto too: the handler's Settlement-Overrides is what settles."""
    extra = {"UPTO_FACILITATOR": FACILITATOR_ADDRESS, "UPTO_MAX": str(SERVED_MAX)}
    with serve(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        key = next(_keys)
        approve_permit2(chain, key)
        payer = address(key)
        before = balances(chain, payer)
        used = 1_234
        outcome = python_client(server.url(f"/generate?used={used}"), key)
        assert outcome.status == 200 and outcome.transaction, outcome.output
        assert "Settlement-Overrides" not in outcome.output and "settlement-overrides" not in outcome.output
        charged_through_upto(chain, outcome.transaction, payer, used)
        assert moved(chain, payer, before) == used


@pytest.mark.parametrize("client", [python_client, node_client, cli_client, kotlin_client, official_fetch_client],
                         ids=["paywire-python", "paywire-node", "paywire-cli", "paywire-kotlin", "official-ts"])
def test_a_metered_api_charges_what_its_handler_used(chain: Chain, metered_server: Server, client: Any) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    payer = address(key)
    before = balances(chain, payer)
    used = 4_321
    outcome = client(metered_server.url(f"/generate?used={used}"), key)
    assert outcome.status == 200, outcome.output
    assert "Settlement-Overrides" not in outcome.output and "settlement-overrides" not in outcome.output
    assert outcome.transaction, outcome.output
    charged_through_upto(chain, outcome.transaction, payer, used)
    assert moved(chain, payer, before) == used


@pytest.mark.parametrize("serve", [python_asgi, node_express], ids=["python-asgi", "node-express"])
def test_servers_take_the_upto_facilitator_from_its_supported_answer(chain: Chain, facilitator: Facilitator,
                                                                     serve: Any) -> None:
    """The price tag leaves facilitatorAddress out; the middleware is given the facilitator's /supported answer
    (as the official servers read it), and the bill names the facilitator that then settles exactly what was
    used."""
    extra = {"UPTO_FACILITATOR": "supported", "UPTO_MAX": str(SERVED_MAX)}
    with serve(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        bill = paywire.PaymentRequired.from_header(httpx.get(server.url("/generate")).headers["payment-required"])
        assert (bill.accepts[0].extra or {})["facilitatorAddress"] == FACILITATOR_ADDRESS
        key = next(_keys)
        approve_permit2(chain, key)
        payer = address(key)
        before = balances(chain, payer)
        outcome = python_client(server.url("/generate?used=1111"), key)
        assert outcome.status == 200 and outcome.transaction, outcome.output
        charged_through_upto(chain, outcome.transaction, payer, 1111)
        assert moved(chain, payer, before) == 1111


def test_the_handlers_settlement_overrides_never_reaches_the_client(metered_server: Server, chain: Chain) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
    with httpx.Client(transport=transport, timeout=60) as c:
        answer = c.get(metered_server.url("/generate?used=10"))
    assert answer.status_code == 200, answer.text
    assert "settlement-overrides" not in {k.lower() for k in answer.headers}
    assert paywire.httpx.settlement(answer) is not None


def test_a_metered_request_that_used_nothing_costs_nothing(chain: Chain, metered_server: Server) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    outcome = python_client(metered_server.url("/generate?used=0"), key)
    assert outcome.status == 200, outcome.output
    assert balances(chain, address(key)) == before


def test_a_handler_reporting_more_than_the_maximum_is_served_nothing_and_charges_nothing(
        chain: Chain, metered_server: Server) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    before = balances(chain, address(key))
    outcome = python_client(metered_server.url(f"/generate?used={SERVED_MAX + 1}"), key)
    assert outcome.status == 500, outcome.output
    assert "tokens" not in outcome.body
    assert balances(chain, address(key)) == before


@pytest.fixture(scope="module")
def official_metered_server(facilitator: Facilitator) -> Iterator[Server]:
    """The official @x402/express server with its upto scheme (tests/e2e/apps/official_server.mjs, UPTO=1)."""
    with official_express(facilitator.url, PAY_TO, extra={"UPTO": "1"}) as server:
        yield server


@pytest.mark.parametrize("client", [python_client, node_client, cli_client, kotlin_client],
                         ids=["paywire-python", "paywire-node", "paywire-cli", "paywire-kotlin"])
def test_paywire_clients_pay_an_official_metered_api_what_it_used(chain: Chain, official_metered_server: Server,
                                                                    client: Any) -> None:
    key = next(_keys)
    approve_permit2(chain, key)
    payer = address(key)
    before = balances(chain, payer)
    outcome = client(official_metered_server.url("/generate?used=2500"), key)
    assert outcome.status == 200, outcome.output
    assert outcome.transaction, outcome.output
    charged_through_upto(chain, outcome.transaction, payer, 2_500)
    assert moved(chain, payer, before) == 2_500


def test_the_official_python_upto_client_pays_a_paywire_metered_api(chain: Chain, metered_server: Server) -> None:
    from eth_account import Account
    from x402 import x402ClientSync
    from x402.http.clients import x402_requests
    from x402.mechanisms.evm.upto import UptoEvmClientScheme

    key = next(_keys)
    approve_permit2(chain, key)
    payer = address(key)
    before = balances(chain, payer)
    session = x402_requests(x402ClientSync().register("eip155:*", UptoEvmClientScheme(Account.from_key(key))))
    response = session.get(metered_server.url("/generate?used=3000"), timeout=60)
    assert response.status_code == 200, response.text
    assert "settlement-overrides" not in {k.lower() for k in response.headers}
    receipt = paywire.SettleResponse.from_header(response.headers["PAYMENT-RESPONSE"])
    assert receipt.success and receipt.payer == payer
    charged_through_upto(chain, receipt.transaction, payer, 3_000)
    assert moved(chain, payer, before) == 3_000


def test_a_metered_settle_answer_lost_twice_is_retried_for_the_same_charge_once(chain: Chain,
                                                                                facilitator: Facilitator) -> None:
    """The facilitator settles an upto charge but the server never hears (twice): the request fails, and its
    retry settles the charge the handler reported the first time, answered with the first transaction."""
    link = Link(facilitator)
    try:
        extra = {"UPTO_FACILITATOR": FACILITATOR_ADDRESS, "UPTO_MAX": str(SERVED_MAX)}
        with python_asgi(link.url, PAY_TO, app="paid_app", extra=extra) as server:
            key = next(_keys)
            approve_permit2(chain, key)
            payer = address(key)
            before = balances(chain, payer)
            transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
            with httpx.Client(transport=transport, timeout=60) as c:
                link.fault, link.drops = "drop", 2
                first = c.get(server.url("/generate?used=1234"))
                assert first.status_code in (502, 503, 504), first.text
                assert "tokens" not in first.text
                assert len(link.settle_answers) == 2 and link.settle_answers[0]["success"], link.settle_answers
                retry = c.get(server.url("/generate?used=1234"))
            assert retry.status_code == 200, retry.text
            receipt = paywire.httpx.settlement(retry)
            assert receipt is not None and receipt.success
            assert [(a["transaction"], a["amount"]) for a in link.settle_answers] == [(receipt.transaction, "1234")] * 3
            # The server asked each time for the charge it recorded when the handler ran, never the maximum.
            assert [r["paymentRequirements"]["amount"] for r in link.settle_requests] == ["1234"] * 3
            charged_through_upto(chain, receipt.transaction, payer, 1_234)
            assert moved(chain, payer, before) == 1_234
    finally:
        link.close()
