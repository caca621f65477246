"""Hooks over real HTTP on loopback: a FastAPI app behind the ASGI middleware and a Flask app behind the WSGI
middleware, served by uvicorn and werkzeug; paywire's httpx and requests clients; the facilitator double
(facilitator_double.py) served by uvicorn. The points and what a hook may change are the core's (the
exchange vectors hold them for every language); these tests prove the Python glue runs them."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import httpx
import pytest
import requests
from conftest import PAY_TO, PAYER, PAYER_KEY, served, served_wsgi
from fastapi import FastAPI
from flask import Flask

import paywire
import paywire.httpx
from paywire.asgi import PaymentMiddleware
from paywire.facilitator import AsyncFacilitatorClient, FacilitatorClient
from paywire.hooks import Abort, HookContext, Hooks
from paywire.httpx import AsyncPaymentTransport, PaymentTransport
from paywire.requests import PaymentAdapter
from paywire.wsgi import PaymentMiddleware as WsgiPaymentMiddleware

NETWORK = "eip155:84532"
TAG = paywire.PriceTag(NETWORK, PAY_TO, "$0.001")


def recording(seen: List[HookContext], points: List[str], hooks: Hooks | None = None) -> Hooks:
    hooks = hooks or Hooks()
    for point in points:
        hooks.on(point, seen.append)
    return hooks


def shop(facilitator_url: str, hooks: Hooks) -> tuple[FastAPI, Dict[str, int]]:
    app = FastAPI()
    calls = {"weather": 0}

    @app.get("/weather")
    async def weather() -> Dict[str, str]:
        calls["weather"] += 1
        return {"forecast": "sunny"}

    app.add_middleware(
        PaymentMiddleware,
        routes={"GET /weather": TAG},
        facilitator=AsyncFacilitatorClient(facilitator_url, timeout=5),
        hooks=hooks,
    )
    return app, calls


def payer() -> paywire.Payer:
    return paywire.Payer(paywire.LocalSigner(PAYER_KEY))


def test_server_and_client_hooks_run_in_order_with_their_context(facilitator: Any) -> None:
    server_seen: List[HookContext] = []
    server_points = ["before_verify", "after_verify", "before_settle", "after_settle", "verify_failure", "settle_failure"]
    app, calls = shop(facilitator.url, recording(server_seen, server_points))
    client_seen: List[HookContext] = []
    client_hooks = recording(client_seen, ["before_payment_creation", "after_payment_creation"])
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer(), hooks=client_hooks)) as client:
        response = client.get(f"{url}/weather")
        assert response.status_code == 200, response.text
        # The same payment again is answered from the record: no server hook runs a second time.
        again = httpx.get(f"{url}/weather", headers={"PAYMENT-SIGNATURE": paywire.httpx.payment(response).value})
        assert again.status_code == 200
    assert [c.hook for c in client_seen] == ["before_payment_creation", "after_payment_creation"]
    before, after = client_seen
    assert before.resource == f"{url}/weather" and before.method == "GET"
    assert before.payment_required is not None and before.payment_required["accepts"][0]["payTo"] == PAY_TO
    assert before.payment_payload is None
    assert after.payer == PAYER and after.payment_payload is not None and after.requirements is not None
    assert [c.hook for c in server_seen] == ["before_verify", "after_verify", "before_settle", "after_settle"]
    assert all(c.payer == PAYER and c.resource == f"{url}/weather" for c in server_seen)
    assert server_seen[1].verify_response is not None and server_seen[1].verify_response["isValid"] is True
    settled = server_seen[3].settle_response
    assert settled is not None and settled["success"] is True and settled["transaction"].startswith("0x")
    assert calls["weather"] == 1 and facilitator.settle_calls == 1


def test_a_server_hook_aborts_before_verify_and_nothing_is_charged(facilitator: Any) -> None:
    hooks = Hooks().on_before_verify(
        lambda ctx: Abort("blocked_payer", "this wallet is blocked") if ctx.payer == PAYER else None
    )
    app, calls = shop(facilitator.url, hooks)
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer())) as client:
        response = client.get(f"{url}/weather")
    assert response.status_code == 402
    assert response.json() == {"error": "blocked_payer", "message": "this wallet is blocked"}
    assert paywire.decode_header_json(response.headers["payment-required"])["error"] == "blocked_payer"
    assert calls["weather"] == 0 and facilitator.verify_calls == 0 and facilitator.settle_calls == 0


def test_an_async_hook_aborts_before_settle_and_the_content_is_never_sent(facilitator: Any) -> None:
    async def refuse(ctx: HookContext) -> Abort:
        await asyncio.sleep(0)
        return Abort("not_today")

    app, calls = shop(facilitator.url, Hooks().on_before_settle(refuse))
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer())) as client:
        response = client.get(f"{url}/weather")
    assert response.status_code == 402 and "sunny" not in response.text
    assert response.json()["error"] == "not_today"
    assert calls["weather"] == 1 and facilitator.settle_calls == 0


def test_a_hook_that_raises_before_verify_answers_500_and_charges_nothing(facilitator: Any, caplog: Any) -> None:
    def broken(ctx: HookContext) -> None:
        raise KeyError("quota")

    app, calls = shop(facilitator.url, Hooks().on_before_verify(broken))
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer())) as client:
        response = client.get(f"{url}/weather")
    assert response.status_code == 500 and response.json()["error"] == "hook_failed"
    assert "quota" not in response.text  # the details go to the log only
    assert any("KeyError" in r.getMessage() for r in caplog.records)
    assert calls["weather"] == 0 and facilitator.verify_calls == 0


def test_hooks_after_the_settlement_cannot_take_the_content_back(facilitator: Any, caplog: Any) -> None:
    def late(ctx: HookContext) -> Abort:
        raise RuntimeError("ledger down")

    app, calls = shop(facilitator.url, Hooks().on_after_settle(late).on_after_settle(lambda ctx: Abort("too_late")))
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer())) as client:
        response = client.get(f"{url}/weather")
    assert response.status_code == 200 and response.json() == {"forecast": "sunny"}
    assert facilitator.settle_calls == 1
    assert any("ledger down" in r.getMessage() for r in caplog.records)


def test_failure_hooks_see_the_facilitators_refusal(facilitator: Any) -> None:
    seen: List[HookContext] = []
    app, calls = shop(facilitator.url, recording(seen, ["verify_failure", "settle_failure"]))
    facilitator.mode = "settle_fails"
    with served(app) as url, httpx.Client(transport=PaymentTransport(payer())) as client:
        settle_refused = client.get(f"{url}/weather")
        facilitator.mode = "verify_invalid"
        verify_refused = httpx.Client(transport=PaymentTransport(payer())).get(f"{url}/weather")
    assert settle_refused.status_code == 402 and verify_refused.status_code == 402
    assert [c.hook for c in seen] == ["settle_failure", "verify_failure"]
    assert seen[0].error is not None and seen[0].error["code"] == "insufficient_funds"
    assert seen[0].settle_response is not None and seen[0].settle_response["success"] is False
    assert seen[1].verify_response is not None and seen[1].verify_response["isValid"] is False


def test_a_client_hook_aborts_before_paying_and_nothing_is_signed(facilitator: Any) -> None:
    app, calls = shop(facilitator.url, Hooks())
    cap = Hooks().on_before_payment_creation(
        lambda ctx: Abort("too_expensive") if int(ctx.payment_required["accepts"][0]["amount"]) > 100 else None  # type: ignore[index]
    )
    with (
        served(app) as url,
        httpx.Client(transport=PaymentTransport(payer(), hooks=cap)) as client,
        pytest.raises(paywire.PaywireError) as raised,
    ):
        client.get(f"{url}/weather")
    assert raised.value.code == "payment_aborted" and "too_expensive" in raised.value.message
    assert facilitator.verify_calls == 0 and calls["weather"] == 0


def test_the_failure_hook_sees_a_policy_refusal(facilitator: Any) -> None:
    seen: List[HookContext] = []
    app, _ = shop(facilitator.url, Hooks())
    strict = paywire.Payer(paywire.LocalSigner(PAYER_KEY), paywire.Policy(max_per_payment="$0.0001"))
    hooks = recording(seen, ["payment_creation_failure"])
    with (
        served(app) as url,
        httpx.Client(transport=PaymentTransport(strict, hooks=hooks)) as client,
        pytest.raises(paywire.PaywireError) as raised,
    ):
        client.get(f"{url}/weather")
    assert raised.value.code == "no_acceptable_offer"
    assert [c.hook for c in seen] == ["payment_creation_failure"]
    assert seen[0].error is not None and seen[0].error["code"] == "no_acceptable_offer"


def test_async_client_hooks_are_awaited(facilitator: Any) -> None:
    seen: List[str] = []

    async def note(ctx: HookContext) -> None:
        await asyncio.sleep(0)
        seen.append(ctx.hook)

    app, _ = shop(facilitator.url, Hooks())
    hooks = Hooks().on_before_payment_creation(note).on_after_payment_creation(note)

    async def go(url: str) -> int:
        async with httpx.AsyncClient(transport=AsyncPaymentTransport(payer(), hooks=hooks)) as client:
            return (await client.get(f"{url}/weather")).status_code

    with served(app) as url:
        assert asyncio.run(go(url)) == 200
    assert seen == ["before_payment_creation", "after_payment_creation"]


def test_wsgi_and_requests_run_the_same_hooks(facilitator: Any) -> None:
    flask_app = Flask(__name__)
    served_count = {"n": 0}

    @flask_app.get("/weather")
    def weather() -> Dict[str, str]:
        served_count["n"] += 1
        return {"forecast": "sunny"}

    server_seen: List[HookContext] = []
    flask_app.wsgi_app = WsgiPaymentMiddleware(  # type: ignore[method-assign]
        flask_app.wsgi_app,
        routes={"GET /weather": TAG},
        facilitator=FacilitatorClient(facilitator.url, timeout=5),
        url_map=flask_app.url_map,
        hooks=recording(server_seen, ["before_verify", "after_settle"]),
    )
    client_seen: List[HookContext] = []
    session = requests.Session()
    session.mount("http://", PaymentAdapter(payer(), hooks=recording(client_seen, ["after_payment_creation"])))
    with served_wsgi(flask_app) as url:
        assert session.get(f"{url}/weather").status_code == 200
        blocking = Hooks().on_before_payment_creation(lambda ctx: Abort("no"))
        other = requests.Session()
        other.mount("http://", PaymentAdapter(payer(), hooks=blocking))
        with pytest.raises(paywire.PaywireError) as raised:
            other.get(f"{url}/weather")
    assert raised.value.code == "payment_aborted"
    assert [c.hook for c in server_seen] == ["before_verify", "after_settle"]
    assert [c.hook for c in client_seen] == ["after_payment_creation"] and client_seen[0].payer == PAYER
    assert served_count["n"] == 1


def test_a_coroutine_hook_in_a_sync_client_fails_closed(facilitator: Any) -> None:
    async def never(ctx: HookContext) -> None:
        return None

    app, _ = shop(facilitator.url, Hooks())
    with served(app) as url, httpx.Client(
        transport=PaymentTransport(payer(), hooks=Hooks().on_before_payment_creation(never))
    ) as client, pytest.raises(paywire.PaywireError) as raised:
        client.get(f"{url}/weather")
    assert raised.value.code == "hook_failed" and "coroutine" in raised.value.message


def test_unknown_points_and_uncallable_hooks_are_refused() -> None:
    with pytest.raises(ValueError, match="before_verify"):
        Hooks().on("before_everything", print)
    with pytest.raises(TypeError):
        Hooks().on("after_settle", "not a function")  # type: ignore[arg-type]
