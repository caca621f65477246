package dev.paywire

import dev.paywire.ffi.*
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody
import okhttp3.RequestBody.Companion.toRequestBody
import okio.BufferedSink
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import kotlin.test.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.MethodSource
import java.io.IOException
import java.math.BigInteger
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse

/** Both paying clients (java.net.http and OkHttp) against a paid API on the JDK's HttpServer. */
class PayingClientTest {
    private val key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    private val api = PaidApi()

    @AfterEach
    fun stop() = api.close()

    /** What a test needs of a client: one request, its status, body and what was paid. */
    data class Answer(val status: Int, val body: String, val exchange: PaidExchange?)

    interface Client {
        fun send(method: String, url: String, body: String? = null, headers: Map<String, String> = emptyMap()): Answer
    }

    class JdkClient(payer: Payer) : Client {
        private val client = PaywireHttpClient(HttpClient.newHttpClient(), payer)
        override fun send(method: String, url: String, body: String?, headers: Map<String, String>): Answer {
            val publisher = body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody()
            val request = HttpRequest.newBuilder(URI(url)).method(method, publisher)
            headers.forEach { (name, value) -> request.header(name, value) }
            val response = client.send(request.build(), HttpResponse.BodyHandlers.ofString())
            return Answer(response.statusCode(), response.body(), response.paidExchange)
        }
        override fun toString() = "java.net.http"
    }

    class OkClient(payer: Payer) : Client {
        // OkHttp would otherwise resend a request whose connection dropped on its own; the tests want to see it.
        private val client = OkHttpClient.Builder().retryOnConnectionFailure(false).build().withPaywire(payer)
        override fun send(method: String, url: String, body: String?, headers: Map<String, String>): Answer {
            val request = Request.Builder().url(url).method(method, body?.toRequestBody("text/plain".toMediaType()))
            headers.forEach { (name, value) -> request.header(name, value) }
            client.newCall(request.build()).execute().use { response ->
                return Answer(response.code, response.body?.string() ?: "", response.paidExchange)
            }
        }
        override fun toString() = "OkHttp"
    }

    companion object {
        @JvmStatic
        fun clients(): List<(Payer) -> Client> = listOf(::JdkClient, ::OkClient)
    }

    private fun payer(policy: Policy? = null) = Payer(LocalSigner(key), policy)

    @ParameterizedTest
    @MethodSource("clients")
    fun `a 402 is paid once and the response served`(client: (Payer) -> Client) {
        val payer = payer()
        val answer = client(payer).send("GET", "${api.base}/weather")
        assertEquals(200, answer.status)
        assertEquals("sunny", answer.body)
        val exchange = assertNotNull(answer.exchange)
        assertEquals("PAYMENT-SIGNATURE", exchange.payment.name())
        assertEquals(BigInteger.valueOf(10_000), exchange.payment.atomicAmount)
        val settlement = assertNotNull(exchange.settlement)
        assertTrue(settlement.success())
        assertEquals(payer.address(), settlement.payer())
        assertEquals(1, api.paymentsSeen.get())
        assertEquals(1, api.settled.size)
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a request body is sent again, unchanged, with the payment`(client: (Payer) -> Client) {
        val answer = client(payer()).send("POST", "${api.base}/weather", body = "{\"city\":\"Zürich\"}")
        assertEquals(200, answer.status)
        assertEquals(listOf("{\"city\":\"Zürich\"}"), api.paidBodies.toList())
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a request that carries a payment is never paid again`(client: (Payer) -> Client) {
        val payer = payer()
        val answer = client(payer).send("GET", "${api.base}/weather", headers = mapOf("X-PAYMENT" to "not a payment"))
        assertEquals(400, answer.status) // the gate cannot read it
        assertTrue(answer.body.contains("header_"), answer.body)
        assertNull(answer.exchange)
        assertEquals(0, api.paymentsSeen.get())
        assertEquals("$0", payer.spentUsd())
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a paid request answered 402 again is not paid a second time`(client: (Payer) -> Client) {
        api.faults.add("402")
        val answer = client(payer()).send("GET", "${api.base}/weather")
        assertEquals(402, answer.status)
        assertNotNull(answer.exchange)
        assertEquals(1, api.paymentsSeen.get())
        assertEquals(0, api.settled.size)
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a 402 that is not an x402 bill reaches the caller with its body`(client: (Payer) -> Client) {
        val answer = client(payer()).send("GET", "${api.base}/not-x402")
        assertEquals(402, answer.status)
        assertEquals("pay by card", answer.body)
        assertNull(answer.exchange)
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a lost response and the retry are charged once`(client: (Payer) -> Client) {
        val c = client(payer())
        api.faults.add("drop")
        assertThrows(IOException::class.java) { c.send("POST", "${api.base}/weather", body = "q") }
        val answer = c.send("POST", "${api.base}/weather", body = "q")
        assertEquals(200, answer.status)
        assertTrue(answer.exchange!!.payment.reused(), "the retry reuses the payment of the lost response")
        // The gate answers the retry from its record: settled once, charged once.
        assertEquals(1, api.settled.size)
        assertEquals(1, api.settled.values.single())
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a 5xx to the paid request keeps the payment for the retry`(client: (Payer) -> Client) {
        val c = client(payer())
        api.faults.add("500")
        val failed = c.send("GET", "${api.base}/weather")
        assertEquals(500, failed.status)
        val first = failed.exchange!!.payment
        val answer = c.send("GET", "${api.base}/weather")
        assertEquals(200, answer.status)
        assertEquals(first.value(), answer.exchange!!.payment.value())
        assertEquals(1, api.settled.size)
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a served purchase bought again is paid anew`(client: (Payer) -> Client) {
        val c = client(payer())
        val one = c.send("GET", "${api.base}/weather").exchange!!.payment
        val two = c.send("GET", "${api.base}/weather").exchange!!.payment
        assertFalse(two.reused())
        assertNotEquals(one.value(), two.value())
        assertEquals(2, api.settled.size)
    }

    @ParameterizedTest
    @MethodSource("clients")
    fun `a bill over the policy is refused with reasons and nothing is sent`(client: (Payer) -> Client) {
        val policy = Policy.fromJson("""{"maxPerPayment": "$0.001"}""")
        val e = assertThrows(PaywireException::class.java) {
            client(payer(policy)).send("GET", "${api.base}/weather")
        }
        assertEquals("no_acceptable_offer", e.code)
        assertEquals(1, e.refusals.size)
        assertEquals(0, api.paymentsSeen.get())
    }

    @Test
    fun `sendAsync pays like send`() {
        val client = PaywireHttpClient(HttpClient.newHttpClient(), payer())
        val request = HttpRequest.newBuilder(URI("${api.base}/weather")).build()
        val response = client.sendAsync(request, HttpResponse.BodyHandlers.ofString()).join()
        assertEquals(200, response.statusCode())
        assertEquals("sunny", response.body())
        assertTrue(response.paidExchange!!.settlement!!.success())
    }

    @Test
    fun `OkHttp refuses to pay for a one-shot body it cannot send again`() {
        val client = OkHttpClient().withPaywire(payer())
        val oneShot = object : RequestBody() {
            override fun contentType() = "text/plain".toMediaType()
            override fun isOneShot() = true
            override fun writeTo(sink: BufferedSink) {
                sink.writeUtf8("streamed")
            }
        }
        val e = assertThrows(PaywireException::class.java) {
            client.newCall(Request.Builder().url("${api.base}/weather").post(oneShot).build()).execute()
        }
        assertEquals("invalid_argument", e.code)
        assertEquals(0, api.paymentsSeen.get())
    }
}
