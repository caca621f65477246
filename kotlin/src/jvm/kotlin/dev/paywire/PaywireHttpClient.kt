package dev.paywire

import dev.paywire.ffi.Payer
import dev.paywire.ffi.carriesPayment
import dev.paywire.ffi.purchaseKey
import java.io.ByteArrayOutputStream
import java.io.IOException
import java.net.http.HttpClient
import java.net.http.HttpHeaders
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.ByteBuffer
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import java.util.concurrent.CompletionStage
import java.util.concurrent.ExecutionException
import java.util.concurrent.Flow

/**
 * A `java.net.http.HttpClient` that pays x402 bills: a 402 is paid with [payer] (under its policy) and the
 * request sent once more with the payment. The paid response is a [PaidHttpResponse]; read what was paid
 * with [paidExchange].
 *
 * The request body is read once and kept for the paid retry. The payer signs on the thread that handles the
 * 402 (the client's executor for [sendAsync]).
 */
class PaywireHttpClient(
    /** The client that sends the requests. */
    val client: HttpClient,
    /** The payer of the bills. */
    val payer: Payer,
) {
    /** Sends [request] like [HttpClient.send], paying a 402 once. Throws a `PaywireException` when it cannot pay. */
    @Throws(IOException::class, InterruptedException::class)
    fun <T> send(request: HttpRequest, handler: HttpResponse.BodyHandler<T>): HttpResponse<T> =
        try {
            sendAsync(request, handler).get()
        } catch (e: ExecutionException) {
            throw e.cause ?: e
        }

    /** Sends [request] like [HttpClient.sendAsync], paying a 402 once. */
    fun <T> sendAsync(request: HttpRequest, handler: HttpResponse.BodyHandler<T>): CompletableFuture<HttpResponse<T>> {
        if (carriesPayment(request.headers().toPaywire())) return client.sendAsync(request, handler)
        return bodyOf(request)
            .thenCompose { body -> client.sendAsync(withBody(request, body), capturing(handler)).thenCompose { first -> answer(request, body, first, handler) } }
            .exceptionallyCompose { e -> CompletableFuture.failedFuture(if (e is CompletionException) e.cause ?: e else e) }
    }

    private fun <T> answer(
        request: HttpRequest,
        body: ByteArray,
        first: HttpResponse<Any?>,
        handler: HttpResponse.BodyHandler<T>,
    ): CompletionStage<HttpResponse<T>> {
        val captured = first.body() as? Captured402
        @Suppress("UNCHECKED_CAST")
        if (captured == null) return CompletableFuture.completedFuture(first as HttpResponse<T>)
        val bill = billOf(first.headers().toPaywire(), captured.bytes)
            ?: return CompletableFuture.completedFuture(Rebodied(first, handOver(first, captured.bytes, handler)))
        val purchase = purchaseKey(request.method(), request.uri().toString(), body)
        val payment = payer.pay(bill, purchase)
        val paid = HttpRequest.newBuilder(withBody(request, body)) { _, _ -> true }
            .setHeader(payment.name(), payment.value())
            .build()
        // If sending fails (the connection dropped), the payment is kept: a retry of the purchase reuses it.
        return client.sendAsync(paid, handler).thenApply { response ->
            val receipt = settlementIn(response.headers().toPaywire())
            settle(payer, purchase, response.statusCode(), receipt)
            PaidHttpResponse(response, PaidExchange(payment, receipt))
        }
    }

    /** A 402's body as bytes (the bill may be in it); any other response goes to the caller's handler. */
    private class Captured402(val bytes: ByteArray)

    private fun <T> capturing(handler: HttpResponse.BodyHandler<T>): HttpResponse.BodyHandler<Any?> =
        HttpResponse.BodyHandler { info ->
            @Suppress("UNCHECKED_CAST")
            if (info.statusCode() == 402) {
                HttpResponse.BodySubscribers.mapping(HttpResponse.BodySubscribers.ofByteArray()) { Captured402(it) }
                    as HttpResponse.BodySubscriber<Any?>
            } else {
                handler.apply(info) as HttpResponse.BodySubscriber<Any?>
            }
        }

    /** Gives a 402 that is not a bill to the caller's handler, as if it had read it from the wire. */
    private fun <T> handOver(response: HttpResponse<*>, bytes: ByteArray, handler: HttpResponse.BodyHandler<T>): CompletionStage<T> {
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
        return subscriber.body
    }

    private class Rebodied<T>(private val response: HttpResponse<*>, private val body: CompletionStage<T>) :
        HttpResponse<T> by @Suppress("UNCHECKED_CAST") (response as HttpResponse<T>) {
        override fun body(): T = body.toCompletableFuture().join()
    }

    private companion object {
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

        /** [request] with its body as the buffered [body] (no body stays no body). */
        fun withBody(request: HttpRequest, body: ByteArray): HttpRequest {
            val publisher = if (request.bodyPublisher().isPresent) {
                HttpRequest.BodyPublishers.ofByteArray(body)
            } else {
                HttpRequest.BodyPublishers.noBody()
            }
            return HttpRequest.newBuilder(request) { _, _ -> true }.method(request.method(), publisher).build()
        }
    }
}

/** A response to a paid request: the response itself, and [exchange] (what was paid, what was settled). */
class PaidHttpResponse<T>(private val response: HttpResponse<T>, val exchange: PaidExchange) : HttpResponse<T> by response

/** What was paid for this response, or null when its request was not paid for by a [PaywireHttpClient]. */
val HttpResponse<*>.paidExchange: PaidExchange? get() = (this as? PaidHttpResponse<*>)?.exchange

/** The headers as the core reads them, one pair per value. */
fun HttpHeaders.toPaywire(): List<dev.paywire.ffi.HttpHeader> = map().toPaywire()
