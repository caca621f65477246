"""python/README.md runs as written: its ```python blocks execute in order in one namespace, against real
servers on loopback. The README's API (https://api.example.com) is examples/paid_api.py served by uvicorn and
its facilitator (https://x402.org/facilitator) is the facilitator double; the app the README builds is served
too and paid for."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
from typing import Any, Dict, List

import httpx
from conftest import PAYER, PAYER_KEY, served, served_wsgi
from test_examples import load_paid_api
from test_passes import PassFacilitator

import paywire
import paywire.httpx

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def blocks() -> List[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_every_python_block_runs(facilitator, monkeypatch):
    monkeypatch.setenv("PAYWIRE_KEY", PAYER_KEY)
    namespace: Dict[str, Any] = {"__name__": "readme"}
    outputs: List[str] = []
    passes = PassFacilitator()
    with served(load_paid_api(facilitator.url)) as api, served(passes.app) as passes_url:
        for block in blocks():
            code = (
                block.replace("https://api.example.com", api)
                .replace("https://x402.org/facilitator", facilitator.url)
                .replace("https://passes.example.com", passes_url)
            )
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, str(README), "exec"), namespace)
            outputs.append(out.getvalue())
            if "app" in namespace:
                # The README's own paid API: unpaid gets the bill, paid gets the answer.
                app = namespace.pop("app")
                with served(app) as url:
                    assert httpx.get(f"{url}/weather").status_code == 402
                    with httpx.Client(transport=paywire.httpx.PaymentTransport(namespace["payer"])) as client:
                        paid = client.get(f"{url}/weather")
                    assert paid.json() == {"forecast": "sunny", "paid_by": PAYER}
            if "flask_app" in namespace:
                # The README's Flask app, the same way.
                with served_wsgi(namespace.pop("flask_app")) as url:
                    assert httpx.get(f"{url}/weather").status_code == 402
                    with httpx.Client(transport=paywire.httpx.PaymentTransport(namespace["payer"])) as client:
                        paid = client.get(f"{url}/weather")
                    assert paid.json() == {"forecast": "sunny", "paid_by": PAYER}
            if "with_passes" in namespace:
                # The README's app with passes: paid once, then a pass from the stand-in pass facilitator.
                with served(namespace.pop("with_passes")) as url:
                    client = namespace.pop("pass_client")
                    paid = client.get(f"{url}/weather")
                    again = client.get(f"{url}/weather")
                    client.close()
                    assert paywire.httpx.payment(paid) is not None and paywire.httpx.payment(again) is None
                    assert again.json() == {"forecast": "sunny", "paid_by": PAYER}
            if "members" in namespace:
                # The README's app with sign-in and hooks: paid once, then signed in to without paying.
                with served(namespace.pop("members")) as url:
                    with httpx.Client(transport=paywire.httpx.PaymentTransport(namespace["payer"])) as client:
                        paid = client.get(f"{url}/weather")
                        again = client.get(f"{url}/weather")
                    assert paid.json() == again.json() == {"forecast": "sunny", "paid_by": PAYER}
                    assert paywire.httpx.payment(paid) is not None and paywire.httpx.payment(again) is None
                    assert [payer for payer, _ in namespace["ledger"]] == [PAYER]
    assert len(outputs) == len(blocks()) >= 10
    agent, clients, kms, _, _, lower, errors, _, mcp_call, _ = outputs
    assert mcp_call.split() == ["sunny", "in", "Paris", "True"]
    assert f"'paid_by': '{PAYER}'" in agent and " 0x" in agent
    assert clients.split() == ["200", "200"]
    name, amount, payer = kms.split()
    assert (name, amount) == ("PAYMENT-SIGNATURE", "1000") and payer.startswith("0x")
    assert lower.splitlines() == ["True 250000", "PaymentRequired", "invalid_exact_evm_payload_authorization_valid_before"]
    assert errors.startswith("header_missing_padding - ")
    assert facilitator.settle_calls == 8
