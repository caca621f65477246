package dev.paywire

import com.sun.net.httpserver.HttpServer
import dev.paywire.ffi.GateOptions
import dev.paywire.ffi.PriceTag
import dev.paywire.ffi.PriceTagOptions
import redis.clients.jedis.RedisClient
import java.net.InetAddress
import java.net.InetSocketAddress
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger

/**
 * A paid API on the JDK's HttpServer for the on-chain fault tests (tests/e2e): paywire's [PaymentFilter] in
 * front of a handler that serves (/weather), one that answers 500 (/broken) and one that throws (/crash).
 * Each costs PRICE (default $0.01), paid to PAY_TO, settled by FACILITATOR_URL, on PORT. REDIS_URL names the
 * payment store on Redis that replicas share ([RedisPaymentStore]), PUBLIC_URL the origin they share,
 * TAKEOVER_AFTER the seconds before a payment left in flight by a dead replica is taken over (default 300).
 * GET /served counts the handler's runs, so a test can tell a response answered again from one served again.
 * BATCH_AUTHORIZER (the receiver authorizer, e.g. the facilitator's key) adds GET /batch, paid from
 * batch-settlement channels (BATCH_PRICE units of USDC, default 1000), and POST /claim, which claims and sweeps.
 * UPTO_FACILITATOR (the facilitator's address) adds GET /generate?used=N, metered by upto (at most UPTO_MAX
 * units of USDC, default 50000): the handler reports what it used (`Settlement-Overrides`), which is charged.
 */
private lateinit var filter: PaymentFilter

fun main() {
    val server = HttpServer.create(InetSocketAddress(InetAddress.getLoopbackAddress(), System.getenv("PORT").toInt()), 0)
    server.executor = Executors.newFixedThreadPool(16)
    val served = AtomicInteger()
    val context = server.createContext("/") { exchange ->
        exchange.use {
            val (status, body) = when (it.requestURI.path) {
                "/weather" -> {
                    served.incrementAndGet()
                    200 to """{"forecast":"sunny","paidBy":"${it.paidWith()?.payer}","served_by":"kotlin"}"""
                }
                "/served" -> 200 to """{"served":${served.get()}}"""
                "/broken" -> 500 to """{"error":"the weather service is down"}"""
                "/crash" -> throw IllegalStateException("the handler crashed")
                "/health" -> 200 to """{"ok":true}"""
                "/batch" -> 200 to """{"item":"paid from a channel"}"""
                "/generate" -> {
                    // What the request used, in atomic units ("50%" and "$0.01" work too); paywire charges it.
                    val used = it.requestURI.rawQuery?.split('&')?.firstOrNull { q -> q.startsWith("used=") }?.removePrefix("used=") ?: "0"
                    it.responseHeaders.set("Settlement-Overrides", """{"amount":"$used"}""")
                    200 to """{"generated":"tokens","charged":"$used"}"""
                }
                "/claim" -> 200 to filter.claim()
                else -> 404 to "no such page"
            }
            val bytes = body.toByteArray()
            it.sendResponseHeaders(status, bytes.size.toLong())
            it.responseBody.write(bytes)
        }
    }
    val tag = PriceTag(PriceTagOptions(network = System.getenv("NETWORK") ?: "eip155:84532", payTo = System.getenv("PAY_TO"), price = System.getenv("PRICE") ?: "$0.01"))
    val store = System.getenv("REDIS_URL")?.let { RedisPaymentStore(RedisClient.create(it)) }
    val options = GateOptions(
        publicUrl = System.getenv("PUBLIC_URL"),
        takeoverAfter = System.getenv("TAKEOVER_AFTER")?.toULong(),
        // Claims by schedule: off unless a test asks, so the other tests claim when they say (POST /claim).
        claimEverySeconds = (System.getenv("BATCH_CLAIM_EVERY") ?: "0").toULong(),
        claimAtAmount = System.getenv("BATCH_CLAIM_AT"),
    )
    val routes = listOf("weather", "broken", "crash").associate { "GET /$it" to listOf(tag) }.toMutableMap()
    System.getenv("BATCH_AUTHORIZER")?.let { authorizer ->
        routes["GET /batch"] = listOf(
            usdcTag(System.getenv("BATCH_PRICE") ?: "1000", "batch-settlement", """{"receiverAuthorizer":"$authorizer","withdrawDelay":900}"""),
        )
    }
    System.getenv("UPTO_FACILITATOR")?.let { facilitator ->
        routes["GET /generate"] = listOf(usdcTag(System.getenv("UPTO_MAX") ?: "50000", "upto", """{"facilitatorAddress":"$facilitator"}"""))
    }
    filter = PaymentFilter(routes, FacilitatorClient(System.getenv("FACILITATOR_URL")), options, store = store)
    filter.claimTickMillis = 500
    context.filters.add(filter)
    server.start()
}

/** A price of [amount] units of the test chain's USDC under [scheme], paid to PAY_TO. */
private fun usdcTag(amount: String, scheme: String, extraJson: String) = PriceTag(
    PriceTagOptions(
        network = System.getenv("NETWORK") ?: "eip155:84532",
        payTo = System.getenv("PAY_TO"),
        amount = amount,
        asset = "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        scheme = scheme,
        extraJson = extraJson,
    ),
)
