"""Every Python adapter over a real server, tried as an attacker would: the route's variants as each framework
routes them (case, trailing slash, percent-encoding, ``//``, mounts, HEAD) are never served unpaid; and the
paying clients over real servers: one call pays once whatever the redirects, a payment never follows a
redirect to another origin, a payment for one resource is refused at another. Each test is the regression
test of a defect found before the exchange moved into paywire's core."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
import requests
from conftest import ISSUER_KEY, PAY_TO, PAYER_KEY, ROOT, served, served_wsgi
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.routing import Route as StarletteRoute

import paywire
import paywire.httpx
import paywire.requests
from paywire.asgi import PaymentMiddleware
from paywire.facilitator import AsyncFacilitatorClient, FacilitatorClient
from paywire.httpx import PaymentTransport
from paywire.requests import PaymentAdapter
from paywire.wsgi import PaymentMiddleware as WsgiPaymentMiddleware

NETWORK = "eip155:84532"
SECRET = "the-paid-content"
#: Requests some framework routes to a handler of /a or /dear, which must therefore be billed.
VARIANTS = ["/a", "/A", "/a/", "/A/", "/%61", "//a", "/a//", "/./a", "/x/../a", "/a;x=1", "/dear", "/DEAR", "/dear/"]


def tag() -> paywire.PriceTag:
    return paywire.PriceTag(NETWORK, PAY_TO, "$0.001")


def payer() -> paywire.Payer:
    return paywire.Payer(paywire.LocalSigner(PAYER_KEY))


def raw(url: str, path: str, method: str = "GET", headers: Dict[str, str] | None = None, body: bytes = b"") -> tuple:
    """A request sent as written (clients normalise `//`, `./` and `..`): (status, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("latin-1")
    finally:
        conn.close()


def no_free_variant(url: str, framework: str, prefix: str = "") -> None:
    for path in VARIANTS:
        for method in ("GET", "HEAD"):
            status, body = raw(url, prefix + path, method)
            assert not 200 <= status < 300, f"{framework}: {method} {prefix}{path} answered {status} unpaid: {body[:80]}"


async def content(request: Request) -> PlainTextResponse:
    return PlainTextResponse(SECRET)


def test_starlette_variants_of_a_priced_route_are_never_served_unpaid(facilitator) -> None:
    app = Starlette(routes=[StarletteRoute("/a", content), StarletteRoute("/dear", content)])
    app.add_middleware(PaymentMiddleware, routes={"GET /a": tag(), "GET /dear": tag()},
                       facilitator=AsyncFacilitatorClient(facilitator.url))
    with served(app) as url:
        no_free_variant(url, "starlette")
        # The router's own redirect (a trailing slash) is not billed: the client pays at its target, once.
        status, _ = raw(url, "/a/")
        assert status == 307
        with httpx.Client(transport=PaymentTransport(payer()), follow_redirects=True) as client:
            r = client.get(f"{url}/a/")
        assert (r.status_code, r.text) == (200, SECRET)
    assert facilitator.settle_calls == 1


def test_a_mounted_app_and_its_variants_are_billed(facilitator) -> None:
    inner = Starlette(routes=[StarletteRoute("/a", content), StarletteRoute("/dear", content)])
    paid = PaymentMiddleware(inner, {"GET /a": tag(), "GET /dear": tag()}, facilitator=AsyncFacilitatorClient(facilitator.url))
    app = Starlette(routes=[Mount("/api", app=paid)])
    with served(app) as url:
        no_free_variant(url, "mounted starlette", "/api")
        r = httpx.get(f"{url}/api/a?city=paris")
        assert r.status_code == 402
        # The bill names the URL as sent: the mount and the query string (Python used to drop the query).
        bill = paywire.PaymentRequired.from_header(r.headers["payment-required"])
        assert (bill.resource or {}).get("url") == f"{url}/api/a?city=paris"


def flask_app(facilitator_url: str, **options: Any) -> Any:
    from flask import Flask, request

    app = Flask(__name__)

    @app.get("/a")
    def a() -> str:
        return f"{SECRET} for {paywire.wsgi.paid(request.environ).payer}"  # type: ignore[union-attr]

    @app.get("/dear/")
    def dear() -> str:
        return SECRET

    @app.post("/echo")
    def echo() -> bytes:
        return request.get_data()

    @app.get("/crash")
    def crash() -> str:
        raise RuntimeError("the handler failed")

    routes = {"GET /a": tag(), "GET /dear": tag(), "POST /echo": tag(), "GET /crash": tag()}
    app.wsgi_app = WsgiPaymentMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, routes, facilitator=FacilitatorClient(facilitator_url), url_map=app.url_map, **options
    )
    return app


def test_flask_variants_of_a_priced_route_are_never_served_unpaid(facilitator) -> None:
    import paywire.wsgi  # noqa: F401

    with served_wsgi(flask_app(facilitator.url)) as url:
        no_free_variant(url, "flask")
        with httpx.Client(transport=PaymentTransport(payer()), follow_redirects=True) as client:
            paid = client.get(f"{url}/a")
            assert paid.status_code == 200 and SECRET in paid.text and "0xf39F" in paid.text
            # Flask's own slash redirect (/dear -> /dear/) is not billed; the payment goes to its target.
            dear = client.get(f"{url}/dear")
            assert (dear.status_code, dear.text) == (200, SECRET)
            echoed = client.post(f"{url}/echo", content=b"the body")
            assert (echoed.status_code, echoed.content) == (200, b"the body")
            crashed = client.get(f"{url}/crash")
            assert crashed.status_code == 500
    assert facilitator.settle_calls == 3, "the crashed handler is not charged"


def test_httpx_following_redirects_pays_once_per_call(facilitator) -> None:
    """A chain 402 -> pay -> 302 -> 402 ... used to sign a payment at every hop (21 payments of $1)."""

    async def hop(request: Request) -> Response:
        return RedirectResponse(f"/hop{int(request.path_params['n']) + 1}", status_code=302)

    app = Starlette(routes=[StarletteRoute("/hop{n:int}", hop)])
    app.add_middleware(PaymentMiddleware, routes={"GET /hop{n}": tag()}, facilitator=AsyncFacilitatorClient(facilitator.url))
    with served(app) as url:
        p = payer()
        with httpx.Client(transport=PaymentTransport(p), follow_redirects=True) as client:
            r = client.get(f"{url}/hop0")
        assert r.status_code == 402, "the second bill is returned unpaid"
        assert p.spent_usd == "$0.001"
        assert facilitator.verify_calls == 1


def test_requests_never_carries_a_payment_across_a_redirect_and_pays_once(facilitator) -> None:
    seen: List[Dict[str, str]] = []

    async def landing(request: Request) -> PlainTextResponse:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return PlainTextResponse("elsewhere")

    other = Starlette(routes=[StarletteRoute("/landing", landing)])
    with served(other) as other_url:

        async def redirect(request: Request) -> Response:
            return RedirectResponse(f"{other_url}/landing", status_code=302)

        app = Starlette(routes=[StarletteRoute("/a", redirect)])
        app.add_middleware(PaymentMiddleware, routes={"GET /a": tag()}, facilitator=AsyncFacilitatorClient(facilitator.url))
        with served(app) as url:
            session = requests.Session()
            session.mount("http://", PaymentAdapter(payer()))
            r = session.get(f"{url}/a", headers={"Authorization": "Bearer secret"})
    assert (r.status_code, r.text) == (200, "elsewhere")
    assert len(seen) == 1
    for name in ("payment-signature", "x-payment", "authorization"):
        assert name not in seen[0], f"{name} reached another origin"
    assert facilitator.settle_calls == 1


def test_a_payment_for_one_resource_is_refused_at_another(facilitator) -> None:
    app = Starlette(routes=[StarletteRoute("/a", content), StarletteRoute("/b", content)])
    app.add_middleware(PaymentMiddleware, routes={"GET /a": tag(), "GET /b": tag()},
                       facilitator=AsyncFacilitatorClient(facilitator.url))
    with served(app) as url:
        header = payer().pay(httpx.get(f"{url}/a").headers["payment-required"])
        stolen = httpx.get(f"{url}/b", headers={header.name: header.value})
        assert stolen.status_code == 402
        assert paywire.PaymentRequired.from_header(stolen.headers["payment-required"]).error == "payment_resource_mismatch"
        assert SECRET not in stolen.text
    assert facilitator.verify_calls == 0


def test_a_receipt_stands_in_for_a_payment_but_the_body_limit_still_holds(facilitator) -> None:
    """Python used to stream a receipt-path body with no max_request_bytes limit."""
    issuer = paywire.Issuer(paywire.LocalSigner(ISSUER_KEY))

    async def echo(request: Request) -> Response:
        return Response(await request.body())

    app = Starlette(routes=[StarletteRoute("/echo", echo, methods=["POST"])])
    app.add_middleware(PaymentMiddleware, routes={"POST /echo": tag()}, facilitator=AsyncFacilitatorClient(facilitator.url),
                       issuer=issuer, access=paywire.AccessPolicy([issuer.address], 3600), max_request_bytes=64)
    with served(app) as url:
        receipt = issuer.issue_receipt(f"{url}/echo", paywire.LocalSigner(PAYER_KEY).address, NETWORK)
        ok = httpx.post(f"{url}/echo", content=b"small", headers={paywire.RECEIPT_HEADER: receipt.to_header()})
        assert (ok.status_code, ok.content) == (200, b"small")
        big = httpx.post(f"{url}/echo", content=b"x" * 1000, headers={paywire.RECEIPT_HEADER: receipt.to_header()})
        assert big.status_code == 413
        assert big.json()["error"] == "body_too_large"


def test_binding_checks_are_the_cores() -> None:
    """Python accepted a Permit2 method beside a USD price (and dropped it), and bills of version 7."""
    with pytest.raises(paywire.PaywireError) as info:
        paywire.PriceTag(NETWORK, PAY_TO, "$0.01", transfer_method="permit2")
    assert info.value.code == "invalid_price_tag" and info.value.category == "configuration"
    with pytest.raises(paywire.PaywireError) as info:
        tag().to_requirements("https://x/y", x402_version=7)
    assert info.value.code == "invalid_x402_version"
    with pytest.raises(paywire.PaywireError) as info:
        PaymentMiddleware(content, {"GET weather": tag()}, facilitator=object())  # type: ignore[arg-type]
    assert info.value.category == paywire.error_category(info.value.code)


def test_the_example_agent_fails_when_the_answer_is_not_a_success() -> None:
    """python/examples/agent.py exited 0 when the final answer was a 502."""

    async def broken(request: Request) -> PlainTextResponse:
        return PlainTextResponse("upstream down", status_code=502)

    app = Starlette(routes=[StarletteRoute("/weather", broken)])
    with served(app) as url:
        run = subprocess.run([sys.executable, str(ROOT / "python" / "examples" / "agent.py"), f"{url}/weather"],
                             env={**os.environ, "PAYWIRE_KEY": PAYER_KEY}, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.startswith("502 ")


SPONSORING = {"eip2612GasSponsoring": {"info": {"description": "gasless Permit to Permit2", "version": "1"}}}
RPC = "https://rpc.test/v2/SECRET-KEY"


def sponsored_api(seen: List[httpx.Request], allowance: int, nonce: int, pad: int = 0) -> httpx.MockTransport:
    """An API billing Permit2 with sponsoring declared, and a JSON-RPC endpoint, behind one mock transport; the
    endpoint's answers are followed by ``pad`` spaces (still valid JSON)."""
    tag = paywire.PriceTag("eip155:84532", PAY_TO, amount=10_000, asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                           transfer_method="permit2", extensions=SPONSORING)
    bill = paywire.build_payment_required("https://api.test/data", [tag])

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if str(request.url) == RPC:
            data = json.loads(request.content)["params"][0]["data"]
            number = nonce if data.startswith("0x7ecebe00") else allowance
            answer = json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0x" + format(number, "064x")})
            return httpx.Response(200, content=answer.encode() + b" " * pad)
        if "payment-signature" in request.headers:
            return httpx.Response(200, text="ok")
        return httpx.Response(402, headers={"PAYMENT-REQUIRED": bill.to_header()})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("allowance,permit", [(0, True), (10_000, False)])
def test_httpx_reads_the_chain_for_a_sponsored_permit2_bill(allowance: int, permit: bool) -> None:
    seen: List[httpx.Request] = []
    transport = PaymentTransport(payer(), sponsored_api(seen, allowance, nonce=4), rpc_urls={"eip155:84532": RPC})
    with httpx.Client(transport=transport) as client:
        assert client.get("https://api.test/data").status_code == 200
    reads = [r for r in seen if str(r.url) == RPC]
    assert len(reads) == (2 if permit else 1)
    assert all(r.headers["content-type"] == "application/json" and "payment-signature" not in r.headers for r in reads)
    payment = paywire.PaymentPayload.from_header(seen[-1].headers["payment-signature"])
    # The declaration is echoed either way; a permit adds its signature.
    info: Any = (payment.extensions or {})["eip2612GasSponsoring"]["info"]
    assert ("signature" in info) is permit
    if permit:
        assert info["nonce"] == "4"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_chain_reads_have_the_cores_deadline_and_an_answer_past_its_limit_is_none(asynchronous: bool) -> None:
    """Each stage of a chain read waits at most the core's 15 s (or the caller's timeout, if shorter), and an
    answer longer than 64 KiB is no answer (never held whole): the payment goes on without a permit, and the
    endpoint is not asked again."""
    for pad, timeout, reads_made, permit in ((64 * 1024, 60.0, 1, False), (100, 60.0, 2, True), (100, 2.0, 2, True)):
        seen: List[httpx.Request] = []
        api = sponsored_api(seen, allowance=0, nonce=4, pad=pad)
        if asynchronous:
            async def run(api: httpx.MockTransport = api, timeout: float = timeout) -> int:
                transport = paywire.httpx.AsyncPaymentTransport(payer(), api, rpc_urls={"eip155:84532": RPC})
                async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
                    return (await client.get("https://api.test/data")).status_code
            assert anyio.run(run) == 200
        else:
            transport = PaymentTransport(payer(), api, rpc_urls={"eip155:84532": RPC})
            with httpx.Client(transport=transport, timeout=timeout) as client:
                assert client.get("https://api.test/data").status_code == 200
        reads = [r for r in seen if str(r.url) == RPC]
        stages = dict.fromkeys(("connect", "read", "write", "pool"), min(15.0, timeout))
        assert [r.extensions["timeout"] for r in reads] == [stages] * reads_made
        assert all(r.headers["accept-encoding"] == "identity" for r in reads)
        # The caller's requests keep the caller's timeouts.
        assert all(r.extensions["timeout"] == dict.fromkeys(stages, timeout) for r in seen if r not in reads)
        payment = paywire.PaymentPayload.from_header(seen[-1].headers["payment-signature"])
        info: Any = (payment.extensions or {})["eip2612GasSponsoring"]["info"]
        assert ("signature" in info) is permit, pad


def test_rpc_urls_are_checked_at_once_and_never_shown() -> None:
    makers: List[Any] = [PaymentTransport, paywire.httpx.AsyncPaymentTransport, PaymentAdapter]
    for rpc_urls in ({"base": RPC}, {"eip155:84532": "ftp://rpc.test/SECRET-KEY"}):
        for make in makers:
            with pytest.raises(paywire.PaywireError) as caught:
                make(payer(), rpc_urls=rpc_urls)
            assert caught.value.code == "invalid_argument"
            assert "SECRET-KEY" not in str(caught.value)


def test_wsgi_claims_start_when_asked_and_again_in_a_forked_worker() -> None:
    """WSGI has no lifespan: the claims' thread starts at the first request, or at ``start()`` (what an earlier
    process left in a shared store is then claimed without waiting for a request), and again in a worker
    forked since (gunicorn's preload_app), whose parent's threads did not come along."""
    from paywire.wsgi import Claims

    channel = paywire.PriceTag("eip155:84532", PAY_TO, amount=1000, asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                               scheme="batch-settlement", extra={"receiverAuthorizer": PAY_TO})
    claims = Claims(every_seconds=60)
    WsgiPaymentMiddleware(lambda environ, start: [], {"GET /c": channel},
                          facilitator=FacilitatorClient("http://127.0.0.1:9"), claims=claims)

    def ticking() -> bool:
        return any(t.name == "paywire-claims" and t.is_alive() for t in threading.enumerate())

    # Building the middleware starts nothing (a process that forks workers must not run claims itself).
    assert not claims._ticking
    claims.start()
    assert claims._ticking and ticking(), "no request came, and the claims' thread runs"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked worker
        before = ticking()
        claims._check()  # as its first request does
        os.write(write, b"%d%d" % (before, ticking()))
        os._exit(0)
    os.close(write)
    answer = os.read(read, 2)
    os.waitpid(pid, 0)
    assert answer == b"01", "the worker had no claims thread, then one"


class EndlessApi:
    """An API billing Permit2 with sponsoring declared, and on /rpc a JSON-RPC endpoint whose every answer is a
    word followed by spaces for 30 s (or until the client hangs up), on loopback."""

    def __init__(self) -> None:
        tag = paywire.PriceTag("eip155:84532", PAY_TO, amount=10_000, asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                               transfer_method="permit2", extensions=SPONSORING)
        self.payments: List[str] = []
        payments = self.payments

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                paid = self.headers.get("payment-signature")
                if paid:
                    payments.append(paid)
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                bill = paywire.build_payment_required(f"http://{self.headers['host']}/data", [tag])
                self.send_response(402)
                self.send_header("PAYMENT-REQUIRED", bill.to_header())
                self.send_header("content-length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(b'{"jsonrpc":"2.0","id":1,"result":"0x' + b"0" * 64 + b'"}')
                    # For 30 s, or until the client hangs up: a client reading it all would take that long.
                    until = time.monotonic() + 30
                    while time.monotonic() < until:
                        self.wfile.write(b" " * 4096)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("stack", ["httpx", "httpx-async", "requests", "requests-pair", "requests-urllib3"])
def test_an_endless_chain_read_is_read_no_further_than_the_limit(stack: str) -> None:
    """The endpoint does not stop sending: the glue stops at the core's 64 KiB (not at its 15 s deadline, nor
    at the end of the body), the answer is no answer, and the payment goes on at once without a permit."""
    api = EndlessApi()
    rpc_urls = {"eip155:84532": f"{api.base}/rpc"}
    started = time.monotonic()
    try:
        if stack == "httpx":
            with httpx.Client(transport=PaymentTransport(payer(), rpc_urls=rpc_urls), timeout=60) as client:
                status = client.get(f"{api.base}/data").status_code
        elif stack == "httpx-async":
            async def run() -> int:
                transport = paywire.httpx.AsyncPaymentTransport(payer(), rpc_urls=rpc_urls)
                async with httpx.AsyncClient(transport=transport, timeout=60) as client:
                    return (await client.get(f"{api.base}/data")).status_code
            status = anyio.run(run)
        else:
            import urllib3

            # Every form of timeout requests takes.
            timeout: Any = {"requests": 60, "requests-pair": (5, 60), "requests-urllib3": urllib3.Timeout(5, 60)}[stack]
            with requests.Session() as session:
                session.mount("http://", PaymentAdapter(payer(), rpc_urls=rpc_urls))
                status = session.get(f"{api.base}/data", timeout=timeout).status_code
    finally:
        api.close()
    took = time.monotonic() - started
    assert status == 200
    assert took < 10, f"{took:.1f} s: the body was read past the limit"
    payment = paywire.PaymentPayload.from_header(api.payments[-1])
    info: Any = (payment.extensions or {})["eip2612GasSponsoring"]["info"]
    assert "signature" not in info
