package dev.paywire

import com.sun.net.httpserver.Filter
import com.sun.net.httpserver.Headers
import com.sun.net.httpserver.HttpContext
import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpPrincipal
import dev.paywire.ffi.AccessPolicy
import dev.paywire.ffi.Exchange
import dev.paywire.ffi.Gate
import dev.paywire.ffi.GateAction
import dev.paywire.ffi.GateOptions
import dev.paywire.ffi.GateStep
import dev.paywire.ffi.HttpHeader
import dev.paywire.ffi.Issuer
import dev.paywire.ffi.LocalSigner
import dev.paywire.ffi.Paid
import dev.paywire.ffi.PaywireException
import dev.paywire.ffi.PricedRoute
import dev.paywire.ffi.RequestHead
import dev.paywire.ffi.StoreAnswer
import dev.paywire.ffi.StoreOp
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.InputStream
import java.io.OutputStream
import java.net.InetSocketAddress
import java.net.URI
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledExecutorService
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.logging.Level
import java.util.logging.Logger

/**
 * A store of payment records shared by several processes (a Redis key or an SQL row per key); each method
 * must be atomic on its key. An entry is the JSON text the core writes (one format in every language); drop
 * it after `expiresAt` (Unix seconds).
 */
interface PaymentStore {
    /** Stores [entry] under [key] and returns null, or returns the live entry already there. */
    fun claim(key: String, entry: String, expiresAt: Long): String?
    /** The live entry under [key], if any. */
    fun get(key: String): String?
    /** Stores [entry] under [key] if the live entry there has [token]; returns whether it did. */
    fun replace(key: String, token: String, entry: String, expiresAt: Long): Boolean
    /** Forgets the entry under [key] if it has [token]. */
    fun release(key: String, token: String)
}

/**
 * A filter for the JDK's `HttpServer` that bills [routes] with x402 (`context.filters.add(PaymentFilter(...))`):
 * `"[METHOD] /path"` patterns (`{name}` one segment, `{name:path}` or `*` the rest) to their `PricedRoute`s.
 * The exchange is paywire's core gate, as in every language: the bill, the checks, replay protection, held
 * responses and every status. The handler runs with the body the payment is bound to, its response held
 * until the payment settles; it finds what was paid with [paidWith]. Paths are matched in every form a
 * server might route them in (the JDK routes contexts by a prefix of the decoded path).
 */
class PaymentFilter(
    routes: Map<String, List<dev.paywire.ffi.PriceTag>>,
    /** Verifies and settles. */
    private val facilitator: Facilitator = FacilitatorClient(),
    options: GateOptions = GateOptions(null, false, null, null, false, false),
    issuer: Issuer? = null,
    access: AccessPolicy? = null,
    /** A store shared by processes; null keeps records in this process (`options.externalStore` must agree). */
    private val store: PaymentStore? = null,
    /** Your code before and after `/verify` and `/settle` and when either fails. */
    private val hooks: Hooks = Hooks.NONE,
    /**
     * The key of the batch-settlement routes' `extra.receiverAuthorizer`, when the server holds it: it signs
     * their claims and payers' cooperative refunds (null: the facilitator signs claims, refunds are refused).
     */
    receiverAuthorizer: LocalSigner? = null,
) : Filter() {
    private val gate = Gate(
        routes.map { (pattern, tags) -> PricedRoute(tags, pattern, null) },
        options.copy(externalStore = store != null, hooks = hooks.points()),
        issuer,
        access,
        receiverAuthorizer,
    )
    private val log = Logger.getLogger("dev.paywire")

    override fun description() = "paywire: bills x402 routes"

    override fun doFilter(exchange: HttpExchange, chain: Chain) {
        val uri = exchange.requestURI
        val head = RequestHead(
            exchange.requestMethod,
            uri.rawPath ?: "/",
            (uri.rawPath ?: "/") + (uri.rawQuery?.let { "?$it" } ?: ""),
            origin(exchange),
            exchange.requestHeaders.toPaywire(),
        )
        val started = gate.handle(head, null, false, null)
        val running = started.exchange ?: return chain.doFilter(exchange)
        try {
            running.use { drive(it, started.step, exchange, chain) }
        } finally {
            checkClaims()
        }
    }

    /**
     * How often the claim schedule (`options.claimEverySeconds`, `claimAtAmount`) is checked, in milliseconds;
     * set it before the first request.
     */
    @Volatile
    var claimTickMillis: Long = 5_000

    private val claiming = AtomicBoolean(false)

    /** The daemon thread of scheduled claims (batch-settlement routes only), started by the first request. */
    private val claimer: ScheduledExecutorService by lazy {
        Executors.newSingleThreadScheduledExecutor { r -> Thread(r, "paywire-claims").apply { isDaemon = true } }.also {
            val tick = claimTickMillis.coerceAtLeast(100)
            // An exception would cancel the schedule: each check is its own.
            val check = Runnable {
                try {
                    checkClaims()
                } catch (e: Exception) {
                    log.log(Level.WARNING, "paywire: checking the claim schedule failed", e)
                }
            }
            it.scheduleWithFixedDelay(check, tick, tick, TimeUnit.MILLISECONDS)
        }
    }

    /** Runs a claim in the background when the gate's claim schedule says one is due and none is running. */
    private fun checkClaims() {
        if (!gate.offersBatch()) return
        val runner = claimer
        if (claiming.get() || !gate.claimDue(null) || !claiming.compareAndSet(false, true)) return
        try {
            runner.execute {
                try {
                    log.info("paywire: scheduled claim: ${claim()}")
                } catch (e: Exception) {
                    log.log(Level.WARNING, "paywire: a scheduled claim failed; it is tried again later", e)
                } finally {
                    claiming.set(false)
                }
            }
        } catch (e: Exception) {
            claiming.set(false)
            log.log(Level.WARNING, "paywire: a scheduled claim could not start", e)
        }
    }

    private fun drive(ex: Exchange, first: GateStep, exchange: HttpExchange, chain: Chain) {
        var step = first
        var body = ByteArray(0)
        var handlerError: Throwable? = null
        try {
            while (true) {
                for (line in step.logs) log.log(if (line.level == "error") Level.SEVERE else Level.WARNING, line.message)
                step = when (val a = step.action) {
                    is GateAction.Respond -> return respond(exchange, a.status.toInt(), a.headers, a.body)
                    is GateAction.Fail -> throw handlerError!!
                    is GateAction.Done, is GateAction.PassThrough -> return
                    is GateAction.ReadBody -> {
                        val read = readLimited(exchange.requestBody, a.limit.toLong())
                        if (read == null) ex.feedBodyTooLarge() else ex.feedBody(read.also { body = it })
                    }
                    is GateAction.Store -> ex.feedStore(perform(a.op))
                    is GateAction.Verify -> facilitate(ex) { ex.feedVerifyResponse(facilitator.verify(a.payment, a.requirements)) }
                    is GateAction.Settle -> facilitate(ex) { ex.feedSettled(facilitator.settle(a.payment, a.requirements)) }
                    is GateAction.Hook -> ex.feedHooked(hooks.run(a.point, a.context))
                    is GateAction.RunHandler -> {
                        val capture = Capturing(exchange, body, a.paid)
                        try {
                            chain.doFilter(capture)
                            ex.feedHandled(capture.status.toUShort(), capture.responseHeaders.toPaywire(), capture.bytes())
                        } catch (e: Exception) {
                            handlerError = e
                            ex.feedHandlerFailed()
                        }
                    }
                }
            }
        } catch (e: Throwable) {
            if (!ex.ended()) {
                var cleanup = ex.cancel()
                while (true) {
                    val action = cleanup.action as? GateAction.Store ?: break
                    cleanup = ex.feedStore(perform(action.op))
                }
            }
            throw e
        }
    }

    /**
     * batch-settlement: claims every channel's charges at the facilitator (one transaction per offer) and sweeps
     * them to the receiver; returns the JSON summary `{"claims": [...], "settles": [...]}`. The filter also
     * claims by itself on the gate's schedule (`GateOptions.claimEverySeconds`, default 300, and
     * `claimAtAmount`); with both off, call it from time to time, always well within the offers' withdraw
     * delay (after which a payer may take back what is not claimed).
     */
    fun claim(): String {
        val started = gate.claim(null)
        val ex = started.exchange ?: error("the gate started no claim")
        ex.use {
            var step = started.step
            while (true) {
                for (line in step.logs) log.log(if (line.level == "error") Level.SEVERE else Level.WARNING, line.message)
                step = when (val a = step.action) {
                    is GateAction.Respond -> {
                        val text = a.body.decodeToString()
                        if (a.status.toInt() != 200) throw IllegalStateException("the claim failed (${a.status}): $text")
                        return text
                    }
                    is GateAction.Store -> it.feedStore(perform(a.op))
                    is GateAction.Settle -> facilitate(it) { it.feedSettled(facilitator.settle(a.payment, a.requirements)) }
                    is GateAction.Verify -> facilitate(it) { it.feedVerifyResponse(facilitator.verify(a.payment, a.requirements)) }
                    else -> throw IllegalStateException("the claim asked for $a, which it never does")
                }
            }
        }
    }

    private inline fun facilitate(ex: Exchange, call: () -> GateStep): GateStep =
        try {
            call()
        } catch (e: PaywireException) {
            ex.feedFacilitatorFailed(e.detail, e.code)
        } catch (e: Exception) {
            log.log(Level.SEVERE, "paywire: the facilitator threw", e)
            ex.feedFacilitatorFailed("${e.javaClass.simpleName}: ${e.message}", null)
        }

    private fun perform(op: StoreOp): StoreAnswer {
        val store = store ?: return StoreAnswer.Failed("no store was given for a gate with an external store")
        return try {
            when (op) {
                is StoreOp.Claim -> StoreAnswer.Entry(store.claim(op.key, op.entry, op.expiresAt.toLong()))
                is StoreOp.Get -> StoreAnswer.Entry(store.get(op.key))
                is StoreOp.Replace -> StoreAnswer.Replaced(store.replace(op.key, op.token, op.entry, op.expiresAt.toLong()))
                is StoreOp.Release -> StoreAnswer.Released.also { store.release(op.key, op.token) }
            }
        } catch (e: Exception) {
            StoreAnswer.Failed("${e.javaClass.simpleName}: ${e.message}")
        }
    }

    private fun respond(exchange: HttpExchange, status: Int, headers: List<HttpHeader>, body: ByteArray) {
        exchange.responseHeaders.clear()
        var length: Long = -1
        for (h in headers) {
            if (h.name.equals("content-length", ignoreCase = true)) length = h.value.toLongOrNull() ?: -1 else exchange.responseHeaders.add(h.name, h.value)
        }
        val noBody = exchange.requestMethod.equals("HEAD", ignoreCase = true) || status == 204 || status == 304 || status < 200
        exchange.sendResponseHeaders(status, if (noBody) -1 else if (body.isEmpty()) -1 else body.size.toLong())
        if (!noBody && body.isNotEmpty()) exchange.responseBody.use { it.write(body) } else exchange.responseBody.close()
        if (length >= 0 && length != body.size.toLong() && !noBody) log.fine("paywire: response length $length replaced by ${body.size}")
    }

    private companion object {
        fun origin(exchange: HttpExchange): String {
            val host = exchange.requestHeaders.getFirst("Host")
                ?: "${exchange.localAddress.hostString}:${exchange.localAddress.port}"
            return "${if (exchange is com.sun.net.httpserver.HttpsExchange) "https" else "http"}://$host"
        }

        /** The whole body, or null when it is longer than [limit]. */
        fun readLimited(input: InputStream, limit: Long): ByteArray? {
            val out = ByteArrayOutputStream()
            val buffer = ByteArray(16 * 1024)
            var total = 0L
            while (true) {
                val n = input.read(buffer)
                if (n < 0) return out.toByteArray()
                total += n
                if (total > limit) return null
                out.write(buffer, 0, n)
            }
        }
    }
}

/** What the request paid with, in a handler behind a [PaymentFilter]; null for a free request. */
fun HttpExchange.paidWith(): Paid? = getAttribute(PAID_ATTRIBUTE) as? Paid

private const val PAID_ATTRIBUTE = "dev.paywire.paid"

/** The exchange the handler sees: the body the payment is bound to, and a response that is only captured. */
private class Capturing(private val inner: HttpExchange, body: ByteArray, paid: Paid) : HttpExchange() {
    private val requestBody: InputStream = ByteArrayInputStream(body)
    private val out = ByteArrayOutputStream()
    private val headers = Headers()
    var status = 200
        private set

    init {
        inner.setAttribute(PAID_ATTRIBUTE, paid)
    }

    fun bytes(): ByteArray = out.toByteArray()

    override fun getRequestHeaders(): Headers = inner.requestHeaders
    override fun getResponseHeaders(): Headers = headers
    override fun getRequestURI(): URI = inner.requestURI
    override fun getRequestMethod(): String = inner.requestMethod
    override fun getHttpContext(): HttpContext = inner.httpContext
    override fun close() = out.close()
    override fun getRequestBody(): InputStream = requestBody
    override fun getResponseBody(): OutputStream = out
    override fun sendResponseHeaders(rCode: Int, responseLength: Long) {
        status = rCode
    }
    override fun getRemoteAddress(): InetSocketAddress = inner.remoteAddress
    override fun getResponseCode(): Int = status
    override fun getLocalAddress(): InetSocketAddress = inner.localAddress
    override fun getProtocol(): String = inner.protocol
    override fun getAttribute(name: String): Any? = inner.getAttribute(name)
    override fun setAttribute(name: String, value: Any?) = inner.setAttribute(name, value)
    override fun setStreams(i: InputStream?, o: OutputStream?) {}
    override fun getPrincipal(): HttpPrincipal? = inner.principal
}
