"""The Python API itself: errors, signers, policies, payers, the facilitator client and the HTTP clients'
contracts (unit tests with httpx's MockTransport; the real-HTTP runs are in test_e2e.py)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, List

import httpx
import pytest
from conftest import PAY_TO, PAYER, PAYER_KEY

import paywire
import paywire.httpx
from paywire.facilitator import AsyncFacilitatorClient, FacilitatorClient
from paywire.httpx import PaymentTransport
from paywire.signers import EthAccountSigner

NOW = 1_750_000_000
NONCE = bytes(range(32))


def bill(price: str = "$0.01", network: str = "eip155:84532", **kwargs: Any) -> paywire.PaymentRequired:
    return paywire.build_payment_required("https://api.example.com/r", [paywire.PriceTag(network, PAY_TO, price)], **kwargs)


def fixed_payer(signer: Any, policy: Any = None) -> paywire.Payer:
    return paywire.Payer(signer, policy, clock=NOW, randomness=NONCE)


# Errors


def test_errors_carry_a_stable_code_a_message_and_a_category():
    with pytest.raises(paywire.PaywireError) as info:
        paywire.PaymentPayload.from_header("eyJ4NA")
    e = info.value
    assert e.code == "header_missing_padding"
    assert e.category == "malformed_input"
    assert "padding" in e.message and e.code in str(e)
    assert paywire.status_for(e) == 400 and paywire.status_for(e.code) == 400


def test_every_code_has_a_category_and_a_status():
    codes = paywire.error_codes()
    assert len(codes) == len(set(codes)) > 40
    for code in codes:
        assert paywire.error_category(code) in ("malformed_input", "refused", "configuration", "local", "upstream")
        assert paywire.status_for(code) in (400, 402, 409, 500, 502, 503)
    assert paywire.status_for("facilitator_unreachable") == 502
    assert paywire.status_for("payment_identifier_conflict") == 409
    assert paywire.status_for_reason("permit2_allowance_required") == 412
    with pytest.raises(paywire.PaywireError) as info:
        paywire.status_for("no_such_code")
    assert info.value.code == "invalid_argument"


def test_garbage_never_crashes_a_decoder():
    rng = random.Random(402)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_{}[]\":,"
    valid = bill().to_header()
    parsers = [
        paywire.decode,
        paywire.PaymentRequired.from_header,
        paywire.PaymentPayload.from_header,
        paywire.SettleResponse.from_header,
        paywire.PaymentRequired.from_json,
        paywire.decode_header_json,
    ]
    for i in range(3000):
        if i % 3 == 0:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        elif i % 3 == 1:
            cut = rng.randrange(len(valid))
            text = valid[:cut] + rng.choice(alphabet) + valid[cut + 1 :]
        else:
            text = paywire.encode_json_text(json.dumps(rng.choice([None, 1, "x", [], {}, {"x402Version": 2}])))
        for parse in parsers:
            try:
                parse(text)
            except paywire.PaywireError as e:
                assert e.code in paywire.error_codes()


def test_oversized_headers_are_refused_before_decoding():
    with pytest.raises(paywire.PaywireError) as info:
        paywire.PaymentPayload.from_header("A" * (paywire.MAX_HEADER_BYTES + 4))
    assert info.value.code == "header_too_large"


# Signers


def test_a_private_key_is_never_shown():
    signer = paywire.LocalSigner(PAYER_KEY)
    assert PAYER_KEY[2:] not in repr(signer) and PAYER_KEY[2:] not in str(signer)
    for bad in ("0x1234", PAYER_KEY[:-1] + "g", "0x" + "00" * 32):
        with pytest.raises(paywire.PaywireError) as info:
            paywire.LocalSigner(bad)
        assert info.value.code == "invalid_private_key"
        assert bad[2:10] not in str(info.value)


def test_local_signer_satisfies_the_signer_protocol():
    assert isinstance(paywire.LocalSigner(PAYER_KEY), paywire.Signer)
    assert isinstance(EthAccountSigner(_account()), paywire.Signer)


def _account():
    from eth_account import Account

    return Account.from_key(PAYER_KEY)


class DelegatingSigner:
    """A signer of the Signer protocol, as a KMS client would be."""

    def __init__(self) -> None:
        self.inner = paywire.LocalSigner(PAYER_KEY)
        self.digests: List[bytes] = []

    @property
    def address(self) -> str:
        return self.inner.address

    def sign_digest(self, digest: bytes) -> bytes:
        self.digests.append(digest)
        return self.inner.sign_digest(digest)


def test_any_object_with_address_and_sign_digest_can_pay():
    reference = fixed_payer(paywire.LocalSigner(PAYER_KEY)).pay(bill())
    custom = DelegatingSigner()
    assert fixed_payer(custom).pay(bill()).value == reference.value
    assert len(custom.digests) == 1 and len(custom.digests[0]) == 32
    # eth-account signs the same digest to the same bytes (RFC 6979).
    assert fixed_payer(EthAccountSigner(_account())).pay(bill()).value == reference.value


def test_a_v_of_27_or_28_is_accepted_from_signers():
    class V27(DelegatingSigner):
        def sign_digest(self, digest: bytes) -> bytes:
            sig = super().sign_digest(digest)
            return sig[:64] + bytes([sig[64] + 27 if sig[64] < 27 else sig[64]])

    assert fixed_payer(V27()).pay(bill()).value == fixed_payer(paywire.LocalSigner(PAYER_KEY)).pay(bill()).value


@pytest.mark.parametrize(
    "behaviour,code",
    [
        ("raises", "signer_failed"),
        ("returns text", "signer_failed"),
        ("returns 64 bytes", "invalid_signature_format"),
        ("signs with another key", "signer_mismatch"),
        ("is async", "signer_failed"),
    ],
)
def test_a_misbehaving_signer_is_a_clear_error(behaviour, code):
    other = paywire.LocalSigner.generate()

    class Bad:
        address = PAYER

        def sign_digest(self, digest: bytes) -> Any:
            if behaviour == "raises":
                raise RuntimeError("HSM offline")
            if behaviour == "returns text":
                return "0x1234"
            if behaviour == "returns 64 bytes":
                return bytes(64)
            return other.sign_digest(digest)

    class Async:
        address = PAYER

        async def sign_digest(self, digest: bytes) -> bytes:
            return bytes(65)

    signer = Async() if behaviour == "is async" else Bad()
    with pytest.raises(paywire.PaywireError) as info:
        fixed_payer(signer).pay(bill())
    assert info.value.code == code, info.value
    if behaviour == "raises":
        assert "HSM offline" in info.value.message
    if behaviour == "is async":
        assert "prepare" in info.value.message


def test_prepare_and_complete_for_remote_signers():
    payer = fixed_payer(DelegatingSigner())
    prepared = payer.prepare(bill(), "purchase")
    assert isinstance(prepared, paywire.PreparedPayment)
    assert prepared.payer == PAYER and len(prepared.digests) == 1
    local = paywire.LocalSigner(PAYER_KEY)
    header = payer.complete(prepared, [local.sign_digest(d) for d in prepared.digests])
    assert header.value == fixed_payer(local).pay(bill()).value
    # The purchase now has its payment: preparing it again gives the same header, nothing to sign.
    again = payer.prepare(bill(), "purchase")
    assert isinstance(again, paywire.PaymentHeader) and again.reused and again.value == header.value
    with pytest.raises(paywire.PaywireError) as info:
        fixed_payer(DelegatingSigner()).complete(prepared, [bytes(65)])
    assert info.value.code in ("invalid_exact_evm_payload_signature", "signer_mismatch")


def test_typed_data_hashes_and_recovery():
    typed = {
        "domain": {"name": "USDC", "version": "2", "chainId": 84532, "verifyingContract": "0x036CbD53842c5426634e7929541eC2318f3dCF7e"},
        "primaryType": "TransferWithAuthorization",
        "message": {
            "from": PAYER,
            "to": PAY_TO,
            "value": 10000,
            "validAfter": 0,
            "validBefore": 1750000600,
            "nonce": "0x" + "ab" * 32,
        },
    }
    hashes = paywire.typed_data_hashes(typed)
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    signed = Account.sign_message(encode_typed_data(full_message={**typed, "types": _types()}), PAYER_KEY)
    assert hashes["digest"] == bytes(signed.message_hash)
    assert paywire.recover_address(hashes["digest"], bytes(signed.signature)) == PAYER
    with pytest.raises(paywire.PaywireError):
        paywire.typed_data_hashes({**typed, "primaryType": "Mail"})


def _types():
    return {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "TransferWithAuthorization": [
            {"name": "from", "type": "address"},
            {"name": "to", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "validAfter", "type": "uint256"},
            {"name": "validBefore", "type": "uint256"},
            {"name": "nonce", "type": "bytes32"},
        ],
    }


# Policies and payers


def test_policy_keywords_are_checked():
    with pytest.raises(paywire.PaywireError) as info:
        paywire.Policy(max_per_paymnet="$1")
    assert info.value.code == "invalid_argument" and "max_per_payment" in info.value.message


def test_the_policy_caps_each_payment_and_says_why():
    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY), paywire.Policy(max_per_payment="$0.05"))
    with pytest.raises(paywire.PaywireError) as info:
        payer.pay(bill("$0.10"))
    e = info.value
    assert e.code == "no_acceptable_offer" and e.category == "local"
    (refusal,) = e.refusals
    assert refusal["index"] == 0 and refusal["reasons"]
    assert payer.spent_usd == "$0"


def test_budget_and_restored_spending():
    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY), paywire.Policy(budget="$0.05"))
    payer.restore_spent_usd("$0.03")
    payer.pay(bill("$0.02"))
    assert payer.spent_usd == "$0.05"
    with pytest.raises(paywire.PaywireError) as info:
        payer.pay(bill("$0.01"))
    assert info.value.code in ("budget_exceeded", "no_acceptable_offer")


def test_no_max_per_payment_means_no_cap():
    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY), paywire.Policy(max_per_payment=None))
    assert payer.pay(bill("$5")).amount == 5_000_000


def test_one_payment_per_purchase():
    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    first = payer.pay(bill(), "GET /r")
    again = payer.pay(bill(), "GET /r")
    assert again.reused and again.value == first.value
    payer.forget("GET /r")
    assert payer.pay(bill(), "GET /r").value != first.value
    assert not payer.pay(bill(), "other").reused


def test_decode_names_the_message():
    decoded = paywire.decode(bill().to_header())
    assert decoded["message"] == "PaymentRequired" and decoded["encoding"] == "base64"
    assert decoded["decoded"]["accepts"][0]["amount"] == "10000"


# The facilitator client


def facilitator_transport(seen: List[httpx.Request], answers: List[httpx.Response]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.MockTransport(handle)


def paid() -> tuple:
    b = bill()
    header = paywire.Payer(paywire.LocalSigner(PAYER_KEY)).pay(b)
    return header.payload, b.accepts[0]


def test_facilitator_headers_per_endpoint_and_body():
    seen: List[httpx.Request] = []
    answers = [
        httpx.Response(200, json={"isValid": True, "payer": PAYER}),
        httpx.Response(200, json={"success": True, "transaction": "0x" + "1" * 64, "network": "eip155:84532"}),
    ]
    client = FacilitatorClient(
        "https://f.example/x402/",
        headers={"verify": {"Authorization": "Bearer v"}, "settle": {"Authorization": "Bearer s"}},
        client=httpx.Client(transport=facilitator_transport(seen, answers)),
    )
    payment, requirements = paid()
    assert client.verify(payment, requirements).is_valid
    assert client.settle(payment, requirements).success
    assert [str(r.url) for r in seen] == ["https://f.example/x402/verify", "https://f.example/x402/settle"]
    assert [r.headers["authorization"] for r in seen] == ["Bearer v", "Bearer s"]
    body = json.loads(seen[0].content)
    assert body["x402Version"] == 2 and body["paymentRequirements"] == requirements.to_dict()
    assert body["paymentPayload"] == payment.to_dict()


def test_facilitator_refusals_with_error_statuses_are_answers_and_nonsense_is_an_error():
    payment, requirements = paid()
    seen: List[httpx.Request] = []
    answers = [
        httpx.Response(400, json={"isValid": False, "invalidReason": "insufficient_funds", "payer": PAYER}),
        httpx.Response(500, text="internal error"),
    ]
    client = FacilitatorClient("https://f.example", client=httpx.Client(transport=facilitator_transport(seen, answers)))
    assert client.verify(payment, requirements).invalid_reason == "insufficient_funds"
    with pytest.raises(paywire.PaywireError) as info:
        client.verify(payment, requirements)
    assert info.value.code == "invalid_facilitator_response" and "500" in info.value.message


def test_an_unreachable_facilitator_is_a_coded_error():
    payment, requirements = paid()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def run():
        client = AsyncFacilitatorClient("https://f.example", client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
        await client.settle(payment, requirements)

    with pytest.raises(paywire.PaywireError) as info:
        asyncio.run(run())
    assert info.value.code == "facilitator_unreachable" and info.value.category == "upstream"


# The httpx transport's contract


def test_the_transport_pays_once_and_never_loops():
    b = bill()
    sent: List[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(402, headers={"PAYMENT-REQUIRED": b.to_header()}, json={})

    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with httpx.Client(transport=PaymentTransport(payer, httpx.MockTransport(server))) as client:
        r = client.get("https://api.example.com/r")
    assert r.status_code == 402 and len(sent) == 2
    assert "payment-signature" not in sent[0].headers and "payment-signature" in sent[1].headers
    assert payer.spent_usd == "$0.01"


@pytest.mark.parametrize("status", [409, 502, 503])
def test_an_open_outcome_keeps_the_payment_for_the_retry(status):
    b = bill()
    answers: List[int] = []

    def server(request: httpx.Request) -> httpx.Response:
        if "payment-signature" not in request.headers:
            return httpx.Response(402, headers={"PAYMENT-REQUIRED": b.to_header()})
        answers.append(request.headers["payment-signature"])
        return httpx.Response(status if len(answers) == 1 else 200)

    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with httpx.Client(transport=PaymentTransport(payer, httpx.MockTransport(server))) as client:
        assert client.get("https://api.example.com/r").status_code == status
        retried = client.get("https://api.example.com/r")
    assert retried.status_code == 200 and paywire.httpx.payment(retried).reused
    assert answers[0] == answers[1] and payer.spent_usd == "$0.01"


def test_a_definite_refusal_forgets_the_payment():
    b = bill()

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(402, headers={"PAYMENT-REQUIRED": b.with_error("insufficient_funds").to_header()})

    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with httpx.Client(transport=PaymentTransport(payer, httpx.MockTransport(server))) as client:
        client.get("https://api.example.com/r")
        second = client.get("https://api.example.com/r")
    assert not paywire.httpx.payment(second).reused


def test_the_paid_retry_frames_its_body_once():
    b = bill()
    seen: List[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "payment-signature" not in request.headers:
            return httpx.Response(402, headers={"PAYMENT-REQUIRED": b.to_header()})
        return httpx.Response(200)

    def chunks():
        yield b"hello "
        yield b"world"

    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with httpx.Client(transport=PaymentTransport(payer, httpx.MockTransport(server))) as client:
        client.post("https://api.example.com/r", content=chunks())
    paid = seen[1]
    assert paid.read() == b"hello world"
    assert paid.headers.get("content-length") == "11" and "transfer-encoding" not in paid.headers


def test_a_402_that_is_not_a_bill_is_returned_as_is():
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(402, text="pay me somehow")

    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with httpx.Client(transport=PaymentTransport(payer, httpx.MockTransport(server))) as client:
        r = client.get("https://api.example.com/r")
    assert r.text == "pay me somehow" and payer.spent_usd == "$0"


def test_a_refused_bill_raises_with_the_reasons():
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(402, headers={"PAYMENT-REQUIRED": bill("$50").to_header()})

    payer = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    with httpx.Client(transport=PaymentTransport(payer, httpx.MockTransport(server))) as client, \
            pytest.raises(paywire.PaywireError) as info:
        client.get("https://api.example.com/r")
    assert info.value.code == "no_acceptable_offer" and info.value.refusals


# The middleware's configuration


def test_bad_routes_fail_at_start_up():
    from paywire.asgi import PaymentMiddleware

    async def app(scope, receive, send):  # pragma: no cover - never called
        pass

    with pytest.raises(paywire.PaywireError) as info:
        PaymentMiddleware(app, {"GET weather": paywire.PriceTag("eip155:84532", PAY_TO, "$0.01")}, facilitator=object())
    assert "METHOD" in info.value.message
    with pytest.raises(paywire.PaywireError) as info:
        PaymentMiddleware(app, {"GET /w": paywire.PriceTag("eip155:999999", PAY_TO, "$0.01")}, facilitator=object())
    assert info.value.code in paywire.error_codes()
    mw = PaymentMiddleware(app, {"/items/{id}": paywire.PriceTag("eip155:84532", PAY_TO, "$0.01"), "GET /files/*": paywire.PriceTag("eip155:84532", PAY_TO, "$0.02")}, facilitator=object())
    assert mw.gate.route_for("POST", "/items/7") is not None
    assert mw.gate.route_for("GET", "/items/7/x") is None
    assert mw.gate.route_for("GET", "/files/a/b.txt") is not None
    assert mw.gate.route_for("PUT", "/files/a") is None


def test_the_clients_contract_comes_from_the_core():
    assert paywire.carries_payment({"x-PAYMENT": "abc"}) and not paywire.carries_payment([("accept", "*/*")])
    pending = paywire.SettleResponse.from_json(
        json.dumps({"success": False, "errorReason": "settlement_pending", "transaction": "0x1", "network": "eip155:8453"})
    )
    assert paywire.outcome_is_open(402, pending) and paywire.outcome_is_open(503)
    assert not paywire.outcome_is_open(402) and not paywire.outcome_is_open(200)


def test_errors_raised_by_the_glue_are_the_cores():
    from paywire._paywire import new_error

    e = new_error("facilitator_unreachable", "down", PAYER)
    assert (e.code, e.message, e.category, e.payer) == ("facilitator_unreachable", "down", "upstream", PAYER)
    with pytest.raises(paywire.PaywireError) as info:
        new_error("not_a_code", "x")
    assert info.value.code == "invalid_argument"


def test_channels_export_and_import_between_payers() -> None:
    """A payer's batch-settlement channels leave as JSON text and come back into another payer; a malformed
    text is refused and changes nothing."""
    first = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    assert json.loads(first.export_channels()) == {"version": 1, "channels": []}
    state = {"version": 1, "channels": [{"channelId": "0x" + "ab" * 32, "charged": "3000", "balance": "100000",
                                         "distrusted": False}]}
    second = paywire.Payer(paywire.LocalSigner(PAYER_KEY))
    assert second.import_channels(json.dumps(state)) == 1
    assert json.loads(second.export_channels()) == state
    with pytest.raises(paywire.PaywireError) as refused:
        second.import_channels('{"version": 1, "channels": [{"channelId": "0x12"}]}')
    assert refused.value.code == "invalid_argument"
    assert json.loads(second.export_channels()) == state
