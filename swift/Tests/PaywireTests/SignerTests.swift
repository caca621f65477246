import Foundation
import Paywire
import XCTest

/// A signer written in Swift, called back from the core; and what happens when it misbehaves.
final class SignerTests: XCTestCase {
    let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

    func makeBill() throws -> PaymentRequired {
        try buildPaymentRequired(
            resourceUrl: "https://api.example.com/weather",
            tags: [PriceTag(options: PriceTagOptions(network: "eip155:84532", payTo: PaidAPI.payTo, price: "$0.01"))]
        )
    }

    /// Signs with a key the core never sees (here a LocalSigner, as a Keychain item would hold it).
    final class KeystoreSigner: Signer, @unchecked Sendable { // `calls` is only read after signing
        let inner: LocalSigner
        var calls = 0
        init(_ inner: LocalSigner) { self.inner = inner }
        func address() -> String { inner.address() }
        func signDigest(digest: Data) throws -> Data {
            calls += 1
            var signature = try inner.signDigest(digest: digest)
            signature[signature.startIndex + 64] -= 27 // v as 0/1, as many keystores return it
            return signature
        }
    }

    struct Locked: Error {}

    final class ThrowingSigner: Signer, @unchecked Sendable {
        let address_: String
        init(_ address: String) { address_ = address }
        func address() -> String { address_ }
        func signDigest(digest: Data) throws -> Data { throw Locked() }
    }

    func testASwiftSignerSignsAPaymentTheCoreVerifies() throws {
        let signer = KeystoreSigner(try LocalSigner(key: key))
        let payer = try Payer(signer: signer)
        let bill = try makeBill()
        let header = try payer.pay(bill: bill, purchase: "purchase-1")
        XCTAssertEqual(signer.calls, 1)
        let accepted = try checkPayment(bill: bill, payment: try PaymentPayload.fromHeader(value: header.value()))
        XCTAssertEqual(accepted.verified().payer, signer.address())
        XCTAssertTrue(accepted.verified().fullyVerified)
        let again = try payer.pay(bill: bill, purchase: "purchase-1")
        XCTAssertTrue(again.reused())
        XCTAssertEqual(signer.calls, 1)
    }

    func testASignerThatThrowsBecomesSignerFailedNotACrash() throws {
        let payer = try Payer(signer: ThrowingSigner(try LocalSigner(key: key).address()))
        XCTAssertThrowsError(try payer.pay(bill: try makeBill())) { error in
            XCTAssertEqual((error as? PaywireError)?.code, "signer_failed")
        }
    }
}
