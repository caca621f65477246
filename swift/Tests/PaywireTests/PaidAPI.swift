import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Paywire

/// A paid API that answers inside URLSession (a URLProtocol for the host `paid.test`) and takes payments
/// with paywire's server API: it answers 402 with a bill, verifies a payment offline with `checkPayment`, and
/// settles each authorization once (a settlement double: the chain comes in with the facilitator's end-to-end
/// tests). `faults` makes the next paid requests misbehave: "drop" (after settling), "500", "402".
final class PaidAPI: URLProtocol {
    final class State: @unchecked Sendable { // every access holds `lock`
        private let lock = NSLock()
        private var _paymentsSeen = 0
        private var _settled: [String: Int] = [:]
        private var _paidBodies: [String] = []
        private var _faults: [String] = []

        func locked<T>(_ body: () -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body()
        }

        var paymentsSeen: Int { locked { _paymentsSeen } }
        /// Settled authorizations (nonce → times served): their count is what the payers were charged.
        var settled: [String: Int] { locked { _settled } }
        var paidBodies: [String] { locked { _paidBodies } }
        func addFault(_ fault: String) { locked { _faults.append(fault) } }
        func reset() { locked { _paymentsSeen = 0; _settled = [:]; _paidBodies = []; _faults = [] } }

        fileprivate func sawPayment() { locked { _paymentsSeen += 1 } }
        fileprivate func nextFault(body: String) -> String? {
            locked {
                _paidBodies.append(body)
                return _faults.isEmpty ? nil : _faults.removeFirst()
            }
        }
        fileprivate func settle(_ nonce: String) { locked { _settled[nonce, default: 0] += 1 } }
    }

    static let state = State()
    static let base = "https://paid.test"
    static let payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

    /// A session whose requests to `paid.test` reach this API.
    static func session() -> URLSession {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [PaidAPI.self]
        return URLSession(configuration: configuration)
    }

    override class func canInit(with request: URLRequest) -> Bool { request.url?.host == "paid.test" }
    override class func canonicalRequest(for request: URLRequest) -> URLRequest { request }
    override func stopLoading() {}

    override func startLoading() {
        do {
            try answer()
        } catch {
            client?.urlProtocol(self, didFailWithError: error)
        }
    }

    private func answer() throws {
        let url = request.url!
        if url.path == "/not-x402" {
            return respond(402, Data("pay by card".utf8), ["Content-Type": "text/plain"])
        }
        let bill = try buildPaymentRequired(
            resourceUrl: url.absoluteString,
            tags: [PriceTag(options: PriceTagOptions(network: "eip155:84532", payTo: Self.payTo, price: "$0.01"))]
        )
        let payment: PaymentPayload
        do {
            guard let read = try readPayment(headers: request.paywireHeaders) else { return askForPayment(bill) }
            payment = read
        } catch {
            return askForPayment(bill)
        }
        Self.state.sawPayment()
        let accepted: AcceptedPayment
        do {
            accepted = try checkPayment(bill: bill, payment: payment)
        } catch {
            return askForPayment(bill)
        }
        switch Self.state.nextFault(body: String(decoding: requestBody(), as: UTF8.self)) {
        case "500"?:
            return respond(500, Data("the handler failed; nothing was settled".utf8))
        case "402"?:
            return askForPayment(bill)
        case "drop"?:
            _ = try settle(accepted)
            client?.urlProtocol(self, didFailWithError: URLError(.networkConnectionLost))
            return
        default:
            let header = try settlementHeader(x402Version: payment.x402Version(), settlement: try settle(accepted))
            respond(200, Data("sunny".utf8), [header.name: header.value])
        }
    }

    /// Settles an authorization once; settling it again answers with the first settlement.
    private func settle(_ accepted: AcceptedPayment) throws -> SettleResponse {
        let verified = accepted.verified()
        Self.state.settle(verified.nonce)
        let digits = String(verified.nonce.dropFirst(2))
        let transaction = "0x" + String(repeating: "0", count: max(0, 64 - digits.count)) + digits
        return try SettleResponse.fromJson(
            text: #"{"success":true,"transaction":"\#(transaction)","network":"eip155:84532","payer":"\#(verified.payer)"}"#
        )
    }

    private func askForPayment(_ bill: PaymentRequired) {
        respond(402, Data(bill.toJson().utf8), ["PAYMENT-REQUIRED": bill.toHeader(), "Content-Type": "application/json"])
    }

    private func respond(_ status: Int, _ body: Data, _ headers: [String: String] = [:]) {
        let response = HTTPURLResponse(url: request.url!, statusCode: status, httpVersion: "HTTP/1.1", headerFields: headers)!
        client?.urlProtocol(self, didReceive: response, cacheStoragePolicy: .notAllowed)
        client?.urlProtocol(self, didLoad: body)
        client?.urlProtocolDidFinishLoading(self)
    }

    /// URLSession hands a protocol the body as `httpBody` or as a stream, depending on the platform.
    private func requestBody() -> Data {
        if let body = request.httpBody { return body }
        guard let stream = request.httpBodyStream else { return Data() }
        var body = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        stream.open()
        defer { stream.close() }
        while true {
            let count = stream.read(&chunk, maxLength: chunk.count)
            if count <= 0 { break }
            body.append(chunk, count: count)
        }
        return body
    }
}
