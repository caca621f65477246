package dev.paywire

import dev.paywire.ffi.PaymentPayload
import dev.paywire.ffi.PaymentRequirements
import dev.paywire.ffi.SettleResponse
import dev.paywire.ffi.VerifyResponse
import dev.paywire.ffi.defaultFacilitatorUrl
import dev.paywire.ffi.facilitatorEndpoint
import dev.paywire.ffi.facilitatorHeaders
import dev.paywire.ffi.facilitatorRequest
import dev.paywire.ffi.facilitatorRetriesWithoutAnswer
import dev.paywire.ffi.facilitatorUnreachable
import dev.paywire.ffi.readSettleAnswer
import dev.paywire.ffi.readVerifyAnswer
import dev.paywire.ffi.settleAgain
import java.io.IOException
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.net.http.HttpTimeoutException
import java.time.Duration

/** What a payment gate needs from a facilitator. */
interface Facilitator {
    /** `POST /verify` with the payment as received and the server's own offer. */
    fun verify(payment: PaymentPayload, requirements: PaymentRequirements): VerifyResponse

    /** `POST /settle`. */
    fun settle(payment: PaymentPayload, requirements: PaymentRequirements): SettleResponse
}

/**
 * A facilitator client over `java.net.http`. How answers are read is paywire's core rule, as in every
 * language: refusals come back as answers (also with a 4xx status); an unreachable facilitator throws
 * `facilitator_unreachable`, a 5xx or an answer without the x402 shape `invalid_facilitator_response`; errors
 * name the facilitator by its URL without credentials or query. [headersJson] is a JSON object of headers for
 * every call, or one keyed by endpoint (`verify`, `settle`, `supported`).
 */
class FacilitatorClient(
    /** The facilitator's base URL (default: the public x402.org facilitator, test networks only). */
    val url: String = defaultFacilitatorUrl(),
    /** Extra headers (auth), as JSON. */
    private val headersJson: String? = null,
    /** How long to wait for an answer (settling waits for a transaction). */
    val timeout: Duration = Duration.ofSeconds(90),
    private val client: HttpClient = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).build(),
) : Facilitator {
    private fun call(endpoint: String, body: String?): HttpResponse<String> {
        val target = facilitatorEndpoint(url, endpoint)
        val builder = HttpRequest.newBuilder(URI.create(target.url)).timeout(timeout).header("content-type", "application/json")
        // Over plain http, java.net.http asks to upgrade to h2c with the request, body and all, which some
        // servers mishandle (an upgrade with a body): a facilitator gets plain HTTP/1.1.
        if (target.url.startsWith("http://", ignoreCase = true)) builder.version(HttpClient.Version.HTTP_1_1)
        for (h in facilitatorHeaders(headersJson, endpoint)) builder.header(h.name, h.value)
        builder.method(target.method, body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody())
        val request = builder.build()
        var attempt = 0u
        var sender = client
        while (true) {
            try {
                return sender.send(request, HttpResponse.BodyHandlers.ofString())
            } catch (e: IOException) {
                // Closed without an answer: the core's rule asks once more. java.net.http pools a connection
                // after an HTTP/1.0 answer that did not say `Connection: close` and hands it out again before
                // it notices the close, so the pool can hold several such connections: the second ask goes
                // through a client with an empty pool.
                val noAnswer = e.message?.contains("received no bytes") == true
                if (noAnswer && attempt++ < facilitatorRetriesWithoutAnswer()) {
                    sender = unpooled(client)
                    continue
                }
                throw unreachable(endpoint, e)
            }
        }
    }

    /** A client configured as [c] (proxy, TLS, redirects, timeouts…) with none of its pooled connections. */
    private fun unpooled(c: HttpClient): HttpClient {
        val b = HttpClient.newBuilder().followRedirects(c.followRedirects()).version(c.version())
            .sslContext(c.sslContext()).sslParameters(c.sslParameters())
        c.proxy().ifPresent { b.proxy(it) }
        c.authenticator().ifPresent { b.authenticator(it) }
        c.cookieHandler().ifPresent { b.cookieHandler(it) }
        c.connectTimeout().ifPresent { b.connectTimeout(it) }
        c.executor().ifPresent { b.executor(it) }
        return b.build()
    }

    private fun unreachable(endpoint: String, e: IOException): Exception {
        val detail = listOfNotNull(e.javaClass.simpleName, e.message).joinToString(": ")
        return facilitatorUnreachable(url, endpoint, e is HttpTimeoutException, timeout.toMillis() / 1000.0, detail).toException()
    }

    override fun verify(payment: PaymentPayload, requirements: PaymentRequirements): VerifyResponse {
        val answer = call("verify", facilitatorRequest(payment, requirements))
        return readVerifyAnswer(answer.statusCode().toUShort(), answer.body())
    }

    /** `POST /settle`; once more with the same body when the facilitator reports `settlement_pending` with a transaction. */
    override fun settle(payment: PaymentPayload, requirements: PaymentRequirements): SettleResponse {
        val body = facilitatorRequest(payment, requirements)
        var result = call("settle", body).let { readSettleAnswer(it.statusCode().toUShort(), it.body()) }
        if (settleAgain(result)) result = call("settle", body).let { readSettleAnswer(it.statusCode().toUShort(), it.body()) }
        return result
    }
}
