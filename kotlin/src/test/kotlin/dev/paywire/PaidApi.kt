package dev.paywire

import com.sun.net.httpserver.Filter
import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.*
import java.net.InetAddress
import java.net.InetSocketAddress
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger

/**
 * A paid API on the JDK's HttpServer behind paywire's [PaymentFilter] (the core's gate), with a facilitator
 * double that verifies offline and settles each authorization once (the chain comes in with the on-chain
 * suite). `faults` makes the next paid requests misbehave: "drop" loses the response after settling, "500"
 * fails the handler, "402" has the facilitator refuse the payment.
 */
class PaidApi : AutoCloseable {
    private val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0)
    val base = "http://127.0.0.1:${server.address.port}"
    val payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

    /** Payments the facilitator was asked to verify. */
    val paymentsSeen = AtomicInteger()
    /** Settled authorizations (nonce → settle calls): its size is what the payers were charged. */
    val settled = ConcurrentHashMap<String, Int>()
    /** Bodies of the paid requests, in order. */
    val paidBodies = ConcurrentLinkedQueue<String>()
    /** What the next paid requests do instead of being served: "drop", "500", "402". */
    val faults = ConcurrentLinkedQueue<String>()
    private var current: String? = null

    private val facilitator = object : Facilitator {
        override fun verify(payment: PaymentPayload, requirements: PaymentRequirements): VerifyResponse {
            paymentsSeen.incrementAndGet()
            current = faults.poll()
            if (current == "402") return VerifyResponse(false, "insufficient_funds", "the payer has no USDC", null)
            return verifyToResponse(payment, requirements, VerifyOptions())
        }

        override fun settle(payment: PaymentPayload, requirements: PaymentRequirements): SettleResponse {
            val verified = verifyPayment(payment, requirements, VerifyOptions())
            settled.merge(verified.nonce, 1, Int::plus)
            val tx = "0x" + verified.nonce.removePrefix("0x").padStart(64, '0')
            return SettleResponse.fromJson("""{"success":true,"transaction":"$tx","network":"eip155:84532","payer":"${verified.payer}"}""")
        }
    }

    private val tag = PriceTag(PriceTagOptions(network = "eip155:84532", payTo = payTo, price = "$0.01"))

    /** Loses the response to a paid request after the gate settled it (a dropped connection). */
    private val dropper = object : Filter() {
        override fun description() = "drops a response"
        override fun doFilter(exchange: HttpExchange, chain: Chain) = chain.doFilter(Dropping(exchange))
    }

    /** An exchange whose response, once the gate sends it, is lost when the "drop" fault is armed. */
    private inner class Dropping(private val inner: HttpExchange) : HttpExchange() {
        override fun getRequestHeaders() = inner.requestHeaders
        override fun getResponseHeaders() = inner.responseHeaders
        override fun getRequestURI() = inner.requestURI
        override fun getRequestMethod() = inner.requestMethod
        override fun getHttpContext() = inner.httpContext
        override fun close() = inner.close()
        override fun getRequestBody() = inner.requestBody
        override fun getResponseBody() = inner.responseBody
        override fun sendResponseHeaders(rCode: Int, responseLength: Long) {
            if (current == "drop" && settled.isNotEmpty()) {
                current = null
                throw IllegalStateException("the response is lost") // HttpServer closes the connection
            }
            inner.sendResponseHeaders(rCode, responseLength)
        }
        override fun getRemoteAddress() = inner.remoteAddress
        override fun getResponseCode() = inner.responseCode
        override fun getLocalAddress() = inner.localAddress
        override fun getProtocol() = inner.protocol
        override fun getAttribute(name: String): Any? = inner.getAttribute(name)
        override fun setAttribute(name: String, value: Any?) = inner.setAttribute(name, value)
        override fun setStreams(i: java.io.InputStream?, o: java.io.OutputStream?) = inner.setStreams(i, o)
        override fun getPrincipal() = inner.principal
    }

    init {
        val context = server.createContext("/") { exchange ->
            exchange.use {
                when (it.requestURI.path) {
                    "/weather" -> {
                        paidBodies.add(it.requestBody.readAllBytes().decodeToString())
                        if (current == "500") {
                            current = null
                            respond(it, 500, "the handler failed")
                        } else {
                            respond(it, 200, "sunny")
                        }
                    }
                    "/not-x402" -> respond(it, 402, "pay by card", listOf("Content-Type" to "text/plain"))
                    else -> respond(it, 404, "no such page")
                }
            }
        }
        context.filters.add(dropper)
        context.filters.add(PaymentFilter(mapOf("/weather" to listOf(tag)), facilitator))
        server.start()
    }

    private fun respond(exchange: HttpExchange, status: Int, body: String, headers: List<Pair<String, String>> = emptyList()) {
        headers.forEach { (name, value) -> exchange.responseHeaders.add(name, value) }
        val bytes = body.encodeToByteArray()
        exchange.sendResponseHeaders(status, bytes.size.toLong())
        exchange.responseBody.write(bytes)
    }

    override fun close() = server.stop(0)
}
