package dev.paywire

import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.*
import okhttp3.OkHttpClient
import okhttp3.Request
import org.json.JSONObject
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.Executors

/**
 * The paying clients read the chain for `eip2612GasSponsoring` within the core's limits: an answer longer than
 * 64 KiB is no answer, and a read that hangs ends after 15 s; the payment goes on either way.
 */
class SponsoringTest {
    private val key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    private val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0).apply {
        executor = Executors.newCachedThreadPool { r -> Thread(r).apply { isDaemon = true } }
    }
    private val base = "http://127.0.0.1:${server.address.port}"
    private val rpc = mapOf("eip155:84532" to "$base/rpc/SECRET-KEY")

    /** Spaces after each JSON-RPC answer (still valid JSON). */
    @Volatile private var pad = 0
    /** The allowance read is never answered. */
    @Volatile private var hangAllowance = false
    /** Each answer goes on with spaces for 30 s (or until the client hangs up). */
    @Volatile private var endless = false
    /** The selectors of the chain reads, in order. */
    private val reads = ConcurrentLinkedQueue<String>()
    /** The `Upgrade` headers the chain reads came with (java.net.http asks for h2c over plain http by default). */
    private val upgrades = ConcurrentLinkedQueue<String>()
    /** The payments the API received. */
    private val payments = ConcurrentLinkedQueue<String>()

    private val bill = buildPaymentRequired(
        "$base/data",
        listOf(
            PriceTag(
                PriceTagOptions(
                    network = "eip155:84532",
                    payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                    amount = "10000",
                    asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                    transferMethod = "permit2",
                    extensionsJson = """{"eip2612GasSponsoring":{"info":{"description":"gasless Permit to Permit2","version":"1"}}}""",
                ),
            ),
        ),
    )

    init {
        server.createContext("/rpc/SECRET-KEY") { exchange ->
            val call = JSONObject(exchange.requestBody.readBytes().decodeToString())
            val data = call.getJSONArray("params").getJSONObject(0).getString("data")
            reads.add(data.take(10))
            exchange.requestHeaders.getFirst("Upgrade")?.let { upgrades.add(it) }
            if (hangAllowance && data.startsWith("0xdd62ed3e")) {
                Thread.sleep(20_000)
                exchange.close()
                return@createContext
            }
            val number = if (data.startsWith("0x7ecebe00")) 4 else 0
            val word = number.toString(16).padStart(64, '0')
            val answer = ("""{"jsonrpc":"2.0","id":1,"result":"0x$word"}""" + " ".repeat(pad)).toByteArray()
            exchange.responseHeaders.add("content-type", "application/json")
            if (endless) {
                exchange.sendResponseHeaders(200, 0)
                try {
                    exchange.responseBody.use { out ->
                        out.write(answer)
                        val until = System.nanoTime() + 30_000_000_000
                        val spaces = ByteArray(4096) { ' '.code.toByte() }
                        while (System.nanoTime() < until) out.write(spaces)
                    }
                } catch (e: java.io.IOException) {
                    // The client hung up at its limit.
                }
                return@createContext
            }
            exchange.sendResponseHeaders(200, answer.size.toLong())
            exchange.responseBody.use { it.write(answer) }
        }
        server.createContext("/data") { exchange ->
            val paid = exchange.requestHeaders.getFirst("payment-signature")
            if (paid == null) {
                exchange.responseHeaders.add("PAYMENT-REQUIRED", bill.toHeader())
                exchange.sendResponseHeaders(402, -1)
                exchange.close()
            } else {
                payments.add(paid)
                val ok = "ok".toByteArray()
                exchange.sendResponseHeaders(200, ok.size.toLong())
                exchange.responseBody.use { it.write(ok) }
            }
        }
        server.start()
    }

    @AfterEach
    fun stop() = server.stop(0)

    private fun jdk(): Int {
        val client = PaywireHttpClient(HttpClient.newHttpClient(), Payer(LocalSigner(key), null), rpcUrls = rpc)
        val request = HttpRequest.newBuilder(URI("$base/data")).GET().build()
        return client.send(request, HttpResponse.BodyHandlers.ofString()).statusCode()
    }

    private fun okHttp(): Int {
        val client = OkHttpClient().withPaywire(Payer(LocalSigner(key), null), rpcUrls = rpc)
        client.newCall(Request.Builder().url("$base/data").build()).execute().use { return it.code }
    }

    /** The permit that went with the last payment, or null. */
    private fun permit(): JSONObject? {
        val payment = JSONObject(PaymentPayload.fromHeader(payments.last()).toJson())
        val info = payment.getJSONObject("extensions").getJSONObject("eip2612GasSponsoring").getJSONObject("info")
        return if (info.has("signature")) info else null
    }

    @Test
    fun `an answer past the core's limit is no answer, in both clients`() {
        for ((name, send) in listOf("java.net.http" to ::jdk, "OkHttp" to ::okHttp)) {
            pad = 64 * 1024
            reads.clear()
            assertEquals(200, send(), name)
            // No answer to the allowance read: the endpoint is not asked for the nonce, and no permit goes.
            assertEquals(listOf("0xdd62ed3e"), reads.toList(), name)
            assertEquals(null, permit(), name)
            pad = 100
            assertEquals(200, send(), name)
            assertEquals("4", permit()?.getString("nonce"), name)
        }
        // The reads went in plain HTTP/1.1, never with an upgrade request some servers mishandle.
        assertEquals(emptyList<String>(), upgrades.toList())
    }

    @Test
    fun `an answer that does not end is read no further than the limit, in both clients`() {
        endless = true
        for ((name, send) in listOf("java.net.http" to ::jdk, "OkHttp" to ::okHttp)) {
            reads.clear()
            val started = System.nanoTime()
            assertEquals(200, send(), name)
            val tookMs = (System.nanoTime() - started) / 1_000_000
            // Neither the 15 s deadline nor the 30 s of the body: the limit ended the read.
            assertTrue(tookMs < 10_000, "$name took $tookMs ms")
            assertEquals(listOf("0xdd62ed3e"), reads.toList(), name)
            assertEquals(null, permit(), name)
        }
    }

    @Test
    fun `a hung chain read ends at the core's deadline in java_net_http, which has none of its own`() {
        hangAllowance = true
        val started = System.nanoTime()
        assertEquals(200, jdk())
        val tookMs = (System.nanoTime() - started) / 1_000_000
        assertTrue(tookMs in 14_900..19_900, "took $tookMs ms")
        // An endpoint that did not answer is not asked for the nonce: no permit.
        assertEquals(listOf("0xdd62ed3e"), reads.toList())
        assertEquals(null, permit())
    }
}
