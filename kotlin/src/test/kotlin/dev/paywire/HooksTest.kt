package dev.paywire

import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.*
import okhttp3.OkHttpClient
import okhttp3.Request
import org.json.JSONObject
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger

/**
 * Hooks over real JDK servers: the [PaymentFilter] runs the server's hooks, java.net.http and OkHttp the
 * client's, at the core's points (the exchange vectors hold them for every language). A hook never gets
 * content served unpaid, and after the settlement it cannot take the content back.
 */
class HooksTest {
    private val key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    private val payerAddress = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    private val payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    private val servers = mutableListOf<HttpServer>()
    private val tag get() = PriceTag(PriceTagOptions(network = "eip155:84532", payTo = payTo, price = "$0.01"))

    @AfterEach
    fun stop() = servers.forEach { it.stop(0) }


    private fun serve(facilitator: Facilitator, hooks: Hooks, served: AtomicInteger): String {
        val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0)
        val context = server.createContext("/") { exchange ->
            exchange.use {
                served.incrementAndGet()
                val bytes = "the paid content".toByteArray()
                it.sendResponseHeaders(200, bytes.size.toLong())
                it.responseBody.write(bytes)
            }
        }
        context.filters.add(PaymentFilter(mapOf("GET /weather" to listOf(tag)), facilitator, hooks = hooks))
        server.start()
        servers += server
        return "http://127.0.0.1:${server.address.port}"
    }

    private fun recording(seen: MutableCollection<HookContext>, vararg points: HookPoint): Hooks =
        Hooks().apply { for (p in points) on(p) { seen += it; HookResult.Continue } }

    @Test
    fun `server and client hooks run in order with their context`() {
        val facilitator = OfflineFacilitator()
        val served = AtomicInteger()
        val serverSeen = ConcurrentLinkedQueue<HookContext>()
        val base = serve(facilitator, recording(serverSeen, *HookPoint.entries.take(6).toTypedArray()), served)
        val clientSeen = ConcurrentLinkedQueue<HookContext>()
        val hooks = recording(clientSeen, HookPoint.BEFORE_PAYMENT_CREATION, HookPoint.AFTER_PAYMENT_CREATION)
        val client = PaywireHttpClient(HttpClient.newHttpClient(), Payer(LocalSigner(key)), hooks)
        val response = client.send(HttpRequest.newBuilder(URI("$base/weather")).build(), HttpResponse.BodyHandlers.ofString())
        assertEquals(200, response.statusCode())
        assertEquals(listOf("before_payment_creation", "after_payment_creation"), clientSeen.map { it.hook })
        val (before, after) = clientSeen.toList()
        assertEquals("$base/weather", before.resource)
        assertEquals(payTo, JSONObject(before.paymentRequiredJson!!).getJSONArray("accepts").getJSONObject(0).getString("payTo"))
        assertEquals(null, before.paymentPayloadJson)
        assertEquals(payerAddress, after.payer)
        assertNotNull(after.paymentPayloadJson)
        assertEquals(listOf("before_verify", "after_verify", "before_settle", "after_settle"), serverSeen.map { it.hook })
        assertTrue(serverSeen.all { it.payer == payerAddress && it.resource == "$base/weather" })
        assertTrue(JSONObject(serverSeen.last().settleResponseJson!!).getBoolean("success"))
        assertEquals(1, served.get())
        assertEquals(1, facilitator.settles.get())
    }

    @Test
    fun `a server hook aborts before verify and nothing is verified or served`() {
        val facilitator = OfflineFacilitator()
        val served = AtomicInteger()
        val hooks = Hooks().onBeforeVerify { ctx -> if (ctx.payer == payerAddress) HookResult.Abort("blocked_payer", "this wallet is blocked") else HookResult.Continue }
        val base = serve(facilitator, hooks, served)
        val client = OkHttpClient().withPaywire(Payer(LocalSigner(key)))
        client.newCall(Request.Builder().url("$base/weather").build()).execute().use { response ->
            assertEquals(402, response.code)
            assertEquals("blocked_payer", JSONObject(response.body!!.string()).getString("error"))
        }
        assertEquals(0, served.get())
        assertEquals(0, facilitator.verifies.get())
    }

    @Test
    fun `a hook before settle aborts and the content is never sent, a throw after the settlement is ignored`() {
        val facilitator = OfflineFacilitator()
        val served = AtomicInteger()
        val refusing = serve(facilitator, Hooks().onBeforeSettle { HookResult.Abort("not_today") }, served)
        val client = PaywireHttpClient(HttpClient.newHttpClient(), Payer(LocalSigner(key)))
        val refused = client.send(HttpRequest.newBuilder(URI("$refusing/weather")).build(), HttpResponse.BodyHandlers.ofString())
        assertEquals(402, refused.statusCode())
        assertFalse(refused.body().contains("paid content"))
        assertEquals(0, facilitator.settles.get())
        val late = serve(facilitator, Hooks().onAfterSettle { throw IllegalStateException("ledger down") }, served)
        val answered = client.send(HttpRequest.newBuilder(URI("$late/weather")).build(), HttpResponse.BodyHandlers.ofString())
        assertEquals(200, answered.statusCode())
        assertEquals("the paid content", answered.body())
        assertEquals(1, facilitator.settles.get())
    }

    @Test
    fun `a client hook aborts before paying, a throwing one fails closed, and the failure hook sees a refusal`() {
        val facilitator = OfflineFacilitator()
        val served = AtomicInteger()
        val base = serve(facilitator, Hooks(), served)
        val request = HttpRequest.newBuilder(URI("$base/weather")).build()
        val aborting = PaywireHttpClient(HttpClient.newHttpClient(), Payer(LocalSigner(key)), Hooks().onBeforePaymentCreation { HookResult.Abort("too_expensive") })
        val aborted = assertThrows(PaywireException::class.java) { aborting.send(request, HttpResponse.BodyHandlers.ofString()) }
        assertEquals("payment_aborted", aborted.code)
        val throwing = PaywireHttpClient(HttpClient.newHttpClient(), Payer(LocalSigner(key)), Hooks().onBeforePaymentCreation { error("bad config") })
        assertEquals("hook_failed", assertThrows(PaywireException::class.java) { throwing.send(request, HttpResponse.BodyHandlers.ofString()) }.code)
        val seen = ConcurrentLinkedQueue<HookContext>()
        val strict = Payer(LocalSigner(key), Policy.fromJson("""{"maxPerPayment":"$0.001"}"""))
        val refusing = PaywireHttpClient(HttpClient.newHttpClient(), strict, recording(seen, HookPoint.PAYMENT_CREATION_FAILURE))
        assertEquals("no_acceptable_offer", assertThrows(PaywireException::class.java) { refusing.send(request, HttpResponse.BodyHandlers.ofString()) }.code)
        assertEquals(listOf("no_acceptable_offer"), seen.map { it.errorCode })
        assertEquals(0, facilitator.verifies.get())
        assertEquals(0, served.get())
    }
}
