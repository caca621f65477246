"""paywire's facilitator probed as an attacker and an unlucky operator would, on anvil with Circle's USDC and
a fault-injecting JSON-RPC proxy of the tests' own (rpc_proxy.py) between the facilitator and the node:

- only allowed assets settle: a second EIP-3009 token and a hostile contract are refused before any RPC
  call, and an allowed contract that burns gas is refused at the gas cap, with nothing sent;
- signatures no wallet makes (all zero, 5,000 bytes) are refused offline;
- a lost broadcast answer is followed, never forgotten: `settlement_pending` with the hash, then success,
  and the payer is charged once;
- a hung node call delays only its own settlement, and the gap it leaves heals by itself;
- a transaction the node dropped from its pool is broadcast again by itself, and the ones after it mine;
- node failures never carry the RPC URL, and no key, signature or URL reaches the logs;
- HTTP: half-open and idle connections are closed, 404/405/413 are x402-shaped JSON;
- two chains with different ids served by one facilitator, several keys settling in parallel on one chain;
- one JSON log line per verify and settle, and Prometheus metrics.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import httpx
import pytest
from conftest import PAY_TO, PRICE_ATOMIC
from localnet import DEPLOYER_KEY, Chain, Facilitator, env, running_chain, write_config
from rpc_proxy import SECRET, RpcProxy

import paywire

FUNDED = 1_000_000_000
KEYS = ["0x" + format(0x3000 + i, "064x") for i in range(80)]
_keys = iter(KEYS)
# anvil's development accounts 5 to 8: this module's settling keys (each funded with ETH by anvil).
SETTLERS = [
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
]
HOSTILE = "0xBad0000000000000000000000000000000000BAD"
BASE_USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"  # Base mainnet's USDC, whose EIP-712 name is "USD Coin"
SIGNATURES: List[str] = []  # every payment signature made here: none may appear in a log


def address(key: str) -> str:
    return paywire.LocalSigner(key).address


def payer() -> str:
    return next(_keys)


def hostile_code(burn: int) -> str:
    """A token that answers every call at gas price 0 (as in eth_call and eth_estimateGas): balanceOf is
    2^256-1, authorizationState is false, anything else succeeds after burning about 26 gas per `burn`. At
    any other gas price, that is in a real transaction, it reverts."""
    code = (
        "3a" "6032" "57"                      # GASPRICE; if not zero: jump to the revert
        f"62{burn:06x}"                       # PUSH3 burn
        "5b" "6001" "90" "03" "80" "6008" "57" "50"  # loop: counter -= 1 while not zero
        "6000" "35" "60e0" "1c" "63e94a0102" "14" "602c" "57"  # selector == authorizationState: jump to zero
        "600019" "6000" "52" "6020" "6000" "f3"  # return 2^256-1
        "5b" "6020" "6000" "f3"               # zero: return 32 zero bytes
        "5b" "6000" "80" "fd"                 # revert
    )
    assert len(code) // 2 == 0x37
    return "0x" + code


def transaction_count(chain: Chain, who: str) -> int:
    return int(str(chain.rpc("eth_getTransactionCount", [who, "latest"])), 16)


def bill(network: str = "eip155:84532", **tag: Any) -> paywire.PaymentRequired:
    price = None if "amount" in tag else "$0.01"
    return paywire.build_payment_required("http://e2e.test/weather", [paywire.PriceTag(network, PAY_TO, price, **tag)])


def request_body(key: str, the_bill: paywire.PaymentRequired) -> Dict[str, Any]:
    # The tests pay tokens no client would, to see what the facilitator does with them.
    policy = paywire.Policy(allow_any_asset=True, max_amount=PRICE_ATOMIC)
    header = paywire.Payer(paywire.LocalSigner(key), policy).pay(the_bill)
    payment = paywire.PaymentPayload.from_header(header.value)
    body: Dict[str, Any] = json.loads(paywire.facilitator_request(payment, the_bill.accepts[0]))
    SIGNATURES.append(body["paymentPayload"]["payload"]["signature"])
    return body


def post(f: Facilitator, path: str, body: Dict[str, Any], timeout: float = 60) -> Dict[str, Any]:
    response = httpx.post(f"{f.url}{path}", json=body, timeout=timeout)
    assert response.status_code == 200, response.text
    answer: Dict[str, Any] = response.json()
    return answer


FAST = dict(rpc=1.0, receipt=4.0, stuck_after=1.0, keeper_interval=0.2, header=1.0, body=1.0)


class Running:
    """Facilitators started by a test module, stopped (and their directories removed) at its end."""

    def __init__(self) -> None:
        self.started: List[Facilitator] = []
        self.dirs: List[Path] = []

    def start(self, chains: Sequence[Dict[str, Any]], environ: Dict[str, str], **timeouts: float) -> Facilitator:
        workdir = Path(tempfile.mkdtemp(prefix="paywire-hardening-"))
        self.dirs.append(workdir)
        config = write_config(workdir / "facilitator.toml", chains, **{**FAST, **timeouts})
        f = Facilitator("", workdir, config=config, environ=environ, args=["--log-format", "json"])
        f.start()
        self.started.append(f)
        return f

    def logs(self) -> str:
        return "".join(f.log.read_text(errors="replace") for f in self.started if f.log.exists())

    def stop(self) -> None:
        for f in self.started:
            f.stop()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with running_chain({address(k): FUNDED for k in KEYS}) as c:
        yield c


@pytest.fixture(scope="module")
def second_token(chain: Chain) -> str:
    """Circle's USDC once more, at another address: an EIP-3009 token in no table."""
    out = subprocess.run(
        [env("PAYWIRE_FACILITATOR_BIN"), "deploy-usdc", "--rpc-url", chain.rpc_url, "--package",
         env("PAYWIRE_USDC_PACKAGE"), *[a for k in KEYS[:5] for a in ("--mint", f"{address(k)}={FUNDED}")]],
        env={"PAYWIRE_DEPLOYER_KEY": DEPLOYER_KEY, "PATH": "/usr/bin:/bin"},
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def proxy(chain: Chain) -> Iterator[RpcProxy]:
    p = RpcProxy(chain.rpc_url)
    yield p
    p.close()


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    r = Running()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def facilitator(proxy: RpcProxy, running: Running) -> Facilitator:
    """One key, every node call through the proxy."""
    chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_KEY"]}]
    return running.start(chains, {"PW_RPC": proxy.url, "PW_KEY": SETTLERS[0]})


def test_assets_not_allowed_are_refused_before_any_rpc_call(chain: Chain, second_token: str, proxy: RpcProxy,
                                                             facilitator: Facilitator) -> None:
    chain.rpc("anvil_setCode", [HOSTILE, hostile_code(1)])
    settler = address(SETTLERS[0])
    sent_before = transaction_count(chain, settler)
    for asset in (second_token, HOSTILE):
        key = payer()
        body = request_body(key, bill(amount=PRICE_ATOMIC, asset=asset, eip712_name="USDC", eip712_version="2"))
        calls = proxy.count()
        verified = post(facilitator, "/verify", body)
        settled = post(facilitator, "/settle", body)
        assert proxy.count() == calls, proxy.calls[-6:]
        assert (verified["isValid"], verified["invalidReason"]) == (False, "unknown_asset"), verified
        assert (settled["success"], settled["errorReason"], settled["transaction"]) == (False, "unknown_asset", "")
        assert "0x036CbD53842c5426634e7929541eC2318f3dCF7e" in settled["errorMessage"]
    assert transaction_count(chain, settler) == sent_before


def test_an_allowed_contract_that_burns_gas_is_refused_at_the_cap(chain: Chain, running: Running) -> None:
    chain.rpc("anvil_setCode", [HOSTILE, hostile_code(100_000)])
    chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_KEY"], "assets": [HOSTILE],
               "max_gas": 300_000}]
    f = running.start(chains, {"PW_RPC": chain.rpc_url, "PW_KEY": SETTLERS[3]})
    settler = address(SETTLERS[3])
    eth_before = int(str(chain.rpc("eth_getBalance", [settler, "latest"])), 16)
    sent_before = transaction_count(chain, settler)
    body = request_body(payer(), bill(amount=PRICE_ATOMIC, asset=HOSTILE, eip712_name="USDC", eip712_version="2"))
    verified = post(f, "/verify", body)
    assert (verified["isValid"], verified["invalidReason"]) == (False, "invalid_exact_evm_transaction_simulation_failed")
    assert "300000" in verified["invalidMessage"]
    for _ in range(3):
        settled = post(f, "/settle", body)
        assert (settled["success"], settled["transaction"]) == (False, ""), settled
        assert settled["errorReason"] == "invalid_exact_evm_transaction_simulation_failed"
    assert transaction_count(chain, settler) == sent_before
    assert int(str(chain.rpc("eth_getBalance", [settler, "latest"])), 16) == eth_before


@pytest.mark.parametrize("signature", ["0x" + "00" * 65, "0x" + "ab" * 5000, "0x" + "ff" * 64 + "1b", "0x"])
def test_signatures_no_wallet_makes_are_refused_offline(proxy: RpcProxy, facilitator: Facilitator,
                                                        signature: str) -> None:
    body = request_body(payer(), bill())
    body["paymentPayload"]["payload"]["signature"] = signature
    calls = proxy.count()
    verified = httpx.post(f"{facilitator.url}/verify", json=body, timeout=30).json()
    settled = httpx.post(f"{facilitator.url}/settle", json=body, timeout=30).json()
    assert proxy.count() == calls, proxy.calls[-6:]
    assert verified["isValid"] is False and settled["success"] is False
    assert verified["invalidReason"] in ("invalid_exact_evm_payload_signature", "invalid_payload"), verified


def charged_once(chain: Chain, key: str, before: int, tx: str) -> None:
    assert before - chain.balance(address(key)) == PRICE_ATOMIC
    assert chain.receipt(tx)["status"] == "0x1"


def test_a_lost_broadcast_answer_is_followed_and_charges_once(chain: Chain, proxy: RpcProxy,
                                                               facilitator: Facilitator) -> None:
    key = payer()
    before = chain.balance(address(key))
    body = request_body(key, bill())
    proxy.fault("eth_sendRawTransaction", "lose")
    first = post(facilitator, "/settle", body)
    assert (first["success"], first["errorReason"]) == (False, "settlement_pending"), first
    assert first["transaction"].startswith("0x") and len(first["transaction"]) == 66
    again = post(facilitator, "/settle", body)
    assert again["success"] is True, again
    assert again["transaction"] == first["transaction"]
    charged_once(chain, key, before, again["transaction"])
    assert post(facilitator, "/settle", body) == again


def test_a_gateway_error_after_the_node_took_the_transaction_charges_once(chain: Chain, proxy: RpcProxy,
                                                                         facilitator: Facilitator) -> None:
    key = payer()
    before = chain.balance(address(key))
    body = request_body(key, bill())
    proxy.fault("eth_sendRawTransaction", "flaky")
    first = post(facilitator, "/settle", body)
    # An error that is not a rule the transaction breaks may come after the node took it: not a refusal.
    assert (first["success"], first["errorReason"]) == (False, "settlement_pending"), first
    again = post(facilitator, "/settle", body)
    assert again["success"] is True and again["transaction"] == first["transaction"], again
    charged_once(chain, key, before, again["transaction"])


def test_a_settlement_recorded_by_an_earlier_version_is_repeated_not_redone(chain: Chain, proxy: RpcProxy,
                                                                           facilitator: Facilitator) -> None:
    import sqlite3

    key = payer()
    before = chain.balance(address(key))
    body = request_body(key, bill())
    authorization = body["paymentPayload"]["payload"]["authorization"]
    legacy = f"84532:{chain.asset.lower()}:{authorization['from'].lower()}:{authorization['nonce'].lower()}"
    recorded = {"success": True, "payer": address(key), "transaction": "0x" + "ab" * 32, "network": "eip155:84532"}
    with sqlite3.connect(facilitator.db) as db:
        db.execute("INSERT INTO settlements (key, stage, response) VALUES (?, 'final', ?)", (legacy, json.dumps(recorded)))
    sends = proxy.calls.count("eth_sendRawTransaction")
    assert post(facilitator, "/settle", body) == recorded
    assert proxy.calls.count("eth_sendRawTransaction") == sends
    assert chain.balance(address(key)) == before


def test_a_hung_node_call_delays_only_its_own_settlement(chain: Chain, proxy: RpcProxy,
                                                          facilitator: Facilitator) -> None:
    hung, other = payer(), payer()
    before = {k: chain.balance(address(k)) for k in (hung, other)}
    hung_body, other_body = request_body(hung, bill()), request_body(other, bill())
    proxy.hold = 30
    proxy.fault("eth_sendRawTransaction", "hang")
    sends = proxy.calls.count("eth_sendRawTransaction")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, facilitator, "/settle", hung_body)
        deadline = time.monotonic() + 20
        while proxy.calls.count("eth_sendRawTransaction") == sends:  # the hung call has reached the proxy
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        settled = post(facilitator, "/settle", other_body)
        took = time.monotonic() - started
        assert settled["success"] is True, settled
        assert took < 10, f"an unrelated settle waited {took:.1f} s behind a hung call"
        pending = first.result(timeout=30)
    proxy.release()
    # The hung broadcast never reached the node: its nonce was a gap the keeper filled by broadcasting it.
    assert pending["errorReason"] == "settlement_pending", pending
    done = post(facilitator, "/settle", hung_body)
    assert done["success"] is True and done["transaction"] == pending["transaction"], done
    charged_once(chain, hung, before[hung], done["transaction"])
    charged_once(chain, other, before[other], settled["transaction"])


def rebroadcasts(f: Facilitator) -> float:
    """The keeper's rebroadcasts so far, from /metrics."""
    lines = httpx.get(f"{f.url}/metrics").text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("paywire_facilitator_repairs_total") and 'action="rebroadcast"' in line)


def test_a_dropped_transaction_heals_by_itself(chain: Chain, facilitator: Facilitator) -> None:
    keys = [payer() for _ in range(3)]
    before = {k: chain.balance(address(k)) for k in keys}
    bodies = [request_body(k, bill()) for k in keys]
    rebroadcast_before = rebroadcasts(facilitator)
    chain.rpc("evm_setAutomine", [False])
    try:
        first = post(facilitator, "/settle", bodies[0])
        assert first["errorReason"] == "settlement_pending", first
        chain.rpc("anvil_dropTransaction", [first["transaction"]])
        with ThreadPoolExecutor(2) as pool:
            later = list(pool.map(lambda b: post(facilitator, "/settle", b), bodies[1:]))
        assert [a["errorReason"] for a in later] == ["settlement_pending"] * 2, later
        chain.rpc("evm_setIntervalMining", [1])
        # No /settle call from here on: the keeper broadcasts the dropped one again and the others follow.
        deadline = time.monotonic() + 30
        hashes = [first["transaction"]] + [a["transaction"] for a in later]
        while any(chain.rpc("eth_getTransactionReceipt", [h]) is None for h in hashes):
            assert time.monotonic() < deadline, "the settlements after a dropped transaction stayed stuck"
            time.sleep(0.2)
    finally:
        chain.rpc("evm_setIntervalMining", [0])
        chain.rpc("evm_setAutomine", [True])
    for key, body, tx in zip(keys, bodies, hashes):
        done = post(facilitator, "/settle", body)
        assert done["success"] is True and done["transaction"] == tx, done
        charged_once(chain, key, before[key], tx)
    assert rebroadcasts(facilitator) > rebroadcast_before


def test_node_failures_never_carry_the_rpc_url(proxy: RpcProxy, facilitator: Facilitator) -> None:
    body = request_body(payer(), bill())
    proxy.fault("*", "fail", times=10_000)
    try:
        verified = httpx.post(f"{facilitator.url}/verify", json=body, timeout=30)
        settled = httpx.post(f"{facilitator.url}/settle", json=body, timeout=30)
        health = httpx.get(f"{facilitator.url}/health", timeout=30)
    finally:
        proxy.clear()
    assert verified.json()["invalidReason"] == "unexpected_verify_error", verified.text
    assert "HTTP 502" in verified.json()["invalidMessage"]
    assert settled.json()["errorReason"] == "unexpected_settle_error", settled.text
    assert health.status_code == 503 and health.json()["ready"] is False, health.text
    port = proxy.url.split(":")[2].split("/")[0]
    for text in (verified.text, settled.text, health.text):
        assert SECRET not in text and f":{port}" not in text, text
    assert httpx.get(f"{facilitator.url}/health", timeout=30).status_code == 200


def test_http_answers_are_x402_shaped(facilitator: Facilitator) -> None:
    missing = httpx.get(f"{facilitator.url}/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.get(f"{facilitator.url}/settle")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    huge = httpx.post(f"{facilitator.url}/verify", content=b"{" + b" " * 200_000 + b"}",
                      headers={"Content-Type": "application/json"})
    assert huge.status_code == 413, huge.text
    assert (huge.json()["isValid"], huge.json()["invalidReason"]) == (False, "body_too_large")
    garbage = httpx.post(f"{facilitator.url}/settle", content=b"not json")
    assert garbage.status_code == 400 and garbage.json()["success"] is False
    for answer in (missing, wrong, huge, garbage):
        assert answer.headers["content-type"] == "application/json"


def test_half_open_and_idle_connections_are_closed(facilitator: Facilitator) -> None:
    host, port = facilitator.url.removeprefix("http://").split(":")
    sockets = []
    for i in range(200):
        s = socket.create_connection((host, int(port)), timeout=10)
        if i % 2:
            s.sendall(b"POST /verify HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        sockets.append(s)
    idle = socket.create_connection((host, int(port)), timeout=10)
    idle.sendall(b"GET /supported HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    sockets.append(idle)
    started = time.monotonic()
    for s in sockets:
        while s.recv(65536):  # whatever the server says last, then the end of the stream
            pass
        s.close()
    took = time.monotonic() - started
    assert took < 8, f"201 half-open or idle connections stayed open {took:.1f} s (header timeout 1 s)"


def test_a_failing_node_passes_every_call_to_the_next(chain: Chain, running: Running) -> None:
    dead = RpcProxy(chain.rpc_url)
    dead.close()  # nothing listens there any more: connection refused
    failing, limited = RpcProxy(chain.rpc_url), RpcProxy(chain.rpc_url)
    failing.fault("*", "fail", times=100_000)
    limited.fault("*", "limit", times=100_000)
    try:
        chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_KEY"]}]
        urls = ",".join([dead.url, failing.url, limited.url, chain.rpc_url])
        f = running.start(chains, {"PW_RPC": urls, "PW_KEY": SETTLERS[3]})
        key = payer()
        before = chain.balance(address(key))
        body = request_body(key, bill())
        assert post(f, "/verify", body)["isValid"] is True
        settled = post(f, "/settle", body)
        assert settled["success"] is True, settled
        charged_once(chain, key, before, settled["transaction"])
        assert httpx.get(f"{f.url}/health").status_code == 200
        assert limited.calls, "the rate-limited node was never asked"
    finally:
        failing.close()
        limited.close()


def test_several_keys_settle_in_parallel(chain: Chain, running: Running) -> None:
    chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_K1", "PW_K2"]}]
    f = running.start(chains, {"PW_RPC": chain.rpc_url, "PW_K1": SETTLERS[1], "PW_K2": SETTLERS[2]})
    keys = [payer() for _ in range(12)]
    before = {k: chain.balance(address(k)) for k in keys}
    bodies = [request_body(k, bill()) for k in keys]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda b: post(f, "/settle", b), bodies))
    assert all(a["success"] for a in answers), answers
    senders = {chain.receipt(a["transaction"])["from"].lower() for a in answers}
    assert senders == {address(SETTLERS[1]).lower(), address(SETTLERS[2]).lower()}
    for key, answer in zip(keys, answers):
        charged_once(chain, key, before[key], answer["transaction"])
    supported = httpx.get(f"{f.url}/supported").json()
    assert sorted(supported["signers"]["eip155:*"]) == sorted([address(SETTLERS[1]), address(SETTLERS[2])])


def test_two_chains_each_settle_on_their_own(chain: Chain, running: Running) -> None:
    key = payer()
    with running_chain({address(key): FUNDED}, chain_id=8453, usdc=BASE_USDC, name="USD Coin") as base:
        chains = [
            {"chain_id": 84532, "urls_env": "PW_RPC_A", "keys_env": ["PW_KEY"]},
            {"chain_id": 8453, "urls_env": "PW_RPC_B", "keys_env": ["PW_KEY"]},
        ]
        f = running.start(chains, {"PW_RPC_A": chain.rpc_url, "PW_RPC_B": base.rpc_url, "PW_KEY": SETTLERS[3]})
        kinds = {(k["x402Version"], k["network"]) for k in httpx.get(f"{f.url}/supported").json()["kinds"]}
        assert {(2, "eip155:84532"), (2, "eip155:8453"), (1, "base"), (1, "base-sepolia")} <= kinds
        on_a = post(f, "/settle", request_body(key, bill("eip155:84532")))
        on_b = post(f, "/settle", request_body(key, bill("eip155:8453")))
        assert on_a["success"] and on_b["success"], (on_a, on_b)
        assert (on_a["network"], on_b["network"]) == ("eip155:84532", "eip155:8453")
        assert chain.receipt(on_a["transaction"])["status"] == "0x1"
        assert base.receipt(on_b["transaction"])["status"] == "0x1"
        assert base.rpc("eth_getTransactionReceipt", [on_a["transaction"]]) is None
        assert chain.rpc("eth_getTransactionReceipt", [on_b["transaction"]]) is None
        assert base.balance(address(key)) == FUNDED - PRICE_ATOMIC
        health = httpx.get(f"{f.url}/health").json()
        assert health["ready"] is True and [c["chainId"] for c in health["chains"]] == [8453, 84532]


def test_one_log_line_per_request_and_metrics(facilitator: Facilitator) -> None:
    body = request_body(payer(), bill())
    assert post(facilitator, "/verify", body)["isValid"] is True
    settled = post(facilitator, "/settle", body)
    assert settled["success"] is True
    lines = [json.loads(line) for line in facilitator.log.read_text().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("transaction") == settled["transaction"]]
    assert len(mine) == 1, mine
    line = mine[0]
    assert line["endpoint"] == "settle" and line["outcome"] == "success" and line["level"] == "INFO"
    assert line["payer"] == settled["payer"] and line["network"] == "eip155:84532"
    assert line["amount"] == str(PRICE_ATOMIC) and line["asset"].lower() == "0x036cbd53842c5426634e7929541ec2318f3dcf7e"
    assert line["latency_ms"] > 0
    verify_lines = [x for x in lines if x.get("endpoint") == "verify" and x.get("payer") == settled["payer"]]
    assert [x["outcome"] for x in verify_lines] == ["valid"]
    metrics = httpx.get(f"{facilitator.url}/metrics").text
    assert 'paywire_facilitator_requests_total{endpoint="settle",outcome="success"}' in metrics, metrics
    assert 'paywire_facilitator_requests_total{endpoint="verify",outcome="unknown_asset"}' in metrics
    assert "paywire_facilitator_request_seconds_bucket" in metrics
    assert "paywire_facilitator_pending_settlements 0" in metrics
    assert f'paywire_facilitator_gas_used_total{{chain="84532",key="{address(SETTLERS[0])}"}}' in metrics


def settled_within(seconds: float, f: Facilitator, body: Dict[str, Any], failure: str) -> Dict[str, Any]:
    """Asks `/settle` until it succeeds, `settlement_pending` in between, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        done = post(f, "/settle", body)
        if done["success"]:
            return done
        assert done["errorReason"] == "settlement_pending", done
        assert time.monotonic() < deadline, failure


def test_a_stuck_transaction_is_replaced_with_higher_fees(chain: Chain, running: Running) -> None:
    chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_KEY"]}]
    f = running.start(chains, {"PW_RPC": chain.rpc_url, "PW_KEY": SETTLERS[2]}, receipt=2.0)
    key = payer()
    before = chain.balance(address(key))
    body = request_body(key, bill())
    chain.rpc("evm_setAutomine", [False])
    try:
        first = post(f, "/settle", body)
        assert first["errorReason"] == "settlement_pending", first
        sent = chain.rpc("eth_getTransactionByHash", [first["transaction"]])
        assert isinstance(sent, dict)
        # Blocks from now on cost far more than the transaction offers: it waits in the pool, passed over.
        chain.rpc("anvil_setNextBlockBaseFeePerGas", [hex(int(sent["maxFeePerGas"], 16) * 50)])
        chain.rpc("evm_setIntervalMining", [1])
        done = settled_within(40, f, body, "a transaction passed over by every block was never replaced")
    finally:
        chain.rpc("evm_setIntervalMining", [0])
        chain.rpc("evm_setAutomine", [True])
    assert done["transaction"] != first["transaction"], "the mined transaction is the first, not a replacement"
    mined = chain.rpc("eth_getTransactionByHash", [done["transaction"]])
    assert isinstance(mined, dict) and mined["nonce"] == sent["nonce"]
    assert int(mined["maxFeePerGas"], 16) > int(sent["maxFeePerGas"], 16)
    assert chain.rpc("eth_getTransactionReceipt", [first["transaction"]]) is None
    charged_once(chain, key, before, done["transaction"])
    assert post(f, "/settle", body) == done


def test_a_transaction_the_node_holds_but_never_mines_is_replaced(chain: Chain, proxy: RpcProxy,
                                                                  facilitator: Facilitator) -> None:
    """The node takes the transaction and shows it as known but never mines it, and no block comes to pass it
    over (anvil mines only ready transactions; its pool can hold one back after a key's transactions came out of
    order): the keeper reads that the node does not count it as pending, replaces it, and it settles once."""
    key = payer()
    before = chain.balance(address(key))
    body = request_body(key, bill())
    proxy.fault("eth_sendRawTransaction", "hold")
    done = settled_within(30, facilitator, body, "a transaction the node held and never mined was never replaced")
    [held] = proxy.held.values()
    assert done["transaction"] != held["hash"], "the held transaction cannot have been mined"
    mined = chain.rpc("eth_getTransactionByHash", [done["transaction"]])
    assert isinstance(mined, dict) and mined["nonce"] == held["nonce"]
    assert int(mined["maxFeePerGas"], 16) > int(held["maxFeePerGas"], 16)
    charged_once(chain, key, before, done["transaction"])
    assert post(facilitator, "/settle", body) == done


def test_a_settlement_sticks_to_its_key_across_a_restart(chain: Chain, running: Running) -> None:
    chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_K1", "PW_K2"]}]
    f = running.start(chains, {"PW_RPC": chain.rpc_url, "PW_K1": SETTLERS[1], "PW_K2": SETTLERS[2]}, receipt=1.0)
    keys = [payer() for _ in range(4)]
    before = {k: chain.balance(address(k)) for k in keys}
    bodies = [request_body(k, bill()) for k in keys]
    chain.rpc("evm_setAutomine", [False])
    try:
        with ThreadPoolExecutor(4) as pool:
            pending = list(pool.map(lambda b: post(f, "/settle", b), bodies))
        assert [p["errorReason"] for p in pending] == ["settlement_pending"] * 4, pending
        senders = [str(chain.rpc("eth_getTransactionByHash", [p["transaction"]])["from"]).lower()  # type: ignore[index]
                   for p in pending]
        assert set(senders) == {address(SETTLERS[1]).lower(), address(SETTLERS[2]).lower()}
        f.stop()
        for p in pending:  # the node loses them while the facilitator is down
            chain.rpc("anvil_dropTransaction", [p["transaction"]])
        f.start()
        chain.rpc("evm_setIntervalMining", [1])
        deadline = time.monotonic() + 30
        while any(chain.rpc("eth_getTransactionReceipt", [p["transaction"]]) is None for p in pending):
            assert time.monotonic() < deadline, "settlements sent before a restart were not followed"
            time.sleep(0.2)
    finally:
        chain.rpc("evm_setIntervalMining", [0])
        chain.rpc("evm_setAutomine", [True])
    for key, body, p, sender in zip(keys, bodies, pending, senders):
        assert chain.receipt(p["transaction"])["from"].lower() == sender
        done = post(f, "/settle", body)
        assert done["success"] is True and done["transaction"] == p["transaction"], done
        charged_once(chain, key, before[key], p["transaction"])


# A CREATE2 factory: calldata is a salt and init code; it deploys them and returns the address (reverts if
# the deployment fails, e.g. because the wallet exists).
FACTORY = "0xFac7000000000000000000000000000000006492"
FACTORY_CODE = (
    "0x" "366020900380602060003760003590" "60006000f5" "80601c57" "600080fd" "5b60005260206000f3"
)
EIP6492_MAGIC = "6492" * 16


def word(value: int) -> str:
    return format(value, "064x")


def padded(data: bytes) -> str:
    return word(len(data)) + data.hex().ljust((len(data) + 31) // 32 * 64, "0")


def counterfactual_payment(chain: Chain, the_bill: paywire.PaymentRequired, owner: str, signer: str,
                           salt: int) -> Dict[str, Any]:
    """A payment from a MockERC1271Wallet owned by `owner` that is not deployed yet: its inner signature is
    `signer`'s signature of the EIP-712 digest, wrapped (EIP-6492) with FACTORY's deployment call."""
    artifact = Path(env("PAYWIRE_USDC_PACKAGE")) / "artifacts/hardhat/contracts/test/MockERC1271Wallet.sol/MockERC1271Wallet.json"
    init = bytes.fromhex(json.loads(artifact.read_text())["bytecode"].removeprefix("0x") + word(int(address(owner), 16)))
    deploy = bytes.fromhex(word(salt)) + init
    wallet = "0x" + str(chain.rpc("eth_call", [{"to": FACTORY, "data": "0x" + deploy.hex()}, "latest"]))[-40:]
    body = request_body(owner, the_bill)
    authorization = body["paymentPayload"]["payload"]["authorization"]
    authorization["from"] = wallet
    typed = {
        "domain": {"name": "USDC", "version": "2", "chainId": 84532, "verifyingContract": chain.asset},
        "primaryType": "TransferWithAuthorization",
        "message": {k: int(v) if k in ("value", "validAfter", "validBefore") else v for k, v in authorization.items()},
    }
    inner = paywire.LocalSigner(signer).sign_digest(paywire.typed_data_hashes(typed)["digest"])
    head = word(int(FACTORY, 16)) + word(96) + word(96 + 32 + (len(deploy) + 31) // 32 * 32)
    body["paymentPayload"]["payload"]["signature"] = "0x" + head + padded(deploy) + padded(inner) + EIP6492_MAGIC
    body["wallet"] = wallet
    return body


def fund(chain: Chain, source_key: str, to: str, amount: int) -> None:
    """Moves USDC from a funded payer to `to` (anvil impersonates the payer and gives it gas)."""
    source = address(source_key)
    chain.rpc("anvil_impersonateAccount", [source])
    chain.rpc("anvil_setBalance", [source, hex(10**18)])
    data = "0xa9059cbb" + word(int(to, 16)) + word(amount)  # transfer(address,uint256)
    tx = chain.rpc("eth_sendTransaction", [{"from": source, "to": chain.asset, "data": data}])
    assert chain.receipt(str(tx))["status"] == "0x1"
    chain.rpc("anvil_stopImpersonatingAccount", [source])


def test_a_counterfactual_wallet_settles_only_through_a_trusted_factory(chain: Chain, proxy: RpcProxy,
                                                                        facilitator: Facilitator,
                                                                        running: Running) -> None:
    chain.rpc("anvil_setCode", [FACTORY, FACTORY_CODE])
    owner, stranger = payer(), payer()
    b = bill()
    payment = counterfactual_payment(chain, b, owner, owner, salt=1)
    wallet = payment.pop("wallet")
    fund(chain, stranger, wallet, 5 * PRICE_ATOMIC)
    assert chain.rpc("eth_getCode", [wallet, "latest"]) == "0x"
    # Not trusted (no factory configured): refused offline, fail closed.
    calls = proxy.count()
    refused = post(facilitator, "/verify", payment)
    assert (refused["isValid"], refused["invalidReason"]) == (False, "invalid_exact_evm_payload_signature")
    assert "does not trust" in refused["invalidMessage"]
    assert proxy.count() == calls, proxy.calls[-6:]
    # Trusted: a stranger's inner signature fails the deployless simulation and deploys nothing.
    # Deploying Circle's mock wallet takes about 400 k gas: more than the default cap of 300 k.
    chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_KEY"], "factories": [FACTORY],
               "max_gas": 600_000}]
    f = running.start(chains, {"PW_RPC": chain.rpc_url, "PW_KEY": SETTLERS[3]})
    forged = counterfactual_payment(chain, b, owner, stranger, salt=1)
    forged.pop("wallet")
    verdict = post(f, "/verify", forged)
    assert (verdict["isValid"], verdict["invalidReason"]) == (False, "invalid_exact_evm_transaction_simulation_failed")
    assert post(f, "/settle", forged)["success"] is False
    assert chain.rpc("eth_getCode", [wallet, "latest"]) == "0x"
    # The owner's: valid without deploying anything; settling deploys the wallet, then the wallet pays.
    # A trusted factory whose calldata deploys another wallet (another salt) than the payer: refused, with no
    # deployment paid for.
    elsewhere = counterfactual_payment(chain, b, owner, owner, salt=2)
    elsewhere.pop("wallet")
    signature = elsewhere["paymentPayload"]["payload"]["signature"]
    mismatched = json.loads(json.dumps(payment))
    mismatched["paymentPayload"]["payload"]["signature"] = signature
    sent_before = transaction_count(chain, address(SETTLERS[3]))
    for path in ("/verify", "/settle"):
        answer = post(f, path, mismatched)
        assert answer.get("invalidReason", answer.get("errorReason")) == "invalid_exact_evm_payload_signature", answer
    assert transaction_count(chain, address(SETTLERS[3])) == sent_before
    valid = post(f, "/verify", payment)
    assert valid["isValid"] is True and valid["payer"].lower() == wallet.lower(), valid
    assert chain.rpc("eth_getCode", [wallet, "latest"]) == "0x"
    settled = post(f, "/settle", payment)
    assert settled["success"] is True, settled
    assert chain.rpc("eth_getCode", [wallet, "latest"]) != "0x"
    assert chain.receipt(settled["transaction"])["from"].lower() == address(SETTLERS[3]).lower()
    assert chain.balance(wallet) == 4 * PRICE_ATOMIC
    assert post(f, "/settle", payment) == settled


def test_no_key_signature_or_rpc_url_in_any_log(running: Running) -> None:
    logs = running.logs()
    assert "x402 settle" in logs  # the logs are there, and say something
    assert SECRET not in logs
    for key in SETTLERS:
        assert key.removeprefix("0x") not in logs
    assert SIGNATURES and not [s for s in SIGNATURES if len(s) > 10 and s.removeprefix("0x") in logs]
