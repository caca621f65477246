"""The examples run as written: the paid API (examples/paid_api.py) served by uvicorn with the facilitator
double, and the agent (examples/agent.py) as its own process paying it."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import httpx
from conftest import PAYER, PAYER_KEY, served

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_paid_api(facilitator_url: str, price: str = "$0.001"):
    settings = {"FACILITATOR_URL": facilitator_url, "PRICE": price}
    os.environ.update(settings)
    try:
        spec = importlib.util.spec_from_file_location("paid_api", EXAMPLES / "paid_api.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.app
    finally:
        for name in settings:
            del os.environ[name]


def run_agent(url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "agent.py"), url],
        env={**os.environ, "PAYWIRE_KEY": PAYER_KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_agent_pays_the_paid_api(facilitator):
    with served(load_paid_api(facilitator.url)) as url:
        assert httpx.get(f"{url}/weather").status_code == 402
        preflight = httpx.options(
            f"{url}/weather",
            headers={"origin": "https://app.example", "access-control-request-method": "GET",
                     "access-control-request-headers": "payment-signature"},
        )
        assert preflight.status_code == 200
        assert "payment-signature" in preflight.headers["access-control-allow-headers"].lower()
        run = run_agent(f"{url}/weather")
    assert run.returncode == 0, run.stderr
    assert f'200 {{"forecast":"sunny","paid_by":"{PAYER}"}}' in run.stdout
    assert f"paid $0.001 from {PAYER}; transaction 0x" in run.stdout
    assert facilitator.settle_calls == 1


def test_the_agent_explains_a_bill_beyond_its_policy(facilitator):
    with served(load_paid_api(facilitator.url, price="$0.05")) as url:
        run = run_agent(f"{url}/weather")
    assert run.returncode == 1
    assert run.stderr.startswith("not paid: ") and "[no_acceptable_offer]" in run.stderr
    assert facilitator.verify_calls == 0
