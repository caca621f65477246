package dev.paywire

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.*
import okhttp3.OkHttpClient
import okhttp3.Request
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.Socket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger

/**
 * The JVM adapters over real JDK servers, tried as an attacker would: the variants of a priced route are never
 * served unpaid by [PaymentFilter]; a payment never follows a redirect to another origin and one call pays
 * once, with java.net.http and OkHttp following redirects.
 */
class RegressionTest {
    private val key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    private val payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    private val servers = mutableListOf<HttpServer>()
    private val tag get() = PriceTag(PriceTagOptions(network = "eip155:84532", payTo = payTo, price = "$0.01"))

    @AfterEach
    fun stop() = servers.forEach { it.stop(0) }


    private fun serve(routes: Map<String, List<PriceTag>>, facilitator: Facilitator, handle: (HttpExchange) -> Pair<Int, String>): String {
        val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0)
        val context = server.createContext("/") { exchange ->
            exchange.use {
                val (status, body) = handle(it)
                val bytes = body.toByteArray()
                it.sendResponseHeaders(status, if (bytes.isEmpty()) -1 else bytes.size.toLong())
                if (bytes.isNotEmpty()) it.responseBody.write(bytes)
            }
        }
        if (routes.isNotEmpty()) context.filters.add(PaymentFilter(routes, facilitator))
        server.start()
        servers += server
        return "http://127.0.0.1:${server.address.port}"
    }

    /** A request written as is on the wire (clients normalise `//`, `./` and `..`). */
    private fun raw(base: String, path: String, method: String = "GET"): Int {
        val uri = URI(base)
        Socket(uri.host, uri.port).use { socket ->
            socket.getOutputStream().write("$method $path HTTP/1.1\r\nHost: ${uri.host}:${uri.port}\r\nConnection: close\r\n\r\n".toByteArray())
            val status = socket.getInputStream().bufferedReader().readLine() ?: return 0
            return status.split(" ")[1].toInt()
        }
    }

    @Test
    fun `the variants of a priced route are never served unpaid`() {
        val base = serve(mapOf("GET /a" to listOf(tag), "GET /dear" to listOf(tag)), OfflineFacilitator()) { 200 to "the paid content" }
        for (path in listOf("/a", "/A", "/a/", "/%61", "/a//", "/./a", "/x/../a", "/a;x=1", "/dear", "/DEAR", "/dear/")) {
            for (method in listOf("GET", "HEAD")) {
                val status = raw(base, path, method)
                assertFalse(status in 200..299, "$method $path answered $status unpaid")
            }
        }
    }

    private fun redirecting(facilitator: Facilitator, seen: ConcurrentLinkedQueue<Map<String, List<String>>>): Pair<String, String> {
        val other = serve(emptyMap(), facilitator) { seen.add(it.requestHeaders.mapKeys { (k, _) -> k.lowercase() }); 200 to "elsewhere" }
        val base = serve(mapOf("GET /a" to listOf(tag)), facilitator) {
            it.responseHeaders.add("Location", "$other/landing")
            302 to ""
        }
        return base to other
    }

    @Test
    fun `java net http following redirects never carries a payment to another origin`() {
        val facilitator = OfflineFacilitator()
        val seen = ConcurrentLinkedQueue<Map<String, List<String>>>()
        val (base, _) = redirecting(facilitator, seen)
        val client = PaywireHttpClient(HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).build(), Payer(LocalSigner(key)))
        val request = HttpRequest.newBuilder(URI("$base/a")).header("Authorization", "Bearer secret").build()
        val response = client.send(request, HttpResponse.BodyHandlers.ofString())
        assertEquals(200, response.statusCode())
        assertEquals("elsewhere", response.body())
        assertEquals(1, seen.size)
        for (name in listOf("payment-signature", "x-payment", "authorization")) assertNull(seen.single()[name], "$name reached another origin")
        assertEquals(1, facilitator.settles.get())
    }

    @Test
    fun `OkHttp with paywire never carries a payment to another origin`() {
        val facilitator = OfflineFacilitator()
        val seen = ConcurrentLinkedQueue<Map<String, List<String>>>()
        val (base, _) = redirecting(facilitator, seen)
        val client = OkHttpClient().withPaywire(Payer(LocalSigner(key)))
        client.newCall(Request.Builder().url("$base/a").header("Authorization", "Bearer secret").build()).execute().use { response ->
            assertEquals(200, response.code)
            assertEquals("elsewhere", response.body?.string())
            assertTrue(response.paidExchange!!.settlement!!.success())
        }
        assertEquals(1, seen.size)
        for (name in listOf("payment-signature", "x-payment", "authorization")) assertNull(seen.single()[name], "$name reached another origin")
    }

    @Test
    fun `OkHttp refuses to pay on a client that follows redirects itself`() {
        val base = serve(mapOf("GET /a" to listOf(tag)), OfflineFacilitator()) { 200 to "x" }
        val client = OkHttpClient.Builder().addInterceptor(PaywireInterceptor(Payer(LocalSigner(key)))).build()
        val e = assertThrows(PaywireException::class.java) { client.newCall(Request.Builder().url("$base/a").build()).execute() }
        assertEquals("invalid_argument", e.code)
        assertEquals(errorDetails("invalid_argument", "").category, e.category)
    }

    @Test
    fun `a chain of bills after redirects is paid once per call`() {
        val facilitator = OfflineFacilitator()
        val base = serve((0 until 5).associate { "GET /hop$it" to listOf(tag) }, facilitator) {
            val n = it.requestURI.path.removePrefix("/hop").toInt()
            it.responseHeaders.add("Location", "/hop${n + 1}")
            302 to ""
        }
        val payer = Payer(LocalSigner(key))
        val client = PaywireHttpClient(HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).build(), payer)
        val response = client.send(HttpRequest.newBuilder(URI("$base/hop0")).build(), HttpResponse.BodyHandlers.ofString())
        assertEquals(402, response.statusCode(), "the second bill is returned unpaid")
        assertEquals(1, facilitator.verifies.get())
        assertEquals("$0.01", payer.spentUsd())
    }
}
