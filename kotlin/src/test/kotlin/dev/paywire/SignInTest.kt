package dev.paywire

import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.*
import okhttp3.OkHttpClient
import okhttp3.Request
import org.json.JSONObject
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.concurrent.atomic.AtomicInteger

/**
 * Sign-in-with-x over a real JDK server: a [PaymentFilter] with sign-in on, and java.net.http and OkHttp
 * clients (which sign in by default, through the core's paying machine). A wallet that paid once is served
 * again without a payment; a sign-in replayed is refused.
 */
class SignInTest {
    private val key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    private val payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    private val servers = mutableListOf<HttpServer>()

    @AfterEach
    fun stop() = servers.forEach { it.stop(0) }


    private fun serve(facilitator: Facilitator, served: AtomicInteger): String {
        val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0)
        val context = server.createContext("/") { exchange ->
            exchange.use {
                served.incrementAndGet()
                val bytes = "the paid content".toByteArray()
                it.sendResponseHeaders(200, bytes.size.toLong())
                it.responseBody.write(bytes)
            }
        }
        val tag = PriceTag(PriceTagOptions(network = "eip155:84532", payTo = payTo, price = "$0.01"))
        context.filters.add(PaymentFilter(mapOf("GET /weather" to listOf(tag)), facilitator, GateOptions(signIn = SignInOptions())))
        server.start()
        servers += server
        return "http://127.0.0.1:${server.address.port}"
    }

    @Test
    fun `a wallet that paid signs in with java net http and OkHttp and is served without paying`() {
        val facilitator = OfflineFacilitator()
        val served = AtomicInteger()
        val base = serve(facilitator, served)
        val client = PaywireHttpClient(HttpClient.newHttpClient(), Payer(LocalSigner(key)))
        val request = HttpRequest.newBuilder(URI("$base/weather")).build()
        val first = client.send(request, HttpResponse.BodyHandlers.ofString())
        assertEquals(200, first.statusCode())
        assertNotNull(first.paidExchange)
        val second = client.send(request, HttpResponse.BodyHandlers.ofString())
        assertEquals(200, second.statusCode())
        assertEquals("the paid content", second.body())
        assertNull(second.paidExchange)
        val ok = OkHttpClient().withPaywire(Payer(LocalSigner(key)))
        ok.newCall(Request.Builder().url("$base/weather").build()).execute().use { response ->
            assertEquals(200, response.code)
            assertNull(response.paidExchange)
        }
        assertEquals(3, served.get())
        assertEquals(1, facilitator.settles.get())
        // The bill declares the challenge for the route's chain.
        val bill = HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString())
        val info = JSONObject(decodeHeaderText(bill.headers().firstValue("payment-required").get()))
            .getJSONObject("extensions").getJSONObject("sign-in-with-x")
        assertEquals("eip155:84532", info.getJSONArray("supportedChains").getJSONObject(0).getString("chainId"))
    }
}
