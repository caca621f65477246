import Foundation
import Paywire
import XCTest

typealias JSON = [String: Any]

/// tests/vectors/ (PAYWIRE_VECTORS, or found from this file's path).
let vectorsDirectory: URL = {
    if let dir = ProcessInfo.processInfo.environment["PAYWIRE_VECTORS"] { return URL(fileURLWithPath: dir) }
    return URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tests/vectors")
}()

func hex(_ data: Data) -> String { "0x" + data.map { String(format: "%02x", $0) }.joined() }

func bytes(_ hex: String) -> Data {
    let digits = Array(hex.hasPrefix("0x") ? hex.dropFirst(2) : Substring(hex))
    var out = Data()
    var i = 0
    while i + 1 < digits.count {
        out.append(UInt8(String(digits[i...i + 1]), radix: 16)!)
        i += 2
    }
    return out
}

func jsonText(_ value: Any) -> String {
    String(data: try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), encoding: .utf8)!
}

/// Every file of tests/vectors/ through the Swift API (formats: tests/vectors/README.md). The Rust, Python,
/// Node and Kotlin suites run the same files. XCTest has no generated tests, so each file is one test that
/// names the failing case.
final class VectorsTests: XCTestCase {
    static let runners: [String] = [
        "assets", "client", "credentials", "gate", "headers", "malformed", "money", "networks", "payments",
        "responses", "routes", "selection", "typed_data", "verification",
    ]

    func load(_ name: String) throws -> JSON {
        let data = try Data(contentsOf: vectorsDirectory.appendingPathComponent("\(name).json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? JSON)
    }

    /// Runs `body` on every case of `file`, naming the case in any failure.
    func forEachCase(_ file: String, _ body: (JSON, Int) throws -> Void) throws {
        let data = try load(file)
        XCTAssertEqual(data["formatVersion"] as? Int, 1)
        let cases = try XCTUnwrap(data["cases"] as? [JSON])
        XCTAssertFalse(cases.isEmpty, "\(file).json has no cases")
        for (index, c) in cases.enumerated() {
            let name = c["name"] as? String ?? "#\(index)"
            #if canImport(Darwin)
            XCTContext.runActivity(named: "\(file): \(name)") { _ in runCase("\(file): \(name)", c, index, body) }
            #else
            runCase("\(file): \(name)", c, index, body) // corelibs XCTest has no activities
            #endif
        }
    }

    func runCase(_ label: String, _ c: JSON, _ index: Int, _ body: (JSON, Int) throws -> Void) {
        do {
            try body(c, index)
        } catch {
            XCTFail("\(label): \(error)")
        }
    }

    func testEveryVectorFileHasASwiftRunner() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: vectorsDirectory.path)
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertEqual(files, Self.runners)
    }

    // ---- helpers

    static let categories: Set<String> = ["malformed_input", "refused", "configuration", "local", "upstream"]

    @discardableResult
    func expectError<T>(_ code: String, _ what: String, _ call: () throws -> T) -> PaywireError? {
        do {
            let result = try call()
            XCTFail("\(what): expected \(code), but the call returned \(result)")
        } catch let error as PaywireError {
            XCTAssertEqual(error.code, code, "\(what): \(error)")
            XCTAssertFalse(error.detail.isEmpty, "\(what): the error has no message")
            XCTAssertTrue(Self.categories.contains(error.category), "\(what): unknown category \(error.category)")
            return error
        } catch {
            XCTFail("\(what): expected PaywireError \(code), got \(error)")
        }
        return nil
    }

    func assertSameJson(_ expected: Any?, _ actualText: String, _ what: String) {
        // Both sides written again with sorted keys: equal JSON gives equal text on every Foundation.
        guard let expected = expected,
              let actual = try? JSONSerialization.jsonObject(with: Data(actualText.utf8), options: [.fragmentsAllowed])
        else {
            return XCTFail("\(what): not JSON: \(actualText)")
        }
        XCTAssertEqual(jsonText(actual), jsonText(expected), "\(what) differs")
    }

    func billOf(_ wire: JSON) throws -> PaymentRequired {
        if let header = wire["header"] as? String { return try PaymentRequired.fromHeader(value: header) }
        return try PaymentRequired.fromBody(body: Data((wire["body"] as! String).utf8))
    }

    func string(_ c: JSON, _ key: String) -> String { c[key] as! String }

    func uint64(_ c: JSON, _ key: String) -> UInt64? { (c[key] as? NSNumber).map { $0.uint64Value } }

    func typed(_ domain: Any, _ primaryType: String, _ message: Any) throws -> TypedDataHashes {
        let object: JSON = ["domain": domain, "primaryType": primaryType, "message": message]
        return try typedDataHashes(typedDataJson: jsonText(object))
    }

    // ---- runners

    func testHeaders() throws {
        try forEachCase("headers") { c, _ in
            let value = string(c, "value")
            XCTAssertEqual(try decodeHeaderText(value: value), string(c, "jsonText"))
            XCTAssertEqual(encodeJsonText(jsonText: string(c, "jsonText")), value)
            let decoded = try decode(value: value)
            XCTAssertEqual(decoded.message, string(c, "message"))
            assertSameJson(c["json"], decoded.json, "decoded JSON")
            switch string(c, "message") {
            case "PaymentRequired": XCTAssertEqual(try PaymentRequired.fromHeader(value: value).toHeader(), value)
            case "PaymentPayload": XCTAssertEqual(try PaymentPayload.fromHeader(value: value).toHeader(), value)
            case "SettleResponse": _ = try SettleResponse.fromHeader(value: value)
            default: XCTFail("unknown message \(string(c, "message"))")
            }
        }
    }

    func testResponses() throws {
        try forEachCase("responses") { c, _ in
            let headers = (c["headers"] as! [[String]]).map { HttpHeader(name: $0[0], value: $0[1]) }
            let body = Data(string(c, "body").utf8)
            let expect = c["expect"] as! JSON
            let read: () throws -> (Int?, String)? = {
                switch self.string(c, "read") {
                case "paymentRequired":
                    let bill = try PaymentRequired.fromResponse(headers: headers, body: body)
                    return (Int(bill.x402Version()), bill.toJson())
                case "payment":
                    return try readPayment(headers: headers).map { (Int($0.x402Version()), $0.toJson()) }
                case "settlement":
                    return try readSettlement(headers: headers).map { (nil, $0.toJson()) }
                default:
                    XCTFail("unknown read \(self.string(c, "read"))")
                    return nil
                }
            }
            if let code = expect["error"] as? String {
                expectError(code, "read", read)
            } else if expect["none"] != nil {
                XCTAssertNil(try read())
            } else {
                let (version, json) = try XCTUnwrap(try read(), "nothing was read")
                if let expected = expect["x402Version"] as? Int { XCTAssertEqual(version, expected) }
                assertSameJson(expect["json"], json, "message")
            }
        }
    }

    func testNetworks() throws {
        try forEachCase("networks") { c, _ in
            let expect = c["expect"] as! JSON
            let network = string(c, "network")
            if let code = expect["error"] as? String {
                expectError(code, network) { try chainId(network: network) }
            } else {
                XCTAssertEqual(try chainId(network: network), uint64(expect, "chainId"))
                XCTAssertEqual(try toCaip2(network: network), string(expect, "caip2"))
            }
        }
    }

    func testAssets() throws {
        let table = knownAssets()
        try forEachCase("assets") { c, index in
            let ours = table[index]
            let theirs = c["asset"] as! JSON
            XCTAssertEqual(try chainId(network: string(theirs, "network")), ours.chainId, "table order differs")
            XCTAssertEqual(ours.address, string(theirs, "address"))
            XCTAssertEqual(ours.eip712Name, string(theirs, "eip712Name"))
            XCTAssertEqual(ours.eip712Version, string(theirs, "eip712Version"))
            XCTAssertEqual(Int(ours.decimals), theirs["decimals"] as? Int)
            XCTAssertEqual(ours.symbol, string(theirs, "symbol"))
            XCTAssertEqual(ours.transferMethod, string(theirs, "transferMethod"))
            XCTAssertEqual(ours.supportsEip2612, theirs["supportsEip2612"] as? Bool)
            let domain: JSON = [
                "name": ours.eip712Name, "version": ours.eip712Version, "chainId": NSNumber(value: ours.chainId),
                "verifyingContract": ours.address,
            ]
            let transfer = c["transfer"] as! JSON
            let hashes = try typed(domain, "TransferWithAuthorization", transfer["message"]!)
            XCTAssertEqual(hex(hashes.domainSeparator), string(c, "domainSeparator"))
            XCTAssertEqual(hex(hashes.digest), string(transfer, "digest"))
            let signer = try LocalSigner(key: string(transfer, "key"))
            XCTAssertEqual(hex(try signer.signDigest(digest: hashes.digest)), string(transfer, "signature"))
        }
        XCTAssertEqual(table.count, (try load("assets")["cases"] as! [Any]).count)
    }

    func testTypedData() throws {
        try forEachCase("typed_data") { c, _ in
            let hashes = try typed(c["domain"]!, string(c, "primaryType"), c["message"]!)
            XCTAssertEqual(hex(hashes.domainSeparator), string(c, "domainSeparator"))
            XCTAssertEqual(hex(hashes.digest), string(c, "digest"))
            XCTAssertEqual(try recoverAddress(digest: hashes.digest, signature: bytes(string(c, "signature"))), string(c, "signer"))
            if let key = c["key"] as? String {
                XCTAssertEqual(hex(try LocalSigner(key: key).signDigest(digest: hashes.digest)), string(c, "signature"))
            }
        }
    }

    func testMoney() throws {
        try forEachCase("money") { c, _ in
            let expect = c["expect"] as! JSON
            let make = {
                try PriceTag(options: PriceTagOptions(network: self.string(c, "network"), payTo: self.string(c, "payTo"), price: self.string(c, "price")))
                    .toRequirements(resourceUrl: "https://example.com/r")
            }
            if let code = expect["error"] as? String {
                expectError(code, "price", make)
                return
            }
            let offer = try make()
            XCTAssertEqual(offer.amount(), string(expect, "amount"))
            XCTAssertEqual(offer.asset(), string(expect, "asset"))
            assertSameJson(expect["extra"], offer.extraJson() ?? "{}", "extra")
        }
    }

    func payerFor(_ c: JSON, policy: Policy? = nil) throws -> Payer {
        Payer.withLocalSigner(
            signer: try LocalSigner(key: string(c, "key")),
            policy: policy,
            options: PayerOptions(expiryMargin: uint64(c, "expiryMargin"), now: uint64(c, "now"), randomness: bytes(string(c, "nonce")))
        )
    }

    func testPayments() throws {
        try forEachCase("payments") { c, _ in
            let payer = try payerFor(c)
            let eip2612Nonce = c["eip2612Nonce"] as? String
            let header = try payer.pay(bill: try billOf(c["bill"] as! JSON), eip2612Nonce: eip2612Nonce)
            let expect = c["expect"] as! JSON
            XCTAssertEqual(Int(header.offerIndex()), expect["offerIndex"] as? Int)
            XCTAssertEqual(header.name(), string(expect, "headerName"))
            XCTAssertEqual(header.value(), string(expect, "headerValue"), "paywire's header differs from @x402/core's")
        }
    }

    func testSelection() throws {
        try forEachCase("selection") { c, _ in
            let payer = try payerFor(c, policy: try Policy.fromJson(json: jsonText(c["policy"]!)))
            for (i, step) in (c["steps"] as! [JSON]).enumerated() {
                let bill = try billOf(step["bill"] as! JSON)
                let expect = step["expect"] as! JSON
                if let index = expect["index"] as? Int {
                    XCTAssertEqual(Int(try payer.pay(bill: bill).offerIndex()), index, "step \(i)")
                } else {
                    let error = expectError(string(expect, "error"), "step \(i)") { try payer.pay(bill: bill) }
                    XCTAssertEqual(error?.refusals.map { Int($0.index) }, expect["refused"] as? [Int], "step \(i)")
                }
            }
        }
    }

    func testVerification() throws {
        try forEachCase("verification") { c, _ in
            let payment = try PaymentPayload.fromHeader(value: string(c, "payment"))
            let requirements = try PaymentRequirements.fromJson(text: jsonText(c["requirements"]!))
            let options = VerifyOptions(now: uint64(c, "now"))
            let verdict = verifyToResponse(payment: payment, requirements: requirements, options: options)
            let expect = c["expect"] as! JSON
            let valid = expect["isValid"] as! Bool
            XCTAssertEqual(verdict.isValid, valid, verdict.invalidMessage ?? "")
            XCTAssertEqual(verdict.invalidReason, expect["invalidReason"] as? String)
            XCTAssertEqual(verdict.payer, expect["payer"] as? String)
            if valid {
                XCTAssertEqual(try verifyPayment(payment: payment, requirements: requirements, options: options).payer, string(expect, "payer"))
            } else {
                let error = expectError(string(expect, "invalidReason"), "verify") {
                    try verifyPayment(payment: payment, requirements: requirements, options: options)
                }
                XCTAssertEqual(error?.payer, expect["payer"] as? String)
            }
        }
    }

    func testCredentials() throws {
        try forEachCase("credentials") { c, _ in
            let issuer = try Issuer(signer: try LocalSigner(key: string(c, "key")), format: string(c, "format"))
            let signer = string(c, "signer")
            XCTAssertEqual(issuer.address(), signer)
            XCTAssertEqual(issuer.kid(), string(c, "kid"))
            let given = c["input"] as! JSON
            let expected = c["expect"] as! JSON
            switch string(c, "kind") {
            case "offer":
                var requirementsJson = given["requirements"] as! JSON
                requirementsJson["maxTimeoutSeconds"] = 60
                let requirements = try PaymentRequirements.fromJson(text: jsonText(requirementsJson))
                let validUntil = uint64(given, "validUntil")!
                let ours = try issuer.issueOffer(
                    requirements: requirements, resourceUrl: string(given, "resourceUrl"),
                    acceptIndex: UInt32(given["acceptIndex"] as! Int), validUntil: validUntil
                )
                assertSameJson(expected, ours.toJson(), "signed offer")
                let official = try SignedOffer.fromJson(text: jsonText(expected))
                XCTAssertEqual(try official.verify(trusted: [signer], now: validUntil).signer, signer)
                XCTAssertTrue(official.describes(requirements: requirements))
            case "receipt":
                let transaction = given["transaction"] as? String
                let ours = try issuer.issueReceipt(
                    resourceUrl: string(given, "resourceUrl"), payer: string(given, "payer"),
                    network: string(given, "network"), transaction: transaction, issuedAt: uint64(given, "issuedAt")
                )
                assertSameJson(expected, ours.toJson(), "signed receipt")
                let verified = try SignedReceipt.fromJson(text: jsonText(expected)).verify(trusted: [signer])
                XCTAssertEqual(verified.signer, signer)
                let payload = try JSONSerialization.jsonObject(with: Data(verified.payloadJson.utf8)) as! JSON
                XCTAssertEqual(payload["payer"] as? String, string(given, "payer"))
                XCTAssertEqual(payload["transaction"] as? String, transaction)
            default:
                XCTFail("unknown kind \(string(c, "kind"))")
            }
        }
    }

    func testMalformed() throws {
        try forEachCase("malformed") { c, _ in
            let input = string(c, "input")
            let code = string(c, "error")
            switch string(c, "kind") {
            case "header": expectError(code, "header") { try decodeHeaderJson(value: input) }
            case "paymentRequired": expectError(code, "bill") { try PaymentRequired.fromHeader(value: input) }
            case "payment": expectError(code, "payment") { try PaymentPayload.fromHeader(value: input) }
            case "settleResponse": expectError(code, "settlement") { try SettleResponse.fromHeader(value: input) }
            default: XCTFail("unknown kind \(string(c, "kind"))")
            }
        }
    }

    func testAnUnknownErrorCodeIsRefused() {
        XCTAssertFalse(isErrorCode(code: "no_such_code"))
        XCTAssertTrue(errorCodes().allSatisfy { isErrorCode(code: $0) })
    }
}
