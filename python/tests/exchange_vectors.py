"""Runners of the exchange vectors (routes.json, gate.json, client.json) through the Python binding's machines:
``Gate``/``Exchange`` and ``PaidFetch``, move by move (formats: tests/vectors/README.md)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import paywire
from paywire import _paywire as native


def _pairs(value: Any) -> List[Tuple[str, str]]:
    return [(k, v) for k, v in value or []]


def _header(headers: List[Tuple[str, str]], name: str) -> Optional[str]:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def run_routes(case: Dict[str, Any]) -> None:
    name = case["name"]
    tag = paywire.PriceTag("eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "$0.01")
    routes = [native.PricedRoute([tag], p) for p in case["patterns"]]
    gate = native.Gate(routes, case_sensitive=case["caseSensitive"])
    for method, path, index in case["priced"]:
        assert gate.route_for(method, path) == index, f"{name}: {method} {path} must be priced under {index}"
    for method, path in case["free"]:
        assert gate.route_for(method, path) is None, f"{name}: {method} {path} must be free"
    for method, pattern, index in case["framework"]:
        got = gate.route_for(method, "/\x00unmatched", framework_pattern=pattern)
        assert got == index, f"{name}: framework route {method} {pattern}"


def _gate(config: Dict[str, Any]) -> native.Gate:
    routes = []
    for r in config["routes"]:
        tags = [paywire.PriceTag(t["network"], t["payTo"], t["price"]) for t in r["tags"]]
        routes.append(native.PricedRoute(tags, r["pattern"], x402_version=r.get("x402Version", 2)))
    options: Dict[str, Any] = {}
    if "maxRequestBytes" in config:
        options["max_request_bytes"] = config["maxRequestBytes"]
    if "maxReplayBytes" in config:
        options["max_replay_bytes"] = config["maxReplayBytes"]
    options["hooks"] = config.get("hooks", [])
    if "signIn" in config:
        options["sign_in"] = True
        sign_in = config["signIn"]
        if "accessSeconds" in sign_in:
            options["sign_in_access_seconds"] = sign_in["accessSeconds"]
        if "maxAgeSeconds" in sign_in:
            options["sign_in_max_age_seconds"] = sign_in["maxAgeSeconds"]
    return native.Gate(routes, external_store=config.get("externalStore", False), **options)


def _gate_feed(exchange: native.Exchange, value: Dict[str, Any]) -> native.Step:
    if "body" in value:
        return exchange.feed_body(value["body"].encode())
    if "bodyTooLarge" in value:
        return exchange.feed_body_too_large()
    if "clientGone" in value:
        return exchange.feed_client_gone()
    if "verified" in value:
        return exchange.feed_verified(paywire.VerifyResponse.from_json(json.dumps(value["verified"])))
    if "settled" in value:
        return exchange.feed_settled(paywire.SettleResponse.from_json(json.dumps(value["settled"])))
    if "facilitatorFailed" in value:
        failed = value["facilitatorFailed"]
        return exchange.feed_facilitator_failed(failed["message"], failed.get("code"))
    if "handled" in value:
        h = value["handled"]
        return exchange.feed_handled(h["status"], _pairs(h["headers"]), h["body"].encode())
    if "handlerFailed" in value:
        return exchange.feed_handler_failed()
    if "hooked" in value:
        return exchange.feed_hooked(**_verdict(value["hooked"]))
    store = value["store"]
    if "entry" in store:
        return exchange.feed_store(None)
    if "replaced" in store:
        return exchange.feed_store(store["replaced"])
    if "released" in store:
        return exchange.feed_store(None)
    return exchange.feed_store_failed(store["failed"])


def _verdict(hooked: Dict[str, Any]) -> Dict[str, Any]:
    """The arguments of ``feed_hooked`` for a ``hooked`` input."""
    if "abort" in hooked:
        return {"abort": hooked["abort"]["reason"], "message": hooked["abort"].get("message")}
    if "failed" in hooked:
        return {"failed": hooked["failed"]}
    return {}


def _matches(got: Any, want: Any) -> bool:
    """Whether ``got`` is ``want``, an object matching by the members ``want`` names."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(_matches(got.get(k), v) for k, v in want.items())
    return bool(got == want)


def _check_hook(label: str, point: Any, context: Any, expect: Dict[str, Any]) -> None:
    assert point == expect["point"], f"{label}: hook point {point}"
    assert isinstance(context, dict), label
    for k, v in expect.get("context", {}).items():
        assert _matches(context.get(k), v), f"{label}: hook context member {k} in {context}"
    for k in expect.get("contextKeys", []):
        assert context.get(k) is not None, f"{label}: hook context lacks {k}"


def _check_siwx(label: str, bill: Any, want: Dict[str, Any]) -> None:
    """A bill's sign-in-with-x declaration: its info (but the random nonce), the nonce's form, its chains."""
    declared = bill["extensions"]["sign-in-with-x"]
    for k in ("domain", "uri", "issuedAt", "resources"):
        assert declared["info"][k] == want[k], f"{label}: sign-in info member {k}"
    assert declared["info"]["version"] == "1", label
    nonce = declared["info"]["nonce"]
    assert len(nonce) >= 16 and nonce.isalnum() and nonce.isascii(), f"{label}: nonce {nonce}"
    assert [c["chainId"] for c in declared["supportedChains"]] == want["chains"], f"{label}: sign-in chains"
    assert all(c["type"] == "eip191" for c in declared["supportedChains"]), label
    assert isinstance(declared["schema"], dict), label


def _check_headers(label: str, headers: List[Tuple[str, str]], expect: Dict[str, Any]) -> None:
    for k, v in expect.get("headers", {}).items():
        assert _header(headers, k) == v, f"{label}: header {k} in {headers}"
    for k in expect.get("absentHeaders", []):
        assert _header(headers, k) is None, f"{label}: header {k} must be absent"


def _check_step(label: str, step: native.Step, expect: Dict[str, Any]) -> None:
    kinds = {"passThrough": "pass_through", "readBody": "read_body", "runHandler": "run_handler"}
    assert step.kind == kinds.get(expect["action"], expect["action"]), f"{label}: {step.kind}"
    if "shielded" in expect:
        assert step.shielded == expect["shielded"], f"{label}: shielded"
    for text in expect.get("logs", []):
        assert any(text in message for _, message in step.logs), f"{label}: no log line with {text!r}"
    if step.kind == "read_body":
        assert step.limit == expect["limit"], label
    elif step.kind == "run_handler" and "payer" in expect:
        assert step.paid is not None and step.paid.payer == expect["payer"], label
    elif step.kind == "store":
        assert step.op == expect["op"], label
        if "keyPrefix" in expect:
            assert (step.key or "").startswith(expect["keyPrefix"]), f"{label}: {step.key}"
        if "state" in expect:
            assert step.entry is not None and step.entry.state == expect["state"], label
    elif step.kind == "hook":
        _check_hook(label, step.hook_point, step.hook_context, expect)
    elif step.kind == "respond":
        headers = step.headers or []
        body = step.body or b""
        assert step.status == expect["status"], f"{label}: {step.status} {body!r}"
        _check_headers(label, headers, expect)
        if "body" in expect:
            assert body.decode() == expect["body"], label
        for k, v in (expect.get("json") or {}).items():
            assert json.loads(body)[k] == v, f"{label}: body member {k}"
        if "bill" in expect:
            header = _header(headers, "payment-required")
            got = paywire.decode_header_json(header) if header else json.loads(body)
            assert got == expect["bill"], f"{label}: the bill"
        if "siwx" in expect:
            _check_siwx(label, paywire.decode_header_json(_header(headers, "payment-required") or ""), expect["siwx"])
        if "settlement" in expect:
            value = _header(headers, "payment-response") or _header(headers, "x-payment-response")
            assert value is not None, f"{label}: no settlement header"
            decoded = paywire.decode_header_json(value)
            for k, v in expect["settlement"].items():
                assert decoded[k] == v, f"{label}: settlement member {k}"


def run_gate(case: Dict[str, Any]) -> None:
    gate = _gate(case["gate"])
    exchanges: Dict[str, native.Exchange] = {}
    for i, move in enumerate(case["moves"]):
        label = f"{case['name']} (move {i})"
        if "start" in move:
            r = move["request"]
            exchange, step = gate.handle(
                r["method"], r["path"], r["pathAndQuery"], r["origin"], _pairs(r["headers"]), now=move["now"]
            )
            if exchange is not None:
                exchanges[move["start"]] = exchange
        elif "feed" in move:
            step = _gate_feed(exchanges[move["feed"]], move["input"])
        else:
            step = exchanges[move["cancel"]].cancel()
        _check_step(label, step, move["expect"])


def _check_fetch(label: str, step: native.FetchStep, expect: Dict[str, Any]) -> None:
    kinds = {"readBody": "read_body"}
    assert step.kind == kinds.get(expect["action"], expect["action"]), f"{label}: {step.kind}"
    if step.kind == "send":
        assert step.method == expect["method"], label
        assert step.url == expect["url"], label
        _check_headers(label, step.headers or [], expect)
        if expect.get("body") is not None:
            assert step.body == expect["body"].encode(), label
        if expect.get("noBody"):
            assert step.body is None, label
        if "own" in expect:
            assert step.own == expect["own"], f"{label}: own"
    elif step.kind == "sign":
        assert len(step.digests) == expect["digests"], label
    elif step.kind == "hook":
        _check_hook(label, step.hook_point, step.hook_context, expect)
    elif step.kind == "fail":
        assert step.error is not None and step.error.code == expect["error"], f"{label}: {step.error}"
    elif step.kind in ("done", "raise"):
        if "paid" in expect:
            assert (step.payment is not None) == expect["paid"], f"{label}: paid"
        if "open" in expect:
            assert step.open == expect["open"], f"{label}: open"
        if "paidStatus" in expect:
            assert step.paid_status == expect["paidStatus"], f"{label}: paidStatus"
        if "reused" in expect:
            assert step.payment is not None and step.payment.reused == expect["reused"], f"{label}: reused"
        if "passUsed" in expect:
            assert step.pass_used == expect["passUsed"], f"{label}: passUsed"
        if "signedIn" in expect:
            assert step.signed_in == expect["signedIn"], f"{label}: signedIn"
        if "bodyRead" in expect:
            assert step.body_read == expect["bodyRead"], f"{label}: bodyRead"
        if "unpaid" in expect:
            assert step.unpaid is not None and step.unpaid.code == expect["unpaid"], f"{label}: unpaid"
        if "settlement" in expect:
            assert step.settlement is not None, f"{label}: no settlement"
            got = step.settlement.to_dict()
            for k, v in expect["settlement"].items():
                assert got[k] == v, f"{label}: settlement member {k}"


def run_client(case: Dict[str, Any]) -> None:
    p = case["payer"]
    signer = paywire.LocalSigner(p["key"])
    policy = paywire.Policy.from_dict(p["policy"]) if "policy" in p else None
    payer = paywire.Payer(
        signer, policy, expiry_margin=p["expiryMargin"], clock=p["now"], randomness=bytes.fromhex(p["nonce"][2:])
    )
    o = case["options"]
    options = {
        "follow_redirects": o.get("followRedirects", True),
        "max_redirects": o.get("maxRedirects", 20),
        "already_paid": o.get("alreadyPaid", False),
        "sign_inline": o.get("signInline", True),
        "hooks": o.get("hooks", []),
        "sign_in": o.get("signIn", True),
        "pass_facilitators": o.get("passFacilitators", []),
    }
    calls: Dict[str, Tuple[native.PaidFetch, native.FetchStep]] = {}
    for i, move in enumerate(case["moves"]):
        label = f"{case['name']} (move {i})"
        if "start" in move:
            r = move["request"]
            body = r["body"].encode() if "body" in r else None
            call, step = native.PaidFetch.start(payer, r["method"], r["url"], _pairs(r.get("headers")), body, **options)
        else:
            call, last = calls[move["feed"]]
            value = move["input"]
            if "response" in value:
                step = call.feed_response(value["response"]["status"], _pairs(value["response"]["headers"]))
            elif "body" in value:
                step = call.feed_body(value["body"].encode())
            elif "sendFailed" in value:
                step = call.feed_send_failed()
            elif "hooked" in value:
                step = call.feed_hooked(**_verdict(value["hooked"]))
            else:
                step = call.feed_signatures([signer.sign_digest(d) for d in last.digests])
        calls[move.get("start") or move["feed"]] = (call, step)
        _check_fetch(label, step, move["expect"])
