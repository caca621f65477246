package dev.paywire.examples

import com.sun.net.httpserver.HttpServer
import dev.paywire.FacilitatorClient
import dev.paywire.PaymentFilter
import dev.paywire.ffi.PriceTag
import dev.paywire.ffi.PriceTagOptions
import dev.paywire.paidWith
import java.net.InetAddress
import java.net.InetSocketAddress

/**
 * A paid API on the JDK's HttpServer: `GET /weather` costs `PRICE` (default $0.01) on Base Sepolia, paid to
 * `PAY_TO`, settled by the facilitator at `FACILITATOR_URL`; `GET /health` is free.
 *
 *     PAY_TO=0x... FACILITATOR_URL=http://127.0.0.1:8402 PORT=4021 java -cp ... dev.paywire.examples.PaidApiKt
 */
fun main() {
    val payTo = System.getenv("PAY_TO") ?: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    val network = System.getenv("NETWORK") ?: "eip155:84532"
    val price = System.getenv("PRICE") ?: "$0.01"
    val port = System.getenv("PORT")?.toInt() ?: 4021
    val facilitator = FacilitatorClient(System.getenv("FACILITATOR_URL") ?: "https://x402.org/facilitator")

    val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0)
    val context = server.createContext("/") { exchange ->
        exchange.use {
            val (status, body) = when (it.requestURI.path) {
                "/weather" -> 200 to """{"forecast":"sunny","paidBy":"${it.paidWith()?.payer}"}"""
                "/health" -> 200 to "ok"
                else -> 404 to "no such page"
            }
            val bytes = body.toByteArray()
            it.responseHeaders.add("Content-Type", if (status == 200 && body.startsWith("{")) "application/json" else "text/plain")
            it.sendResponseHeaders(status, bytes.size.toLong())
            it.responseBody.write(bytes)
        }
    }
    val tag = PriceTag(PriceTagOptions(network = network, payTo = payTo, price = price))
    context.filters.add(PaymentFilter(mapOf("GET /weather" to listOf(tag)), facilitator))
    server.start()
    println("paid API on http://127.0.0.1:${server.address.port}/weather")
}
