package dev.paywire

import dev.paywire.ffi.FetchRequest
import dev.paywire.ffi.HttpHeader
import dev.paywire.ffi.Payer
import dev.paywire.ffi.SettleResponse
import dev.paywire.ffi.checkRpcUrls
import java.io.ByteArrayOutputStream
import java.io.IOException
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpHeaders
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.net.http.HttpTimeoutException
import java.time.Duration
import java.nio.ByteBuffer
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import java.util.concurrent.CompletionStage
import java.util.concurrent.ExecutionException
import java.util.concurrent.Flow
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException

/**
 * A `java.net.http.HttpClient` that pays x402 bills: a 402 is paid with [payer] (under its policy) and the
 * request sent once more with the payment. The paid response is a [PaidHttpResponse]; read what was paid
 * with [paidExchange]. The exchange is paywire's core paying machine: one payment per call, redirects
 * followed by paywire (as [client] is configured to) so a payment never reaches a redirect's target.
 *
 * The request body is read once and kept for the paid retry. The payer signs on the sending thread.
 */
class PaywireHttpClient(
    /** The client whose configuration is used (its redirect policy is applied by paywire). */
    val client: HttpClient,
    /** The payer of the bills. */
    val payer: Payer,
    /** Your code before and after each payment is created and when creating one fails. */
    val hooks: Hooks = Hooks.NONE,
    /** Facilitators (base URLs) it may ask for a pass when a bill names one. */
    val passFacilitators: List<String> = emptyList(),
    /**
     * JSON-RPC URLs by network (`eip155:<chain id>`): where a bill declares `eip2612GasSponsoring` and the
     * payment moves its token through Permit2, the payer's Permit2 allowance and EIP-2612 nonce are read there.
     * Checked when the client is made; kept private, as a URL often carries an API key.
     */
    private val rpcUrls: Map<String, String> = emptyMap(),
) {
    init {
        checkRpcUrls(rpcUrls)
    }

    private val follow = client.followRedirects() != HttpClient.Redirect.NEVER
    /** The client that sends each hop: [client], but never following redirects itself. */
    private val direct: HttpClient = if (!follow) client else withoutRedirects(client)

    /** Sends [request] like [HttpClient.send], paying a 402 once. Throws a `PaywireException` when it cannot pay. */
    @Throws(IOException::class, InterruptedException::class)
    fun <T> send(request: HttpRequest, handler: HttpResponse.BodyHandler<T>): HttpResponse<T> {
        val body = bodyOf(request).get()
        val paywireRequest = FetchRequest(
            request.method(),
            request.uri().toString(),
            request.headers().toPaywire(),
            if (request.bodyPublisher().isPresent) body else null,
        )
        val answered = payCall(payer, paywireRequest, follow, hooks, passFacilitators, rpcUrls) { hop, own ->
            sendHop(request, hop, handler, own)
        }
        val sent = answered.sent.response
        val bytes = answered.body ?: (sent.body() as? Captured)?.bytes
        @Suppress("UNCHECKED_CAST")
        val response: HttpResponse<T> = if (bytes != null) Rebodied(sent, handOver(sent, bytes, handler)) else sent as HttpResponse<T>
        return answered.exchange?.let { PaidHttpResponse(response, it) } ?: response
    }

    /**
     * Asks the server of [url] (a batch-settlement route) to return this payer's channel balance: [amount]
     * units (decimal), or everything it did not charge. Returns the refund's receipt (its transaction). Throws
     * a `PaywireException` when the server refuses (`invalid_batch_settlement_evm_refund_no_balance`: nothing
     * to refund; `..._authorizer_not_configured`: it cannot sign refunds, and `initiateWithdraw` on the
     * contract, then `finalizeWithdraw` after the withdraw delay, return the balance without it) or did not
     * confirm the refund (`settlement_pending`: ask again).
     */
    @Throws(IOException::class, InterruptedException::class)
    fun refund(url: String, amount: String? = null): SettleResponse {
        val get = HttpRequest.newBuilder(URI.create(url)).GET().build()
        return refundCall(payer, url, amount) { hop, own -> sendHop(get, hop, HttpResponse.BodyHandlers.discarding(), own) }
    }

    /** Sends [request] like [HttpClient.sendAsync], paying a 402 once (on the client's executor). */
    fun <T> sendAsync(request: HttpRequest, handler: HttpResponse.BodyHandler<T>): CompletableFuture<HttpResponse<T>> {
        val run = { send(request, handler) }
        val executor = client.executor().orElse(null)
        val future = if (executor != null) CompletableFuture.supplyAsync(run, executor) else CompletableFuture.supplyAsync(run)
        return future.exceptionallyCompose { e -> CompletableFuture.failedFuture(if (e is CompletionException) e.cause ?: e else e) }
    }

    private fun <T> sendHop(
        original: HttpRequest,
        hop: FetchRequest,
        handler: HttpResponse.BodyHandler<T>,
        own: OwnRequest?,
    ): Sent<HttpResponse<*>> {
        val builder = HttpRequest.newBuilder(URI.create(hop.url))
        // The machine's own request: the core's deadline, or the caller's if shorter.
        val ownMs = own?.let { o -> original.timeout().map { minOf(it.toMillis(), o.timeoutMs) }.orElse(o.timeoutMs) }
        if (ownMs != null) builder.timeout(Duration.ofMillis(ownMs)) else original.timeout().ifPresent { builder.timeout(it) }
        original.version().ifPresent { builder.version(it) }
        // A JSON-RPC POST over plain http would carry java.net.http's h2c upgrade, which some servers mishandle.
        if (own != null && hop.url.startsWith("http://", ignoreCase = true)) builder.version(HttpClient.Version.HTTP_1_1)
        builder.expectContinue(original.expectContinue())
        for (h in hop.headers) if (!RESTRICTED.contains(h.name.lowercase())) builder.header(h.name, h.value)
        val publisher = hop.body?.let { HttpRequest.BodyPublishers.ofByteArray(it) } ?: HttpRequest.BodyPublishers.noBody()
        builder.method(hop.method, publisher)
        val response = try {
            if (own == null) {
                direct.send(builder.build(), capturing(handler))
            } else {
                // The machine's own request: the core's deadline covers its answer too, read up to the limit.
                val pending = direct.sendAsync(builder.build(), capped(own.bodyLimit))
                try {
                    pending.get(ownMs!!, TimeUnit.MILLISECONDS)
                } catch (e: TimeoutException) {
                    pending.cancel(true)
                    throw HttpTimeoutException("the request took longer than $ownMs ms")
                }
            }
        } catch (e: ExecutionException) {
            throw e.cause ?: e
        }
        return object : Sent<HttpResponse<*>> {
            override val status = response.statusCode()
            override val headers = response.headers().toPaywire()
            override val response = response
            override fun readBody(): ByteArray = (response.body() as? Captured)?.bytes ?: ByteArray(0)
            override fun discard() {}
        }
    }

    /**
     * A 402's, a redirect's or a machine's own request's (a pass, a chain read) body as bytes (the machine may
     * read it); any other goes to the caller's handler.
     */
    private class Captured(val bytes: ByteArray)

    /** At most `limit + 1` bytes of any answer, captured (the core takes a longer one as none). */
    private fun capped(limit: Int): HttpResponse.BodyHandler<Any?> = HttpResponse.BodyHandler {
        object : HttpResponse.BodySubscriber<Any?> {
            private val out = ByteArrayOutputStream()
            private val done = CompletableFuture<Any?>()
            private var subscription: Flow.Subscription? = null

            override fun getBody(): CompletionStage<Any?> = done
            override fun onSubscribe(s: Flow.Subscription) {
                subscription = s
                s.request(1)
            }
            override fun onNext(items: List<ByteBuffer>) {
                for (item in items) {
                    val room = limit + 1 - out.size()
                    val chunk = ByteArray(minOf(item.remaining(), maxOf(room, 0)))
                    item.get(chunk)
                    out.write(chunk)
                }
                if (out.size() > limit) {
                    subscription?.cancel()
                    done.complete(Captured(out.toByteArray()))
                } else {
                    subscription?.request(1)
                }
            }
            override fun onError(throwable: Throwable) {
                done.completeExceptionally(throwable)
            }
            override fun onComplete() {
                done.complete(Captured(out.toByteArray()))
            }
        }
    }

    private fun <T> capturing(handler: HttpResponse.BodyHandler<T>): HttpResponse.BodyHandler<Any?> =
        HttpResponse.BodyHandler { info ->
            @Suppress("UNCHECKED_CAST")
            if (info.statusCode() == 402 || info.statusCode() in REDIRECTS) {
                HttpResponse.BodySubscribers.mapping(HttpResponse.BodySubscribers.ofByteArray()) { Captured(it) }
                    as HttpResponse.BodySubscriber<Any?>
            } else {
                handler.apply(info) as HttpResponse.BodySubscriber<Any?>
            }
        }

    /** Gives bytes read by paywire to the caller's handler, as if it had read them from the wire. */
    private fun <T> handOver(response: HttpResponse<*>, bytes: ByteArray, handler: HttpResponse.BodyHandler<T>): CompletableFuture<T> {
        val info = object : HttpResponse.ResponseInfo {
            override fun statusCode() = response.statusCode()
            override fun headers(): HttpHeaders = response.headers()
            override fun version(): HttpClient.Version = response.version()
        }
        val subscriber = handler.apply(info)
        subscriber.onSubscribe(object : Flow.Subscription {
            override fun request(n: Long) {}
            override fun cancel() {}
        })
        if (bytes.isNotEmpty()) subscriber.onNext(listOf(ByteBuffer.wrap(bytes)))
        subscriber.onComplete()
        return subscriber.body.toCompletableFuture()
    }

    private class Rebodied<T>(private val response: HttpResponse<*>, private val body: CompletableFuture<T>) :
        HttpResponse<T> by @Suppress("UNCHECKED_CAST") (response as HttpResponse<T>) {
        override fun body(): T = body.join()
    }

    private companion object {
        val REDIRECTS = setOf(301, 302, 303, 307, 308)
        /** Headers java.net.http sets itself and refuses from callers. */
        val RESTRICTED = setOf("connection", "content-length", "expect", "host", "upgrade")

        fun withoutRedirects(c: HttpClient): HttpClient {
            val b = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).version(c.version())
            c.connectTimeout().ifPresent { b.connectTimeout(it) }
            c.proxy().ifPresent { b.proxy(it) }
            c.authenticator().ifPresent { b.authenticator(it) }
            c.cookieHandler().ifPresent { b.cookieHandler(it) }
            c.executor().ifPresent { b.executor(it) }
            b.sslContext(c.sslContext())
            b.sslParameters(c.sslParameters())
            return b.build()
        }

        /** The request's body, read once (a publisher may not be replayable). */
        fun bodyOf(request: HttpRequest): CompletableFuture<ByteArray> {
            val publisher = request.bodyPublisher().orElse(null) ?: return CompletableFuture.completedFuture(ByteArray(0))
            val done = CompletableFuture<ByteArray>()
            publisher.subscribe(object : Flow.Subscriber<ByteBuffer> {
                private val out = ByteArrayOutputStream()
                override fun onSubscribe(subscription: Flow.Subscription) = subscription.request(Long.MAX_VALUE)
                override fun onNext(item: ByteBuffer) {
                    val chunk = ByteArray(item.remaining())
                    item.get(chunk)
                    out.write(chunk)
                }
                override fun onError(throwable: Throwable) {
                    done.completeExceptionally(throwable)
                }
                override fun onComplete() {
                    done.complete(out.toByteArray())
                }
            })
            return done
        }
    }
}

/** A response to a paid request: the response itself, and [exchange] (what was paid, what was settled). */
class PaidHttpResponse<T>(private val response: HttpResponse<T>, val exchange: PaidExchange) : HttpResponse<T> by response

/** What was paid for this response, or null when its request was not paid for by a [PaywireHttpClient]. */
val HttpResponse<*>.paidExchange: PaidExchange? get() = (this as? PaidHttpResponse<*>)?.exchange

/** The headers as the core reads them, one pair per value. */
fun HttpHeaders.toPaywire(): List<HttpHeader> = map().toPaywire()
