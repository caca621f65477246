"""Payments that move real USDC on anvil through paywire's facilitator: what settles, what is refused with
which reason (and moves nothing), and what must never happen twice."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import httpx
import pytest
from conftest import (
    PAY_TO,
    PRICE_ATOMIC,
    UNFUNDED_KEY,
    USDC,
    WALLET,
    Chain,
    Facilitator,
    balances,
    charged_once,
    payer_key,
)
from localnet import env

import paywire


def address(key: str) -> str:
    return paywire.LocalSigner(key).address


def bill(network: str = "eip155:84532", version: int = 2, **tag: Any) -> paywire.PaymentRequired:
    price = None if "amount" in tag else "$0.01"
    return paywire.build_payment_required(
        "http://e2e.test/weather", [paywire.PriceTag(network, tag.pop("pay_to", PAY_TO), price, **tag)], x402_version=version
    )


def sign(key: str, the_bill: paywire.PaymentRequired, clock: Optional[int] = None) -> paywire.PaymentPayload:
    header = paywire.Payer(paywire.LocalSigner(key), clock=clock).pay(the_bill)
    return paywire.PaymentPayload.from_header(header.value)


def call(f: Facilitator, path: str, payment: paywire.PaymentPayload, requirements: paywire.PaymentRequirements) -> Dict[str, Any]:
    body = paywire.facilitator_request(payment, requirements)
    response = httpx.post(f"{f.url}{path}", content=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 200, response.text
    answer: Dict[str, Any] = response.json()
    return answer


def test_supported_names_the_chain_and_the_settling_key(facilitator: Facilitator) -> None:
    supported = httpx.get(f"{facilitator.url}/supported").json()
    assert {"x402Version": 2, "scheme": "exact", "network": "eip155:84532"} in supported["kinds"]
    assert {"x402Version": 1, "scheme": "exact", "network": "base-sepolia"} in supported["kinds"]
    assert supported["signers"]["eip155:*"] == ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]


@pytest.mark.parametrize("version", [2, 1])
def test_a_payment_settles_and_moves_exactly_the_price(chain: Chain, facilitator: Facilitator, version: int) -> None:
    key = payer_key()
    b = bill("eip155:84532" if version == 2 else "base-sepolia", version)
    payment = sign(key, b)
    before = balances(chain, address(key))
    assert call(facilitator, "/verify", payment, b.accepts[0]) == {"isValid": True, "payer": address(key)}
    settled = call(facilitator, "/settle", payment, b.accepts[0])
    assert settled["success"] is True, settled
    assert settled["payer"] == address(key)
    assert settled["network"] == b.accepts[0].network
    receipt = chain.receipt(settled["transaction"])
    assert receipt["status"] == "0x1"
    assert receipt["from"].lower() == "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
    after = balances(chain, address(key))
    assert (before[0] - after[0], after[1] - before[1]) == (PRICE_ATOMIC, PRICE_ATOMIC)


def test_settling_twice_broadcasts_once_and_a_replay_is_refused(chain: Chain, facilitator: Facilitator) -> None:
    key = payer_key()
    b = bill()
    payment = sign(key, b)
    before = balances(chain, address(key))
    first = call(facilitator, "/settle", payment, b.accepts[0])
    # The settle answer was lost and the server settles again: the same transaction, no second transfer.
    second = call(facilitator, "/settle", payment, b.accepts[0])
    assert first["success"] and second == first
    replay = call(facilitator, "/verify", payment, b.accepts[0])
    assert replay["isValid"] is False
    assert replay["invalidReason"] == "invalid_exact_evm_nonce_already_used"
    assert chain.balance(address(key)) == before[0] - PRICE_ATOMIC


def _refusal_cases() -> Dict[str, Any]:
    """name → (how the payment is made and sent, the reason expected)."""
    now = int(time.time())

    def tampered(**tag: Any) -> Any:
        def make(key: str) -> Tuple[paywire.PaymentPayload, paywire.PaymentRequirements]:
            return sign(key, bill()), bill(**tag).accepts[0]

        return make

    def signed(the_bill: Any, clock: Optional[int] = None, key: Optional[str] = None) -> Any:
        def make(payer: str) -> Tuple[paywire.PaymentPayload, paywire.PaymentRequirements]:
            b = the_bill()
            return sign(key or payer, b, clock), b.accepts[0]

        return make

    return {
        "expired": (signed(bill, clock=now - 3600), "invalid_exact_evm_payload_authorization_valid_before"),
        # v1 payments carry validAfter = now - 600: signed an hour ahead, it is not valid yet.
        "not yet valid": (
            signed(lambda: bill("base-sepolia", 1), clock=now + 3600),
            "invalid_exact_evm_payload_authorization_valid_after",
        ),
        "wrong amount": (tampered(amount=20_000, asset=USDC, eip712_name="USDC", eip712_version="2"),
                         "invalid_exact_evm_payload_authorization_value_mismatch"),
        "wrong payee": (tampered(pay_to="0x209693Bc6afc0C5328bA36FaF03C514EF312287C"),
                        "invalid_exact_evm_payload_recipient_mismatch"),
        "wrong chain id": (signed(lambda: bill("eip155:8453")), "invalid_network"),
        # Signed for a token named "USD Coin": offline the signature checks out against the offer it names,
        # but the token on chain is "USDC", so the transfer cannot go through.
        "wrong EIP-712 domain name": (
            signed(lambda: bill(amount=PRICE_ATOMIC, asset=USDC, eip712_name="USD Coin", eip712_version="2")),
            "invalid_exact_evm_transaction_simulation_failed",
        ),
        "insufficient balance": (signed(bill, key=UNFUNDED_KEY), "insufficient_funds"),
    }


@pytest.mark.parametrize("case", list(_refusal_cases()))
def test_a_refused_payment_moves_nothing(chain: Chain, facilitator: Facilitator, case: str) -> None:
    make, reason = _refusal_cases()[case]
    key = payer_key()
    payment, requirements = make(key)
    payer = payment.payload["authorization"]["from"]
    before = balances(chain, payer)
    verdict = call(facilitator, "/verify", payment, requirements)
    assert (verdict["isValid"], verdict.get("invalidReason")) == (False, reason), verdict
    assert verdict["invalidMessage"]
    settled = call(facilitator, "/settle", payment, requirements)
    assert (settled["success"], settled.get("errorReason"), settled["transaction"]) == (False, reason, ""), settled
    assert balances(chain, payer) == before


def test_a_malformed_request_is_a_400_with_the_reason(facilitator: Facilitator) -> None:
    for path in ("/verify", "/settle"):
        response = httpx.post(f"{facilitator.url}{path}", content=b'{"x402Version": 2}')
        assert response.status_code == 400
        body = response.json()
        assert body.get("invalidReason", body.get("errorReason")) == "invalid_payload"


def test_fifty_concurrent_settles_each_settle_once(chain: Chain, facilitator: Facilitator) -> None:
    keys = [payer_key() for _ in range(50)]
    b = bill()
    payments = [sign(k, b) for k in keys]
    payee_before = chain.balance(PAY_TO)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda p: call(facilitator, "/settle", p, b.accepts[0]), payments))
    failed = [a for a in answers if not a["success"]]
    assert failed == [], failed[:3]
    assert len({a["transaction"] for a in answers}) == 50
    assert chain.balance(PAY_TO) - payee_before == 50 * PRICE_ATOMIC
    assert all(chain.balance(address(k)) == 1_000_000_000 - PRICE_ATOMIC for k in keys)


def test_a_restart_between_verify_and_settle_loses_nothing(chain: Chain, facilitator: Facilitator) -> None:
    key = payer_key()
    b = bill()
    payment = sign(key, b)
    assert call(facilitator, "/verify", payment, b.accepts[0])["isValid"]
    facilitator.restart()
    settled = call(facilitator, "/settle", payment, b.accepts[0])
    assert settled["success"], settled
    facilitator.restart()
    # The settlement is in the database: settling again after a restart repeats it, broadcasting nothing.
    assert call(facilitator, "/settle", payment, b.accepts[0]) == settled
    assert chain.balance(address(key)) == 1_000_000_000 - PRICE_ATOMIC


def _smart_wallet(chain: Chain, owner: str) -> None:
    """Puts Circle's MockERC1271Wallet (from the token's npm package) at WALLET, owned by `owner`: its
    isValidSignature accepts what `owner` signs."""
    artifact = Path(env("PAYWIRE_USDC_PACKAGE")) / "artifacts/hardhat/contracts/test/MockERC1271Wallet.sol/MockERC1271Wallet.json"
    chain.rpc("anvil_setCode", [WALLET, json.loads(artifact.read_text())["deployedBytecode"]])
    chain.rpc("anvil_setStorageAt", [WALLET, "0x0", "0x" + owner.lower().removeprefix("0x").rjust(64, "0")])


def _wallet_payment(the_bill: paywire.PaymentRequired, signing_key: str) -> paywire.PaymentPayload:
    """A payment from WALLET: an EIP-3009 authorization whose EIP-712 digest `signing_key` signs."""
    payload = json.loads(paywire.decode_header_text(paywire.Payer(paywire.LocalSigner(signing_key)).pay(the_bill).value))
    authorization = payload["payload"]["authorization"]
    authorization["from"] = WALLET
    typed = {
        "domain": {"name": "USDC", "version": "2", "chainId": 84532, "verifyingContract": USDC},
        "primaryType": "TransferWithAuthorization",
        "message": {k: int(v) if k in ("value", "validAfter", "validBefore") else v for k, v in authorization.items()},
    }
    digest = paywire.typed_data_hashes(typed)["digest"]
    payload["payload"]["signature"] = "0x" + paywire.LocalSigner(signing_key).sign_digest(digest).hex()
    return paywire.PaymentPayload.from_json(json.dumps(payload))


def test_a_smart_wallet_payer_settles_through_eip1271(chain: Chain, facilitator: Facilitator) -> None:
    owner, stranger = payer_key(), payer_key()
    _smart_wallet(chain, address(owner))
    b = bill()
    before = balances(chain, WALLET)
    # Signed by someone the wallet does not accept: refused on chain's word, nothing moves.
    forged = _wallet_payment(b, stranger)
    verdict = call(facilitator, "/verify", forged, b.accepts[0])
    assert (verdict["isValid"], verdict["invalidReason"]) == (False, "invalid_exact_evm_transaction_simulation_failed")
    assert call(facilitator, "/settle", forged, b.accepts[0])["success"] is False
    assert balances(chain, WALLET) == before
    # Signed by its owner: the token asks the wallet (EIP-1271), which accepts; the wallet pays.
    payment = _wallet_payment(b, owner)
    assert call(facilitator, "/verify", payment, b.accepts[0]) == {"isValid": True, "payer": WALLET}
    settled = call(facilitator, "/settle", payment, b.accepts[0])
    assert settled["success"] is True and settled["payer"] == WALLET, settled
    charged_once(chain, settled["transaction"], WALLET, before)
