package dev.paywire

import dev.paywire.ffi.HttpHeader
import dev.paywire.ffi.PaymentHeader
import dev.paywire.ffi.PaymentRequired
import dev.paywire.ffi.PaywireException
import dev.paywire.ffi.SettleResponse
import dev.paywire.ffi.outcomeIsOpen
import dev.paywire.ffi.readSettlement

// What every paying client here shares with paywire's Python and Node clients (the paid-retry contract):
// at most one paid retry; a request that already carries a payment is never paid again; a purchase (method,
// URL, body) retried while its outcome is open (the response was lost, or the server answered 409 or 5xx, or
// reported the settlement pending) reuses its payment instead of paying twice.

/** The x402 bill of a 402 response, or null when the 402 is not an x402 bill (it reaches the caller as is). */
internal fun billOf(headers: List<HttpHeader>, body: ByteArray): PaymentRequired? =
    try {
        PaymentRequired.fromResponse(headers, body)
    } catch (_: PaywireException) {
        null
    }

/** The settlement a paid response carries, or null (also when unreadable: the response still reaches the caller). */
internal fun settlementIn(headers: List<HttpHeader>): SettleResponse? =
    try {
        readSettlement(headers)
    } catch (_: PaywireException) {
        null
    }

/**
 * Closes a purchase once the paid request got a definite answer, so the next request for the same thing pays
 * anew; while the outcome is open the payment stays, and a retry reuses it.
 */
internal fun settle(payer: dev.paywire.ffi.Payer, purchase: String, status: Int, receipt: SettleResponse?) {
    if (!outcomeIsOpen(status.toUShort(), receipt)) payer.forget(purchase)
}

/** The error for a body that cannot be sent a second time, with the payment. */
internal fun unrepeatableBody(what: String): PaywireException =
    PaywireException.MalformedInput(
        "invalid_argument",
        "the server asks for a payment, but the request body is $what, which cannot be sent again with the " +
            "payment; pass the body as bytes or a string",
        null,
        emptyList(),
    )

/** A payment and the settlement of the response that answered it. */
data class PaidExchange(
    /** The payment sent with the request. */
    val payment: PaymentHeader,
    /** The server's settlement receipt (`PAYMENT-RESPONSE`), or null when it sent none or an unreadable one. */
    val settlement: SettleResponse?,
)
