"""Every file of tests/vectors/ through the Python API (formats: tests/vectors/README.md)."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict

import pytest
from conftest import VECTORS, vectors
from exchange_vectors import run_client, run_gate, run_routes

import paywire


def check_error(name: str, expected_code: str, call: Callable[[], Any]) -> paywire.PaywireError:
    with pytest.raises(paywire.PaywireError) as info:
        call()
    assert info.value.code == expected_code, f"{name}: {info.value}"
    assert info.value.message and info.value.category in (
        "malformed_input",
        "refused",
        "configuration",
        "local",
        "upstream",
    )
    return info.value


def bill_of(wire: Dict[str, Any]) -> paywire.PaymentRequired:
    if "header" in wire:
        return paywire.PaymentRequired.from_header(wire["header"])
    return paywire.PaymentRequired.from_body(wire["body"])


def run_headers(case: Dict[str, Any]) -> None:
    value, text = case["value"], case["jsonText"]
    assert paywire.decode_header_text(value) == text
    assert paywire.decode_header_json(value) == case["json"]
    assert paywire.encode_json_text(text) == value
    assert paywire.decode(value)["message"] == case["message"]
    parse = {
        "PaymentRequired": paywire.PaymentRequired.from_header,
        "PaymentPayload": paywire.PaymentPayload.from_header,
        "SettleResponse": paywire.SettleResponse.from_header,
    }[case["message"]]
    message = parse(value)
    if case["message"] != "SettleResponse":
        assert message.to_header() == value, "re-encoding changed the bytes"


def run_responses(case: Dict[str, Any]) -> None:
    headers = [tuple(h) for h in case["headers"]]
    body = case["body"].encode()
    expect = case["expect"]

    def read() -> Any:
        if case["read"] == "paymentRequired":
            bill = paywire.PaymentRequired.from_response(headers, body)
            return bill.x402_version, json.loads(bill.to_json())
        if case["read"] == "payment":
            payment = paywire.read_payment(headers)
            return None if payment is None else (payment.x402_version, payment.to_dict())
        settlement = paywire.read_settlement(headers)
        return None if settlement is None else (None, settlement.to_dict())

    if "error" in expect:
        check_error(case["name"], expect["error"], read)
    elif "none" in expect:
        assert read() is None
    else:
        version, got = read()
        if "x402Version" in expect:
            assert version == expect["x402Version"]
        assert got == expect["json"]


def run_networks(case: Dict[str, Any]) -> None:
    expect = case["expect"]
    if "error" in expect:
        check_error(case["name"], expect["error"], lambda: paywire.chain_id(case["network"]))
    else:
        assert paywire.chain_id(case["network"]) == expect["chainId"]
        assert paywire.to_caip2(case["network"]) == expect["caip2"]


def typed(domain: Dict[str, Any], primary_type: str, message: Dict[str, Any]) -> Dict[str, bytes]:
    return paywire.typed_data_hashes({"domain": domain, "primaryType": primary_type, "message": message})


def run_assets(case: Dict[str, Any], index: int) -> None:
    ours = paywire.known_assets()[index]
    theirs = case["asset"]
    assert ours["chainId"] == paywire.chain_id(theirs["network"]), "table order differs"
    for key in ("address", "eip712Name", "eip712Version", "decimals", "symbol", "transferMethod", "supportsEip2612"):
        assert ours[key] == theirs[key], key
    domain = {
        "name": ours["eip712Name"],
        "version": ours["eip712Version"],
        "chainId": ours["chainId"],
        "verifyingContract": ours["address"],
    }
    transfer = case["transfer"]
    hashes = typed(domain, "TransferWithAuthorization", transfer["message"])
    assert "0x" + hashes["domain_separator"].hex() == case["domainSeparator"]
    assert "0x" + hashes["digest"].hex() == transfer["digest"]
    signature = paywire.LocalSigner(transfer["key"]).sign_digest(hashes["digest"])
    assert "0x" + signature.hex() == transfer["signature"]


def run_typed_data(case: Dict[str, Any]) -> None:
    hashes = typed(case["domain"], case["primaryType"], case["message"])
    assert "0x" + hashes["domain_separator"].hex() == case["domainSeparator"]
    assert "0x" + hashes["digest"].hex() == case["digest"]
    signature = bytes.fromhex(case["signature"][2:])
    assert paywire.recover_address(hashes["digest"], signature) == case["signer"]
    if "key" in case:
        assert paywire.LocalSigner(case["key"]).sign_digest(hashes["digest"]) == signature


def run_money(case: Dict[str, Any]) -> None:
    def offer_of() -> paywire.PaymentRequirements:
        # A tag that cannot make an offer is refused when it is made.
        tag = paywire.PriceTag(case["network"], case["payTo"], case["price"])
        return tag.to_requirements("https://example.com/r")

    expect = case["expect"]
    if "error" in expect:
        check_error(case["name"], expect["error"], offer_of)
        return
    offer = offer_of()
    assert str(offer.amount) == expect["amount"]
    assert offer.asset == expect["asset"]
    assert (offer.extra or {}) == expect["extra"]


def run_payments(case: Dict[str, Any]) -> None:
    payer = paywire.Payer(
        paywire.LocalSigner(case["key"]),
        expiry_margin=case["expiryMargin"],
        clock=case["now"],
        randomness=bytes.fromhex(case["nonce"][2:]),
    )
    nonce = int(case["eip2612Nonce"]) if "eip2612Nonce" in case else None
    header = payer.pay(bill_of(case["bill"]), eip2612_nonce=nonce)
    expect = case["expect"]
    assert header.offer_index == expect["offerIndex"]
    assert header.name == expect["headerName"]
    assert header.value == expect["headerValue"], "paywire's header differs from @x402/core's"


def run_selection(case: Dict[str, Any]) -> None:
    payer = paywire.Payer(
        paywire.LocalSigner(case["key"]),
        paywire.Policy.from_dict(case["policy"]),
        clock=case["now"],
        randomness=bytes.fromhex(case["nonce"][2:]),
    )
    for step in case["steps"]:
        bill = bill_of(step["bill"])
        expect = step["expect"]
        if "index" in expect:
            assert payer.pay(bill).offer_index == expect["index"]
        else:
            err = check_error(case["name"], expect["error"], lambda bill=bill: payer.pay(bill))
            assert [r["index"] for r in err.refusals] == expect["refused"]


def run_verification(case: Dict[str, Any]) -> None:
    payment = paywire.PaymentPayload.from_header(case["payment"])
    requirements = paywire.PaymentRequirements.from_json(json.dumps(case["requirements"]))
    verdict = paywire.verify_to_response(payment, requirements, case["now"])
    expect = case["expect"]
    assert verdict.is_valid == expect["isValid"], verdict.invalid_message
    assert verdict.invalid_reason == expect.get("invalidReason")
    assert verdict.payer == expect["payer"]
    # The raising form agrees with the verdict.
    if expect["isValid"]:
        assert paywire.verify_payment(payment, requirements, case["now"]).payer == expect["payer"]
    else:
        err = check_error(case["name"], expect["invalidReason"], lambda: paywire.verify_payment(payment, requirements, case["now"]))
        assert err.payer == expect["payer"]


def run_credentials(case: Dict[str, Any]) -> None:
    signer = paywire.LocalSigner(case["key"])
    issuer = paywire.Issuer(signer, case["format"])
    assert issuer.address == case["signer"]
    assert issuer.kid == case["kid"]
    given = case["input"]
    if case["kind"] == "offer":
        r = given["requirements"]
        requirements = paywire.PaymentRequirements.from_json(json.dumps({**r, "maxTimeoutSeconds": 60}))
        ours = issuer.issue_offer(requirements, given["resourceUrl"], given["acceptIndex"], given["validUntil"])
        assert ours.to_dict() == case["expect"]
        official = paywire.SignedOffer.from_dict(case["expect"])
        assert official.verify([case["signer"]], given["validUntil"])["signer"] == case["signer"]
        assert official.describes(requirements)
    else:
        ours = issuer.issue_receipt(
            given["resourceUrl"], given["payer"], given["network"], given.get("transaction"), given["issuedAt"]
        )
        assert ours.to_dict() == case["expect"]
        verified = paywire.SignedReceipt.from_dict(case["expect"]).verify([case["signer"]])
        assert verified["payload"]["payer"] == given["payer"]
        # A receipt without a transaction states an empty one.
        assert (verified["payload"].get("transaction") or None) == given.get("transaction")


def run_malformed(case: Dict[str, Any]) -> None:
    parse = {
        "header": paywire.decode_header_json,
        "paymentRequired": paywire.PaymentRequired.from_header,
        "payment": paywire.PaymentPayload.from_header,
        "settleResponse": paywire.SettleResponse.from_header,
    }[case["kind"]]
    check_error(case["name"], case["error"], lambda: parse(case["input"]))


RUNNERS: Dict[str, Callable[..., None]] = {
    "headers": run_headers,
    "responses": run_responses,
    "networks": run_networks,
    "assets": run_assets,
    "typed_data": run_typed_data,
    "money": run_money,
    "payments": run_payments,
    "selection": run_selection,
    "verification": run_verification,
    "credentials": run_credentials,
    "malformed": run_malformed,
    "routes": run_routes,
    "gate": run_gate,
    "client": run_client,
}


def test_every_vector_file_has_a_runner() -> None:
    files = sorted(p.stem for p in VECTORS.glob("*.json"))
    assert files == sorted(RUNNERS), "a vector file has no Python runner, or a runner has no file"


def test_the_asset_table_has_exactly_the_vector_entries() -> None:
    assert len(paywire.known_assets()) == len(vectors("assets.json")["cases"])


def _cases():
    for file in sorted(RUNNERS):
        data = vectors(f"{file}.json")
        assert data["formatVersion"] == 1
        assert data["cases"], f"{file}.json has no cases"
        for index, case in enumerate(data["cases"]):
            yield pytest.param(file, index, case, id=f"{file}: {case['name']}")


@pytest.mark.parametrize("file,index,case", list(_cases()))
def test_vector(file: str, index: int, case: Dict[str, Any]) -> None:
    if file == "assets":
        run_assets(case, index)
    else:
        RUNNERS[file](case)
