package dev.paywire

import dev.paywire.ffi.FetchRequest
import dev.paywire.ffi.HttpHeader
import dev.paywire.ffi.Payer
import dev.paywire.ffi.SettleResponse
import dev.paywire.ffi.checkRpcUrls
import dev.paywire.ffi.errorDetails
import okhttp3.Interceptor
import okhttp3.MediaType
import okhttp3.MediaType.Companion.toMediaTypeOrNull
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import okhttp3.Response
import okhttp3.ResponseBody.Companion.toResponseBody
import okio.Buffer
import java.util.concurrent.TimeUnit

/**
 * An OkHttp interceptor that pays x402 bills with [payer]: a 402 is paid (under the payer's policy) and the
 * request sent once more with the payment. The exchange is paywire's core paying machine; redirects are
 * followed by it ([followRedirects]), so a payment never reaches a redirect's target: the client must not
 * follow redirects itself. Install it with [withPaywire], which sets that up. Read what was paid with
 * [paidExchange].
 *
 * OkHttp is an optional dependency of paywire: add `com.squareup.okhttp3:okhttp` (4.x) to use this class.
 */
class PaywireInterceptor(
    /** The payer of the bills. */
    val payer: Payer,
    /** Whether paywire follows redirects (what the client did before [withPaywire]). */
    val followRedirects: Boolean = true,
    /** Your code before and after each payment is created and when creating one fails. */
    val hooks: Hooks = Hooks.NONE,
    /** Facilitators (base URLs) it may ask for a pass when a bill names one. */
    val passFacilitators: List<String> = emptyList(),
    /**
     * JSON-RPC URLs by network (`eip155:<chain id>`): where a bill declares `eip2612GasSponsoring` and the
     * payment moves its token through Permit2, the payer's Permit2 allowance and EIP-2612 nonce are read there,
     * so a payer who never approved Permit2 (and holds no gas) pays with a permit the facilitator submits.
     * Checked when the interceptor is made; a URL is never logged or put in an error.
     */
    private val rpcUrls: Map<String, String> = emptyMap(),
) : Interceptor {
    init {
        checkRpcUrls(rpcUrls)
    }

    override fun intercept(chain: Interceptor.Chain): Response {
        val request = chain.request()
        if (okHttpFollows(chain)) {
            throw errorDetails(
                "invalid_argument",
                "this OkHttpClient follows redirects itself, which would carry a payment to a redirect's target; " +
                    "build it with client.withPaywire(payer) (or followRedirects(false) and followSslRedirects(false))",
            ).toException()
        }
        val requestBody = request.body
        if (requestBody != null && requestBody.isOneShot()) {
            // Sent as is; if the server asks for a payment, it cannot be sent again.
            val response = chain.proceed(request)
            if (response.code == 402) throw unrepeatableBody("one-shot")
            return response
        }
        val contentType: MediaType? = requestBody?.contentType()
        val body = requestBody?.let { Buffer().also(it::writeTo).readByteArray() }
        val start = FetchRequest(request.method, request.url.toString(), request.headers.toPaywire(), body)
        val answered = payCall(payer, start, followRedirects, hooks, passFacilitators, rpcUrls) { hop, own ->
            val built = Request.Builder()
                .url(hop.url)
                .headers(okhttp3.Headers.Builder().apply { hop.headers.forEach { add(it.name, it.value) } }.build())
                // The hop's own Content-Type (a chain read's JSON), else the caller's body's.
                .method(hop.method, hop.body?.toRequestBody(hop.contentType() ?: contentType))
                .tag(request.tag())
                .build()
            if (own == null) {
                chain.proceed(built).asSent()
            } else {
                // The machine's own request: each stage within the core's deadline (or the client's, if shorter;
                // 0 is none), and its answer read up to the limit, by the deadline.
                val deadline = System.nanoTime() + own.timeoutMs * 1_000_000
                fun stage(client: Int) = if (client == 0) own.timeoutMs.toInt() else minOf(client.toLong(), own.timeoutMs).toInt()
                chain.withConnectTimeout(stage(chain.connectTimeoutMillis()), TimeUnit.MILLISECONDS)
                    .withReadTimeout(stage(chain.readTimeoutMillis()), TimeUnit.MILLISECONDS)
                    .withWriteTimeout(stage(chain.writeTimeoutMillis()), TimeUnit.MILLISECONDS)
                    .proceed(built)
                    .asSent(own.bodyLimit, deadline)
            }
        }
        var response = answered.sent.response
        answered.body?.let { bytes -> response = response.newBuilder().body(bytes.toResponseBody(response.body?.contentType())).build() }
        val exchange = answered.exchange ?: return response
        return response.newBuilder()
            .request(response.request.newBuilder().tag(PaidExchange::class.java, exchange).build())
            .build()
    }

    /** Whether the client of this call follows redirects itself (OkHttp 4's call knows its client). */
    private fun okHttpFollows(chain: Interceptor.Chain): Boolean {
        val client = (chain.call() as? okhttp3.internal.connection.RealCall)?.client ?: return false
        return client.followRedirects || client.followSslRedirects
    }
}

/**
 * This client, paying x402 bills with [payer]: redirects are followed by paywire (as this client would have
 * followed them), never by OkHttp, so a payment never reaches a redirect's target.
 */
fun OkHttpClient.withPaywire(
    payer: Payer,
    hooks: Hooks = Hooks.NONE,
    rpcUrls: Map<String, String> = emptyMap(),
): OkHttpClient =
    newBuilder()
        .followRedirects(false)
        .followSslRedirects(false)
        .addInterceptor(PaywireInterceptor(payer, followRedirects, hooks, rpcUrls = rpcUrls))
        .build()

/**
 * Asks the server of [url] (a batch-settlement route) to return [payer]'s channel balance: [amount] units
 * (decimal), or everything it did not charge. Sent by this client without its [PaywireInterceptor] (a refund
 * pays nothing). Returns the refund's receipt; throws a `PaywireException` when the server refuses or did
 * not confirm it, as [PaywireHttpClient.refund] does.
 */
fun OkHttpClient.refund(payer: Payer, url: String, amount: String? = null): SettleResponse {
    val plain = newBuilder()
        .followRedirects(false)
        .followSslRedirects(false)
        .apply { interceptors().removeAll { it is PaywireInterceptor } }
        .build()
    return refundCall(payer, url, amount) { hop, _ ->
        val built = Request.Builder()
            .url(hop.url)
            .headers(okhttp3.Headers.Builder().apply { hop.headers.forEach { add(it.name, it.value) } }.build())
            .method(hop.method, null)
            .build()
        plain.newCall(built).execute().asSent()
    }
}

/** The media type a hop's headers name. */
private fun FetchRequest.contentType(): MediaType? =
    headers.firstOrNull { it.name.equals("content-type", ignoreCase = true) }?.value?.toMediaTypeOrNull()

/**
 * An OkHttp response as the paying machine's driver reads it; with a [limit], no more than `limit + 1` bytes of
 * its body are read (the core takes a longer answer to its own request as none), and a body still coming at
 * [deadline] (`System.nanoTime()`) is broken off.
 */
private fun Response.asSent(limit: Int? = null, deadline: Long = 0): Sent<Response> {
    val response = this
    return object : Sent<Response> {
        override val status = response.code
        override val headers = response.headers.toPaywire()
        override val response = response
        override fun readBody(): ByteArray = response.body?.use { body ->
            if (limit == null) return@use body.bytes()
            val source = body.source()
            val read = Buffer()
            while (read.size <= limit && source.read(read, 8192) != -1L) {
                if (System.nanoTime() > deadline) throw java.io.InterruptedIOException("the answer was still coming at the deadline")
            }
            read.readByteArray(minOf(read.size, limit + 1L))
        } ?: ByteArray(0)
        override fun discard() = response.close()
    }
}

/** What was paid for this response, or null when its request was not paid for by a [PaywireInterceptor]. */
val Response.paidExchange: PaidExchange? get() = request.tag(PaidExchange::class.java)

/** The headers as the core reads them, one pair per value. */
fun okhttp3.Headers.toPaywire(): List<HttpHeader> = map { (name, value) -> HttpHeader(name, value) }
