import Foundation
import Paywire
import XCTest

/// The exchange vectors (routes.json, gate.json, client.json) through the Swift binding's machines, move by
/// move (formats: tests/vectors/README.md).
extension VectorsTests {
    private static let payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

    private func pairs(_ value: Any?) -> [HttpHeader] {
        ((value as? [[String]]) ?? []).map { HttpHeader(name: $0[0], value: $0[1]) }
    }

    private func header(_ headers: [HttpHeader], _ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func testRoutes() throws {
        try forEachCase("routes") { c, _ in
            let tag = try PriceTag(options: PriceTagOptions(network: "eip155:84532", payTo: Self.payTo, price: "$0.01"))
            let routes = try (c["patterns"] as! [String]).map { try PricedRoute(tags: [tag], pattern: $0) }
            let gate = try Gate(routes: routes, options: GateOptions(caseSensitive: c["caseSensitive"] as! Bool))
            for p in c["priced"] as! [[Any]] {
                let got = gate.routeFor(method: p[0] as! String, path: p[1] as! String)
                XCTAssertEqual(got, UInt32(p[2] as! Int), "\(p[0]) \(p[1]) must be priced")
            }
            for p in c["free"] as! [[Any]] {
                XCTAssertNil(gate.routeFor(method: p[0] as! String, path: p[1] as! String), "\(p[0]) \(p[1]) must be free")
            }
            for p in c["framework"] as! [[Any]] {
                let got = gate.routeFor(method: p[0] as! String, path: "/\u{0}unmatched", frameworkPattern: p[1] as? String)
                XCTAssertEqual(got, (p[2] as? Int).map { UInt32($0) }, "framework route \(p[1])")
            }
        }
    }

    private func gateOf(_ config: JSON) throws -> Gate {
        let routes = try (config["routes"] as! [JSON]).map { r -> PricedRoute in
            let tags = try (r["tags"] as! [JSON]).map {
                try PriceTag(options: PriceTagOptions(network: string($0, "network"), payTo: string($0, "payTo"), price: string($0, "price")))
            }
            return try PricedRoute(tags: tags, pattern: string(r, "pattern"), options: RouteOptions(x402Version: UInt8((r["x402Version"] as? Int) ?? 2)))
        }
        let options = GateOptions(
            maxRequestBytes: uint64(config, "maxRequestBytes"),
            maxReplayBytes: uint64(config, "maxReplayBytes"),
            externalStore: (config["externalStore"] as? Bool) ?? false,
            hooks: hookPoints(config["hooks"]),
            signIn: (config["signIn"] as? JSON).map {
                SignInOptions(accessSeconds: uint64($0, "accessSeconds") ?? 86400, maxAgeSeconds: uint64($0, "maxAgeSeconds") ?? 300)
            }
        )
        return try Gate(routes: routes, options: options)
    }

    /// Every hook point, to find the one a vector names (snake case).
    private static let allHookPoints: [HookPoint] = [
        .beforeVerify, .afterVerify, .verifyFailure, .beforeSettle, .afterSettle, .settleFailure,
        .beforePaymentCreation, .afterPaymentCreation, .paymentCreationFailure,
    ]

    private func hookPoints(_ value: Any?) -> [HookPoint] {
        ((value as? [String]) ?? []).map { name in Self.allHookPoints.first { hookPointName(point: $0) == name }! }
    }

    /// A `hooked` input as the verdict the machines take.
    private func verdict(_ h: JSON) -> HookVerdict {
        if let abort = h["abort"] as? JSON { return .abort(reason: string(abort, "reason"), message: abort["message"] as? String) }
        if let failed = h["failed"] as? String { return .failed(message: failed) }
        return .continue
    }

    /// Whether `got` is `want`, an object matching by the members `want` names.
    private func matches(_ got: Any?, _ want: Any) -> Bool {
        if let members = want as? JSON {
            guard let object = got as? JSON else { return false }
            return members.allSatisfy { matches(object[$0.key], $0.value) }
        }
        guard let got = got else { return false }
        return jsonText([got]) == jsonText([want])
    }

    private func checkHook(_ label: String, _ point: HookPoint, _ context: HookContext, _ e: JSON) throws {
        XCTAssertEqual(hookPointName(point: point), string(e, "point"), "\(label): hook point")
        XCTAssertEqual(context.hook, string(e, "point"), "\(label): the context's hook")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(context.json.utf8)) as? JSON)
        for (k, v) in (e["context"] as? JSON) ?? [:] {
            XCTAssertTrue(matches(json[k], v), "\(label): hook context member \(k) in \(context.json)")
        }
        for k in (e["contextKeys"] as? [String]) ?? [] {
            XCTAssertTrue(json[k] != nil && !(json[k] is NSNull), "\(label): hook context lacks \(k)")
        }
        XCTAssertEqual(context.payer, json["payer"] as? String, "\(label): payer")
    }

    private func feed(_ exchange: Exchange, _ v: JSON) throws -> GateStep {
        if let body = v["body"] as? String { return exchange.feedBody(body: Data(body.utf8)) }
        if v["bodyTooLarge"] != nil { return exchange.feedBodyTooLarge() }
        if v["clientGone"] != nil { return exchange.feedClientGone() }
        if let verified = v["verified"] { return try exchange.feedVerified(answerJson: jsonText(verified)) }
        if let settled = v["settled"] { return exchange.feedSettled(answer: try SettleResponse.fromJson(text: jsonText(settled))) }
        if let failed = v["facilitatorFailed"] as? JSON {
            return exchange.feedFacilitatorFailed(message: string(failed, "message"), code: failed["code"] as? String)
        }
        if let handled = v["handled"] as? JSON {
            return exchange.feedHandled(
                status: UInt16(handled["status"] as! Int), headers: pairs(handled["headers"]), body: Data(string(handled, "body").utf8)
            )
        }
        if v["handlerFailed"] != nil { return exchange.feedHandlerFailed() }
        if let hooked = v["hooked"] as? JSON { return exchange.feedHooked(verdict: verdict(hooked)) }
        let store = v["store"] as! JSON
        if store["entry"] != nil { return try exchange.feedStore(answer: .entry(entry: nil)) }
        if let replaced = store["replaced"] as? Bool { return try exchange.feedStore(answer: .replaced(done: replaced)) }
        if store["released"] != nil { return try exchange.feedStore(answer: .released) }
        return try exchange.feedStore(answer: .failed(message: string(store, "failed")))
    }

    private func checkHeaders(_ label: String, _ headers: [HttpHeader], _ e: JSON) {
        for (k, v) in (e["headers"] as? [String: String]) ?? [:] { XCTAssertEqual(header(headers, k), v, "\(label): header \(k)") }
        for k in (e["absentHeaders"] as? [String]) ?? [] { XCTAssertNil(header(headers, k), "\(label): header \(k) must be absent") }
    }

    private func kind(_ action: GateAction) -> String {
        switch action {
        case .passThrough: return "passThrough"
        case .readBody: return "readBody"
        case .store: return "store"
        case .verify: return "verify"
        case .runHandler: return "runHandler"
        case .settle: return "settle"
        case .hook: return "hook"
        case .respond: return "respond"
        case .fail: return "fail"
        case .done: return "done"
        }
    }

    private func check(_ label: String, _ step: GateStep, _ e: JSON) throws {
        XCTAssertEqual(kind(step.action), string(e, "action"), label)
        if let shielded = e["shielded"] as? Bool { XCTAssertEqual(step.shielded, shielded, "\(label): shielded") }
        for text in (e["logs"] as? [String]) ?? [] {
            XCTAssertTrue(step.logs.contains { $0.message.contains(text) }, "\(label): no log line with \(text)")
        }
        switch step.action {
        case let .readBody(limit):
            XCTAssertEqual(limit, uint64(e, "limit"), label)
        case let .runHandler(paid):
            if let payer = e["payer"] as? String { XCTAssertEqual(paid.payer, payer, label) }
        case let .hook(point, context):
            try checkHook(label, point, context, e)
        case let .store(op):
            let (name, key, entry): (String, String, String?)
            switch op {
            case let .claim(k, en, _): (name, key, entry) = ("claim", k, en)
            case let .get(k): (name, key, entry) = ("get", k, nil)
            case let .replace(k, _, en, _): (name, key, entry) = ("replace", k, en)
            case let .release(k, _): (name, key, entry) = ("release", k, nil)
            }
            XCTAssertEqual(name, string(e, "op"), label)
            if let prefix = e["keyPrefix"] as? String { XCTAssertTrue(key.hasPrefix(prefix), "\(label): \(key)") }
            if let state = e["state"] as? String, let entry = entry {
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(entry.utf8)) as? JSON)
                XCTAssertEqual(object["state"] as? String, state, label)
            }
        case let .respond(status, headers, body):
            let text = String(decoding: body, as: UTF8.self)
            XCTAssertEqual(Int(status), e["status"] as? Int, "\(label): \(text)")
            checkHeaders(label, headers, e)
            if let want = e["body"] as? String { XCTAssertEqual(text, want, label) }
            if let want = e["json"] as? JSON {
                let got = try XCTUnwrap(JSONSerialization.jsonObject(with: body) as? JSON)
                for (k, v) in want { XCTAssertEqual(jsonText([v]), jsonText([got[k] ?? NSNull()]), "\(label): body member \(k)") }
            }
            if let bill = e["bill"] {
                let billText = try header(headers, "payment-required").map { try decodeHeaderText(value: $0) } ?? text
                assertSameJson(bill, billText, "\(label): the bill")
            }
            if let want = e["siwx"] as? JSON {
                let billText = try decodeHeaderText(value: XCTUnwrap(header(headers, "payment-required"), "\(label): no bill"))
                try checkSiwx(label, XCTUnwrap(JSONSerialization.jsonObject(with: Data(billText.utf8)) as? JSON), want)
            }
            if let want = e["settlement"] as? JSON {
                let value = try XCTUnwrap(header(headers, "payment-response") ?? header(headers, "x-payment-response"), "\(label): no settlement header")
                let got = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try decodeHeaderText(value: value).utf8)) as? JSON)
                for (k, v) in want { XCTAssertEqual(jsonText([v]), jsonText([got[k] ?? NSNull()]), "\(label): settlement member \(k)") }
            }
        default:
            break
        }
    }

    /// A bill's sign-in-with-x declaration: its info (but the random nonce), the nonce's form, its chains.
    private func checkSiwx(_ label: String, _ bill: JSON, _ want: JSON) throws {
        let declared = try XCTUnwrap((bill["extensions"] as? JSON)?["sign-in-with-x"] as? JSON, "\(label): no sign-in declared")
        let info = try XCTUnwrap(declared["info"] as? JSON)
        for k in ["domain", "uri", "issuedAt", "resources"] {
            XCTAssertEqual(jsonText([info[k] ?? NSNull()]), jsonText([want[k] ?? NSNull()]), "\(label): sign-in info member \(k)")
        }
        XCTAssertEqual(info["version"] as? String, "1", label)
        let nonce = (info["nonce"] as? String) ?? ""
        XCTAssertTrue(nonce.count >= 16 && nonce.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }, "\(label): nonce \(nonce)")
        let chains = (declared["supportedChains"] as? [JSON]) ?? []
        XCTAssertEqual(chains.map { $0["chainId"] as? String ?? "" }, want["chains"] as? [String], "\(label): sign-in chains")
        XCTAssertTrue(chains.allSatisfy { $0["type"] as? String == "eip191" }, label)
        XCTAssertNotNil(declared["schema"] as? JSON, "\(label): the schema")
    }

    func testGate() throws {
        try forEachCase("gate") { c, _ in
            let gate = try gateOf(c["gate"] as! JSON)
            var exchanges: [String: Exchange] = [:]
            for (i, m) in (c["moves"] as! [JSON]).enumerated() {
                let label = "\(string(c, "name")) (move \(i))"
                let step: GateStep
                if let id = m["start"] as? String {
                    let r = m["request"] as! JSON
                    let head = RequestHead(
                        method: string(r, "method"), path: string(r, "path"), pathAndQuery: string(r, "pathAndQuery"),
                        origin: string(r, "origin"), headers: pairs(r["headers"])
                    )
                    let started = try gate.handle(head: head, now: uint64(m, "now"))
                    if let exchange = started.exchange { exchanges[id] = exchange }
                    step = started.step
                } else if let id = m["feed"] as? String {
                    step = try feed(exchanges[id]!, m["input"] as! JSON)
                } else {
                    step = exchanges[string(m, "cancel")]!.cancel()
                }
                try check(label, step, m["expect"] as! JSON)
            }
        }
    }

    private func checkFetch(_ label: String, _ step: FetchStep, _ e: JSON) throws {
        let name: String
        switch step {
        case .send: name = "send"
        case .readBody: name = "readBody"
        case .sign: name = "sign"
        case .hook: name = "hook"
        case .done: name = "done"
        case .fail: name = "fail"
        case .raise: name = "raise"
        }
        XCTAssertEqual(name, string(e, "action"), label)
        switch step {
        case let .send(request, own):
            if let expected = e["own"] as? Bool { XCTAssertEqual(own, expected, "\(label): own") }
            XCTAssertEqual(request.method, string(e, "method"), label)
            XCTAssertEqual(request.url, string(e, "url"), label)
            checkHeaders(label, request.headers, e)
            if let body = e["body"] as? String { XCTAssertEqual(request.body.map { String(decoding: $0, as: UTF8.self) }, body, label) }
            if e["noBody"] != nil { XCTAssertNil(request.body, label) }
        case let .sign(digests):
            XCTAssertEqual(digests.count, e["digests"] as? Int, label)
        case let .hook(point, context):
            try checkHook(label, point, context, e)
        case let .fail(error):
            XCTAssertEqual(error.code, string(e, "error"), label)
        case let .done(outcome), let .raise(outcome):
            if let paid = e["paid"] as? Bool { XCTAssertEqual(outcome.payment != nil, paid, "\(label): paid") }
            if let open = e["open"] as? Bool { XCTAssertEqual(outcome.open, open, "\(label): open") }
            if let status = e["paidStatus"] as? Int { XCTAssertEqual(outcome.paidStatus.map { Int($0) }, status, "\(label): paidStatus") }
            if let reused = e["reused"] as? Bool { XCTAssertEqual(outcome.payment?.reused(), reused, "\(label): reused") }
            if let read = e["bodyRead"] as? Bool { XCTAssertEqual(outcome.bodyRead, read, "\(label): bodyRead") }
            if let signedIn = e["signedIn"] as? Bool { XCTAssertEqual(outcome.signedIn, signedIn, "\(label): signedIn") }
            if let used = e["passUsed"] as? Bool { XCTAssertEqual(outcome.passUsed, used, "\(label): passUsed") }
            if let unpaid = e["unpaid"] as? String { XCTAssertEqual(outcome.unpaid?.code, unpaid, "\(label): unpaid") }
            if let want = e["settlement"] as? JSON, let settlement = outcome.settlement {
                let got = (try? JSONSerialization.jsonObject(with: Data(settlement.toJson().utf8))) as? JSON ?? [:]
                for (k, v) in want { XCTAssertEqual(jsonText([v]), jsonText([got[k] ?? NSNull()]), "\(label): settlement member \(k)") }
            }
        case .readBody:
            break
        }
    }

    func testClient() throws {
        try forEachCase("client") { c, _ in
            let p = c["payer"] as! JSON
            let key = try LocalSigner(key: string(p, "key"))
            let policy = try (p["policy"]).map { try Policy.fromJson(json: jsonText($0)) }
            let payer = Payer.withLocalSigner(
                signer: key, policy: policy,
                options: PayerOptions(expiryMargin: uint64(p, "expiryMargin"), now: uint64(p, "now"), randomness: bytes(string(p, "nonce")))
            )
            let o = c["options"] as! JSON
            let options = FetchOptions(
                followRedirects: (o["followRedirects"] as? Bool) ?? true,
                maxRedirects: UInt32((o["maxRedirects"] as? Int) ?? 20),
                alreadyPaid: (o["alreadyPaid"] as? Bool) ?? false,
                signInline: (o["signInline"] as? Bool) ?? true,
                hooks: hookPoints(o["hooks"]),
                signIn: (o["signIn"] as? Bool) ?? true,
                passFacilitators: o["passFacilitators"] as? [String]
            )
            var calls: [String: (PaidFetch, FetchStep)] = [:]
            for (i, m) in (c["moves"] as! [JSON]).enumerated() {
                let label = "\(string(c, "name")) (move \(i))"
                let id: String
                let step: FetchStep
                if let start = m["start"] as? String {
                    id = start
                    let r = m["request"] as! JSON
                    let request = FetchRequest(
                        method: string(r, "method"), url: string(r, "url"), headers: pairs(r["headers"]),
                        body: (r["body"] as? String).map { Data($0.utf8) }
                    )
                    let started = try startPaidFetch(payer: payer, request: request, options: options)
                    calls[id] = (started.call, started.step)
                    step = started.step
                } else {
                    id = string(m, "feed")
                    let (call, last) = calls[id]!
                    let v = m["input"] as! JSON
                    if let response = v["response"] as? JSON {
                        step = call.feedResponse(status: UInt16(response["status"] as! Int), headers: pairs(response["headers"]))
                    } else if let body = v["body"] as? String {
                        step = call.feedBody(body: Data(body.utf8))
                    } else if v["sendFailed"] != nil {
                        step = call.feedSendFailed()
                    } else if let hooked = v["hooked"] as? JSON {
                        step = call.feedHooked(verdict: verdict(hooked))
                    } else {
                        guard case let .sign(digests) = last else { return XCTFail("\(label): nothing to sign") }
                        step = call.feedSignatures(signatures: try digests.map { try key.signDigest(digest: $0) })
                    }
                    calls[id] = (call, step)
                }
                try checkFetch(label, step, m["expect"] as! JSON)
            }
        }
    }
}
