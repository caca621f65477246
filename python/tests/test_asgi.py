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
from paywire.asgi import MemoryStore, PaymentMiddleware

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
