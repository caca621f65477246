package dev.paywire

import dev.paywire.ffi.*
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.Callable
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread

/** [FacilitatorClient] against facilitators that close connections the JDK's client would reuse. */
class FacilitatorClientTest {
    private val key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    private val bill = buildPaymentRequired(
        "https://api.example.com/weather",
        listOf(PriceTag(PriceTagOptions(network = "eip155:84532", payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", price = "$0.01"))),
    )
    private val listener = ServerSocket(0, 256, InetAddress.getLoopbackAddress())

    @AfterEach
    fun stop() = listener.close()

    /**
     * A facilitator that answers in HTTP/1.0 and closes the connection, without `Connection: close` (as
     * Python's http.server does): java.net.http pools such a connection and hands it out again before it sees
     * the close, so some asks go out on a closed connection and get no byte back.
     */
    private fun http10Facilitator(calls: AtomicInteger): String {
        thread(isDaemon = true) {
            while (!listener.isClosed) {
                val socket = try { listener.accept() } catch (e: Exception) { break }
                thread(isDaemon = true) { answer(socket, calls) }
            }
        }
        return "http://127.0.0.1:${listener.localPort}"
    }

    /** The `Upgrade` headers the calls came with (java.net.http asks for h2c over plain http by default). */
    private val upgrades = ConcurrentLinkedQueue<String>()

    private fun answer(socket: Socket, calls: AtomicInteger) = socket.use {
        val input = it.getInputStream().buffered()
        var length = 0
        while (true) {
            val line = buildString {
                while (true) {
                    val c = input.read()
                    if (c < 0 || c == '\n'.code) break
                    if (c != '\r'.code) append(c.toChar())
                }
            }
            if (line.isEmpty()) break
            if (line.startsWith("content-length:", ignoreCase = true)) length = line.substringAfter(':').trim().toInt()
            if (line.startsWith("upgrade:", ignoreCase = true)) upgrades.add(line)
        }
        input.readNBytes(length)
        calls.incrementAndGet()
                val body = """{"isValid":true,"payer":"${LocalSigner(key).address()}"}""".toByteArray()
        it.getOutputStream().write("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.size}\r\n\r\n".toByteArray() + body)
        it.getOutputStream().flush()
        Thread.sleep(20) // the close comes a moment after the answer, as from a server's handler thread
    }

    @Test
    fun `every ask of a facilitator that closes each connection gets its answer, in parallel`() {
        val calls = AtomicInteger()
        val facilitator = FacilitatorClient(http10Facilitator(calls))
        val accepted = checkPayment(bill, PaymentPayload.fromHeader(Payer(LocalSigner(key)).pay(bill, "p").value()))
        val pool = Executors.newFixedThreadPool(16)
        try {
            val asks = (1..800).map { pool.submit(Callable { runCatching { facilitator.verify(accepted.payment(), accepted.requirements()) } }) }
            val failed = asks.map { it.get() }.filter { it.isFailure }.map { it.exceptionOrNull()?.message }
            assertEquals(emptyList<String?>(), failed.take(3), "${failed.size} of 800 asks failed")
            assertTrue(calls.get() >= 800)
            assertEquals(emptyList<String>(), upgrades.toList(), "the calls went in plain HTTP/1.1")
        } finally {
            pool.shutdown()
            pool.awaitTermination(10, TimeUnit.SECONDS)
        }
    }
}
