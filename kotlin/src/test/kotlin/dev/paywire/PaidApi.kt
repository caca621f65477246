package dev.paywire

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.*
import java.net.InetAddress
import java.net.InetSocketAddress
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger

/**
 * A paid API on the JDK's HttpServer that takes payments with paywire's server API: it answers 402 with a
 * bill, verifies a payment offline with `checkPayment`, and settles each authorization once (a settlement
 * double: the chain comes in with the facilitator's end-to-end tests). `faults` makes the next paid requests
 * misbehave.
 */
class PaidApi : AutoCloseable {
    private val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0)
    val base = "http://127.0.0.1:${server.address.port}"
    val payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

    /** Requests that carried a payment. */
    val paymentsSeen = AtomicInteger()
    /** Settled authorizations (nonce → times served): its size is what the payers were charged. */
    val settled = ConcurrentHashMap<String, Int>()
    /** Bodies of the paid requests, in order. */
    val paidBodies = ConcurrentLinkedQueue<String>()
    /** What the next paid requests do instead of being served: "drop" (after settling), "500", "402". */
    val faults = ConcurrentLinkedQueue<String>()

    private fun bill(path: String) = buildPaymentRequired(
        "$base$path",
        listOf(PriceTag(PriceTagOptions(network = "eip155:84532", payTo = payTo, price = "$0.01"))),
    )

    init {
        server.createContext("/weather") { exchange -> exchange.use { paid(it, "sunny") } }
        server.createContext("/not-x402") { exchange ->
            exchange.use { respond(it, 402, "pay by card", listOf("Content-Type" to "text/plain")) }
        }
        server.start()
    }

    private fun paid(exchange: HttpExchange, content: String) {
        val body = exchange.requestBody.readAllBytes().decodeToString()
        val bill = bill(exchange.requestURI.path)
        val payment = try {
            readPayment(exchange.requestHeaders.toPaywire())
        } catch (e: PaywireException) {
            return askForPayment(exchange, bill)
        } ?: return askForPayment(exchange, bill)
        paymentsSeen.incrementAndGet()
        val accepted = try {
            checkPayment(bill, payment)
        } catch (e: PaywireException) {
            return askForPayment(exchange, bill)
        }
        paidBodies.add(body)
        when (faults.poll()) {
            "500" -> return respond(exchange, 500, "the handler failed; nothing was settled")
            "402" -> return askForPayment(exchange, bill)
            "drop" -> {
                settle(accepted)
                throw IllegalStateException("the response is lost") // HttpServer closes the connection
            }
        }
        val receipt = settle(accepted)
        val header = settlementHeader(payment.x402Version(), receipt)
        respond(exchange, 200, content, listOf(header.name to header.value))
    }

    /** Settles an authorization once; settling it again answers with the first settlement. */
    private fun settle(accepted: AcceptedPayment): SettleResponse {
        val verified = accepted.verified()
        settled.merge(verified.nonce, 1, Int::plus)
        val tx = "0x" + verified.nonce.removePrefix("0x").padStart(64, '0')
        return SettleResponse.fromJson(
            """{"success":true,"transaction":"$tx","network":"eip155:84532","payer":"${verified.payer}"}""",
        )
    }

    private fun askForPayment(exchange: HttpExchange, bill: PaymentRequired) =
        respond(exchange, 402, bill.toJson(), listOf("PAYMENT-REQUIRED" to bill.toHeader(), "Content-Type" to "application/json"))

    private fun respond(exchange: HttpExchange, status: Int, body: String, headers: List<Pair<String, String>> = emptyList()) {
        headers.forEach { (name, value) -> exchange.responseHeaders.add(name, value) }
        val bytes = body.encodeToByteArray()
        exchange.sendResponseHeaders(status, bytes.size.toLong())
        exchange.responseBody.write(bytes)
    }

    override fun close() = server.stop(0)
}
