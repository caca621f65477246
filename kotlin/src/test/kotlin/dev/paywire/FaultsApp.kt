package dev.paywire

import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.PriceTag
import dev.paywire.ffi.PriceTagOptions
import java.net.InetAddress
import java.net.InetSocketAddress

/**
 * A paid API on the JDK's HttpServer for the on-chain fault tests (tests/e2e): paywire's [PaymentFilter] in
 * front of a handler that serves (/weather), one that answers 500 (/broken) and one that throws (/crash).
 * Each costs PRICE (default $0.01), paid to PAY_TO, settled by FACILITATOR_URL, on PORT.
 */
fun main() {
    val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), System.getenv("PORT").toInt()), 0)
    val context = server.createContext("/") { exchange ->
        exchange.use {
            val (status, body) = when (it.requestURI.path) {
                "/weather" -> 200 to """{"forecast":"sunny","paidBy":"${it.paidWith()?.payer}"}"""
                "/broken" -> 500 to """{"error":"the weather service is down"}"""
                "/crash" -> throw IllegalStateException("the handler crashed")
                "/health" -> 200 to """{"ok":true}"""
                else -> 404 to "no such page"
            }
            val bytes = body.toByteArray()
            it.sendResponseHeaders(status, bytes.size.toLong())
            it.responseBody.write(bytes)
        }
    }
    val tag = PriceTag(PriceTagOptions(network = System.getenv("NETWORK") ?: "eip155:84532", payTo = System.getenv("PAY_TO"), price = System.getenv("PRICE") ?: "$0.01"))
    context.filters.add(PaymentFilter(listOf("weather", "broken", "crash").associate { "GET /$it" to listOf(tag) }, FacilitatorClient(System.getenv("FACILITATOR_URL"))))
    server.start()
}
