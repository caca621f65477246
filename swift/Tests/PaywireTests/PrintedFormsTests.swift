import Foundation
import Paywire
import XCTest

/// The records that carry URLs and headers print without them: a struct's reflected description would put an
/// RPC endpoint's API key, a payment or the caller's credentials into whatever log prints the record. A payment
/// prints without its signature.
final class PrintedFormsTests: XCTestCase {
    let secrets = ["SECRETKEY", "tok-123", "apikey=abc", "user:pw", "PAYMENTVALUE"]

    func assertHidden(_ value: Any, shows shown: [String], file: StaticString = #filePath, line: UInt = #line) {
        let printed = String(describing: value)
        for secret in secrets { XCTAssertFalse(printed.contains(secret), "\(secret) printed in \(printed)", file: file, line: line) }
        for part in shown { XCTAssertTrue(printed.contains(part), "\(part) missing from \(printed)", file: file, line: line) }
    }

    func testHeadersPrintTheirNamesOnly() {
        assertHidden(HttpHeader(name: "Authorization", value: "Bearer tok-123"), shows: ["Authorization"])
    }

    func testAFetchRequestPrintsItsOriginAndHeaderNames() {
        let request = FetchRequest(
            method: "POST",
            url: "https://user:pw@rpc.example:8545/v2/SECRETKEY?apikey=abc",
            headers: [HttpHeader(name: "Authorization", value: "Bearer tok-123"), HttpHeader(name: "PAYMENT-SIGNATURE", value: "PAYMENTVALUE")],
            body: Data("{}".utf8)
        )
        assertHidden(request, shows: ["POST", "https://rpc.example:8545", "Authorization", "PAYMENT-SIGNATURE"])
    }

    func testFetchOptionsPrintTheNetworksOfTheirRpcUrls() {
        let options = FetchOptions(
            passFacilitators: ["https://user:pw@pass.example/x402?apikey=abc"],
            rpcUrls: ["eip155:84532": "https://base-sepolia.example/v2/SECRETKEY"]
        )
        assertHidden(options, shows: ["eip155:84532", "https://pass.example/x402"])
    }

    func testARequestHeadPrintsItsPathAndHeaderNames() {
        let head = RequestHead(
            method: "GET", path: "/weather", pathAndQuery: "/weather?apikey=abc", origin: "https://api.example",
            headers: [HttpHeader(name: "X-PAYMENT", value: "PAYMENTVALUE")]
        )
        assertHidden(head, shows: ["/weather", "https://api.example", "X-PAYMENT"])
    }

    func testAPaymentPrintsWithoutItsSignature() throws {
        let bill = try buildPaymentRequired(
            resourceUrl: "https://api.example.com/weather",
            tags: [PriceTag(options: PriceTagOptions(network: "eip155:84532", payTo: PaidAPI.payTo, price: "$0.01"))]
        )
        let payer = Payer.withLocalSigner(signer: try LocalSigner(key: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"))
        let payment = try PaymentPayload.fromHeader(value: try payer.pay(bill: bill, purchase: "p").value())
        let payload = try JSONSerialization.jsonObject(with: Data(payment.payloadJson().utf8)) as? [String: Any]
        let signature = try XCTUnwrap(payload?["signature"] as? String)
        let printed = String(describing: payment)
        XCTAssertFalse(printed.contains(String(signature.dropFirst(2).prefix(16))), printed)
        assertHidden(payment, shows: ["exact", "eip155:84532"])
    }

    func testAFacilitatorEndpointPrintsItsUrlWithoutCredentials() {
        assertHidden(
            FacilitatorEndpoint(url: "https://user:pw@facilitator.example/settle?apikey=abc", method: "POST"),
            shows: ["https://facilitator.example/settle"]
        )
    }
}
