package dev.paywire

import dev.paywire.ffi.Payer
import dev.paywire.ffi.carriesPayment
import dev.paywire.ffi.purchaseKey
import okhttp3.Interceptor
import okhttp3.Response
import okhttp3.ResponseBody.Companion.toResponseBody
import okio.Buffer

/**
 * An OkHttp interceptor that pays x402 bills: a 402 is paid with [payer] (under its policy) and the request
 * sent once more with the payment. Add it with `OkHttpClient.Builder().addInterceptor(...)` (an application
 * interceptor: OkHttp lets only those send a request twice). Read what was paid with [paidExchange].
 *
 * OkHttp is an optional dependency of paywire: add `com.squareup.okhttp3:okhttp` (4.x) to use this class.
 */
class PaywireInterceptor(
    /** The payer of the bills. */
    val payer: Payer,
) : Interceptor {
    override fun intercept(chain: Interceptor.Chain): Response {
        val request = chain.request()
        if (carriesPayment(request.headers.toMultimap().toPaywire())) return chain.proceed(request)
        val first = chain.proceed(request)
        if (first.code != 402) return first
        val contentType = first.body?.contentType()
        val bytes = first.body?.use { it.bytes() } ?: ByteArray(0)
        val bill = billOf(first.headers.toMultimap().toPaywire(), bytes)
            ?: return first.newBuilder().body(bytes.toResponseBody(contentType)).build()
        val requestBody = request.body
        if (requestBody != null && requestBody.isOneShot()) throw unrepeatableBody("one-shot")
        val body = Buffer().also { requestBody?.writeTo(it) }.readByteArray()
        val purchase = purchaseKey(request.method, request.url.toString(), body)
        val payment = payer.pay(bill, purchase)
        val paid = request.newBuilder().header(payment.name(), payment.value()).build()
        // If this throws (the connection dropped), the payment is kept: a retry of the purchase reuses it.
        val response = chain.proceed(paid)
        val receipt = settlementIn(response.headers.toMultimap().toPaywire())
        settle(payer, purchase, response.code, receipt)
        return response.newBuilder()
            .request(response.request.newBuilder().tag(PaidExchange::class.java, PaidExchange(payment, receipt)).build())
            .build()
    }
}

/** What was paid for this response, or null when its request was not paid for by a [PaywireInterceptor]. */
val Response.paidExchange: PaidExchange? get() = request.tag(PaidExchange::class.java)
