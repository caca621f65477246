import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Paywire
import XCTest

/// `PayingSession` against `PaidAPI`: the paid-retry contract every paywire client keeps.
final class PayingSessionTests: XCTestCase {
    let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    var state: PaidAPI.State { PaidAPI.state }

    override func setUp() {
        PaidAPI.state.reset()
    }

    func makePayer(_ policy: Policy? = nil) throws -> Payer {
        Payer.withLocalSigner(signer: try LocalSigner(key: key), policy: policy)
    }

    func client(_ payer: Payer) -> PayingSession { PayingSession(session: PaidAPI.session(), payer: payer) }

    func request(_ path: String, method: String = "GET", body: String? = nil, headers: [String: String] = [:]) -> URLRequest {
        var request = URLRequest(url: URL(string: PaidAPI.base + path)!)
        request.httpMethod = method
        request.httpBody = body.map { Data($0.utf8) }
        headers.forEach { request.setValue($0.value, forHTTPHeaderField: $0.key) }
        return request
    }

    func testA402IsPaidOnceAndTheResponseServed() async throws {
        let payer = try makePayer()
        let answer = try await client(payer).data(for: request("/weather"))
        XCTAssertEqual(answer.statusCode, 200)
        XCTAssertEqual(String(decoding: answer.data, as: UTF8.self), "sunny")
        let exchange = try XCTUnwrap(answer.exchange)
        XCTAssertEqual(exchange.payment.name(), "PAYMENT-SIGNATURE")
        XCTAssertEqual(exchange.payment.amount(), "10000")
        let settlement = try XCTUnwrap(exchange.settlement)
        XCTAssertTrue(settlement.success())
        XCTAssertEqual(settlement.payer(), payer.address())
        XCTAssertEqual(state.paymentsSeen, 1)
        XCTAssertEqual(state.settled.count, 1)
    }

    func testHooksSeeThePaymentCreatedAndCanAbortItBeforeItIsMade() async throws {
        final class Seen: @unchecked Sendable {
            var hooks: [String] = []
            var payers: [String?] = []
            let lock = NSLock()
            func add(_ context: HookContext) {
                lock.lock()
                defer { lock.unlock() }
                hooks.append(context.hook)
                payers.append(context.payer)
            }
        }
        let seen = Seen()
        let recording = Hooks()
            .onBeforePaymentCreation { seen.add($0); return .proceed }
            .onAfterPaymentCreation { seen.add($0); return .proceed }
        let payer = try makePayer()
        let paid = try await PayingSession(session: PaidAPI.session(), payer: payer, hooks: recording).data(for: request("/weather"))
        XCTAssertEqual(paid.statusCode, 200)
        XCTAssertEqual(seen.hooks, ["before_payment_creation", "after_payment_creation"])
        XCTAssertEqual(seen.payers, [nil, payer.address()])
        let aborting = Hooks().onBeforePaymentCreation { _ in .abort(reason: "too_expensive") }
        do {
            _ = try await PayingSession(session: PaidAPI.session(), payer: payer, hooks: aborting).data(for: request("/weather"))
            XCTFail("an aborted payment must throw")
        } catch let error as PaywireError {
            XCTAssertEqual(error.code, "payment_aborted")
        }
        XCTAssertEqual(state.paymentsSeen, 1)
    }

    func testARequestBodyIsSentAgainUnchangedWithThePayment() async throws {
        let payer = try makePayer()
        let answer = try await client(payer).data(for: request("/weather", method: "POST", body: #"{"city":"Zürich"}"#))
        XCTAssertEqual(answer.statusCode, 200)
        XCTAssertEqual(state.paidBodies, [#"{"city":"Zürich"}"#])
    }

    func testARequestThatCarriesAPaymentIsNeverPaidAgain() async throws {
        let payer = try makePayer()
        let answer = try await client(payer).data(for: request("/weather", headers: ["X-PAYMENT": "not a payment"]))
        XCTAssertEqual(answer.statusCode, 402)
        XCTAssertNil(answer.exchange)
        XCTAssertEqual(state.paymentsSeen, 0)
        XCTAssertEqual(payer.spentUsd(), "$0")
    }

    func testAPaidRequestAnswered402AgainIsNotPaidASecondTime() async throws {
        state.addFault("402")
        let answer = try await client(try makePayer()).data(for: request("/weather"))
        XCTAssertEqual(answer.statusCode, 402)
        XCTAssertNotNil(answer.exchange)
        XCTAssertEqual(state.paymentsSeen, 1)
        XCTAssertEqual(state.settled.count, 0)
    }

    func testA402ThatIsNotAnX402BillReachesTheCallerWithItsBody() async throws {
        let answer = try await client(try makePayer()).data(for: request("/not-x402"))
        XCTAssertEqual(answer.statusCode, 402)
        XCTAssertEqual(String(decoding: answer.data, as: UTF8.self), "pay by card")
        XCTAssertNil(answer.exchange)
    }

    func testALostResponseAndTheRetryAreChargedOnce() async throws {
        let session = client(try makePayer())
        state.addFault("drop")
        do {
            _ = try await session.data(for: request("/weather", method: "POST", body: "q"))
            XCTFail("the lost response did not surface")
        } catch is URLError {}
        let answer = try await session.data(for: request("/weather", method: "POST", body: "q"))
        XCTAssertEqual(answer.statusCode, 200)
        XCTAssertTrue(try XCTUnwrap(answer.exchange).payment.reused(), "the retry reuses the payment of the lost response")
        XCTAssertEqual(state.settled.count, 1)
        XCTAssertEqual(state.settled.values.first, 2)
    }

    func testA5xxToThePaidRequestKeepsThePaymentForTheRetry() async throws {
        let session = client(try makePayer())
        state.addFault("500")
        let failed = try await session.data(for: request("/weather"))
        XCTAssertEqual(failed.statusCode, 500)
        let first = try XCTUnwrap(failed.exchange).payment
        let answer = try await session.data(for: request("/weather"))
        XCTAssertEqual(answer.statusCode, 200)
        XCTAssertEqual(try XCTUnwrap(answer.exchange).payment.value(), first.value())
        XCTAssertEqual(state.settled.count, 1)
    }

    func testAServedPurchaseBoughtAgainIsPaidAnew() async throws {
        let session = client(try makePayer())
        let first = try await session.data(for: request("/weather"))
        let second = try await session.data(for: request("/weather"))
        let one = try XCTUnwrap(first.exchange).payment
        let two = try XCTUnwrap(second.exchange).payment
        XCTAssertFalse(two.reused())
        XCTAssertNotEqual(one.value(), two.value())
        XCTAssertEqual(state.settled.count, 2)
    }

    func testABillOverThePolicyIsRefusedWithReasonsAndNothingIsSent() async throws {
        let policy = try Policy.fromJson(json: #"{"maxPerPayment": "$0.001"}"#)
        do {
            _ = try await client(try makePayer(policy)).data(for: request("/weather"))
            XCTFail("the payer paid over its policy")
        } catch let error as PaywireError {
            XCTAssertEqual(error.code, "no_acceptable_offer")
            XCTAssertEqual(error.category, "local")
            XCTAssertEqual(error.refusals.count, 1)
        }
        XCTAssertEqual(state.paymentsSeen, 0)
    }

    func testURLSessionPaidDataPaysLikePayingSession() async throws {
        let payer = try makePayer()
        let answer = try await PaidAPI.session().paidData(for: request("/weather"), payer: payer)
        XCTAssertEqual(answer.statusCode, 200)
        XCTAssertTrue(try XCTUnwrap(answer.exchange?.settlement).success())
    }
}
