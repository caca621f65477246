"""`batch-settlement` channels on anvil: the official Python SDK's client (PyPI `x402` 2.25) opens a channel with
an ERC-3009 deposit and signs one cumulative voucher per request; paywire's facilitator settles the deposit,
verifies the vouchers, claims them (signing the claim as the receiver authorizer the server delegated to it) and
sweeps the claims to the receiver — through paywire's test contracts (tests/contracts, at the canonical
addresses). The chain holds three transactions for any number of requests; balances move by exactly the charged
total; the payer's timed withdrawal returns exactly the rest. And what an attacker tries: an old voucher replayed,
a claim above its voucher, a voucher whose amount was altered, a deposit settled eight times at once, a second
sweep.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import httpx
import pytest
from conftest import PAY_TO, USDC
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak
from localnet import FACILITATOR_ADDRESS, FACILITATOR_KEY, Chain, Facilitator, running_chain, write_config
from x402.mechanisms.evm.batch_settlement.client.eip3009 import (
    create_batch_settlement_eip3009_deposit_payload,
)
from x402.mechanisms.evm.batch_settlement.client.voucher import sign_voucher
from x402.mechanisms.evm.batch_settlement.types import ChannelConfig, VoucherPayload
from x402.mechanisms.evm.batch_settlement.utils import compute_channel_id
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentRequirements

SETTLEMENT = "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003"
ERC3009_COLLECTOR = "0x4020806089470a89826cB9fB1f4059150b550004"
PERMIT2_COLLECTOR = "0x4020425FAf3B746C082C2f942b4E5159887B0005"
NETWORK = "eip155:84532"
PRICE = 1_000  # $0.001
DEPOSIT = 100 * PRICE
KEYS = ["0x" + format(0x6000 + i, "064x") for i in range(60)]
FUNDED = 1_000_000_000
_keys = iter(KEYS[:-8])  # the last eight are receiver authorizers' keys
FAST = dict(rpc=2.0, receipt=4.0, stuck_after=1.0, keeper_interval=0.2)
CONFIG_TUPLE = "(address,address,address,address,address,uint40,bytes32)"


def address(key: str) -> str:
    return str(Account.from_key(key).address)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    with running_chain({address(k): FUNDED for k in KEYS}) as c:
        yield c


@pytest.fixture(scope="module")
def facilitator(chain: Chain) -> Iterator[Facilitator]:
    workdir = Path(tempfile.mkdtemp(prefix="paywire-batch-"))
    chains = [{"chain_id": 84532, "urls_env": "PW_RPC", "keys_env": ["PW_KEY"]}]
    config = write_config(workdir / "facilitator.toml", chains, **FAST)
    f = Facilitator("", workdir, config=config, environ={"PW_RPC": chain.rpc_url, "PW_KEY": FACILITATOR_KEY})
    f.start()
    yield f
    f.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def requirements(authorizer: str = FACILITATOR_ADDRESS, method: str = "eip3009") -> Dict[str, Any]:
    """The offer of a server that delegates its receiver authorizer to the facilitator (deposits by `method`)."""
    extra = {"receiverAuthorizer": authorizer, "withdrawDelay": 900, "name": "USDC", "version": "2"}
    if method != "eip3009":
        extra["assetTransferMethod"] = method
    return {"scheme": "batch-settlement", "network": NETWORK, "amount": str(PRICE), "asset": USDC, "payTo": PAY_TO,
            "maxTimeoutSeconds": 3600, "extra": extra}


class Payer:
    """A payer's channel, built and signed by the official Python SDK."""

    def __init__(self, key: str, authorizer: str = FACILITATOR_ADDRESS, method: str = "eip3009") -> None:
        self.key = key
        self.signer = EthAccountSigner(Account.from_key(key))
        self.offer = requirements(authorizer, method)
        self.config = ChannelConfig(payer=address(key), payer_authorizer=address(key), receiver=PAY_TO,
                                    receiver_authorizer=authorizer, token=USDC, withdraw_delay=900, salt="0x" + "00" * 32)
        self.channel_id = compute_channel_id(self.config, NETWORK)

    def body(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        return {"x402Version": 2,
                "paymentPayload": {"x402Version": 2, "accepted": self.offer, "payload": payload},
                "paymentRequirements": self.offer}

    def deposit(self, amount: int, max_claimable: int) -> Dict[str, Any]:
        payload = create_batch_settlement_eip3009_deposit_payload(
            self.signer, PaymentRequirements.model_validate(self.offer), self.config, amount, max_claimable)
        return self.body(payload.to_dict())

    def permit2_deposit(self, amount: int, max_claimable: int) -> Dict[str, Any]:
        from x402.mechanisms.evm.batch_settlement.client.permit2 import (
            create_batch_settlement_permit2_deposit_payload,
        )

        payload = create_batch_settlement_permit2_deposit_payload(
            self.signer, PaymentRequirements.model_validate(self.offer), self.config, amount, max_claimable)
        return self.body(payload.to_dict())

    def voucher(self, max_claimable: int) -> Dict[str, Any]:
        payload = VoucherPayload()
        payload.channel_config = self.config
        payload.voucher = sign_voucher(self.signer, self.channel_id, max_claimable, NETWORK)
        return self.body(payload.to_dict())

    def claim_row(self, max_claimable: int, total: int) -> Dict[str, Any]:
        voucher = sign_voucher(self.signer, self.channel_id, max_claimable, NETWORK)
        return {"voucher": {"channel": self.config.to_dict(), "maxClaimableAmount": str(max_claimable)},
                "signature": voucher.signature, "totalClaimed": str(total)}

    def refund(self, charged: int, amount: int, nonce: int, authorizer_key: str = "", claim: bool = True) -> Dict[str, Any]:
        """A cooperative refund as a server completes it: the payer's voucher at the charged total, the claim of
        that total, and (with `authorizer_key`, the server's own receiver authorizer) both signatures."""
        from x402.mechanisms.evm.batch_settlement.authorizer_signer import (
            LocalAuthorizerSigner,
            sign_claim_batch,
            sign_refund,
        )
        from x402.mechanisms.evm.batch_settlement.types import VoucherClaim

        voucher = sign_voucher(self.signer, self.channel_id, charged, NETWORK)
        payload: Dict[str, Any] = {
            "type": "refund", "channelConfig": self.config.to_dict(),
            "voucher": {"channelId": self.channel_id, "maxClaimableAmount": str(charged), "signature": voucher.signature},
            "amount": str(amount), "refundNonce": str(nonce),
            "claims": [self.claim_row(charged, charged)] if claim else []}
        if authorizer_key:
            signer = LocalAuthorizerSigner(authorizer_key)
            payload["refundAuthorizerSignature"] = sign_refund(signer, self.channel_id, amount, nonce, NETWORK)
            if claim:
                row = VoucherClaim(channel=self.config, max_claimable_amount=str(charged), signature=voucher.signature,
                                   total_claimed=str(charged))
                payload["claimAuthorizerSignature"] = sign_claim_batch(signer, [row], NETWORK)
        return self.body(payload)

    def config_values(self) -> tuple:
        c = self.config
        return (c.payer, c.payer_authorizer, c.receiver, c.receiver_authorizer, c.token, c.withdraw_delay,
                bytes.fromhex(c.salt[2:]))


def post(f: Facilitator, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
    response = httpx.post(f"{f.url}{path}", json=body, timeout=60)
    assert response.status_code == 200, response.text
    answer: Dict[str, Any] = response.json()
    return answer


def server_body(payer: Payer, payload: Dict[str, Any]) -> Dict[str, Any]:
    """What a server sends to /settle for its own claim or sweep (the offer it serves)."""
    return payer.body(payload)


def call(chain: Chain, signature: str, types: List[str], values: List[Any]) -> str:
    data = "0x" + keccak(text=signature)[:4].hex() + encode(types, values).hex()
    return str(chain.rpc("eth_call", [{"to": SETTLEMENT, "data": data}, "latest"]))


def channel(chain: Chain, channel_id: str) -> tuple:
    out = call(chain, "channels(bytes32)", ["bytes32"], [bytes.fromhex(channel_id[2:])])
    return int(out[2:66], 16), int(out[66:130], 16)


def send_as(chain: Chain, sender: str, signature: str, types: List[str], values: List[Any]) -> Dict[str, Any]:
    """A transaction from `sender` (anvil impersonates it and gives it gas)."""
    chain.rpc("anvil_setBalance", [sender, hex(10**18)])
    chain.rpc("anvil_impersonateAccount", [sender])
    data = "0x" + keccak(text=signature)[:4].hex() + encode(types, values).hex()
    # A fixed gas limit: a call that reverts is mined (status 0) rather than refused by the gas estimate.
    tx = chain.rpc("eth_sendTransaction", [{"from": sender, "to": SETTLEMENT, "data": data, "gas": hex(500_000)}])
    chain.rpc("anvil_stopImpersonatingAccount", [sender])
    return chain.receipt(str(tx))


def block(chain: Chain) -> int:
    return int(str(chain.rpc("eth_blockNumber", [])), 16)


def test_contracts_hash_channels_as_the_official_sdk(chain: Chain) -> None:
    for contract in (SETTLEMENT, ERC3009_COLLECTOR, PERMIT2_COLLECTOR):
        assert len(str(chain.rpc("eth_getCode", [contract, "latest"]))) > 1000, contract
    payer = Payer(next(_keys))
    on_chain = call(chain, f"getChannelId({CONFIG_TUPLE})", [CONFIG_TUPLE], [payer.config_values()])
    assert on_chain.lower() == payer.channel_id.lower()


def test_supported_names_the_receiver_authorizer(facilitator: Facilitator) -> None:
    kinds = httpx.get(f"{facilitator.url}/supported").json()["kinds"]
    batch = [k for k in kinds if k["scheme"] == "batch-settlement"]
    assert batch == [{"x402Version": 2, "scheme": "batch-settlement", "network": NETWORK,
                      "extra": {"receiverAuthorizer": FACILITATOR_ADDRESS}}]


def test_a_channel_pays_many_requests_with_three_transactions(chain: Chain, facilitator: Facilitator) -> None:
    payer = Payer(next(_keys))
    who = address(payer.key)
    start = (chain.balance(who), chain.balance(PAY_TO), chain.balance(SETTLEMENT))
    requests = 25
    # Request 1: the deposit and its voucher.
    deposit = payer.deposit(DEPOSIT, PRICE)
    verdict = post(facilitator, "/verify", deposit)
    assert verdict["isValid"] is True, verdict
    assert verdict["extra"]["balance"] == "0"
    settled = post(facilitator, "/settle", deposit)
    assert settled["success"] is True, settled
    assert settled["amount"] == str(DEPOSIT)
    state = settled["extra"]["channelState"]
    assert (state["channelId"], state["balance"], state["totalClaimed"]) == (payer.channel_id.lower(), str(DEPOSIT), "0")
    assert channel(chain, payer.channel_id) == (DEPOSIT, 0)
    # Requests 2..n: a voucher each, checked by the facilitator; nothing reaches the chain.
    before_vouchers = block(chain)
    for n in range(2, requests + 1):
        verdict = post(facilitator, "/verify", payer.voucher(n * PRICE))
        assert verdict["isValid"] is True, verdict
        assert verdict["extra"]["balance"] == str(DEPOSIT)
    assert block(chain) == before_vouchers, "a voucher sent a transaction"
    # The server claims the latest voucher, then sweeps its claims to the receiver.
    charged = requests * PRICE
    claim = server_body(payer, {"type": "claim", "claims": [payer.claim_row(charged, charged)]})
    claimed = post(facilitator, "/settle", claim)
    assert (claimed["success"], claimed["amount"]) == (True, ""), claimed
    assert post(facilitator, "/settle", claim) == claimed  # asked again: the recorded answer
    assert channel(chain, payer.channel_id) == (DEPOSIT, charged)
    # A claim that adds nothing (another voucher, the same total) would only cost the facilitator gas: refused.
    nothing = post(facilitator, "/settle", server_body(payer, {"type": "claim", "claims": [
        payer.claim_row(charged + PRICE, charged)]}))
    assert nothing["errorReason"] == "invalid_batch_settlement_evm_cumulative_below_claimed", nothing
    twice = post(facilitator, "/settle", server_body(payer, {"type": "claim", "claims": [
        payer.claim_row(charged + PRICE, charged + PRICE)] * 2}))
    assert twice["errorReason"] == "invalid_batch_settlement_evm_claim_payload", twice
    sweep = server_body(payer, {"type": "settle", "receiver": PAY_TO, "token": USDC})
    swept = post(facilitator, "/settle", sweep)
    assert (swept["success"], swept["amount"]) == (True, str(charged)), swept
    assert block(chain) == before_vouchers + 2
    # The chain's truth: the payer paid the deposit, the receiver got exactly the charged total, the contract
    # holds the rest.
    end = (chain.balance(who), chain.balance(PAY_TO), chain.balance(SETTLEMENT))
    assert (start[0] - end[0], end[1] - start[1], end[2] - start[2]) == (DEPOSIT, charged, DEPOSIT - charged)
    # Nothing more to sweep.
    again = post(facilitator, "/settle", server_body(payer, {"type": "settle", "receiver": PAY_TO, "token": USDC}))
    assert again == swept  # same claimed total: the same sweep
    # An old voucher replayed: below what is claimed, refused.
    old = post(facilitator, "/verify", payer.voucher(charged))
    assert (old["isValid"], old["invalidReason"]) == (False, "invalid_batch_settlement_evm_cumulative_below_claimed")
    # More than the channel holds: refused.
    big = post(facilitator, "/verify", payer.voucher(DEPOSIT + 1))
    assert big["invalidReason"] == "invalid_batch_settlement_evm_cumulative_exceeds_balance", big


def test_claims_that_exceed_or_forge_a_voucher_are_refused(chain: Chain, facilitator: Facilitator) -> None:
    payer = Payer(next(_keys))
    assert post(facilitator, "/settle", payer.deposit(DEPOSIT, PRICE))["success"] is True
    signed = 5 * PRICE
    # A claim above its voucher.
    above = post(facilitator, "/settle", server_body(payer, {"type": "claim", "claims": [payer.claim_row(signed, signed + 1)]}))
    assert (above["success"], above["errorReason"]) == (False, "invalid_batch_settlement_evm_claim_payload"), above
    # A voucher whose amount was raised after signing.
    row = payer.claim_row(signed, signed)
    row["voucher"]["maxClaimableAmount"] = row["totalClaimed"] = str(50 * PRICE)
    forged = post(facilitator, "/settle", server_body(payer, {"type": "claim", "claims": [row]}))
    assert (forged["success"], forged["errorReason"]) == (False, "invalid_batch_settlement_evm_voucher_signature"), forged
    voucher = payer.voucher(signed)
    voucher["paymentPayload"]["payload"]["voucher"]["maxClaimableAmount"] = str(50 * PRICE)
    verdict = post(facilitator, "/verify", voucher)
    assert verdict["invalidReason"] == "invalid_batch_settlement_evm_voucher_signature", verdict
    # A claim signed by nobody the facilitator holds, for a server that keeps its own authorizer.
    other = Payer(next(_keys), authorizer=address(KEYS[-1]))
    assert post(facilitator, "/settle", other.deposit(DEPOSIT, PRICE))["success"] is True
    unsigned = post(facilitator, "/settle", server_body(other, {"type": "claim", "claims": [other.claim_row(PRICE, PRICE)]}))
    assert unsigned["errorReason"] == "invalid_batch_settlement_evm_authorizer_not_configured", unsigned
    assert channel(chain, payer.channel_id) == (DEPOSIT, 0)
    assert channel(chain, other.channel_id) == (DEPOSIT, 0)
    # A voucher is not settled by itself.
    alone = post(facilitator, "/settle", payer.voucher(signed))
    assert alone["errorReason"] == "invalid_batch_settlement_evm_payload_type", alone


def test_a_deposit_settled_eight_times_at_once_is_sent_once(chain: Chain, facilitator: Facilitator) -> None:
    payer = Payer(next(_keys))
    who = address(payer.key)
    before = chain.balance(who)
    body = payer.deposit(DEPOSIT, PRICE)
    answers: List[Dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(post(facilitator, "/settle", body))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8 and all(a["success"] for a in answers), answers
    assert len({a["transaction"] for a in answers}) == 1
    assert before - chain.balance(who) == DEPOSIT
    assert channel(chain, payer.channel_id) == (DEPOSIT, 0)
    # The same authorization for another channel amount, or replayed later: the recorded answer, no second deposit.
    assert post(facilitator, "/settle", body)["transaction"] == answers[0]["transaction"]
    assert before - chain.balance(who) == DEPOSIT


def test_a_permit2_deposit_opens_a_channel_once(chain: Chain, facilitator: Facilitator) -> None:
    """The official client's Permit2 deposit, for an offer whose deposits go through Permit2: refused while the
    payer has not approved Permit2 (nothing moves), and for an ERC-3009 offer; once approved, settled once (asked
    again, or eight times at once: one transaction), straight into the channel."""
    from test_permit2 import approve_permit2

    payer = Payer(next(_keys), method="permit2")
    who = address(payer.key)
    start = chain.balance(who)
    body = payer.permit2_deposit(DEPOSIT, PRICE)
    refused = post(facilitator, "/settle", body)
    assert (refused["success"], refused["errorReason"]) == (False, "permit2_allowance_required"), refused
    wrong = dict(body, paymentRequirements=requirements())
    assert post(facilitator, "/verify", wrong)["invalidReason"] == "invalid_batch_settlement_evm_deposit_payload"
    approve_permit2(chain, payer.key)
    assert post(facilitator, "/verify", body)["isValid"] is True
    answers: List[Dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(post(facilitator, "/settle", body))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(a["success"] for a in answers) and len({a["transaction"] for a in answers}) == 1, answers
    assert answers[0]["extra"]["channelState"]["balance"] == str(DEPOSIT)
    assert (start - chain.balance(who), channel(chain, payer.channel_id)) == (DEPOSIT, (DEPOSIT, 0))
    assert post(facilitator, "/settle", body)["transaction"] == answers[0]["transaction"]
    assert start - chain.balance(who) == DEPOSIT


def test_paywire_clients_deposit_through_permit2(chain: Chain, facilitator: Facilitator) -> None:
    """paywire's Python client pays a paywire server whose channel deposits go through Permit2: the deposit (the
    payer approved Permit2 once), then vouchers with no transaction; the claim moves exactly the charged total."""
    from parties import python_asgi
    from test_permit2 import approve_permit2

    import paywire
    import paywire.httpx

    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE), "BATCH_METHOD": "permit2"}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        flush(server)
        key = next(_keys)
        who = address(key)
        approve_permit2(chain, key)
        payer = Payer(key, method="permit2")
        start = (chain.balance(who), chain.balance(PAY_TO))
        transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
        with httpx.Client(transport=transport, timeout=60) as c:
            first = c.get(server.url("/batch"))
            assert first.status_code == 200, first.text
            assert receipt_of(first)["transaction"], receipt_of(first)
            before = block(chain)
            for _ in range(4):
                assert c.get(server.url("/batch")).status_code == 200
            assert block(chain) == before, "a voucher sent a transaction"
        assert channel(chain, payer.channel_id) == (100 * PRICE, 0)
        summary = httpx.post(server.url("/claim"), timeout=60).json()
        assert [c["amount"] for c in summary["claims"]] == [str(5 * PRICE)], summary
        assert (start[0] - chain.balance(who), chain.balance(PAY_TO) - start[1]) == (100 * PRICE, 5 * PRICE)


def test_a_cooperative_refund_returns_exactly_the_unclaimed_rest_once(chain: Chain, facilitator: Facilitator) -> None:
    """A server holding its own receiver authorizer completes a payer's refund: one transaction claims the
    charged total and returns the rest to the payer, once (asked again, the recorded answer; the nonce is
    used). Refused: an unsigned refund (the facilitator never signs refunds for a delegated authorizer: it cannot
    know what the server charged), one signed by someone else, one with a used nonce, one above the rest."""
    authorizer_key = KEYS[-2]
    payer = Payer(next(_keys), authorizer=address(authorizer_key))
    who = address(payer.key)
    assert post(facilitator, "/settle", payer.deposit(DEPOSIT, PRICE))["success"] is True
    start = (chain.balance(who), chain.balance(SETTLEMENT))
    charged = 7 * PRICE
    rest = DEPOSIT - charged
    refused = [
        (payer.refund(charged, rest, 0), "invalid_batch_settlement_evm_authorizer_not_configured"),
        (payer.refund(charged, rest, 0, authorizer_key=KEYS[-3]), "invalid_batch_settlement_evm_refund_payload"),
        (payer.refund(charged, rest + 1, 0, authorizer_key=authorizer_key),
         "invalid_batch_settlement_evm_refund_amount_invalid"),
        (payer.refund(charged, rest, 1, authorizer_key=authorizer_key), "invalid_batch_settlement_evm_refund_payload"),
    ]
    for body, reason in refused:
        answer = post(facilitator, "/settle", body)
        assert (answer["success"], answer["errorReason"]) == (False, reason), answer
    assert channel(chain, payer.channel_id) == (DEPOSIT, 0)
    body = payer.refund(charged, rest, 0, authorizer_key=authorizer_key)
    assert post(facilitator, "/verify", body)["isValid"] is True
    before = block(chain)
    refunded = post(facilitator, "/settle", body)
    assert refunded["success"] is True, refunded
    assert refunded["extra"]["channelState"] == {"channelId": payer.channel_id.lower(), "balance": str(charged),
                                                  "totalClaimed": str(charged), "withdrawRequestedAt": 0,
                                                  "refundNonce": "1"}
    assert block(chain) == before + 1, "the claim and the refund are one transaction"
    assert (chain.balance(who) - start[0], start[1] - chain.balance(SETTLEMENT)) == (rest, rest)
    assert channel(chain, payer.channel_id) == (charged, charged)
    # Asked again: the recorded answer, nothing moves.
    assert post(facilitator, "/settle", body) == refunded
    assert chain.balance(who) - start[0] == rest
    # The same nonce for another amount is another refund, not this one: refused, not answered with this one.
    other = post(facilitator, "/settle", payer.refund(charged, rest - 1, 0, authorizer_key=authorizer_key, claim=False))
    assert (other["success"], other["errorReason"]) == (False, "invalid_batch_settlement_evm_refund_payload"), other
    # Nothing is left to refund.
    empty = post(facilitator, "/settle", payer.refund(charged, 1, 1, authorizer_key=authorizer_key, claim=False))
    assert empty["errorReason"] == "invalid_batch_settlement_evm_refund_no_balance", empty
    # The claim made with the refund is the receiver's once swept.
    swept = post(facilitator, "/settle", server_body(payer, {"type": "settle", "receiver": PAY_TO, "token": USDC}))
    assert (swept["success"], swept["amount"]) == (True, str(charged)), swept


@pytest.fixture(scope="module")
def channel_server(facilitator: Facilitator) -> Iterator[Any]:
    """paywire's FastAPI app with GET /batch paid from channels (the facilitator is its receiver authorizer)."""
    from parties import python_asgi

    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        yield server


@pytest.mark.parametrize("app", ["fastapi", "express"])
def test_no_form_of_a_channel_route_is_served_unpaid(chain: Chain, facilitator: Facilitator, app: str) -> None:
    """The batch-settlement route as the framework may see it (letter case, trailing slash, percent-encoding,
    a doubled slash, a query, HEAD): without a payment, none is served: a bill, a redirect or no route."""
    from parties import node_express, python_asgi

    serve = python_asgi if app == "fastapi" else node_express
    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
    with serve(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        base = server.url("/batch")[: -len("/batch")]
        for method, path in [("GET", "/batch"), ("GET", "/BATCH"), ("GET", "/Batch"), ("GET", "/batch/"),
                             ("GET", "/%62atch"), ("GET", "/%62%61tch/"), ("GET", "//batch"), ("GET", "/batch?x=1"),
                             ("GET", "/./batch"), ("HEAD", "/batch"), ("HEAD", "/BATCH/")]:
            answer = httpx.request(method, base + path, timeout=30, follow_redirects=False)
            assert not 200 <= answer.status_code < 300, (method, path, answer.status_code, answer.text)
            assert "paid from a channel" not in answer.text, (method, path)
            if answer.status_code == 402 and method == "GET":
                assert answer.headers.get("PAYMENT-REQUIRED"), (method, path)


def official_session(key: str, rpc_url: str = "") -> Any:
    """The official Python client paying with batch-settlement (in-memory channel state; with `rpc_url`, it
    reads channels on chain, which its recovery from a corrective 402 needs)."""
    from x402 import x402ClientSync
    from x402.http.clients import x402_requests
    from x402.mechanisms.evm.batch_settlement.client import BatchSettlementEvmScheme
    from x402.mechanisms.evm.signers import EthAccountSignerWithRPC

    account = Account.from_key(key)
    signer = EthAccountSignerWithRPC(account, rpc_url) if rpc_url else account
    return x402_requests(x402ClientSync().register("eip155:*", BatchSettlementEvmScheme(signer)))


def flush(server: Any) -> None:
    """Claims what earlier tests left on the shared server, so a test's claim holds only its own charges."""
    assert httpx.post(server.url("/claim"), timeout=60).status_code == 200


def receipt_of(response: Any) -> Dict[str, Any]:
    import base64
    import json

    answer: Dict[str, Any] = json.loads(base64.b64decode(response.headers["PAYMENT-RESPONSE"]))
    return answer


def test_the_official_python_client_pays_a_paywire_api_from_a_channel(chain: Chain, channel_server: Any) -> None:
    """The official Python batch-settlement client pays paywire's FastAPI app: one deposit, then vouchers the
    server checks offline (no facilitator call, no block), then one claim and one sweep move exactly the charged
    total to the receiver."""
    flush(channel_server)
    key = next(_keys)
    payer = Payer(key)
    who = address(key)
    start = (chain.balance(who), chain.balance(PAY_TO))
    session = official_session(key)
    first = session.get(channel_server.url("/batch"), timeout=60)
    assert first.status_code == 200, first.text
    receipt = receipt_of(first)
    assert receipt["success"] is True and receipt["transaction"], receipt
    deposit = int(receipt["amount"])
    assert deposit >= PRICE
    assert receipt["extra"]["chargedAmount"] == str(PRICE)
    assert receipt["extra"]["channelState"]["chargedCumulativeAmount"] == str(PRICE)
    assert receipt["extra"]["channelState"]["channelId"] == payer.channel_id.lower()
    before_vouchers = block(chain)
    requests = 4  # the official client deposits 5 prices by default
    for n in range(2, requests + 1):
        response = session.get(channel_server.url("/batch"), timeout=60)
        assert response.status_code == 200, response.text
        receipt = receipt_of(response)
        assert (receipt["transaction"], receipt["amount"]) == ("", ""), receipt
        assert receipt["extra"]["channelState"]["chargedCumulativeAmount"] == str(n * PRICE)
    assert block(chain) == before_vouchers, "a voucher sent a transaction"
    assert channel(chain, payer.channel_id) == (deposit, 0)
    summary = httpx.post(channel_server.url("/claim"), timeout=60).json()
    charged = requests * PRICE
    assert [(c["success"], c["channels"], c["amount"]) for c in summary["claims"]] == [(True, 1, str(charged))], summary
    assert [(s["success"], s["amount"]) for s in summary["settles"]] == [(True, str(charged))], summary
    assert channel(chain, payer.channel_id) == (deposit, charged)
    assert (start[0] - chain.balance(who), chain.balance(PAY_TO) - start[1]) == (deposit, charged)
    # Claimed already: a second claim finds nothing.
    assert httpx.post(channel_server.url("/claim"), timeout=60).json() == {"claims": [], "settles": []}


def test_a_replayed_voucher_gets_the_corrective_402_and_nothing_more(chain: Chain, channel_server: Any) -> None:
    """The same voucher sent again (a replay, or eight at once) is served once: the others get the corrective
    402 (or are told the channel is busy), which carries the server's charged total and the last voucher."""
    flush(channel_server)
    key = next(_keys)
    session = official_session(key)
    assert session.get(channel_server.url("/batch"), timeout=60).status_code == 200
    paid = session.get(channel_server.url("/batch"), timeout=60)
    assert paid.status_code == 200
    header = paid.request.headers["PAYMENT-SIGNATURE"]
    replay = httpx.get(channel_server.url("/batch"), headers={"PAYMENT-SIGNATURE": header}, timeout=60)
    assert replay.status_code == 402, replay.text
    assert replay.json()["error"] == "invalid_batch_settlement_evm_cumulative_amount_mismatch"
    import base64
    import json

    bill = json.loads(base64.b64decode(replay.headers["PAYMENT-REQUIRED"]))
    extra = bill["accepts"][0]["extra"]
    assert extra["channelState"]["chargedCumulativeAmount"] == str(2 * PRICE)
    assert extra["voucherState"]["signedMaxClaimable"] == str(2 * PRICE)
    assert "paid from a channel" not in replay.text
    # A new voucher signed by hand for the next request, sent eight times at once: served once.
    payer = Payer(key)
    voucher = payer.voucher(3 * PRICE)["paymentPayload"]
    voucher["accepted"] = bill["accepts"][0]
    header = base64.b64encode(json.dumps(voucher).encode()).decode()
    answers: List[int] = []

    def send() -> None:
        answers.append(httpx.get(channel_server.url("/batch"), headers={"PAYMENT-SIGNATURE": header}, timeout=60).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200] + [402] * 7, answers
    summary = httpx.post(channel_server.url("/claim"), timeout=60).json()
    assert [c["amount"] for c in summary["claims"]] == [str(3 * PRICE)], summary
    assert channel(chain, payer.channel_id)[1] == 3 * PRICE


def test_a_client_that_lost_its_channel_recovers_through_the_corrective_402(chain: Chain,
                                                                           channel_server: Any) -> None:
    """A payer's process restarts with no channel state: it reads the channel on chain (nothing claimed yet),
    so its voucher is below the server's charged total and is answered with the corrective 402; it checks the
    voucher there is its own, adopts the server's charged total and pays from the channel, with no second
    deposit."""
    key = next(_keys)
    who = address(key)
    first = official_session(key)
    for _ in range(2):
        assert first.get(channel_server.url("/batch"), timeout=60).status_code == 200
    spent = chain.balance(who)
    fresh = official_session(key, chain.rpc_url)  # the same wallet, no channel state
    response = fresh.get(channel_server.url("/batch"), timeout=60)
    assert response.status_code == 200, response.text
    receipt = receipt_of(response)
    assert (receipt["transaction"], receipt["extra"]["channelState"]["chargedCumulativeAmount"]) == ("", str(3 * PRICE))
    assert chain.balance(who) == spent, "the recovered client deposited again"


def test_a_server_restarted_between_vouchers_and_its_claim_loses_nothing(chain: Chain,
                                                                         facilitator: Facilitator) -> None:
    """With a shared store (Redis), the server's channels outlive its process: vouchers served before a
    restart are claimed after it."""
    from localnet import redis_server
    from parties import python_asgi

    key = next(_keys)
    payer = Payer(key)
    session = official_session(key)
    with redis_server() as redis_url:
        extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE), "REDIS_URL": redis_url}
        with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
            for _ in range(3):
                assert session.get(server.url("/batch"), timeout=60).status_code == 200
        with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
            summary = httpx.post(server.url("/claim"), timeout=60).json()
            assert [c["amount"] for c in summary["claims"]] == [str(3 * PRICE)], summary
            # The restarted server goes on from its charged total.
            assert session.get(server.url("/batch"), timeout=60).status_code == 200
    assert channel(chain, payer.channel_id)[1] == 3 * PRICE


def test_paywire_clients_pay_from_a_channel_and_recover_it(chain: Chain, channel_server: Any) -> None:
    """paywire's Python client pays paywire's FastAPI app from a channel: one deposit (a hundred requests' worth),
    then vouchers with no transaction; a second client of the same wallet, with no channel state, recovers
    through the corrective 402 and pays on from the same channel. The claim moves exactly the charged total."""
    flush(channel_server)
    import paywire
    import paywire.httpx

    key = next(_keys)
    payer = Payer(key)
    who = address(key)
    start = (chain.balance(who), chain.balance(PAY_TO))
    sent: List[int] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(1)
            return super().handle_request(request)

    client = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)), Counting())
    with httpx.Client(transport=client, timeout=60) as c:
        first = c.get(channel_server.url("/batch"))
        assert first.status_code == 200, first.text
        receipt = receipt_of(first)
        assert receipt["transaction"] and receipt["amount"] == str(100 * PRICE), receipt
        before_vouchers = block(chain)
        for n in range(2, 6):
            sent.clear()
            response = c.get(channel_server.url("/batch"))
            assert response.status_code == 200, response.text
            assert receipt_of(response)["extra"]["channelState"]["chargedCumulativeAmount"] == str(n * PRICE)
            # The bill, then the voucher the client's own channel state says: no corrective 402 in between.
            assert len(sent) == 2, f"{len(sent)} requests for one paid request"
        assert block(chain) == before_vouchers, "a voucher sent a transaction"
    # The same wallet in a new process: no channel state.
    again = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
    with httpx.Client(transport=again, timeout=60) as c:
        response = c.get(channel_server.url("/batch"))
        assert response.status_code == 200, response.text
        receipt = receipt_of(response)
        assert (receipt["transaction"], receipt["extra"]["channelState"]["chargedCumulativeAmount"]) == ("", str(6 * PRICE))
    assert chain.balance(who) == start[0] - 100 * PRICE, "the recovered client deposited again"
    summary = httpx.post(channel_server.url("/claim"), timeout=60).json()
    assert [c["amount"] for c in summary["claims"]] == [str(6 * PRICE)], summary
    assert chain.balance(PAY_TO) - start[1] == 6 * PRICE
    assert channel(chain, payer.channel_id) == (100 * PRICE, 6 * PRICE)


@pytest.mark.parametrize("client", ["python", "node", "rust-cli", "kotlin"])
def test_every_paywire_client_pays_from_a_channel_across_processes(chain: Chain, channel_server: Any,
                                                                   client: str) -> None:
    """Each paywire client, one process per request: the first deposits and pays; the next (no channel state)
    is corrected by the server's 402 and pays from the same channel with a voucher, no second deposit."""
    from parties import CLIENTS

    key = next(_keys)
    who = address(key)
    pay = CLIENTS[client]
    first = pay(channel_server.url("/batch"), key)
    assert first.status == 200 and first.transaction, first.output
    spent = chain.balance(who)
    second = pay(channel_server.url("/batch"), key)
    assert second.status == 200, second.output
    assert "paid from a channel" in second.body
    assert chain.balance(who) == spent, "the second process deposited again"


@pytest.fixture(scope="module")
def express_channel_server(facilitator: Facilitator) -> Iterator[Any]:
    """paywire's Express app with GET /batch paid from channels."""
    from parties import node_express

    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
    with node_express(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        yield server


def official_ts_client(url: str, key: str, channels: str) -> Any:
    """The official TypeScript client (@x402/fetch, @x402/evm 2.27), one request, its channels kept in files."""
    from localnet import env
    from parties import APPS, _from_text, _run

    return _from_text(_run(["node", str(APPS / "official_client.mjs")],
                           {"PRIVATE_KEY": key, "API_URL": url, "CHANNEL_DIR": channels,
                            "PAYWIRE_NODE_TEST_DIR": env("PAYWIRE_NODE_TEST_DIR")}))


@pytest.mark.parametrize("server", ["fastapi", "express"])
def test_the_official_typescript_client_pays_paywire_servers_from_a_channel(chain: Chain, channel_server: Any,
                                                                           express_channel_server: Any,
                                                                           server: str) -> None:
    """The official TypeScript batch-settlement client pays paywire's FastAPI and Express apps: its first
    process deposits, the next two pay with vouchers from the channel kept in its files; the server's claim
    moves exactly their total."""
    api = channel_server if server == "fastapi" else express_channel_server
    flush(api)
    key = next(_keys)
    payer = Payer(key)
    who = address(key)
    start = chain.balance(PAY_TO)
    with tempfile.TemporaryDirectory(prefix="paywire-channels-") as channels:
        first = official_ts_client(api.url("/batch"), key, channels)
        assert first.status == 200 and first.transaction, first.output
        spent = chain.balance(who)
        for _ in range(2):
            outcome = official_ts_client(api.url("/batch"), key, channels)
            assert outcome.status == 200 and "paid from a channel" in outcome.body, outcome.output
    assert chain.balance(who) == spent
    summary = httpx.post(api.url("/claim"), timeout=60).json()
    assert [c["amount"] for c in summary["claims"]] == [str(3 * PRICE)], summary
    assert chain.balance(PAY_TO) - start == 3 * PRICE
    assert channel(chain, payer.channel_id)[1] == 3 * PRICE


@pytest.mark.parametrize("client", ["python", "rust-cli"])
def test_paywire_clients_pay_paywire_express_from_a_channel(chain: Chain, express_channel_server: Any,
                                                            client: str) -> None:
    from parties import CLIENTS

    flush(express_channel_server)
    key = next(_keys)
    pay = CLIENTS[client]
    start = chain.balance(PAY_TO)
    assert pay(express_channel_server.url("/batch"), key).transaction
    outcome = pay(express_channel_server.url("/batch"), key)
    assert outcome.status == 200 and not outcome.transaction, outcome.output
    summary = httpx.post(express_channel_server.url("/claim"), timeout=60).json()
    assert [c["amount"] for c in summary["claims"]] == [str(2 * PRICE)], summary
    assert chain.balance(PAY_TO) - start == 2 * PRICE


@pytest.mark.parametrize("adapter,client", [("node-fastify", "node"), ("python-flask", "python"),
                                            ("node-hono", "python")])
def test_paywire_clients_pay_paywire_fastify_flask_and_hono_from_a_channel(chain: Chain, facilitator: Facilitator,
                                                                           adapter: str, client: str) -> None:
    """paywire's Fastify plugin, WSGI middleware (Flask) and Hono middleware serve a batch-settlement route and
    claim it (fastify.paywireClaim(), paywire.wsgi.Claims, middleware.claim()): a deposit, then a voucher from
    paywire's Node or Python client; the claim moves exactly the charged total."""
    from parties import CLIENTS, node_fastify, node_hono, python_flask

    serve = {"node-fastify": node_fastify, "python-flask": python_flask, "node-hono": node_hono}[adapter]
    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
    with serve(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        flush(server)
        key = next(_keys)
        start = chain.balance(PAY_TO)
        assert CLIENTS[client](server.url("/batch"), key).transaction
        outcome = CLIENTS[client](server.url("/batch"), key)
        assert outcome.status == 200 and not outcome.transaction, outcome.output
        summary = httpx.post(server.url("/claim"), timeout=60).json()
        assert [c["amount"] for c in summary["claims"]] == [str(2 * PRICE)], summary
        assert chain.balance(PAY_TO) - start == 2 * PRICE


def test_paywire_clients_pay_the_jvm_server_from_a_channel(chain: Chain, facilitator: Facilitator) -> None:
    """paywire's PaymentFilter on the JDK's HttpServer serves a batch-settlement route and claims it
    (PaymentFilter.claim()): a deposit, then a voucher from paywire's Kotlin client; the claim moves exactly the
    charged total."""
    from parties import CLIENTS, jvm_httpserver

    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
    with jvm_httpserver(facilitator.url, PAY_TO, app="faults", extra=extra) as server:
        flush(server)
        key = next(_keys)
        start = chain.balance(PAY_TO)
        assert CLIENTS["kotlin"](server.url("/batch"), key).transaction
        outcome = CLIENTS["kotlin"](server.url("/batch"), key)
        assert outcome.status == 200 and not outcome.transaction, outcome.output
        summary = httpx.post(server.url("/claim"), timeout=60).json()
        assert [c["amount"] for c in summary["claims"]] == [str(2 * PRICE)], summary
        assert chain.balance(PAY_TO) - start == 2 * PRICE


@pytest.mark.parametrize("client", ["python", "node", "rust-cli", "kotlin"])
def test_paywire_clients_pay_the_official_express_server_from_a_channel(chain: Chain, facilitator: Facilitator,
                                                                        client: str) -> None:
    """paywire's clients pay the official @x402/express batch-settlement server (through paywire's
    facilitator): a deposit, then a voucher from a new process that recovers the channel through the official
    server's corrective 402; the official channel manager's claim moves exactly what was charged."""
    from parties import CLIENTS, official_express

    key = next(_keys)
    payer = Payer(key)
    who = address(key)
    pay = CLIENTS[client]
    with official_express(facilitator.url, PAY_TO, extra={"BATCH": "1"}) as server:
        start = chain.balance(PAY_TO)
        first = pay(server.url("/batch"), key)
        assert first.status == 200 and first.transaction, first.output
        spent = chain.balance(who)
        second = pay(server.url("/batch"), key)
        assert second.status == 200 and "paid from a channel" in second.body, second.output
        assert chain.balance(who) == spent, "the second process deposited again"
        claimed = httpx.post(server.url("/claim"), timeout=60)
        assert claimed.status_code == 200, claimed.text
    assert chain.balance(PAY_TO) - start == 2 * PRICE
    assert channel(chain, payer.channel_id)[1] == 2 * PRICE


def test_the_official_client_gets_a_cooperative_refund_from_a_paywire_server(chain: Chain,
                                                                          facilitator: Facilitator) -> None:
    """A paywire FastAPI server holding its receiver authorizer's key: the official Python client pays three
    requests from a channel, then asks for its refund (the SDK's `refund`). The server claims its charges and
    returns the rest in one transaction, then sweeps the claim to the receiver: the payer is out exactly the
    charged total, the receiver gets exactly that. A second refund finds nothing; a server that delegates its
    authorizer refuses refunds (the payer withdraws instead); the server also signs its own claims."""
    from parties import python_asgi
    from x402 import x402ClientSync
    from x402.http.clients import x402_requests
    from x402.mechanisms.evm.batch_settlement.client import BatchSettlementEvmScheme

    authorizer_key = KEYS[-4]
    extra = {"BATCH_AUTHORIZER_KEY": authorizer_key, "BATCH_PRICE": str(PRICE)}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        key = next(_keys)
        who = address(key)
        scheme = BatchSettlementEvmScheme(Account.from_key(key))
        session = x402_requests(x402ClientSync().register("eip155:*", scheme))
        start = (chain.balance(who), chain.balance(PAY_TO))
        for _ in range(3):
            assert session.get(server.url("/batch"), timeout=60).status_code == 200
        payer = Payer(key, authorizer=address(authorizer_key))
        deposit = start[0] - chain.balance(who)
        assert channel(chain, payer.channel_id) == (deposit, 0)
        before = block(chain)
        refund = scheme.refund(server.url("/batch"))
        assert refund.success is True and refund.transaction, refund
        assert block(chain) == before + 2, "one transaction for the claim and the refund, one for the sweep"
        charged = 3 * PRICE
        assert channel(chain, payer.channel_id) == (charged, charged)
        assert (start[0] - chain.balance(who), chain.balance(PAY_TO) - start[1]) == (charged, charged)
        # Nothing left: refused, nothing moves.
        with pytest.raises(RuntimeError, match="no remaining balance|refund_no_balance"):
            scheme.refund(server.url("/batch"))
        assert start[0] - chain.balance(who) == charged
        # The claim job finds nothing more to claim.
        assert httpx.post(server.url("/claim"), timeout=60).json() == {"claims": [], "settles": []}
        # The server signs its own claims (the facilitator holds no key for this authorizer).
        other = next(_keys)
        session = official_session(other)
        for _ in range(2):
            assert session.get(server.url("/batch"), timeout=60).status_code == 200
        summary = httpx.post(server.url("/claim"), timeout=60).json()
        assert [(c["success"], c["amount"]) for c in summary["claims"]] == [(True, str(2 * PRICE))], summary
    # A server that delegated its authorizer to the facilitator cannot sign a refund: refused, with the way out.
    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        key = next(_keys)
        scheme = BatchSettlementEvmScheme(Account.from_key(key))
        session = x402_requests(x402ClientSync().register("eip155:*", scheme))
        assert session.get(server.url("/batch"), timeout=60).status_code == 200
        with pytest.raises(RuntimeError, match="402"):
            scheme.refund(server.url("/batch"))


def kotlin_refund(url: str, key: str, amount: int = 0) -> Tuple[str, str]:
    """paywire's Kotlin refund example (RefundKt) in a process of its own: its first line of output, and what it
    wrote to stderr."""
    import os
    import subprocess

    from localnet import env

    command = ["java", f"-Djna.library.path={env('PAYWIRE_NATIVE_DIR')}", "-cp", env("PAYWIRE_KOTLIN_CLASSPATH"),
               "dev.paywire.examples.RefundKt", url] + ([str(amount)] if amount else [])
    run = subprocess.run(command, env={**os.environ, "PAYWIRE_KEY": key}, capture_output=True, text=True, timeout=120)
    assert run.stdout, run.stderr
    return run.stdout.splitlines()[0], run.stderr


def test_paywire_clients_get_their_channel_refunded(chain: Chain, facilitator: Facilitator) -> None:
    """paywire's Python client pays four requests from a channel, then a second process of the same wallet
    (no channel state) asks for part of the rest back: its voucher is behind, so it follows the corrective 402
    and refunds; so does paywire's Kotlin client. The first client then takes everything else back; a third
    ask, in Python and in Kotlin, finds nothing and says so. The payer is out exactly the charged total."""
    from parties import python_asgi

    import paywire
    import paywire.httpx

    authorizer_key = KEYS[-5]
    extra = {"BATCH_AUTHORIZER_KEY": authorizer_key, "BATCH_PRICE": str(PRICE)}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        key = next(_keys)
        who = address(key)
        payer = Payer(key, authorizer=address(authorizer_key))
        start = (chain.balance(who), chain.balance(PAY_TO))
        first = httpx.Client(transport=paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key))), timeout=60)
        for _ in range(4):
            assert first.get(server.url("/batch")).status_code == 200
        charged = 4 * PRICE
        assert channel(chain, payer.channel_id) == (100 * PRICE, 0)
        second = httpx.Client(transport=paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key))), timeout=60)
        part = paywire.httpx.refund(second, server.url("/batch"), 10 * PRICE)
        assert part.success and part.transaction, part
        assert part.to_dict()["extra"]["channelState"]["chargedCumulativeAmount"] == str(charged)  # type: ignore[index,call-overload]
        assert channel(chain, payer.channel_id) == (90 * PRICE, charged)
        # paywire's Kotlin client (PaywireHttpClient.refund, in a process of its own) takes back 5 more.
        kotlin, told = kotlin_refund(server.url("/batch"), key, 5 * PRICE)
        assert kotlin.startswith("refunded in transaction 0x"), (kotlin, told)
        assert channel(chain, payer.channel_id) == (85 * PRICE, charged)
        rest = paywire.httpx.refund(first, server.url("/batch"))
        assert rest.success and rest.transaction != part.transaction, rest
        assert channel(chain, payer.channel_id) == (charged, charged)
        with pytest.raises(paywire.PaywireError) as refused:
            paywire.httpx.refund(first, server.url("/batch"))
        assert refused.value.code == "invalid_batch_settlement_evm_refund_no_balance", refused.value
        kotlin, told = kotlin_refund(server.url("/batch"), key)
        assert kotlin == "not refunded: invalid_batch_settlement_evm_refund_no_balance", told
        assert (start[0] - chain.balance(who), chain.balance(PAY_TO) - start[1]) == (charged, charged)
        first.close()
        second.close()


def test_node_clients_keep_their_channels_and_get_them_refunded(chain: Chain, facilitator: Facilitator) -> None:
    """paywire's Node client against paywire's Express app holding its receiver authorizer: a first process pays
    three requests and writes its channels to a file (exportChannels); a second reads them (importChannels)
    and pays on from the same channel with no corrective 402 (two HTTP requests: the bill, then the voucher)
    and no second deposit, then asks for its refund (refund()); a third finds nothing to refund. The payer is
    out exactly the charged total, which the receiver gets."""
    import json
    import subprocess

    from parties import node_express

    authorizer_key = KEYS[-6]
    extra = {"BATCH_AUTHORIZER_KEY": authorizer_key, "BATCH_PRICE": str(PRICE)}
    workdir = Path(tempfile.mkdtemp(prefix="paywire-channels-"))
    with node_express(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        key = next(_keys)
        who = address(key)
        payer = Payer(key, authorizer=address(authorizer_key))
        start = (chain.balance(who), chain.balance(PAY_TO))

        def process(pays: int, refund: bool) -> Dict[str, Any]:
            import os

            env = {**os.environ, "PRIVATE_KEY": key, "API_URL": server.url("/batch"), "PAYS": str(pays),
                   "CHANNELS": str(workdir / "channels.json"), "REFUND": "1" if refund else "0"}
            run = subprocess.run(["node", str(Path(__file__).parent / "apps" / "channel_client.mjs")], env=env,
                                 capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stderr
            answer: Dict[str, Any] = json.loads(run.stdout)
            return answer

        first = process(3, False)
        assert [p["status"] for p in first["paid"]] == [200] * 3, first
        assert first["paid"][0]["transaction"] and [p["transaction"] for p in first["paid"][1:]] == ["", ""], first
        second = process(1, True)
        assert second["paid"] == [{"status": 200, "sent": 2, "transaction": "", "charged": str(4 * PRICE)}], second
        assert second["refunded"]["transaction"], second
        charged = 4 * PRICE
        assert channel(chain, payer.channel_id) == (charged, charged)
        third = process(0, True)
        assert third["refunded"] == {"error": "invalid_batch_settlement_evm_refund_no_balance"}, third
        assert (start[0] - chain.balance(who), chain.balance(PAY_TO) - start[1]) == (charged, charged)
    shutil.rmtree(workdir, ignore_errors=True)


def test_a_settled_deposit_replayed_after_a_refund_buys_nothing(chain: Chain, facilitator: Facilitator) -> None:
    """An attacker's replay: the payer's first deposit (settled long ago), sent again with a new voucher after
    the channel was refunded. The facilitator repeats the deposit's recorded answer, but the voucher is checked
    against the channel as it is now (nothing left beyond the charges): refused, nothing served, nothing
    moves."""
    import base64
    import json

    from parties import python_asgi

    import paywire
    import paywire.httpx

    authorizer_key = KEYS[-7]
    extra = {"BATCH_AUTHORIZER_KEY": authorizer_key, "BATCH_PRICE": str(PRICE)}
    with python_asgi(facilitator.url, PAY_TO, app="paid_app", extra=extra) as server:
        key = next(_keys)
        who = address(key)
        payer = Payer(key, authorizer=address(authorizer_key))
        transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
        with httpx.Client(transport=transport, timeout=60) as c:
            first = c.get(server.url("/batch"))
            assert first.status_code == 200
            deposit = paywire.httpx.payment(first)
            assert deposit is not None
            assert c.get(server.url("/batch")).status_code == 200
            assert paywire.httpx.refund(c, server.url("/batch")).success
        charged = 2 * PRICE
        assert channel(chain, payer.channel_id) == (charged, charged)
        after = chain.balance(who)
        replay = json.loads(base64.b64decode(deposit.value))
        replay["payload"]["voucher"] = payer.voucher(charged + PRICE)["paymentPayload"]["payload"]["voucher"]
        header = base64.b64encode(json.dumps(replay).encode()).decode()
        answer = httpx.get(server.url("/batch"), headers={"PAYMENT-SIGNATURE": header}, timeout=60)
        assert answer.status_code == 402, answer.text
        assert "paid from a channel" not in answer.text
        assert chain.balance(who) == after and channel(chain, payer.channel_id) == (charged, charged)


@pytest.mark.parametrize("retry", ["same purchase", "next purchase"])
def test_a_deposit_whose_answer_was_lost_is_not_paid_twice(chain: Chain, facilitator: Facilitator, retry: str) -> None:
    """The facilitator settles a deposit but the server never hears (the connection drops twice): the request fails
    with nothing served. The payer sends the same deposit authorization again, for this purchase or its next
    one; it fails verification as spent, the server asks /settle, which repeats the answer it recorded, and
    serves. The payer deposited once."""
    from parties import python_asgi
    from settle_link import Link

    import paywire
    import paywire.httpx

    link = Link(facilitator)
    try:
        extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
        with python_asgi(link.url, PAY_TO, app="paid_app", extra=extra) as server:
            key = next(_keys)
            payer = Payer(key)
            who = address(key)
            start = chain.balance(who)
            transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
            with httpx.Client(transport=transport, timeout=60) as c:
                link.fault, link.drops = "drop", 2  # the server asks twice before it gives up
                first = c.get(server.url("/batch"))
                assert first.status_code in (502, 503, 504), first.text
                assert "paid from a channel" not in first.text
                assert link.settle_answers[-1]["success"] is True, link.settle_answers
                deposit_tx = link.settle_answers[-1]["transaction"]
                assert start - chain.balance(who) == 100 * PRICE
                second = c.get(server.url("/batch" if retry == "same purchase" else "/batch?next=1"))
                assert second.status_code == 200, second.text
                receipt = receipt_of(second)
                assert (receipt["transaction"], receipt["amount"]) == (deposit_tx, str(100 * PRICE)), receipt
                assert receipt["extra"]["channelState"]["chargedCumulativeAmount"] == str(PRICE)
                # The channel goes on with vouchers.
                third = c.get(server.url("/batch?after=1"))
                assert third.status_code == 200, third.text
                assert receipt_of(third)["transaction"] == ""
            assert start - chain.balance(who) == 100 * PRICE, "the payer deposited twice"
            assert channel(chain, payer.channel_id) == (100 * PRICE, 0)
            summary = httpx.post(server.url("/claim"), timeout=60).json()
            assert [c["amount"] for c in summary["claims"]] == [str(2 * PRICE)], summary
    finally:
        link.close()


def test_a_refund_whose_answer_the_server_lost_is_answered_again(chain: Chain, facilitator: Facilitator) -> None:
    """The facilitator settles a payer's refund but the server never hears (the connection drops twice): the
    payer gets an error. It asks again: the channel now holds nothing beyond the charges, yet the server finds
    the refund it sent on chain and answers with that refund's receipt (the facilitator repeats its recorded
    answer; nothing is sent again). The payer got exactly the rest back once; the receiver gets exactly the
    charged total once the claim made with the refund is swept."""
    from parties import python_asgi
    from settle_link import Link

    import paywire
    import paywire.httpx

    authorizer_key = KEYS[-8]
    link = Link(facilitator)
    try:
        extra = {"BATCH_AUTHORIZER_KEY": authorizer_key, "BATCH_PRICE": str(PRICE)}
        with python_asgi(link.url, PAY_TO, app="paid_app", extra=extra) as server:
            key = next(_keys)
            who = address(key)
            payer = Payer(key, authorizer=address(authorizer_key))
            start = (chain.balance(who), chain.balance(PAY_TO))
            transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))
            with httpx.Client(transport=transport, timeout=60) as c:
                for _ in range(3):
                    assert c.get(server.url("/batch")).status_code == 200
                charged = 3 * PRICE
                link.fault, link.drops = "drop", 2  # the server asks twice before it gives up
                with pytest.raises(paywire.PaywireError):
                    paywire.httpx.refund(c, server.url("/batch"))
                refund = link.settle_answers[-1]
                assert refund["success"] is True and refund["transaction"], link.settle_answers
                assert channel(chain, payer.channel_id) == (charged, charged), "the refund is on chain"
                sent = len(link.settle_requests)
                block_before = block(chain)
                again = paywire.httpx.refund(c, server.url("/batch"))
                assert again.success and again.transaction == refund["transaction"], again
                assert block(chain) == block_before, "asking again sends nothing to the chain"
                assert link.settle_answers[sent:] == [refund], "the facilitator repeated its recorded answer"
                # A third ask finds nothing left, as any ask after an answered refund.
                with pytest.raises(paywire.PaywireError) as refused:
                    paywire.httpx.refund(c, server.url("/batch"))
                assert refused.value.code == "invalid_batch_settlement_evm_refund_no_balance", refused.value
            summary = httpx.post(server.url("/claim"), timeout=60).json()
            assert summary["claims"] == [] and [s["success"] for s in summary["settles"]] == [True], summary
            assert (start[0] - chain.balance(who), chain.balance(PAY_TO) - start[1]) == (charged, charged)
            assert channel(chain, payer.channel_id) == (charged, charged)
    finally:
        link.close()


def test_a_forged_deposit_costs_the_facilitator_one_call(chain: Chain, facilitator: Facilitator) -> None:
    """A deposit whose ReceiveWithAuthorization signature is not the payer's is refused with that reason after
    one /verify: the server does not look for a lost answer of a deposit that could never have settled (no
    /settle, no second /verify), so forged deposits cannot make it hammer the facilitator."""
    import base64
    import json

    from parties import python_asgi
    from settle_link import Link

    link = Link(facilitator)
    try:
        extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE)}
        with python_asgi(link.url, PAY_TO, app="paid_app", extra=extra) as server:
            payer = Payer(next(_keys))
            bill = json.loads(base64.b64decode(httpx.get(server.url("/batch"), timeout=60).headers["PAYMENT-REQUIRED"]))
            payer.offer = bill["accepts"][0]
            body = payer.deposit(DEPOSIT, PRICE)
            deposit = body["paymentPayload"]["payload"]["deposit"]
            signed = deposit["authorization"]["erc3009Authorization"]
            # A real signature of the payer's, over another message (the voucher).
            signed["signature"] = body["paymentPayload"]["payload"]["voucher"]["signature"]
            body["paymentPayload"]["resource"] = bill["resource"]
            header = base64.b64encode(json.dumps(body["paymentPayload"]).encode()).decode()
            answer = httpx.get(server.url("/batch"), headers={"PAYMENT-SIGNATURE": header}, timeout=60)
            assert answer.status_code == 402, answer.text
            refusal = json.loads(base64.b64decode(answer.headers["PAYMENT-REQUIRED"]))
            assert refusal["error"] == "invalid_batch_settlement_evm_receive_authorization_signature", refusal
            assert link.settle_requests == [], "the server asked /settle for a forged deposit"
            assert channel(chain, payer.channel_id) == (0, 0)
    finally:
        link.close()


@pytest.mark.parametrize("app", ["fastapi", "express", "jvm"])
@pytest.mark.parametrize("schedule", ["by time", "by amount"])
def test_servers_claim_by_themselves_on_their_schedule(chain: Chain, facilitator: Facilitator, app: str,
                                                       schedule: str) -> None:
    """paywire's FastAPI, Express and JDK HttpServer middleware claim their channels' charges by themselves (no
    POST /claim): by time, once the oldest charge not claimed is 2 s old; by amount, once the charges since the
    last claim reach two requests' worth (the third request's charge waits for the next). Each claim is swept:
    the receiver gets exactly what was claimed."""
    import time

    from parties import jvm_httpserver, node_express, python_asgi

    import paywire
    import paywire.httpx

    serve = {"fastapi": python_asgi, "express": node_express, "jvm": jvm_httpserver}[app]
    extra = {"BATCH_AUTHORIZER": FACILITATOR_ADDRESS, "BATCH_PRICE": str(PRICE),
             **({"BATCH_CLAIM_EVERY": "2"} if schedule == "by time" else {"BATCH_CLAIM_AT": str(2 * PRICE)})}
    with serve(facilitator.url, PAY_TO, app="faults" if app == "jvm" else "paid_app", extra=extra) as server:
        key = next(_keys)
        payer = Payer(key)
        start = chain.balance(PAY_TO)
        transport = paywire.httpx.PaymentTransport(paywire.Payer(paywire.LocalSigner(key)))

        def received(amount: int) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and chain.balance(PAY_TO) - start < amount:
                time.sleep(0.25)
            time.sleep(1.5)  # nothing more comes
            assert channel(chain, payer.channel_id) == (DEPOSIT, amount)
            assert chain.balance(PAY_TO) - start == amount

        with httpx.Client(transport=transport, timeout=60) as c:
            pays = lambda n: [c.get(server.url("/batch")).status_code for _ in range(n)]  # noqa: E731
            if schedule == "by time":
                assert pays(3) == [200] * 3
                received(3 * PRICE)
            else:
                assert pays(2) == [200] * 2
                received(2 * PRICE)
                assert pays(1) == [200]
                received(2 * PRICE)


def test_the_payer_withdraws_the_rest_after_the_delay(chain: Chain, facilitator: Facilitator) -> None:
    """The escape hatch, without the server's help: the payer starts a withdrawal of what is unclaimed and, once
    the channel's withdraw delay has passed, gets exactly that back. (Last in this module: it moves the chain's
    clock forward.)"""
    payer = Payer(next(_keys))
    who = address(payer.key)
    start = chain.balance(SETTLEMENT)
    assert post(facilitator, "/settle", payer.deposit(DEPOSIT, PRICE))["success"] is True
    charged = 7 * PRICE
    claim = server_body(payer, {"type": "claim", "claims": [payer.claim_row(charged, charged)]})
    assert post(facilitator, "/settle", claim)["success"] is True
    rest = DEPOSIT - charged
    receipt = send_as(chain, who, f"initiateWithdraw({CONFIG_TUPLE},uint128)", [CONFIG_TUPLE, "uint128"],
                      [payer.config_values(), rest])
    assert receipt["status"] == "0x1", receipt
    early = send_as(chain, who, f"finalizeWithdraw({CONFIG_TUPLE})", [CONFIG_TUPLE], [payer.config_values()])
    assert early["status"] == "0x0", "a withdrawal finished before its delay"
    chain.rpc("evm_increaseTime", [900])
    chain.rpc("evm_mine", [])
    before = chain.balance(who)
    receipt = send_as(chain, who, f"finalizeWithdraw({CONFIG_TUPLE})", [CONFIG_TUPLE], [payer.config_values()])
    assert receipt["status"] == "0x1", receipt
    assert chain.balance(who) - before == rest
    assert channel(chain, payer.channel_id) == (charged, charged)
    # The claimed part is the receiver's to sweep; nothing else stays in the contract.
    assert chain.balance(SETTLEMENT) - start == charged
