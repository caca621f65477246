"""The middleware driven directly through the ASGI protocol, for what a real server rarely does on cue: a
client that disconnects as the paid response is sent, servers that offer sending files by path, cancelled
requests. The facilitator here is a stub object (the real-HTTP runs are in test_e2e.py)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any, Dict, List, Optional

import pytest
from conftest import PAY_TO, PAYER_KEY
from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route as StarletteRoute

import paywire
from paywire.asgi import Claims, MemoryStore, PaymentMiddleware

NETWORK = "eip155:84532"
TAG = paywire.PriceTag(NETWORK, PAY_TO, "$0.001")


class StubFacilitator:
    """Accepts every payment; counts calls."""

    def __init__(self) -> None:
        self.settled = 0

    async def verify(self, payment: paywire.PaymentPayload, requirements: paywire.PaymentRequirements) -> paywire.VerifyResponse:
        return paywire.VerifyResponse.from_json(json.dumps({"isValid": True, "payer": "0x0"}))

    async def settle(self, payment: paywire.PaymentPayload, requirements: paywire.PaymentRequirements) -> paywire.SettleResponse:
        self.settled += 1
        await asyncio.sleep(0)
        return paywire.SettleResponse.from_json(
            json.dumps({"success": True, "transaction": "0x" + "ab" * 32, "network": NETWORK})
        )


def scope(path: str, headers: Dict[str, str], extensions: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"shop.test")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("shop.test", 80),
        "extensions": extensions or {},
    }


async def call(app: Any, s: Dict[str, Any], fail_send: bool = False) -> List[Dict[str, Any]]:
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        if fail_send:
            raise OSError("the client went away")
        sent.append(message)

    await app(s, receive, send)
    return sent


def paid_headers(app: Any, path: str) -> Dict[str, str]:
    unpaid = asyncio.run(call(app, scope(path, {})))
    bill = dict(unpaid[0]["headers"])[b"payment-required"].decode()
    return paywire.Payer(paywire.LocalSigner(PAYER_KEY)).pay(bill).headers


def status_and_body(sent: List[Dict[str, Any]]) -> tuple:
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_files_are_held_and_sent_even_where_the_server_offers_pathsend():
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(b"paid file contents")
    try:

        async def download(request):
            return FileResponse(f.name)

        facilitator = StubFacilitator()
        app = PaymentMiddleware(
            Starlette(routes=[StarletteRoute("/file", download)]), {"GET /file": TAG}, facilitator=facilitator
        )
        headers = paid_headers(app, "/file")
        sent = asyncio.run(call(app, scope("/file", headers, {"http.response.pathsend": {}})))
        assert status_and_body(sent) == (200, b"paid file contents")
        assert facilitator.settled == 1
    finally:
        os.unlink(f.name)


def test_a_response_lost_in_sending_is_answered_again_without_a_second_settlement():
    calls = []

    async def weather(request):
        calls.append(1)
        return JSONResponse({"forecast": "sunny"})

    facilitator = StubFacilitator()
    app = PaymentMiddleware(
        Starlette(routes=[StarletteRoute("/weather", weather)]), {"GET /weather": TAG}, facilitator=facilitator
    )
    headers = paid_headers(app, "/weather")
    with pytest.raises(OSError):
        asyncio.run(call(app, scope("/weather", headers), fail_send=True))
    sent = asyncio.run(call(app, scope("/weather", headers)))
    assert status_and_body(sent) == (200, b'{"forecast":"sunny"}')
    assert facilitator.settled == 1 and len(calls) == 1


def test_a_cancelled_request_still_records_its_settlement():
    started = asyncio.Event()

    class SlowSettle(StubFacilitator):
        async def settle(self, payment, requirements):
            started.set()
            await asyncio.sleep(0.2)
            return await super().settle(payment, requirements)

    async def weather(request):
        return JSONResponse({"forecast": "sunny"})

    facilitator = SlowSettle()
    store = MemoryStore()
    app = PaymentMiddleware(
        Starlette(routes=[StarletteRoute("/weather", weather)]), {"GET /weather": TAG}, facilitator=facilitator, store=store
    )
    headers = paid_headers(app, "/weather")

    async def cancel_midway() -> List[Dict[str, Any]]:
        task = asyncio.ensure_future(call(app, scope("/weather", headers)))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await call(app, scope("/weather", headers))

    sent = asyncio.run(cancel_midway())
    assert status_and_body(sent) == (200, b'{"forecast":"sunny"}')
    assert facilitator.settled == 1


def test_a_facilitator_object_that_returns_the_wrong_type_is_a_502():
    class Wrong(StubFacilitator):
        async def verify(self, payment, requirements):
            return {"isValid": True}

    async def weather(request):
        return JSONResponse({"forecast": "sunny"})

    app = PaymentMiddleware(Starlette(routes=[StarletteRoute("/weather", weather)]), {"GET /weather": TAG}, facilitator=Wrong())
    sent = asyncio.run(call(app, scope("/weather", paid_headers(app, "/weather"))))
    status, body = status_and_body(sent)
    assert status == 502 and json.loads(body)["error"] == "invalid_facilitator_response"


def app_with(handler: Any, facilitator: Any, path: str = "/thing", methods: Optional[List[str]] = None, **options: Any) -> Any:
    inner = Starlette(routes=[StarletteRoute(path, handler, methods=methods or ["GET"])])
    tag = options.pop("tag", TAG)
    return PaymentMiddleware(inner, {path: tag}, facilitator=facilitator, **options)


class FlakySettle(StubFacilitator):
    """The first /settle fails without an answer (the outcome is unknown), later ones succeed."""

    def __init__(self, failure: BaseException) -> None:
        super().__init__()
        self.failure = failure
        self.attempts = 0

    async def settle(self, payment, requirements):
        self.attempts += 1
        if self.attempts == 1:
            raise self.failure
        return await super().settle(payment, requirements)


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("socket closed"), paywire._common.error("facilitator_unreachable", "timed out")],
    ids=["unexpected exception", "unreachable"],
)
def test_a_large_post_response_with_an_unknown_settlement_is_delivered_on_the_retry(failure):
    runs = []

    async def order(request):
        runs.append(1)
        return JSONResponse({"order": "x" * 5000})

    facilitator = FlakySettle(failure)
    app = app_with(order, facilitator, methods=["POST"], max_replay_bytes=10)
    bill = dict(asyncio.run(call(app, {**scope("/thing", {}), "method": "POST"}))[0]["headers"])[b"payment-required"]
    headers = paywire.Payer(paywire.LocalSigner(PAYER_KEY)).pay(bill.decode()).headers
    first = asyncio.run(call(app, {**scope("/thing", headers), "method": "POST"}))
    status, body = status_and_body(first)
    assert status == 502 and b"x" * 100 not in body
    again = asyncio.run(call(app, {**scope("/thing", headers), "method": "POST"}))
    status, body = status_and_body(again)
    assert status == 200 and json.loads(body) == {"order": "x" * 5000}
    assert len(runs) == 1 and facilitator.settled == 1


def test_one_authorization_sent_under_several_payment_ids_runs_once():
    declared = paywire.payment_identifier_declaration(False)
    runs = []

    async def thing(request):
        runs.append(1)
        await asyncio.sleep(0.05)
        return JSONResponse({"ok": True})

    facilitator = StubFacilitator()
    tag = paywire.PriceTag(NETWORK, PAY_TO, "$0.001", extensions={"payment-identifier": declared})
    app = app_with(thing, facilitator, tag=tag)
    bill = dict(asyncio.run(call(app, scope("/thing", {})))[0]["headers"])[b"payment-required"].decode()
    header = paywire.Payer(paywire.LocalSigner(PAYER_KEY)).pay(bill)
    forged = []
    for i in range(3):
        payload = json.loads(paywire.decode_header_text(header.value))
        payload["extensions"]["payment-identifier"]["info"]["id"] = f"pay_{i:020d}"
        forged.append({"PAYMENT-SIGNATURE": paywire.encode_json_text(json.dumps(payload))})

    async def all_at_once():
        return await asyncio.gather(*(call(app, scope("/thing", h)) for h in forged))

    statuses = sorted(status_and_body(sent)[0] for sent in asyncio.run(all_at_once()))
    assert statuses == [200, 402, 402]
    assert len(runs) == 1 and facilitator.settled == 1


def test_no_content_answers_carry_no_length():
    from starlette.responses import Response

    async def thing(request):
        return Response(status_code=204)

    app = app_with(thing, StubFacilitator())
    sent = asyncio.run(call(app, scope("/thing", paid_headers(app, "/thing"))))
    assert sent[0]["status"] == 204 and b"content-length" not in dict(sent[0]["headers"])


def test_a_bad_receipt_does_not_spoil_the_payment_sent_with_it():
    async def thing(request):
        return JSONResponse({"ok": True})

    issuer = paywire.LocalSigner.generate()
    app = app_with(thing, StubFacilitator(), access=paywire.AccessPolicy([issuer.address], 60))
    headers = {**paid_headers(app, "/thing"), paywire.RECEIPT_HEADER: "garbage"}
    assert status_and_body(asyncio.run(call(app, scope("/thing", headers))))[0] == 200
    status, _ = status_and_body(asyncio.run(call(app, scope("/thing", {paywire.RECEIPT_HEADER: "garbage"}))))
    assert status in (400, 402)


def test_scheduled_claims_start_and_stop_with_the_app_for_channel_routes_only() -> None:


    channel = paywire.PriceTag(NETWORK, PAY_TO, amount=1000, asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                               scheme="batch-settlement", extra={"receiverAuthorizer": PAY_TO})

    async def ok(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def run_lifespan(tag: paywire.PriceTag) -> tuple:
        claims = Claims(every_seconds=60)
        app = PaymentMiddleware(Starlette(routes=[StarletteRoute("/item", ok)]), {"GET /item": tag},
                                facilitator=StubFacilitator(), claims=claims)
        messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        while_running: List[bool] = []

        async def receive() -> Dict[str, Any]:
            message = messages.pop(0)
            if message["type"] == "lifespan.shutdown":
                while_running.append(claims._ticker is not None and not claims._ticker.done())
            return message

        async def send(message: Dict[str, Any]) -> None:
            pass

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return while_running[0], claims._ticker

    assert asyncio.run(run_lifespan(channel)) == (True, None)
    assert asyncio.run(run_lifespan(TAG)) == (False, None)
    with pytest.raises(ValueError):
        Claims(every_seconds=-1)


def test_a_claim_schedule_slower_than_half_the_withdraw_delay_is_refused_at_once() -> None:


    async def ok(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    channel = paywire.PriceTag(NETWORK, PAY_TO, amount=1000, asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                               scheme="batch-settlement", extra={"receiverAuthorizer": PAY_TO})
    app = Starlette(routes=[StarletteRoute("/item", ok)])
    with pytest.raises(paywire.PaywireError) as caught:
        PaymentMiddleware(app, {"GET /item": channel}, facilitator=StubFacilitator(), claims=Claims(every_seconds=3600))
    assert caught.value.code == "invalid_argument" and "claim at least every 450 s" in str(caught.value)
    # Claims by time off: the user runs them.
    PaymentMiddleware(app, {"GET /item": channel}, facilitator=StubFacilitator(), claims=Claims(every_seconds=0))


def test_the_facilitators_supported_answer_fills_in_what_a_price_tag_leaves_out() -> None:
    """As the official servers: an upto tag without facilitatorAddress takes the facilitator's upto key from its
    /supported answer; a batch-settlement tag without receiverAuthorizer takes the server's own key."""
    from starlette.testclient import TestClient

    async def ok(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    supported = paywire.SupportedResponse.from_json(json.dumps({"kinds": [
        {"x402Version": 2, "scheme": "upto", "network": NETWORK,
         "extra": {"facilitatorAddress": "0x1111111111111111111111111111111111111111"}}]}))
    usdc = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
    metered = paywire.PriceTag(NETWORK, PAY_TO, amount=1000, asset=usdc, scheme="upto")
    channel = paywire.PriceTag(NETWORK, PAY_TO, amount=1000, asset=usdc, scheme="batch-settlement")
    key = paywire.LocalSigner(PAYER_KEY)
    app = Starlette(routes=[StarletteRoute("/m", ok), StarletteRoute("/c", ok)])
    gated = PaymentMiddleware(app, {"GET /m": metered, "GET /c": channel}, facilitator=StubFacilitator(),
                              supported=supported, receiver_authorizer=key, claims=Claims(every_seconds=0))
    with TestClient(gated) as client:
        for path, member, value in (("/m", "facilitatorAddress", "0x1111111111111111111111111111111111111111"),
                                    ("/c", "receiverAuthorizer", key.address)):
            bill = paywire.PaymentRequired.from_header(client.get(path).headers["payment-required"])
            assert (bill.accepts[0].extra or {})[member] == value, path
    # Without the answer, the middleware says what is missing and where it comes from.
    with pytest.raises(paywire.PaywireError) as caught:
        PaymentMiddleware(app, {"GET /m": metered}, facilitator=StubFacilitator())
    assert "facilitatorAddress" in str(caught.value) and "/supported" in str(caught.value)
