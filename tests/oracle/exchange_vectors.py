"""The exchange vectors: what paywire's payment gate and paying client do, step by step, as data every binding
replays (tests/vectors/routes.json, gate.json, client.json; the formats are in tests/vectors/README.md).

The expected steps are paywire's contract, written here by hand. Every payment a case feeds to the gate, and
every payment header a case expects the paying client to send, is made by the official TypeScript client
(`@x402/core` + `@x402/evm`) for the bill the gate answers, with a pinned clock and nonce: the gate takes the
official client's payments, and paywire's client pays byte for byte as the official one does.
"""

from __future__ import annotations

import base64
import json

ORIGIN = "http://api.test"
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ISSUER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ISSUER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
NOW = 1750000000
T = NOW + 5  # when the gate takes the payments
TX = "0x" + "ab" * 32
LIMIT = 10 * 1024 * 1024
EXPOSED = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"
UPSTREAM = "the payment service is unavailable; nothing was charged for this request; try again later"
UNCONFIRMED = ("the payment is not confirmed yet; send the same request with the same payment again to receive "
               "the response")


def compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def b64(obj) -> str:
    return base64.b64encode(compact(obj).encode()).decode()


def nonce(n: int) -> str:
    return "0x" + bytes((n + i) % 256 for i in range(32)).hex()


# ------------------------------------------------------------------------------------------------ routes
def routes() -> dict:
    """Route tables: which requests are priced (defect: Express served `/A`, `/a/` of a priced `/a` free)."""
    cases = [
        {"name": "case, trailing slash, encoding, //, dot segments and ; parameters are all priced",
         "patterns": ["GET /a", "GET /dear", "/files/:name", "GET /api/*", "GET /weather/{city}"],
         "caseSensitive": False,
         "priced": [["GET", p, 0] for p in ["/a", "/A", "/a/", "/A/", "//a", "/a//", "/%61", "/./a", "/x/../a",
                                             "/a;jsessionid=1", "/a?x=1"]]
         + [["GET", p, 1] for p in ["/DEAR", "/dear/", "/Dear//"]]
         + [["GET", "/files/x", 2], ["POST", "/files/a%2Fb", 2], ["DELETE", "/FILES/x/", 2]]
         + [["GET", p, 3] for p in ["/api", "/api/", "/api/x/y", "/api//x", "/API/x", "/api/a%0Ab"]]
         + [["GET", "/weather/paris", 4], ["HEAD", "/weather/paris", 4], ["HEAD", "/a", 0]],
         "free": [["GET", p] for p in ["/", "/b", "/ab", "/a/b", "/files", "/files/", "/de%61r2", "/weather",
                                        "/weather/a/b"]]
         + [["POST", "/a"], ["OPTIONS", "/a"], ["OPTIONS", "/files/x"]],
         "framework": [["GET", "/weather/:city", 4], ["GET", "/api/users/:id", 3], ["GET", "/a/", 0],
                       ["GET", "/weather", None], ["POST", "/a", None]]},
        {"name": "a case-sensitive router (Starlette, Fastify, Flask) prices only its own case",
         "patterns": ["GET /a"], "caseSensitive": True,
         "priced": [["GET", "/a", 0], ["GET", "/a/", 0], ["GET", "/%61", 0]],
         "free": [["GET", "/A"], ["GET", "/A/"]], "framework": [["GET", "/A", None]]},
    ]
    return cases


# -------------------------------------------------------------------------------------------------- gate
def bill(path: str, error: str = "Payment required", version: int = 2, query: str = "") -> dict:
    url = ORIGIN + path + query
    offer = {"scheme": "exact", "network": "eip155:84532", "amount": "10000", "asset": USDC, "payTo": PAY_TO,
             "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}
    if version == 1:
        return {"x402Version": 1, "error": "X-PAYMENT header is required" if error == "Payment required" else error,
                "accepts": [{"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "10000",
                             "resource": url, "description": "", "mimeType": "", "payTo": PAY_TO,
                             "maxTimeoutSeconds": 300, "asset": USDC, "extra": {"name": "USDC", "version": "2"}}]}
    return {"x402Version": 2, "error": error, "resource": {"url": url, "description": "", "mimeType": ""},
            "accepts": [offer]}


def route(pattern, version=2, **extra) -> dict:
    return {"pattern": pattern, "tags": [{"price": "$0.01", "network": "eip155:84532", "payTo": PAY_TO}],
            "x402Version": version, **extra}


def gate_config(*routes_, **options) -> dict:
    return {"routes": list(routes_) or [route("GET /weather")], **options}


def req(method="GET", path="/weather", query="", headers=()) -> dict:
    return {"method": method, "path": path, "pathAndQuery": path + query, "origin": ORIGIN,
            "headers": [list(h) for h in headers]}


def start(x, request, expect, now=T) -> dict:
    return {"start": x, "now": now, "request": request, "expect": expect}


def feed(x, input_, expect) -> dict:
    return {"feed": x, "input": input_, "expect": expect}


def read_body(limit=LIMIT) -> dict:
    return {"action": "readBody", "limit": limit}


VERIFY = {"action": "verify"}
SETTLE = {"action": "settle", "shielded": True}
RUN = {"action": "runHandler", "payer": PAYER}
BODY = {"body": ""}
VALID = {"verified": {"isValid": True, "payer": PAYER}}
SETTLED = {"success": True, "transaction": TX, "network": "eip155:84532", "payer": PAYER}
OK_SETTLE = {"settled": SETTLED}
CONTENT = '{"forecast":"sunny"}'
HANDLED = {"handled": {"status": 200, "headers": [["Content-Type", "application/json"]], "body": CONTENT}}


def paid_ok(settlement=None) -> dict:
    """The settled response: the handler's, private, with its receipt and the exposed x402 headers."""
    return {"action": "respond", "status": 200, "body": CONTENT,
            "headers": {"content-type": "application/json", "cache-control": "private",
                        "access-control-expose-headers": EXPOSED, "content-length": str(len(CONTENT))},
            "settlement": settlement or SETTLED}


def billed(status, path="/weather", error="Payment required", json_=None, version=2, **extra) -> dict:
    e = {"action": "respond", "status": status, "bill": bill(path, error, version),
         "headers": {"cache-control": "no-store", "content-type": "application/json",
                     "access-control-expose-headers": EXPOSED}}
    if json_ is not None:
        e["json"] = json_
    e.update(extra)
    return e


def answered(status, code, message=None) -> dict:
    e = {"action": "respond", "status": status, "json": {"error": code},
         "headers": {"cache-control": "no-store"}, "absentHeaders": ["payment-required"]}
    if message is not None:
        e["json"]["message"] = message
    return e


def paid_through(x, pay, request=None, now=T) -> list:
    """A payment taken, verified, served and settled."""
    request = request or req(headers=[pay])
    return [start(x, request, read_body(), now), feed(x, BODY, VERIFY), feed(x, VALID, RUN),
            feed(x, HANDLED, SETTLE), feed(x, OK_SETTLE, paid_ok())]


def gate(ts) -> list:
    def sign(path="/weather", n=1, version=2, query="") -> list:
        b = bill(path, version=version, query=query)
        wire = {"header": b64(b)} if version == 2 else {"body": compact(b)}
        t = ts.call("pay", bill=wire, key=KEY, now=NOW, nonce=nonce(n))
        return [t["headerName"], t["headerValue"]]

    pay = sign()
    cases = []

    def case(name, moves, config=None, **kw):
        cases.append({"name": name, "gate": config or gate_config(), "moves": moves, **kw})

    case("no payment: 402 with the bill, never cached", [
        start("a", req(), billed(402, json_={"error": "Payment required",
                                            "message": "this resource costs a payment; pay one of the offers"}))])
    case("HEAD gets the bill and is never charged, even with a payment", [
        start("a", req("HEAD", headers=[pay]), billed(402, body=""))])
    case("the bill names the full URL with its query; the fingerprint covers it", [
        start("a", req(query="?city=paris"), {"action": "respond", "status": 402,
                                              "bill": bill("/weather", query="?city=paris")})])
    case("an undecodable payment: 400 with the bill and the reason", [
        start("a", req(headers=[["PAYMENT-SIGNATURE", "eyJhIjoxfQ"]]),
              billed(400, error="header_missing_padding", json_={"error": "header_missing_padding"}))])
    case("a paid request: verify, run the handler, settle, then the response with its receipt", paid_through("a", pay))
    case("the same payment for the same request again: the held response, nothing verified or settled twice",
         paid_through("a", pay) + [start("b", req(headers=[pay]), read_body()), feed("b", BODY, paid_ok())])
    case("the same payment for another request: another query is another resource, another body a used nonce",
         paid_through("a", pay) + [
             start("b", req(query="?x=1", headers=[pay]),
                   {"action": "respond", "status": 402, "json": {"error": "payment_resource_mismatch"}}),
             start("c", req(headers=[pay]), read_body()),
             feed("c", {"body": "other"}, {"action": "respond", "status": 402,
                                           "json": {"error": "invalid_exact_evm_nonce_already_used"}})])
    case("a payment made for /a is refused at /b, whose price and payee are the same", [
        start("a", req(path="/b", headers=[sign("/a", 2)]),
              billed(402, path="/b", error="payment_resource_mismatch",
                     json_={"error": "payment_resource_mismatch"}))],
         config=gate_config(route("GET /a"), route("GET /b")))
    case("the same payment while the first request is still settling: 409, and the first completes", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE),
        start("b", req(headers=[pay]), read_body()), feed("b", BODY, answered(409, "payment_in_progress")),
        feed("a", OK_SETTLE, paid_ok())])
    used = {"verified": {"isValid": False, "invalidReason": "invalid_exact_evm_nonce_already_used",
                         "invalidMessage": "used", "payer": PAYER}}
    expired = {"verified": {"isValid": False, "invalidMessage": "expired", "payer": PAYER,
                            "invalidReason": "invalid_exact_evm_payload_authorization_valid_before"}}
    never = {"settled": {"success": False, "errorReason": "invalid_exact_evm_payload_authorization_valid_before",
                         "transaction": "", "network": "eip155:84532", "payer": PAYER}}
    # With the default takeoverAfter (300 s) and maxTimeoutSeconds (300 s), a retry takes a record over after
    # its payment expired: /verify refuses it, and settling says whether the request that stopped settled it.
    case("a request left in flight by a process that died after settling: 409 until takeoverAfter (300 s), then "
         "the retry takes it over: /verify refuses the used payment, so it settles first (the facilitator repeats "
         "the settlement) and runs the handler again for the GET", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE),
        start("b", req(headers=[pay]), read_body(), now=T + 100),
        feed("b", BODY, answered(409, "payment_in_progress")),
        start("c", req(headers=[pay]), read_body(), now=T + 300), feed("c", BODY, VERIFY), feed("c", used, SETTLE),
        feed("c", OK_SETTLE, RUN), feed("c", HANDLED, paid_ok()),
        start("d", req(headers=[pay]), read_body(), now=T + 301), feed("d", BODY, paid_ok())])
    case("a request left in flight by a process that died before settling: the retry that takes it over finds "
         "the expired payment unsettled: 402, and the record is gone", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        start("b", req(headers=[pay]), read_body(), now=T + 300), feed("b", BODY, VERIFY),
        feed("b", expired, SETTLE),
        feed("b", never, billed(402, error="invalid_exact_evm_payload_authorization_valid_before",
                                settlement={"success": False})),
        start("c", req(headers=[pay]), read_body(), now=T + 301),
        feed("c", BODY, billed(402, error="invalid_exact_evm_payload_authorization_valid_before"))])
    case("a taken-over payment whose /verify fails upstream: the record is put back, and the next retry takes it "
         "over again at once", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE),
        start("b", req(headers=[pay]), read_body(), now=T + 300), feed("b", BODY, VERIFY),
        feed("b", {"facilitatorFailed": {"code": "facilitator_unreachable", "message": "reset"}},
             answered(502, "facilitator_unreachable")),
        start("c", req(headers=[pay]), read_body(), now=T + 301), feed("c", BODY, VERIFY), feed("c", used, SETTLE),
        feed("c", OK_SETTLE, RUN), feed("c", HANDLED, paid_ok())])
    case("the facilitator refuses the payment: 402 with its reason, nothing run", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY),
        feed("a", {"verified": {"isValid": False, "invalidReason": "insufficient_funds", "invalidMessage": "poor",
                                "payer": PAYER}},
             billed(402, error="insufficient_funds", json_={"error": "insufficient_funds", "message": "poor"}))])
    case("permit2_allowance_required is answered 412", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY),
        feed("a", {"verified": {"isValid": False, "invalidReason": "permit2_allowance_required"}},
             {"action": "respond", "status": 412, "json": {"error": "permit2_allowance_required"}})])
    case("the facilitator is unreachable on /verify: 502, nothing charged, details only in the log; a retry pays", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY),
        feed("a", {"facilitatorFailed": {"code": "facilitator_unreachable", "message": "timed out"}},
             answered(502, "facilitator_unreachable", UPSTREAM) | {"logs": ["/verify", "timed out"]}),
    ] + paid_through("b", pay))
    case("a facilitator failure without a paywire code is invalid_facilitator_response", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY),
        feed("a", {"facilitatorFailed": {"message": "TypeError: boom"}},
             answered(502, "invalid_facilitator_response", UPSTREAM))])
    case("the handler answers 500: nothing settled, its answer passed on, and the payment can be retried", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", {"handled": {"status": 500, "headers": [], "body": "oops"}},
             {"action": "respond", "status": 500, "body": "oops", "headers": {"content-length": "4"},
              "absentHeaders": ["payment-response"]}),
    ] + paid_through("b", pay))
    case("the handler raises: the gate cleans up and the error is re-raised; the payment can be retried", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", {"handlerFailed": True}, {"action": "fail"}),
    ] + paid_through("b", pay))
    case("a redirect to the route's own path in another form is the router's: not settled", [
        start("a", req(path="/weather/", headers=[sign("/weather/", 5)]), read_body()), feed("a", BODY, VERIFY),
        feed("a", VALID, RUN),
        feed("a", {"handled": {"status": 307, "headers": [["location", "http://api.test/weather"]], "body": ""}},
             {"action": "respond", "status": 307, "headers": {"location": "http://api.test/weather"},
              "absentHeaders": ["payment-response"]})],
         config=gate_config(route("GET /weather")))
    case("a redirect elsewhere is the paid content (a download link): settled", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", {"handled": {"status": 302, "headers": [["Location", "https://cdn.test/file?sig=1"]], "body": ""}},
             SETTLE),
        feed("a", OK_SETTLE, {"action": "respond", "status": 302, "settlement": SETTLED,
                              "headers": {"location": "https://cdn.test/file?sig=1", "cache-control": "private"}})])
    case("the settlement fails: 402 with the reason and the receipt, the response is never released", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE),
        feed("a", {"settled": {"success": False, "errorReason": "insufficient_funds", "transaction": "",
                               "network": "eip155:84532", "payer": PAYER}},
             billed(402, error="insufficient_funds",
                    settlement={"success": False, "errorReason": "insufficient_funds"})),
    ] + paid_through("b", pay))
    case("the settlement is pending: 402, the response held; the retry settles again and gets it", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE),
        feed("a", {"settled": {"success": False, "errorReason": "settlement_pending", "transaction": TX,
                               "network": "eip155:84532"}},
             billed(402, error="settlement_pending", json_={"error": "settlement_pending", "message": UNCONFIRMED},
                    settlement={"errorReason": "settlement_pending", "transaction": TX})),
        start("b", req(headers=[pay]), read_body()), feed("b", BODY, SETTLE), feed("b", OK_SETTLE, paid_ok())])
    case("the facilitator fails on /settle: 502 (the outcome is open); the retry settles again and gets it", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE),
        feed("a", {"facilitatorFailed": {"code": "facilitator_unreachable", "message": "reset"}},
             answered(502, "facilitator_unreachable", UNCONFIRMED)),
        start("b", req(headers=[pay]), read_body()), feed("b", BODY, SETTLE), feed("b", OK_SETTLE, paid_ok()),
        start("c", req(headers=[pay]), read_body()), feed("c", BODY, paid_ok())])
    case("an expired payment that was served: its retry still gets the held response", paid_through("a", pay) + [
        start("b", req(headers=[pay]), read_body(), now=NOW + 320), feed("b", BODY, paid_ok())])
    case("an expired payment the gate never took is refused", [
        start("a", req(headers=[pay]), read_body(), now=NOW + 320),
        feed("a", BODY, billed(402, error="invalid_exact_evm_payload_authorization_valid_before"))])
    case("a request body over the limit: 413", [
        start("a", req("POST", headers=[pay]), read_body(16)), feed("a", {"bodyTooLarge": True},
                                                                    answered(413, "body_too_large"))],
         config=gate_config(route("POST /weather"), maxRequestBytes=16))
    case("the client goes away while its body is read: nothing to send", [
        start("a", req(headers=[pay]), read_body()), feed("a", {"clientGone": True}, {"action": "done"})])
    case("a POST served once whose response was too large to hold: a retry is refused, not run twice", [
        start("a", req("POST", headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE), feed("a", OK_SETTLE, paid_ok()),
        start("b", req("POST", headers=[pay]), read_body()),
        feed("b", BODY, answered(409, "payment_already_served"))],
         config=gate_config(route("POST /weather"), maxReplayBytes=4))
    case("a GET served once whose response was too large to hold: its retry runs the handler again, unpaid twice", [
        *paid_through("a", pay),
        start("b", req(headers=[pay]), read_body()), feed("b", BODY, RUN),
        feed("b", HANDLED, paid_ok())], config=gate_config(maxReplayBytes=4))
    case("a v1 route: the bill in the body, X-PAYMENT in, X-PAYMENT-RESPONSE out", [
        start("a", req(), {"action": "respond", "status": 402, "bill": bill("/weather", version=1),
                           "absentHeaders": ["payment-required"]}),
        start("b", req(headers=[sign(n=3, version=1)]), read_body()), feed("b", BODY, VERIFY),
        feed("b", VALID, RUN), feed("b", HANDLED, SETTLE),
        feed("b", {"settled": SETTLED | {"network": "base-sepolia"}},
             {"action": "respond", "status": 200, "settlement": SETTLED | {"network": "base-sepolia"},
              "headers": {"cache-control": "private"}, "absentHeaders": ["payment-response"]})],
         config=gate_config(route("GET /weather", version=1)))
    case("a v2 payment sent to a v1 route is refused as the wrong version", [
        start("a", req(headers=[pay]), {"action": "respond", "status": 400,
                                        "bill": bill("/weather", "invalid_x402_version", 1)})],
         config=gate_config(route("GET /weather", version=1)))
    case("a store outside the gate: every record operation is a step; a failing store answers 503", [
        start("a", req(headers=[pay]), read_body()),
        feed("a", BODY, {"action": "store", "op": "claim", "keyPrefix": "auth:84532:", "state": "in_flight"}),
        feed("a", {"store": {"entry": None}}, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, SETTLE),
        feed("a", OK_SETTLE, {"action": "store", "op": "replace", "keyPrefix": "auth:", "state": "done",
                              "shielded": True}),
        feed("a", {"store": {"replaced": True}}, paid_ok()),
        start("b", req(headers=[sign(n=4)]), read_body()),
        feed("b", BODY, {"action": "store", "op": "claim"}),
        feed("b", {"store": {"failed": "connection refused"}},
             answered(503, "payment_store_unavailable") | {"logs": ["connection refused"]})],
         config=gate_config(externalStore=True))
    case("a request cancelled while the handler runs releases its record; the payment can be retried", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        {"cancel": "a", "expect": {"action": "done"}},
    ] + paid_through("b", pay))
    case("with an external store, cancelling releases the record with a store step", [
        start("a", req(headers=[pay]), read_body()),
        feed("a", BODY, {"action": "store", "op": "claim"}), feed("a", {"store": {"entry": None}}, VERIFY),
        {"cancel": "a", "expect": {"action": "store", "op": "release", "keyPrefix": "auth:", "shielded": True}},
        feed("a", {"store": {"released": True}}, {"action": "done"})],
         config=gate_config(externalStore=True))
    # Hooks: the gate asks the glue to run them only at the points registered, with the payment's context.
    every_hook = ["before_verify", "after_verify", "verify_failure", "before_settle", "after_settle", "settle_failure"]
    go_on = {"hooked": {"continue": True}}
    ctx = {"method": "GET", "resource": ORIGIN + "/weather", "payer": PAYER}
    keys = ["paymentPayload", "requirements"]

    def hook(point, shielded=False, context=None, context_keys=()) -> dict:
        return {"action": "hook", "point": point, "shielded": shielded,
                "context": {"hook": point, **ctx, **(context or {})}, "contextKeys": [*keys, *context_keys]}

    case("hooks run before and after /verify and /settle, with the payment's context", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, hook("before_verify")),
        feed("a", go_on, VERIFY),
        feed("a", VALID, hook("after_verify", context_keys=["verifyResponse"])),
        feed("a", go_on, RUN), feed("a", HANDLED, hook("before_settle")), feed("a", go_on, SETTLE),
        feed("a", OK_SETTLE, hook("after_settle", True, {"settleResponse": SETTLED})),
        feed("a", go_on, paid_ok()),
        # The same payment again is answered from the record: no hook runs, nothing is verified or settled.
        start("b", req(headers=[pay]), read_body()), feed("b", BODY, paid_ok())],
         config=gate_config(hooks=every_hook))
    case("a hook before /verify aborts: the bill with its reason, nothing verified; the payment can be retried", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, hook("before_verify")),
        feed("a", {"hooked": {"abort": {"reason": "blocked_payer", "message": "this wallet is blocked"}}},
             billed(402, error="blocked_payer", json_={"error": "blocked_payer",
                                                       "message": "this wallet is blocked"})),
        start("b", req(headers=[pay]), read_body()), feed("b", BODY, hook("before_verify")),
        feed("b", go_on, VERIFY)],
         config=gate_config(hooks=["before_verify"]))
    case("a hook after /verify aborts: the handler never runs, nothing settled", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY),
        feed("a", VALID, hook("after_verify", context_keys=["verifyResponse"])),
        feed("a", {"hooked": {"abort": {"reason": "over_quota"}}},
             billed(402, error="over_quota", json_={"error": "over_quota", "message": "over_quota"}))],
         config=gate_config(hooks=["after_verify"]))
    case("a hook before /settle aborts: the handler's response is never sent, nothing settled", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY), feed("a", VALID, RUN),
        feed("a", HANDLED, hook("before_settle")),
        feed("a", {"hooked": {"abort": {"reason": "not_today", "message": "no sale"}}},
             billed(402, error="not_today", json_={"error": "not_today", "message": "no sale"},
                    absentHeaders=["payment-response"]))],
         config=gate_config(hooks=["before_settle"]))
    case("a hook that raises before /verify: 500 hook_failed, nothing verified, the details only in the log", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, hook("before_verify")),
        feed("a", {"hooked": {"failed": "KeyError: quota"}},
             answered(500, "hook_failed") | {"logs": ["KeyError: quota"]})],
         config=gate_config(hooks=["before_verify"]))
    case("a hook after the settlement can neither abort nor fail it: the settled response is served", [
        *paid_through("a", pay)[:4],
        feed("a", OK_SETTLE, hook("after_settle", True, {"settleResponse": SETTLED})),
        feed("a", {"hooked": {"abort": {"reason": "too_late"}}}, paid_ok() | {"logs": ["too_late"]}),
        start("b", req(headers=[sign(n=6)]), read_body()), feed("b", BODY, VERIFY), feed("b", VALID, RUN),
        feed("b", HANDLED, SETTLE), feed("b", OK_SETTLE, hook("after_settle", True)),
        feed("b", {"hooked": {"failed": "boom"}}, paid_ok() | {"logs": ["boom"]})],
         config=gate_config(hooks=["after_settle"]))
    case("failure hooks see a refused /verify and a failed /settle, with the reason", [
        start("a", req(headers=[pay]), read_body()), feed("a", BODY, VERIFY),
        feed("a", {"verified": {"isValid": False, "invalidReason": "insufficient_funds", "invalidMessage": "poor",
                                "payer": PAYER}},
             hook("verify_failure", context={"error": {"code": "insufficient_funds", "message": "poor"}},
                  context_keys=["verifyResponse"])),
        feed("a", go_on, billed(402, error="insufficient_funds")),
        start("b", req(headers=[pay]), read_body()), feed("b", BODY, VERIFY),
        feed("b", {"facilitatorFailed": {"code": "facilitator_unreachable", "message": "reset"}},
             hook("verify_failure", context={"error": {"code": "facilitator_unreachable", "message": "reset"}})),
        feed("b", go_on, answered(502, "facilitator_unreachable", UPSTREAM)),
        start("c", req(headers=[pay]), read_body()), feed("c", BODY, VERIFY), feed("c", VALID, RUN),
        feed("c", HANDLED, SETTLE),
        feed("c", {"settled": {"success": False, "errorReason": "insufficient_funds", "transaction": "",
                               "network": "eip155:84532", "payer": PAYER}},
             hook("settle_failure", True, {"error": {"code": "insufficient_funds", "message": ""}},
                  ["settleResponse"])),
        feed("c", go_on, billed(402, error="insufficient_funds"))],
         config=gate_config(hooks=["verify_failure", "settle_failure"]))
    # Sign-in-with-x: the gate declares it in v2 bills; a wallet that paid signs in (with the official
    # TypeScript client's sign-ins, made for the gate's own challenge) and is served without a payment.
    siwx_url = ORIGIN + "/weather"

    def siwx_info(**over) -> dict:
        info = {"domain": "api.test", "uri": siwx_url, "version": "1", "nonce": "a1b2c3d4e5f60718",
                "issuedAt": "2025-06-15T15:06:35Z", "resources": [siwx_url]}
        info.update(over)
        return {k: v for k, v in info.items() if v is not None}

    def sign_in(key=KEY, chain="eip155:84532", url=siwx_url, **over) -> list:
        r = ts.call("siwx", info=siwx_info(**over), chainId=chain, key=key, requestUrl=url)
        assert r["valid"], r
        return ["SIGN-IN-WITH-X", r["header"]]

    def tampered(header: list, **change) -> list:
        payload = json.loads(base64.b64decode(header[1]))
        payload.update(change)
        return ["SIGN-IN-WITH-X", b64(payload)]

    declared = {"domain": "api.test", "uri": siwx_url, "issuedAt": "2025-06-15T15:06:45Z",
                "resources": [siwx_url], "chains": ["eip155:84532"]}
    signed_in = {"action": "respond", "status": 200, "body": CONTENT,
                 "headers": {"cache-control": "private"}, "absentHeaders": ["payment-response"]}

    def refused_sign_in(code) -> dict:
        return {"action": "respond", "status": 402, "json": {"error": code}, "siwx": declared}

    siwx_gate = gate_config(signIn={})
    good = sign_in()
    case("sign-in-with-x: the bill declares a challenge for this origin; a wallet that paid signs in (the official "
         "client's sign-in) and is served without a payment; the same sign-in again is a replay", [
        start("a", req(), {"action": "respond", "status": 402, "siwx": declared}),
        *paid_through("b", pay),
        start("c", req(headers=[good]), read_body()), feed("c", BODY, RUN), feed("c", HANDLED, signed_in),
        start("d", req(headers=[good]), refused_sign_in("invalid_siwx_nonce"))], config=siwx_gate)
    never_paid = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
    case("sign-in-with-x: sign-ins refused with their reasons, none served", [
        *paid_through("a", pay),
        start("b", req(headers=[sign_in(key=never_paid)]), refused_sign_in("siwx_no_payment_on_record")),
        start("c", req(headers=[sign_in(domain="evil.test", uri="http://evil.test/weather",
                                        url="http://evil.test/weather")]),
              refused_sign_in("invalid_siwx_domain_mismatch")),
        start("d", req(headers=[sign_in(chain="eip155:1", nonce="b1b2c3d4e5f60718")]),
              refused_sign_in("invalid_siwx_unsupported_chain")),
        start("e", req(headers=[sign_in(expirationTime="2025-06-15T15:06:40Z", nonce="c1b2c3d4e5f60718")]),
              refused_sign_in("invalid_siwx_expired")),
        start("f", req(headers=[sign_in(issuedAt="2025-06-15T14:00:00Z", nonce="d1b2c3d4e5f60718")]),
              refused_sign_in("invalid_siwx_issued_at_too_old")),
        start("g", req(headers=[tampered(sign_in(nonce="e1b2c3d4e5f60718"), nonce="e1b2c3d4e5f60719")]),
              refused_sign_in("invalid_siwx_signature")),
        start("h", req(headers=[["SIGN-IN-WITH-X", "not a sign-in"]]), refused_sign_in("invalid_siwx_payload")),
        start("i", req(headers=[tampered(sign_in(nonce="f1b2c3d4e5f60718"), uri="http://api.test:8080/weather")]),
              refused_sign_in("invalid_siwx_uri_mismatch"))], config=siwx_gate)
    case("sign-in-with-x: a bad sign-in sent with a payment leaves the payment to go on", [
        start("a", req(headers=[sign_in(key=never_paid), pay]), read_body()), feed("a", BODY, VERIFY)],
         config=siwx_gate)
    echoed = bill("/weather")
    echoed["extensions"] = {"sign-in-with-x": {
        "info": siwx_info(nonce="0123456789abcdef", issuedAt="2025-06-15T15:06:00Z"),
        "supportedChains": [{"chainId": "eip155:84532", "type": "eip191"}]}}
    echo_pay = ts.call("pay", bill={"header": b64(echoed)}, key=KEY, now=NOW, nonce=nonce(7))
    case("sign-in-with-x: a payment echoing an earlier bill's challenge (another nonce) is taken", [
        start("a", req(headers=[[echo_pay["headerName"], echo_pay["headerValue"]]]), read_body()),
        feed("a", BODY, VERIFY)], config=siwx_gate)
    case("an OPTIONS preflight passes through", [start("a", req("OPTIONS", headers=[pay]), {"action": "passThrough"})])
    case("a free path passes through", [start("a", req(path="/free", headers=[pay]), {"action": "passThrough"})])
    return cases


# ------------------------------------------------------------------------------------------------ client
def client(ts) -> list:
    def billing(url: str, n: int = 1) -> tuple:
        b = {"x402Version": 2, "error": "Payment required",
             "resource": {"url": url, "description": "", "mimeType": ""},
             "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "10000", "asset": USDC,
                          "payTo": PAY_TO, "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}]}
        t = ts.call("pay", bill={"header": b64(b)}, key=KEY, now=NOW, nonce=nonce(n))
        return {"response": {"status": 402, "headers": [["PAYMENT-REQUIRED", b64(b)]]}}, t["headerValue"]

    def got(status, headers=()) -> dict:
        return {"response": {"status": status, "headers": [list(h) for h in headers]}}

    def send(url, method="GET", with_=None, without=("payment-signature",), body=None) -> dict:
        e = {"action": "send", "method": method, "url": url, "absentHeaders": list(without)}
        if with_:
            e["headers"] = with_
        if body is not None:
            e["body"] = body
        return e

    receipt = b64(SETTLED)
    a = "https://api.test/a"
    cases = []

    def case(name, moves, payer_nonce=1, options=None, policy=None):
        c = {"name": name, "payer": {"key": KEY, "now": NOW, "nonce": nonce(payer_nonce), "expiryMargin": 0},
             "options": options or {}, "moves": moves}
        if policy:
            c["payer"]["policy"] = policy
        cases.append(c)

    bill_a, paid_a = billing(a)
    done_paid = {"action": "done", "paid": True, "open": False, "settlement": SETTLED, "paidStatus": 200}
    case("a free answer passes through unpaid", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", got(200), {"action": "done", "paid": False})])
    case("a 402 is paid once, with exactly the official client's header, and the receipt is read", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": paid_a}, without=())),
        feed("x", got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid)])
    case("the paid request is redirected to another origin: the payment and credentials stay behind", [
        {"start": "x", "request": {"method": "GET", "url": a, "headers": [["Authorization", "Bearer t"]]},
         "expect": send(a, with_={"authorization": "Bearer t"})},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": paid_a, "Authorization": "Bearer t"},
                                     without=())),
        feed("x", got(302, [("PAYMENT-RESPONSE", receipt), ("Location", "https://evil.test/b")]),
             send("https://evil.test/b", without=("payment-signature", "x-payment", "authorization"))),
        feed("x", got(200), done_paid | {"paidStatus": 302})])
    case("a second bill after a redirect is not paid: one payment per call (httpx paid 21 times)", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": paid_a}, without=())),
        feed("x", got(302, [("Location", "/b")]), send("https://api.test/b")),
        feed("x", billing("https://api.test/b", 2)[0],
             {"action": "done", "paid": True, "unpaid": "payment_already_attempted", "paidStatus": 302})])
    case("an open outcome (502) keeps the payment: the retried purchase sends the same one", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": paid_a}, without=())),
        feed("x", got(502), {"action": "done", "paid": True, "open": True, "paidStatus": 502}),
        {"start": "y", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("y", bill_a, {"action": "readBody"}),
        feed("y", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": paid_a}, without=())),
        feed("y", got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid | {"reused": True})])
    case("a lost answer to the paid request is raised with the outcome open; the retry reuses the payment", [
        {"start": "x", "request": {"method": "POST", "url": a, "body": "q"}, "expect": send(a, "POST", body="q")},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, "POST", with_={"PAYMENT-SIGNATURE": paid_a}, without=(), body="q")),
        feed("x", {"sendFailed": True}, {"action": "raise", "open": True}),
        {"start": "y", "request": {"method": "POST", "url": a, "body": "q"}, "expect": send(a, "POST", body="q")},
        feed("y", bill_a, {"action": "readBody"}),
        feed("y", {"body": ""}, send(a, "POST", with_={"PAYMENT-SIGNATURE": paid_a}, without=(), body="q"))])
    case("a 402 that is not an x402 bill reaches the caller as it is", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", got(402, [("Content-Type", "text/plain")]), {"action": "readBody"}),
        feed("x", {"body": "pay me"}, {"action": "done", "paid": False, "bodyRead": True, "unpaid": "invalid_json"})])
    case("a request carrying its own payment is never paid, and its payment does not follow a redirect", [
        {"start": "x", "request": {"method": "GET", "url": a, "headers": [["X-PAYMENT", "mine"]]},
         "expect": send(a, with_={"X-PAYMENT": "mine"}, without=())},
        feed("x", got(307, [("Location", "https://other.test/")]), send("https://other.test/", without=("x-payment",))),
        feed("x", bill_a, {"action": "done", "paid": False, "unpaid": "payment_already_attempted"})])
    case("a bill over the policy's cap fails with the refusal", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, {"action": "fail", "error": "no_acceptable_offer"})],
         policy={"maxPerPayment": "$0.001"})
    case("a request that continues a call that already paid is not paid again", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "done", "paid": False, "unpaid": "payment_already_attempted"})],
         options={"alreadyPaid": True})
    case("without redirect following, a redirect is the answer", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", got(302, [("Location", "/b")]), {"action": "done", "paid": False})],
         options={"followRedirects": False})
    case("too many redirects fail", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", got(302, [("Location", "/b")]), send("https://api.test/b")),
        feed("x", got(302, [("Location", "/c")]), {"action": "fail", "error": "too_many_redirects"})],
         options={"maxRedirects": 1})
    case("a 303 after a POST continues as a GET without the body", [
        {"start": "x", "request": {"method": "POST", "url": a, "headers": [["Content-Type", "text/plain"]],
                                   "body": "q"}, "expect": send(a, "POST", body="q")},
        feed("x", got(303, [("Location", "/done")]),
             send("https://api.test/done", without=("content-type",), body=None) | {"noBody": True}),
        feed("x", got(200), {"action": "done", "paid": False})])
    case("a signer outside the machine is asked to sign the digest", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, {"action": "sign", "digests": 1}),
        {"feed": "x", "input": {"signWithKey": True},
         "expect": send(a, with_={"PAYMENT-SIGNATURE": paid_a}, without=())},
        feed("x", got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid)],
         options={"signInline": False})
    creation = ["before_payment_creation", "after_payment_creation", "payment_creation_failure"]

    def hook(point, context=None, context_keys=()) -> dict:
        return {"action": "hook", "point": point,
                "context": {"hook": point, "method": "GET", "resource": a, **(context or {})},
                "contextKeys": ["paymentRequired", *context_keys]}

    go_on = {"hooked": {"continue": True}}
    case("payment creation hooks see the bill, then the payment before it is sent", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, hook("before_payment_creation")),
        feed("x", go_on, hook("after_payment_creation", {"payer": PAYER}, ["requirements", "paymentPayload"])),
        feed("x", go_on, send(a, with_={"PAYMENT-SIGNATURE": paid_a}, without=())),
        feed("x", got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid)],
         options={"hooks": creation})
    case("a hook before payment creation aborts: payment_aborted, nothing signed or sent", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, hook("before_payment_creation")),
        feed("x", {"hooked": {"abort": {"reason": "not_this_merchant"}}},
             {"action": "fail", "error": "payment_aborted"})],
         options={"hooks": creation})
    case("a hook that raises before payment creation: hook_failed, nothing paid", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, hook("before_payment_creation")),
        feed("x", {"hooked": {"failed": "ValueError"}}, {"action": "fail", "error": "hook_failed"})],
         options={"hooks": creation})
    case("the policy refuses the bill: the failure hook sees why, then the refusal is raised", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, hook("payment_creation_failure", {"error": {"code": "no_acceptable_offer"}})),
        feed("x", go_on, {"action": "fail", "error": "no_acceptable_offer"})],
         policy={"maxPerPayment": "$0.001"}, options={"hooks": ["payment_creation_failure"]})
    case("a hook after payment creation cannot abort it: the payment is sent", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", bill_a, {"action": "readBody"}),
        feed("x", {"body": ""}, {"action": "sign", "digests": 1}),
        {"feed": "x", "input": {"signWithKey": True},
         "expect": hook("after_payment_creation", {"payer": PAYER}, ["requirements", "paymentPayload"])},
        feed("x", {"hooked": {"abort": {"reason": "late"}}},
             send(a, with_={"PAYMENT-SIGNATURE": paid_a}, without=()))],
         options={"hooks": ["after_payment_creation"], "signInline": False})
    # Sign-in-with-x: a bill offering a sign-in bound to the request's origin is signed in to first, with
    # exactly the official TypeScript client's header; a second bill is paid.
    def siwx_bill(url: str, domain: str = "api.test") -> tuple:
        b = {"x402Version": 2, "error": "Payment required",
             "resource": {"url": url, "description": "", "mimeType": ""},
             "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "10000", "asset": USDC,
                          "payTo": PAY_TO, "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}],
             "extensions": {"sign-in-with-x": {
                 "info": {"domain": domain, "uri": url.replace("api.test", domain), "version": "1",
                          "nonce": "a1b2c3d4e5f60718", "issuedAt": "2025-06-15T15:06:35Z",
                          "resources": [url.replace("api.test", domain)]},
                 "supportedChains": [{"chainId": "eip155:84532", "type": "eip191"}]}}}
        return {"response": {"status": 402, "headers": [["PAYMENT-REQUIRED", b64(b)]]}}, b

    siwx_a, siwx_wire = siwx_bill(a)
    official = ts.call("siwx", info=siwx_wire["extensions"]["sign-in-with-x"]["info"], chainId="eip155:84532",
                       key=KEY, requestUrl=a)["header"]
    siwx_paid = ts.call("pay", bill={"header": b64(siwx_wire)}, key=KEY, now=NOW, nonce=nonce(1))["headerValue"]
    case("sign-in-with-x: the client signs in first, with exactly the official client's header, and is served "
         "without paying", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", siwx_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"SIGN-IN-WITH-X": official})),
        feed("x", got(200), {"action": "done", "paid": False, "signedIn": True})])
    case("sign-in-with-x: the server bills again after the sign-in: the call pays once, without the sign-in", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", siwx_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"SIGN-IN-WITH-X": official})),
        feed("x", siwx_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": siwx_paid},
                                     without=("sign-in-with-x",))),
        feed("x", got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid | {"signedIn": False})])
    evil_a, evil_wire = siwx_bill(a, domain="evil.test")
    evil_paid = ts.call("pay", bill={"header": b64(evil_wire)}, key=KEY, now=NOW, nonce=nonce(1))["headerValue"]
    case("sign-in-with-x: a challenge for another origin is never signed: the client pays", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", evil_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": evil_paid}, without=("sign-in-with-x",)))])
    case("sign-in-with-x: a signer outside the machine signs the sign-in's digest", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", siwx_a, {"action": "readBody"}),
        feed("x", {"body": ""}, {"action": "sign", "digests": 1}),
        {"feed": "x", "input": {"signWithKey": True}, "expect": send(a, with_={"SIGN-IN-WITH-X": official})}],
         options={"signInline": False})
    case("sign-in-with-x: with sign-in off, the client pays", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", siwx_a, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": siwx_paid}, without=("sign-in-with-x",)))],
         options={"signIn": False})
    # Passes: after a settled payment, the next call to the resource asks the facilitator the bill names (one
    # the user trusts) for a pass, and presents it; a refused pass is forgotten and the call pays.
    fac = "https://f.test"

    offer_terms = {"scheme": "exact", "network": "eip155:84532", "asset": USDC, "payTo": PAY_TO, "amount": "10000"}
    # The server's signed offer (the official offer-receipt extension): what the facilitator prices a pass by.
    signed_offer = ts.call("credentials", key=ISSUER_KEY, now=NOW, resourceUrl=a, requirements=offer_terms,
                           payer=PAYER, network="eip155:84532", transaction=TX)["offers"][0]

    def pass_bill(facilitator: str) -> tuple:
        b = {"x402Version": 2, "error": "Payment required",
             "resource": {"url": a, "description": "", "mimeType": ""},
             "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "10000", "asset": USDC,
                          "payTo": PAY_TO, "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}],
             "extensions": {"offer-receipt": {"info": {"offers": [signed_offer]}},
                            "paywire-pass": {"info": {
                                "facilitator": facilitator, "endpoint": facilitator + "/passes/transaction",
                                "issuers": [ISSUER], "header": "X-PAYWIRE-RECEIPT", "lifetimeSeconds": 600}}}}
        return {"response": {"status": 402, "headers": [["PAYMENT-REQUIRED", b64(b)]]}}, b

    pass_a, pass_wire = pass_bill(fac)
    pass_paid = ts.call("pay", bill={"header": b64(pass_wire)}, key=KEY, now=NOW, nonce=nonce(1))["headerValue"]
    # The machine's own request: its answer's body is the machine's, never the caller's.
    ask = {"action": "send", "method": "POST", "url": fac + "/passes/transaction",
           "headers": {"content-type": "application/json"}, "own": True}
    issued = json.dumps({"success": True, "header": "cGFzcw==", "issuer": ISSUER, "expiresAt": NOW + 600})

    def paid_call(x: str) -> list:
        return [{"start": x, "request": {"method": "GET", "url": a}, "expect": send(a)},
                feed(x, pass_a, {"action": "readBody"}),
                feed(x, {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": pass_paid}, without=())),
                feed(x, got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid)]

    trusting = {"passFacilitators": [fac]}
    case("passes: a settled payment buys a pass, asked for on the next call and presented instead of paying; a "
         "refused pass is forgotten and the call pays", [
        *paid_call("x"),
        {"start": "y", "request": {"method": "GET", "url": a}, "expect": ask},
        feed("y", got(200, [("Content-Type", "application/json")]), {"action": "readBody"}),
        feed("y", {"body": issued}, send(a, with_={"X-PAYWIRE-RECEIPT": "cGFzcw=="})),
        feed("y", got(200), {"action": "done", "paid": False, "passUsed": True}),
        {"start": "z", "request": {"method": "GET", "url": a}, "expect": send(a, with_={"X-PAYWIRE-RECEIPT": "cGFzcw=="})},
        feed("z", pass_a, {"action": "readBody"}),
        feed("z", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": pass_paid}, without=("x-paywire-receipt",))),
        feed("z", got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid | {"passUsed": False})],
         options=trusting)
    evil_pass, evil_pass_wire = pass_bill("https://evil.test")
    evil_pass_paid = ts.call("pay", bill={"header": b64(evil_pass_wire)}, key=KEY, now=NOW, nonce=nonce(1))["headerValue"]
    case("passes: a bill naming a facilitator the user did not trust never makes the client call it", [
        {"start": "x", "request": {"method": "GET", "url": a}, "expect": send(a)},
        feed("x", evil_pass, {"action": "readBody"}),
        feed("x", {"body": ""}, send(a, with_={"PAYMENT-SIGNATURE": evil_pass_paid}, without=())),
        feed("x", got(200, [("PAYMENT-RESPONSE", receipt)]), done_paid),
        {"start": "y", "request": {"method": "GET", "url": a}, "expect": send(a, without=("x-paywire-receipt",))}],
         options=trusting)
    case("passes: an unreachable facilitator does not fail the call; the pass is asked for again next time", [
        *paid_call("x"),
        {"start": "y", "request": {"method": "GET", "url": a}, "expect": ask},
        feed("y", {"sendFailed": True}, send(a, without=("x-paywire-receipt",))),
        feed("y", got(200), {"action": "done", "paid": False, "passUsed": False}),
        {"start": "z", "request": {"method": "GET", "url": a}, "expect": ask},
        feed("z", got(409, [("Content-Type", "application/json")]), send(a, without=("x-paywire-receipt",)))],
         options=trusting)
    case("passes: without trusted facilitators, no pass is asked for", [
        *paid_call("x"),
        {"start": "y", "request": {"method": "GET", "url": a}, "expect": send(a, without=("x-paywire-receipt",))}])
    return cases
