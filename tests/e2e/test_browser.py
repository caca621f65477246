"""paywire in a web page: headless Chromium (Debian's, driven by playwright-core) loads a page that pays a paywire
server on loopback with the npm package's WebAssembly build (node/wasm/paywire.mjs, `wrapFetch` and `Payer`),
and the payment settles on anvil through paywire's facilitator.

PAYWIRE_CHROMIUM names the browser (scripts/install-browser.sh), PAYWIRE_NODE_DIR the built npm package, and
PAYWIRE_NODE_TEST_DIR the folder where playwright-core is installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict

import httpx
import parties
from conftest import PAY_TO, Chain, Facilitator, balances, charged_once, payer_key
from localnet import env

import paywire


def open_page(url: str) -> Dict[str, Any]:
    """What the page leaves in window.result once it is done."""
    env("PAYWIRE_NODE_TEST_DIR")  # where browser_pay.mjs finds playwright-core
    driver = Path(__file__).resolve().parent / "browser_pay.mjs"
    run = subprocess.run(["node", str(driver), url, env("PAYWIRE_CHROMIUM")], capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    result: Dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def browser_app(facilitator: Facilitator):  # type: ignore[no-untyped-def]
    bundle = Path(env("PAYWIRE_NODE_DIR")) / "wasm" / "paywire.mjs"
    assert bundle.exists(), f"{bundle} is missing: run scripts/build-wasm.sh"
    return parties.python_asgi(facilitator.url, PAY_TO, app="paid_app", extra={"BROWSER_BUNDLE": str(bundle)})


def test_a_page_pays_a_paid_api_and_the_payment_settles_on_anvil(chain: Chain, facilitator: Facilitator) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    with browser_app(facilitator) as server:
        result = open_page(f"{server.base}/page/index.html#key={key}&bench=20")
        assert result.get("status") == 200, result
        assert result["body"]["paid_by"] == payer
        assert result["payer"] == payer
        charged_once(chain, result["transaction"], payer, before)
        # Figures for docs/benchmarks.md (printed with pytest -s).
        print(f"\nChromium: paid request {result['paidRequestMs']:.0f} ms, one payment signed in {result['payMs']:.2f} ms")
        # Nothing else was charged: the page paid once.
        assert httpx.get(server.url("/served")).json()["served"] == 1


def test_a_page_with_a_bad_key_pays_nothing_and_says_why(chain: Chain, facilitator: Facilitator) -> None:
    with browser_app(facilitator) as server:
        result = open_page(f"{server.base}/page/index.html#key=0x1234")
        assert result["error"] == "invalid_private_key", result
        assert "0x1234" not in result["message"]
        assert httpx.get(server.url("/served")).json()["served"] == 0
