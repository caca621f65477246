package dev.paywire

import dev.paywire.ffi.errorDetails
import dev.paywire.ffi.FetchOptions
import dev.paywire.ffi.FetchOutcome
import dev.paywire.ffi.FetchRequest
import dev.paywire.ffi.FetchStarted
import dev.paywire.ffi.FetchStep
import dev.paywire.ffi.HttpHeader
import dev.paywire.ffi.PaidFetch
import dev.paywire.ffi.Payer
import dev.paywire.ffi.PaymentHeader
import dev.paywire.ffi.SettleResponse
import dev.paywire.ffi.startPaidFetch
import dev.paywire.ffi.startRefund

// Every paying client here drives paywire's core paying machine (`PaidFetch`), the same in every language:
// at most one payment per call, whatever the redirects (the machine follows them, so a payment header never
// reaches a redirect's target, and credentials never another origin); a request that already carries a
// payment is never paid again; a purchase (method, URL, body) retried while its outcome is open (the
// response was lost, or the server answered 409 or 5xx, or reported the settlement pending) reuses its payment.

/** A payment and the settlement of the response that answered it. */
data class PaidExchange(
    /** The payment sent with the request. */
    val payment: PaymentHeader,
    /** The server's settlement receipt (`PAYMENT-RESPONSE`), or null when it sent none or an unreadable one. */
    val settlement: SettleResponse?,
)

/** One response of the HTTP stack, its body not read yet. */
interface Sent<R> {
    /** The status. */
    val status: Int
    /** The headers. */
    val headers: List<HttpHeader>
    /** The response itself. */
    val response: R
    /** Reads the whole body (once). */
    fun readBody(): ByteArray
    /** Discards it (a redirect, a 402 that was paid). */
    fun discard()
}

/** The answer of a paid call: the last response, its body if the machine read it, and what was paid. */
class Answered<R>(val sent: Sent<R>, val body: ByteArray?, val exchange: PaidExchange?)

/**
 * How a request of the paying machine's own (a chain read, a pass) is sent, as the core decides: within
 * [timeoutMs] milliseconds, its answer included, and at most `bodyLimit + 1` bytes of its answer read (the core
 * takes a longer one as none). Its body is never the caller's.
 */
class OwnRequest(val timeoutMs: Long, val bodyLimit: Int)

/**
 * Drives one call through the machine: `send` sends a request without following redirects (it may throw;
 * the payment of a failed paid send stays remembered for a retry of the purchase); its second argument, when
 * not null, says the request is the machine's own (a pass, a chain read) and how to send it. [rpcUrls]
 * (network to JSON-RPC URL) lets the machine read what an EIP-2612 permit for Permit2 needs.
 */
internal fun <R> payCall(
    payer: Payer,
    request: FetchRequest,
    followRedirects: Boolean,
    hooks: Hooks = Hooks.NONE,
    passFacilitators: List<String> = emptyList(),
    rpcUrls: Map<String, String> = emptyMap(),
    send: (FetchRequest, OwnRequest?) -> Sent<R>,
): Answered<R> {
    val started = startPaidFetch(
        payer,
        request,
        FetchOptions(
            followRedirects, 20u, false, true, hooks.points(),
            passFacilitators = passFacilitators, rpcUrls = rpcUrls.ifEmpty { null },
        ),
    )
    return drive(started, hooks, send).first
}

/**
 * Asks the server of [url] (a batch-settlement route) to return [payer]'s channel balance: [amount] units
 * (decimal), or everything it did not charge; `send` sends a request without following redirects. Returns the
 * refund's receipt. Throws a `PaywireException` when the server refuses (nothing to refund, or it does not
 * hold the key to sign refunds: then `initiateWithdraw` on the contract, and `finalizeWithdraw` after the
 * channel's withdraw delay, return the balance without the server) or did not confirm it
 * (`settlement_pending`: ask again; a refund that went through is answered again).
 */
internal fun <R> refundCall(payer: Payer, url: String, amount: String?, send: (FetchRequest, OwnRequest?) -> Sent<R>): SettleResponse {
    val (answered, outcome) = drive(startRefund(payer, url, amount), Hooks.NONE, send)
    answered.sent.discard()
    outcome.unpaid?.let { throw it.toException() }
    return outcome.settlement
        ?: throw errorDetails("unexpected_settle_error", "the server answered the refund with no receipt").toException()
}

/** Drives a started call through the machine to its last response and outcome. */
private fun <R> drive(started: FetchStarted, hooks: Hooks, send: (FetchRequest, OwnRequest?) -> Sent<R>): Pair<Answered<R>, FetchOutcome> {
    val call: PaidFetch = started.call
    var step: FetchStep = started.step
    var last: Sent<R>? = null
    var body: ByteArray? = null
    var own = false
    try {
        while (true) {
            step = when (val s = step) {
                is FetchStep.Send -> {
                    last?.discard()
                    own = s.own
                    val ownRequest = if (s.own) {
                        OwnRequest(
                            checkNotNull(s.timeoutMs) { "the core gives its own requests a deadline" }.toLong(),
                            checkNotNull(s.bodyLimit) { "the core gives its own requests a body limit" }.toInt(),
                        )
                    } else {
                        null
                    }
                    val sent = try {
                        send(s.request, ownRequest)
                    } catch (e: Exception) {
                        // The payment, if any, stays remembered (the outcome is open); a side request (a pass)
                        // that failed lets the call go on.
                        val next = call.feedSendFailed()
                        if (next is FetchStep.Raise || e is InterruptedException) throw e
                        last = null
                        step = next
                        continue
                    } catch (e: Throwable) {
                        call.feedSendFailed()
                        throw e
                    }
                    last = sent
                    call.feedResponse(sent.status.toUShort(), sent.headers)
                }
                is FetchStep.ReadBody -> {
                    val bytes = try {
                        last!!.readBody()
                    } catch (e: java.io.IOException) {
                        // The machine's own request (a chain read, a pass) whose answer broke off: as no answer.
                        if (!own) throw e
                        ByteArray(0)
                    }
                    body = bytes
                    call.feedBody(bytes)
                }
                is FetchStep.Sign -> call.feedSignFailed("this payer signs by itself; a Sign step is not expected")
                is FetchStep.Hook -> call.feedHooked(hooks.run(s.point, s.context))
                is FetchStep.Fail -> {
                    last?.discard()
                    throw s.error.toException()
                }
                is FetchStep.Done ->
                    return Answered(last!!, if (s.outcome.bodyRead) body else null, exchangeOf(s.outcome)) to s.outcome
                is FetchStep.Raise -> throw IllegalStateException("the paying machine asked to rethrow a send that did not fail")
            }
        }
    } finally {
        call.destroy()
    }
}

private fun exchangeOf(outcome: FetchOutcome): PaidExchange? =
    outcome.payment?.let { PaidExchange(it, outcome.settlement) }

/** The error for a body that cannot be sent a second time, with the payment. */
internal fun unrepeatableBody(what: String): Exception =
    errorDetails(
        "invalid_argument",
        "the server asks for a payment, but the request body is $what, which cannot be sent again with the " +
            "payment; pass the body as bytes or a string",
    ).toException()
