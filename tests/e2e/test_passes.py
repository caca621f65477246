"""Passes on chain: an agent pays by a transfer it broadcasts itself, asks paywire's facilitator for a pass
naming that transaction, and makes N requests with it while the server cannot reach any facilitator at all
(so no request calls one); exactly the price moves, once. Refused, with their reasons: the pass at another
resource, an expired pass, a pass signed by a key the server does not trust, a transaction used for a second
pass, a request signed by someone else, and a transfer below the price."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import httpx
import pytest
from conftest import (
    CHAIN_ID,
    PAY_TO,
    PRICE_ATOMIC,
    USDC,
    Chain,
    Facilitator,
    balances,
    charged_once,
    payer_key,
)
from eth_account import Account
from eth_account.messages import encode_defunct
from parties import Server, env, python_asgi

import paywire
import paywire.httpx

PASS_KEY = "0x" + format(0x3000, "064x")  # the facilitator's credential key (signs passes, holds nothing)
# The pass facilitator's own settling key, funded by the fixture: a key another facilitator also used would
# leave that one's nonces behind the chain's.
SETTLER_KEY = "0x" + format(0x3002, "064x")
OFFER_KEY = "0x" + format(0x3001, "064x")  # the server's offer key: its signed offers state prices
OFFER_SIGNER = paywire.LocalSigner(OFFER_KEY).address
N = 5


@pytest.fixture(scope="module")
def pass_facilitator(chain: Chain) -> Iterator[Facilitator]:
    """A facilitator that issues passes, with a settling key of its own."""
    workdir = Path(tempfile.mkdtemp(prefix="paywire-passes-"))
    chain.rpc("anvil_setBalance", [paywire.LocalSigner(SETTLER_KEY).address, hex(10**20)])
    f = Facilitator(chain.rpc_url, workdir, key=SETTLER_KEY,
                    args=["--pass-lifetime", "600", "--pass-offer-signer", OFFER_SIGNER],
                    environ={"PAYWIRE_FACILITATOR_PASS_KEY": PASS_KEY})
    f.start()
    try:
        yield f
    finally:
        f.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def closed_url() -> str:
    """A loopback URL where nothing listens: the server's facilitator, so any call to it would fail."""
    from conftest import free_port

    return f"http://127.0.0.1:{free_port()}"


def transfer(chain: Chain, key: str, amount: int) -> str:
    """Broadcasts `amount` of USDC from `key` to PAY_TO (the agent pays its own gas); returns the hash."""
    account = Account.from_key(key)
    chain.rpc("anvil_setBalance", [account.address, hex(10**18)])
    nonce = int(str(chain.rpc("eth_getTransactionCount", [account.address, "pending"])), 16)
    data = "0xa9059cbb" + PAY_TO[2:].lower().rjust(64, "0") + format(amount, "064x")
    tx = {"to": USDC, "data": data, "value": 0, "gas": 120_000, "maxFeePerGas": 10**10,
          "maxPriorityFeePerGas": 10**9, "nonce": nonce, "chainId": CHAIN_ID, "type": 2}
    raw = account.sign_transaction(tx).raw_transaction
    tx_hash = str(chain.rpc("eth_sendRawTransaction", ["0x" + raw.hex()]))
    deadline = time.monotonic() + 30
    while chain.rpc("eth_getTransactionReceipt", [tx_hash]) is None:
        assert time.monotonic() < deadline, "the transfer was not mined"
        time.sleep(0.05)
    return tx_hash


def bill_of(server: Server, path: str = "/weather") -> Dict[str, Any]:
    unpaid = httpx.get(server.url(path))
    assert unpaid.status_code == 402
    return dict(paywire.decode_header_json(unpaid.headers["payment-required"]))


def signed_offer(bill: Dict[str, Any]) -> Dict[str, Any]:
    """The server's signed offer (offer-receipt) for the bill's first offer."""
    return dict(bill["extensions"]["offer-receipt"]["info"]["offers"][0])


def ask_pass(endpoint: str, key: str, tx: str, resource: str, offer: Dict[str, Any]) -> httpx.Response:
    network = offer["payload"]["network"] if "payload" in offer else "eip155:84532"
    message = f"paywire pass request\nnetwork: {network}\ntransaction: {tx.lower()}\nresource: {resource}"
    signature = Account.from_key(key).sign_message(encode_defunct(text=message)).signature
    body = {"transaction": tx, "resource": resource, "offer": offer, "signature": "0x" + bytes(signature).hex()}
    return httpx.post(endpoint, json=body, timeout=30)


def served(server: Server) -> int:
    return int(httpx.get(server.url("/served")).json()["served"])


def block(chain: Chain) -> int:
    return int(str(chain.rpc("eth_blockNumber", [])), 16)


def pass_app(pass_facilitator: Facilitator) -> Dict[str, str]:
    """A paid app's settings: it trusts passes from the pass facilitator's key, names that facilitator in its
    bills and signs its offers."""
    issuer = paywire.LocalSigner(PASS_KEY).address
    return {"ACCESS_ISSUERS": issuer, "ACCESS_LIFETIME": "600", "PASS_FACILITATOR": pass_facilitator.url,
            "OFFER_KEY": OFFER_KEY}


@pytest.fixture(scope="module")
def shop(pass_facilitator: Facilitator) -> Iterator[Tuple[Server, str]]:
    issuer = paywire.LocalSigner(PASS_KEY).address
    supported = httpx.get(f"{pass_facilitator.url}/supported").json()
    assert supported["passes"]["issuer"] == issuer
    extra = pass_app(pass_facilitator)
    with python_asgi(closed_url(), PAY_TO, app="faults", extra=extra) as server:
        yield server, issuer


def test_an_agent_pays_by_transaction_once_then_uses_its_pass_with_no_facilitator(
    chain: Chain, pass_facilitator: Facilitator, shop: Tuple[Server, str]
) -> None:
    server, issuer = shop
    bill = bill_of(server)
    declared = bill["extensions"]["paywire-pass"]["info"]
    assert declared["issuers"] == [issuer] and declared["endpoint"] == f"{pass_facilitator.url}/passes/transaction"
    offer = signed_offer(bill)
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    tx = transfer(chain, key, int(bill["accepts"][0]["amount"]))
    after_payment = balances(chain, payer)
    assert (before[0] - after_payment[0], after_payment[1] - before[1]) == (PRICE_ATOMIC, PRICE_ATOMIC)
    # Someone else cannot take the pass this transfer bought; the transfer stays good for its payer.
    stolen = ask_pass(declared["endpoint"], payer_key(), tx, server.url(), offer)
    assert stolen.status_code == 402 and stolen.json()["errorReason"] == "pass_proof_invalid"
    answer = ask_pass(declared["endpoint"], key, tx, server.url(), offer)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["success"] and got["issuer"] == issuer
    receipt = got["receipt"]["payload"] if "payload" in got["receipt"] else got["receipt"]
    assert receipt["payer"] == payer and receipt["transaction"] == tx.lower() and receipt["resourceUrl"] == server.url()
    header = {"X-PAYWIRE-RECEIPT": got["header"]}
    height, count = block(chain), served(server)
    for _ in range(N):
        r = httpx.get(server.url(), headers=header)
        assert r.status_code == 200, r.text
        assert r.json()["paid_by"] == payer
    # N requests served with no payment, no transaction, and no facilitator (the server's is unreachable).
    assert served(server) == count + N
    assert block(chain) == height and balances(chain, payer) == after_payment
    # The transaction buys one pass.
    again = ask_pass(declared["endpoint"], key, tx, server.url(), offer)
    assert again.status_code == 409 and again.json()["errorReason"] == "pass_transaction_already_used"
    # The pass is for /weather only.
    other = httpx.get(server.url("/broken"), headers=header)
    assert other.status_code == 402 and other.json()["error"] == "credential_resource_mismatch"
    # An offer is for its own resource, and only a trusted server key states prices.
    key2 = payer_key()
    tx2 = transfer(chain, key2, int(bill["accepts"][0]["amount"]))
    elsewhere = ask_pass(declared["endpoint"], key2, tx2, server.url("/broken"), offer)
    assert elsewhere.status_code == 402 and elsewhere.json()["errorReason"] == "credential_resource_mismatch"
    forged = paywire.Issuer(paywire.LocalSigner.generate()).sign_bill(
        paywire.PaymentRequired.from_header(httpx.get(server.url()).headers["payment-required"]))
    forged_offer = dict(forged.to_dict()["extensions"]["offer-receipt"]["info"]["offers"][0])
    cheap = ask_pass(declared["endpoint"], key2, tx2, server.url(), forged_offer)
    assert cheap.status_code == 402 and cheap.json()["errorReason"] == "untrusted_signer"
    # The same transfer still buys its one pass with the server's own offer.
    assert ask_pass(declared["endpoint"], key2, tx2, server.url(), offer).status_code == 200


def test_expired_and_untrusted_passes_and_a_short_transfer_are_refused(
    chain: Chain, pass_facilitator: Facilitator, shop: Tuple[Server, str]
) -> None:
    server, issuer = shop
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    network = "eip155:84532"
    old = paywire.Issuer(paywire.LocalSigner(PASS_KEY)).issue_receipt(
        server.url(), payer, network, "0x" + "11" * 32, int(time.time()) - 3600
    )
    expired = httpx.get(server.url(), headers={"X-PAYWIRE-RECEIPT": old.to_header()})
    assert expired.status_code == 402 and expired.json()["error"] == "credential_expired"
    forged = paywire.Issuer(paywire.LocalSigner.generate()).issue_receipt(server.url(), payer, network, "0x" + "22" * 32)
    untrusted = httpx.get(server.url(), headers={"X-PAYWIRE-RECEIPT": forged.to_header()})
    assert untrusted.status_code == 402 and untrusted.json()["error"] == "untrusted_signer"
    bill = bill_of(server)
    offer = signed_offer(bill)
    short = transfer(chain, key, int(bill["accepts"][0]["amount"]) - 1)
    answer = ask_pass(f"{pass_facilitator.url}/passes/transaction", key, short, server.url(), offer)
    assert answer.status_code == 402 and answer.json()["errorReason"] == "pass_transfer_mismatch"
    junk = httpx.post(f"{pass_facilitator.url}/passes/transaction", content=b"{not json", timeout=10)
    assert junk.status_code == 400 and junk.json()["errorReason"] == "invalid_json"
    base64.b64decode(old.to_header())  # a pass header is standard base64 of the receipt's JSON
    json.loads(base64.b64decode(old.to_header()))


def test_a_paywire_client_pays_once_then_gets_and_presents_a_pass(
    chain: Chain, facilitator: Facilitator, pass_facilitator: Facilitator
) -> None:
    """paywire's paying client, trusting the pass facilitator: the first call pays (settled by the session's
    facilitator), the next asks for a pass for that settlement and presents it, and the rest present it."""
    extra = pass_app(pass_facilitator)
    with python_asgi(facilitator.url, PAY_TO, app="faults", extra=extra) as server:
        key = payer_key()
        payer = paywire.LocalSigner(key).address
        before = balances(chain, payer)
        transport = paywire.httpx.PaymentTransport(
            paywire.Payer(paywire.LocalSigner(key)), pass_facilitators=[pass_facilitator.url]
        )
        with httpx.Client(transport=transport, timeout=60) as client:
            first = client.get(server.url())
            settled = paywire.httpx.settlement(first)
            assert first.status_code == 200 and settled is not None and settled.success
            charged_once(chain, settled.transaction, payer, before)
            paid = balances(chain, payer)
            height, count = block(chain), served(server)
            later = [client.get(server.url()) for _ in range(N)]
        assert [r.status_code for r in later] == [200] * N
        assert all(paywire.httpx.payment(r) is None for r in later)
        assert all(r.json()["paid_by"] == payer for r in later)
        assert served(server) == count + N
        assert balances(chain, payer) == paid and block(chain) == height



def test_the_jdk_client_pays_once_then_gets_and_presents_a_pass(
    chain: Chain, facilitator: Facilitator, pass_facilitator: Facilitator
) -> None:
    """The JDK's java.net.http client (PaywireHttpClient): the pass facilitator's answer is the machine's to read,
    never the caller's body handler's (it once went there, and the client never kept a pass)."""
    extra = pass_app(pass_facilitator)
    with python_asgi(facilitator.url, PAY_TO, app="faults", extra=extra) as server:
        key = payer_key()
        payer = paywire.LocalSigner(key).address
        before = balances(chain, payer)
        height = block(chain)
        command = ["java", f"-Djna.library.path={env('PAYWIRE_NATIVE_DIR')}", "-cp", env("PAYWIRE_KOTLIN_CLASSPATH"),
                   "dev.paywire.PassAgentKt", server.url(), pass_facilitator.url, str(N + 1)]
        run = subprocess.run(command, env={**os.environ, "PAYWIRE_KEY": key}, capture_output=True, text=True,
                             timeout=120)
        lines = run.stdout.splitlines()
        assert run.returncode == 0 and len(lines) == N + 1, run.stdout + run.stderr
        assert lines[0].startswith("200 paid "), lines
        assert all(line.startswith("200 unpaid ") and payer in line for line in lines[1:]), lines
        # One transaction: the first call's; every later call came in on the pass.
        assert block(chain) == height + 1
        assert balances(chain, payer) == (before[0] - PRICE_ATOMIC, before[1] + PRICE_ATOMIC)

def test_a_pass_for_an_authorization_the_facilitator_settled(chain: Chain, pass_facilitator: Facilitator) -> None:
    """POST /passes/settlement takes the /settle body of a payment this facilitator settled: the signed
    authorization proves the payer; its settlement buys one pass."""
    issuer = paywire.LocalSigner(PASS_KEY).address
    extra = {"ACCESS_ISSUERS": issuer, "ACCESS_LIFETIME": "600", "OFFER_KEY": OFFER_KEY}
    with python_asgi(pass_facilitator.url, PAY_TO, app="faults", extra=extra) as server:
        key = payer_key()
        payer = paywire.LocalSigner(key).address
        before = balances(chain, payer)
        agent = paywire.Payer(paywire.LocalSigner(key))
        with httpx.Client(transport=paywire.httpx.PaymentTransport(agent), timeout=60) as client:
            first = client.get(server.url())
        sent, settled = paywire.httpx.payment(first), paywire.httpx.settlement(first)
        assert sent is not None and settled is not None and settled.success
        charged_once(chain, settled.transaction, payer, before)
        offer = signed_offer(bill_of(server))
        body = {"paymentPayload": sent.payload.to_dict(), "paymentRequirements": sent.requirements.to_dict(),
                "offer": offer}
        endpoint = f"{pass_facilitator.url}/passes/settlement"
        answer = httpx.post(endpoint, json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        receipt = got["receipt"]["payload"] if "payload" in got["receipt"] else got["receipt"]
        assert receipt["transaction"] == settled.transaction.lower() and receipt["resourceUrl"] == server.url()
        with_pass = httpx.get(server.url(), headers={"X-PAYWIRE-RECEIPT": got["header"]})
        assert with_pass.status_code == 200 and with_pass.json()["paid_by"] == payer
        again = httpx.post(endpoint, json=body, timeout=30)
        assert again.status_code == 409 and again.json()["errorReason"] == "pass_transaction_already_used"
        # An authorization signed but never settled buys nothing.
        unsent = agent.pay(paywire.PaymentRequired.from_header(httpx.get(server.url()).headers["payment-required"]))
        never = httpx.post(endpoint, json={"paymentPayload": unsent.payload.to_dict(), "offer": offer,
                                           "paymentRequirements": unsent.requirements.to_dict()}, timeout=30)
        assert never.status_code == 402 and never.json()["errorReason"] == "pass_payment_not_settled"
        assert balances(chain, payer)[0] == before[0] - PRICE_ATOMIC
