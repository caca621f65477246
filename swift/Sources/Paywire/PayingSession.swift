import Foundation
import PaywireFFI
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A payment and the settlement of the response that answered it.
public struct PaidExchange: Sendable {
    /// The payment sent with the request.
    public let payment: PaymentHeader
    /// The server's settlement receipt (`PAYMENT-RESPONSE`), or nil when it sent none or an unreadable one.
    public let settlement: SettleResponse?
}

/// A response of a `PayingSession`: the body, the HTTP response, and what was paid for it (if anything).
public struct PaidResponse: @unchecked Sendable { // HTTPURLResponse is immutable
    /// The response body.
    public let data: Data
    /// The HTTP response.
    public let response: HTTPURLResponse
    /// What was paid, or nil when the request was not paid for.
    public let exchange: PaidExchange?

    /// The HTTP status code.
    public var statusCode: Int { response.statusCode }
}

/// Sends requests with a `URLSession` and pays x402 bills with `payer`: a 402 is paid (under the payer's
/// policy) and the request sent once more with the payment.
///
/// The exchange is paywire's core paying machine (`PaidFetch`), the same in every language: at most one payment
/// per call, whatever the redirects (the machine follows them, and the session is told not to, so a payment
/// never reaches a redirect's target and credentials never another origin); a request that already carries a
/// payment is never paid again; a purchase (method, URL, body) retried while its outcome is open (the response
/// was lost, or the server answered 409 or 5xx, or reported the settlement pending) reuses its payment. A 402
/// that is not an x402 bill reaches the caller as it is. A body stream is read once and kept.
///
/// The payer signs on the calling task's thread (a `Signer` that waits for a person should use
/// `Payer.prepare` and `Payer.complete` instead).
public final class PayingSession: @unchecked Sendable { // URLSession is thread-safe; Payer is Sendable
    /// The session that sends the requests.
    public let session: URLSession
    /// The payer of the bills.
    public let payer: Payer
    /// Whether redirects are followed (by paywire, never by the session).
    public let followRedirects: Bool
    /// Your code before and after each payment is created and when creating one fails.
    public let hooks: Hooks
    /// Facilitators (base URLs) it may ask for a pass when a bill names one.
    public let passFacilitators: [String]
    /// JSON-RPC URLs by network (`eip155:<chain id>`): where a bill declares `eip2612GasSponsoring` and the
    /// payment moves its token through Permit2, the payer's Permit2 allowance and EIP-2612 nonce are read there,
    /// so a payer who never approved Permit2 (and holds no gas) pays with a permit the facilitator submits.
    /// Private: a URL often carries an API key.
    private let rpcUrls: [String: String]

    /// An unusable RPC URL makes each call throw `PaywireError` (`invalid_argument`); the error never shows it.
    public init(
        session: URLSession = .shared, payer: Payer, followRedirects: Bool = true, hooks: Hooks = Hooks(),
        passFacilitators: [String] = [], rpcUrls: [String: String] = [:]
    ) {
        self.session = session
        self.payer = payer
        self.followRedirects = followRedirects
        self.hooks = hooks
        self.passFacilitators = passFacilitators
        self.rpcUrls = rpcUrls
    }

    /// Sends `request`, paying a 402 once. Throws `PaywireError` when it cannot pay (e.g. the policy refuses
    /// every offer, with the reasons in `error.refusals`) and `URLError` when the network fails.
    public func data(for request: URLRequest) async throws -> PaidResponse {
        let body = try Self.bodyOf(request)
        let hasBody = request.httpBodyStream != nil || request.httpBody != nil
        let started = try startPaidFetch(
            payer: payer,
            request: FetchRequest(
                method: request.httpMethod ?? "GET",
                url: request.url?.absoluteString ?? "",
                headers: request.paywireHeaders,
                body: hasBody ? body : nil
            ),
            options: FetchOptions(
                followRedirects: followRedirects, maxRedirects: 20, alreadyPaid: false, signInline: true, hooks: hooks.points,
                passFacilitators: passFacilitators, rpcUrls: rpcUrls.isEmpty ? nil : rpcUrls
            )
        )
        let (outcome, data, response) = try await drive(started, template: request)
        let exchange = outcome.payment.map { PaidExchange(payment: $0, settlement: outcome.settlement) }
        return PaidResponse(data: data, response: response, exchange: exchange)
    }

    /// Asks the server of `url` (a batch-settlement route) to return this payer's channel balance: `amount`
    /// units (decimal), or everything it did not charge. Returns the refund's receipt (its transaction).
    /// Throws `PaywireError` when the server refuses (`invalid_batch_settlement_evm_refund_no_balance`:
    /// nothing to refund; `invalid_batch_settlement_evm_authorizer_not_configured`: it cannot sign refunds,
    /// and `initiateWithdraw` on the contract, then `finalizeWithdraw` after the withdraw delay, return the
    /// balance without it) or did not confirm the refund (`settlement_pending`: ask again).
    public func refund(url: URL, amount: String? = nil) async throws -> SettleResponse {
        let started = try startRefund(payer: payer, url: url.absoluteString, amount: amount)
        let (outcome, _, _) = try await drive(started, template: URLRequest(url: url))
        if let unpaid = outcome.unpaid { throw unpaid.error }
        guard let receipt = outcome.settlement else {
            throw errorDetails(code: "unexpected_settle_error", detail: "the server answered the refund with no receipt")
                .error
        }
        return receipt
    }

    /// Drives a started call through the machine, each hop sent as `template` with the hop's URL, method,
    /// headers and body; returns the outcome and the last response.
    private func drive(_ started: FetchStarted, template request: URLRequest) async throws
        -> (FetchOutcome, Data, HTTPURLResponse)
    {
        let call = started.call
        var step = started.step
        var last: (Data, HTTPURLResponse)?
        var limit: UInt64?
        while true {
            switch step {
            case let .send(hop, _, timeoutMs, bodyLimit):
                limit = bodyLimit
                var next = request
                // The machine's own request (a chain read, a pass): the core's deadline, or the caller's if shorter.
                // URLSession applies it to each wait for data, and the body is cut to the limit once loaded.
                if let timeoutMs = timeoutMs {
                    next.timeoutInterval = min(next.timeoutInterval, TimeInterval(timeoutMs) / 1000)
                }
                next.url = URL(string: hop.url)
                next.httpMethod = hop.method
                next.allHTTPHeaderFields = [:]
                for header in hop.headers { next.addValue(header.value, forHTTPHeaderField: header.name) }
                next.httpBodyStream = nil
                next.httpBody = hop.body
                let answer: (Data, HTTPURLResponse)
                do {
                    answer = try await load(next)
                } catch {
                    // The payment of a failed paid send stays remembered (the outcome is open); a side request
                    // (a pass) that failed lets the call go on, unless the task was cancelled.
                    let next = call.feedSendFailed()
                    if case .raise(_) = next { throw error }
                    if Task.isCancelled { throw error }
                    last = nil
                    step = next
                    continue
                }
                last = answer
                step = call.feedResponse(status: UInt16(clamping: answer.1.statusCode), headers: answer.1.paywireHeaders)
            case .readBody:
                var body = last?.0 ?? Data()
                // At most limit + 1 bytes go to the core, which takes a longer answer to its own request as none.
                if let limit = limit, UInt64(body.count) > limit { body = body.prefix(Int(clamping: limit + 1)) }
                step = call.feedBody(body: body)
            case .sign:
                step = call.feedSignFailed(message: "this payer signs by itself; a sign step is not expected")
            case let .hook(point, context):
                step = call.feedHooked(verdict: await hooks.run(point, context))
            case let .fail(error):
                throw error.error
            case let .done(outcome), let .raise(outcome):
                guard let (data, response) = last else { throw URLError(.badServerResponse) }
                return (outcome, data, response)
            }
        }
    }

    /// One request, its redirects not followed; cancelling the calling task cancels it (the task then throws
    /// `URLError(.cancelled)`).
    private func load(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        let running = RunningTask()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error = error {
                        continuation.resume(throwing: error)
                    } else if let http = response as? HTTPURLResponse {
                        continuation.resume(returning: (data ?? Data(), http))
                    } else {
                        continuation.resume(throwing: URLError(.badServerResponse))
                    }
                }
                task.delegate = NoRedirects.shared
                running.start(task)
            }
        } onCancel: {
            running.cancel()
        }
    }

    /// The request body as bytes: `httpBody`, or the whole `httpBodyStream` (read once, sent from memory).
    private static func bodyOf(_ request: URLRequest) throws -> Data {
        if let body = request.httpBody { return body }
        guard let stream = request.httpBodyStream else { return Data() }
        var body = Data()
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        stream.open()
        defer { stream.close() }
        while true {
            let count = stream.read(&chunk, maxLength: chunk.count)
            if count < 0 { throw stream.streamError ?? URLError(.cannotDecodeRawData) }
            if count == 0 { break }
            body.append(chunk, count: count)
        }
        return body
    }
}

/// Refuses every redirect of a task, so the redirect response reaches paywire's machine, which follows it
/// without the payment.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable { // stateless
    static let shared = NoRedirects()

    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}

/// The data task of one request, cancellable from another thread (before or after it starts).
private final class RunningTask: @unchecked Sendable { // every access holds `lock`
    private let lock = NSLock()
    private var task: URLSessionDataTask?
    private var cancelled = false

    func start(_ task: URLSessionDataTask) {
        lock.lock()
        self.task = task
        let cancelled = self.cancelled
        lock.unlock()
        if cancelled { task.cancel() }
        task.resume()
    }

    func cancel() {
        lock.lock()
        cancelled = true
        let task = self.task
        lock.unlock()
        task?.cancel()
    }
}

public extension URLSession {
    /// Sends `request`, paying a 402 once with `payer` (see `PayingSession`).
    func paidData(for request: URLRequest, payer: Payer) async throws -> PaidResponse {
        try await PayingSession(session: self, payer: payer).data(for: request)
    }
}

public extension URLRequest {
    /// The request's headers as the core reads them.
    var paywireHeaders: [HttpHeader] {
        (allHTTPHeaderFields ?? [:]).map { HttpHeader(name: $0.key, value: $0.value) }
    }
}

public extension HTTPURLResponse {
    /// The response's headers as the core reads them.
    var paywireHeaders: [HttpHeader] {
        allHeaderFields.map { HttpHeader(name: "\($0.key)", value: "\($0.value)") }
    }
}
