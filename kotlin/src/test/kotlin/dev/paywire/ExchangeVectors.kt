package dev.paywire

import dev.paywire.ffi.*
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue

/** Runners of the exchange vectors (routes.json, gate.json, client.json) through the Kotlin binding's machines. */
internal object ExchangeVectors {
    private const val PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

    private fun pairs(a: JSONArray?): List<HttpHeader> =
        if (a == null) emptyList() else (0 until a.length()).map { a.getJSONArray(it).let { p -> HttpHeader(p.getString(0), p.getString(1)) } }

    private fun header(headers: List<HttpHeader>, name: String) = headers.firstOrNull { it.name.equals(name, ignoreCase = true) }?.value

    private fun bytes(hex: String): ByteArray = hex.removePrefix("0x").chunked(2).map { it.toInt(16).toByte() }.toByteArray()

    private fun sameJson(expected: Any, actual: Any, what: String) =
        assertTrue(JsonCompare.same(expected, actual), "$what: expected $expected, got $actual")

    fun routes(c: JSONObject) {
        val tag = PriceTag(PriceTagOptions(network = "eip155:84532", payTo = PAY_TO, price = "$0.01"))
        val patterns = c.getJSONArray("patterns")
        val routes = (0 until patterns.length()).map { PricedRoute(listOf(tag), patterns.getString(it), null) }
        val gate = Gate(routes, GateOptions(caseSensitive = c.getBoolean("caseSensitive")))
        val priced = c.getJSONArray("priced")
        for (i in 0 until priced.length()) {
            val p = priced.getJSONArray(i)
            assertEquals(p.getInt(2).toUInt(), gate.routeFor(p.getString(0), p.getString(1)), "${p.getString(0)} ${p.getString(1)} must be priced")
        }
        val free = c.getJSONArray("free")
        for (i in 0 until free.length()) {
            val p = free.getJSONArray(i)
            assertNull(gate.routeFor(p.getString(0), p.getString(1)), "${p.getString(0)} ${p.getString(1)} must be free")
        }
        val framework = c.getJSONArray("framework")
        for (i in 0 until framework.length()) {
            val p = framework.getJSONArray(i)
            val expected = if (p.isNull(2)) null else p.getInt(2).toUInt()
            assertEquals(expected, gate.routeFor(p.getString(0), "/\u0000unmatched", p.getString(1)), "framework route ${p.getString(1)}")
        }
    }

    private fun gateOf(config: JSONObject): Gate {
        val routes = config.getJSONArray("routes")
        val priced = (0 until routes.length()).map { i ->
            val r = routes.getJSONObject(i)
            val tags = r.getJSONArray("tags")
            val list = (0 until tags.length()).map { j ->
                val t = tags.getJSONObject(j)
                PriceTag(PriceTagOptions(network = t.getString("network"), payTo = t.getString("payTo"), price = t.getString("price")))
            }
            PricedRoute(list, r.getString("pattern"), RouteOptions(x402Version = r.optInt("x402Version", 2).toUByte()))
        }
        val options = GateOptions(
            maxRequestBytes = if (config.has("maxRequestBytes")) config.getLong("maxRequestBytes").toULong() else null,
            maxReplayBytes = if (config.has("maxReplayBytes")) config.getLong("maxReplayBytes").toULong() else null,
            externalStore = config.optBoolean("externalStore", false),
            hooks = hookPoints(config.optJSONArray("hooks")),
            signIn = config.optJSONObject("signIn")?.let { o ->
                SignInOptions(
                    accessSeconds = o.optLong("accessSeconds", 86400).toULong(),
                    maxAgeSeconds = o.optLong("maxAgeSeconds", 300).toULong(),
                )
            },
        )
        return Gate(priced, options)
    }

    /** The hook points the vectors name (snake case), as the binding's enum. */
    private fun hookPoints(names: JSONArray?): List<HookPoint> =
        (0 until (names?.length() ?: 0)).map { i -> HookPoint.entries.first { hookPointName(it) == names!!.getString(i) } }

    /** A `hooked` input as the verdict the machines take. */
    private fun verdict(h: JSONObject): HookVerdict = when {
        h.has("abort") -> h.getJSONObject("abort").let { HookVerdict.Abort(it.getString("reason"), it.optString("message", null)) }
        h.has("failed") -> HookVerdict.Failed(h.getString("failed"))
        else -> HookVerdict.Continue
    }

    /** Whether [got] is [want], an object matching by the members [want] names. */
    private fun matches(got: Any?, want: Any?): Boolean =
        if (want is JSONObject) got is JSONObject && want.keySet().all { matches(got.opt(it), want.get(it)) } else got != null && JsonCompare.same(want, got)

    private fun checkHook(label: String, point: HookPoint, context: HookContext, e: JSONObject) {
        assertEquals(e.getString("point"), hookPointName(point), "$label: hook point")
        assertEquals(e.getString("point"), context.hook, "$label: the context's hook")
        val json = JSONObject(context.json)
        e.optJSONObject("context")?.let { want -> for (k in want.keys()) assertTrue(matches(json.opt(k), want.get(k)), "$label: hook context member $k in $json") }
        e.optJSONArray("contextKeys")?.let { a -> for (i in 0 until a.length()) assertTrue(json.has(a.getString(i)) && !json.isNull(a.getString(i)), "$label: hook context lacks ${a.getString(i)}") }
        // The unpacked members agree with the JSON.
        assertEquals(json.optString("payer", null), context.payer, "$label: payer")
        assertEquals(json.optJSONObject("error")?.optString("code", null), context.errorCode, "$label: error code")
        assertEquals(json.has("paymentPayload"), context.paymentPayloadJson != null, "$label: paymentPayloadJson")
    }

    private fun feed(ex: Exchange, v: JSONObject): GateStep = when {
        v.has("body") -> ex.feedBody(v.getString("body").toByteArray())
        v.has("bodyTooLarge") -> ex.feedBodyTooLarge()
        v.has("clientGone") -> ex.feedClientGone()
        v.has("verified") -> ex.feedVerified(v.getJSONObject("verified").toString())
        v.has("settled") -> ex.feedSettled(SettleResponse.fromJson(v.getJSONObject("settled").toString()))
        v.has("facilitatorFailed") -> v.getJSONObject("facilitatorFailed").let { ex.feedFacilitatorFailed(it.getString("message"), it.optString("code", null)) }
        v.has("handled") -> v.getJSONObject("handled").let { ex.feedHandled(it.getInt("status").toUShort(), pairs(it.getJSONArray("headers")), it.getString("body").toByteArray()) }
        v.has("handlerFailed") -> ex.feedHandlerFailed()
        v.has("hooked") -> ex.feedHooked(verdict(v.getJSONObject("hooked")))
        else -> {
            val store = v.getJSONObject("store")
            ex.feedStore(
                when {
                    store.has("entry") -> StoreAnswer.Entry(null)
                    store.has("replaced") -> StoreAnswer.Replaced(store.getBoolean("replaced"))
                    store.has("released") -> StoreAnswer.Released
                    else -> StoreAnswer.Failed(store.getString("failed"))
                },
            )
        }
    }

    private fun checkHeaders(label: String, headers: List<HttpHeader>, e: JSONObject) {
        e.optJSONObject("headers")?.let { want -> for (k in want.keys()) assertEquals(want.getString(k), header(headers, k), "$label: header $k") }
        e.optJSONArray("absentHeaders")?.let { a -> for (i in 0 until a.length()) assertNull(header(headers, a.getString(i)), "$label: header ${a.getString(i)} must be absent") }
    }

    private fun kind(a: GateAction) = when (a) {
        is GateAction.PassThrough -> "passThrough"
        is GateAction.ReadBody -> "readBody"
        is GateAction.Store -> "store"
        is GateAction.Verify -> "verify"
        is GateAction.RunHandler -> "runHandler"
        is GateAction.Settle -> "settle"
        is GateAction.Hook -> "hook"
        is GateAction.Respond -> "respond"
        is GateAction.Fail -> "fail"
        is GateAction.Done -> "done"
    }

    private fun check(label: String, step: GateStep, e: JSONObject) {
        assertEquals(e.getString("action"), kind(step.action), label)
        if (e.has("shielded")) assertEquals(e.getBoolean("shielded"), step.shielded, "$label: shielded")
        e.optJSONArray("logs")?.let { a -> for (i in 0 until a.length()) assertTrue(step.logs.any { it.message.contains(a.getString(i)) }, "$label: no log line with ${a.getString(i)}") }
        when (val a = step.action) {
            is GateAction.ReadBody -> assertEquals(e.getLong("limit").toULong(), a.limit, label)
            is GateAction.RunHandler -> if (e.has("payer")) assertEquals(e.getString("payer"), a.paid.payer, label)
            is GateAction.Hook -> checkHook(label, a.point, a.context, e)
            is GateAction.Store -> {
                val (op, key, entry) = when (val o = a.op) {
                    is StoreOp.Claim -> Triple("claim", o.key, o.entry)
                    is StoreOp.Get -> Triple("get", o.key, null)
                    is StoreOp.Replace -> Triple("replace", o.key, o.entry)
                    is StoreOp.Release -> Triple("release", o.key, null)
                }
                assertEquals(e.getString("op"), op, label)
                if (e.has("keyPrefix")) assertTrue(key.startsWith(e.getString("keyPrefix")), "$label: $key")
                if (e.has("state")) assertEquals(e.getString("state"), JSONObject(entry!!).getString("state"), label)
            }
            is GateAction.Respond -> {
                val body = a.body.decodeToString()
                assertEquals(e.getInt("status"), a.status.toInt(), "$label: $body")
                checkHeaders(label, a.headers, e)
                if (e.has("body")) assertEquals(e.getString("body"), body, label)
                e.optJSONObject("json")?.let { want -> val got = JSONObject(body); for (k in want.keys()) sameJson(want.get(k), got.get(k), "$label: body member $k") }
                if (e.has("bill")) {
                    val text = header(a.headers, "payment-required")?.let { decodeHeaderText(it) } ?: body
                    sameJson(e.getJSONObject("bill"), JSONObject(text), "$label: the bill")
                }
                e.optJSONObject("siwx")?.let { want -> checkSiwx(label, JSONObject(decodeHeaderText(header(a.headers, "payment-required")!!)), want) }
                e.optJSONObject("settlement")?.let { want ->
                    val value = header(a.headers, "payment-response") ?: header(a.headers, "x-payment-response")
                    assertNotNull(value, "$label: no settlement header")
                    val got = JSONObject(decodeHeaderText(value!!))
                    for (k in want.keys()) sameJson(want.get(k), got.get(k), "$label: settlement member $k")
                }
            }
            else -> {}
        }
    }

    /** A bill's sign-in-with-x declaration: its info (but the random nonce), the nonce's form, its chains. */
    private fun checkSiwx(label: String, bill: JSONObject, want: JSONObject) {
        val declared = bill.getJSONObject("extensions").getJSONObject("sign-in-with-x")
        val info = declared.getJSONObject("info")
        for (k in listOf("domain", "uri", "issuedAt", "resources")) sameJson(want.get(k), info.get(k), "$label: sign-in info member $k")
        assertEquals("1", info.getString("version"), label)
        val nonce = info.getString("nonce")
        assertTrue(nonce.length >= 16 && nonce.all { it.isLetterOrDigit() && it.code < 128 }, "$label: nonce $nonce")
        val chains = declared.getJSONArray("supportedChains")
        assertEquals(want.getJSONArray("chains").toList(), (0 until chains.length()).map { chains.getJSONObject(it).getString("chainId") }, "$label: sign-in chains")
        assertTrue((0 until chains.length()).all { chains.getJSONObject(it).getString("type") == "eip191" }, label)
        assertNotNull(declared.optJSONObject("schema"), "$label: the schema")
    }

    fun gate(c: JSONObject) {
        val gate = gateOf(c.getJSONObject("gate"))
        val exchanges = mutableMapOf<String, Exchange>()
        val moves = c.getJSONArray("moves")
        for (i in 0 until moves.length()) {
            val m = moves.getJSONObject(i)
            val label = "${c.getString("name")} (move $i)"
            val step = when {
                m.has("start") -> {
                    val r = m.getJSONObject("request")
                    val head = RequestHead(r.getString("method"), r.getString("path"), r.getString("pathAndQuery"), r.getString("origin"), pairs(r.getJSONArray("headers")))
                    val started = gate.handle(head, null, false, m.getLong("now").toULong())
                    started.exchange?.let { exchanges[m.getString("start")] = it }
                    started.step
                }
                m.has("feed") -> feed(exchanges.getValue(m.getString("feed")), m.getJSONObject("input"))
                else -> exchanges.getValue(m.getString("cancel")).cancel()
            }
            check(label, step, m.getJSONObject("expect"))
        }
    }

    private fun kind(s: FetchStep) = when (s) {
        is FetchStep.Send -> "send"
        is FetchStep.ReadBody -> "readBody"
        is FetchStep.Sign -> "sign"
        is FetchStep.Hook -> "hook"
        is FetchStep.Done -> "done"
        is FetchStep.Fail -> "fail"
        is FetchStep.Raise -> "raise"
    }

    private fun checkFetch(label: String, step: FetchStep, e: JSONObject) {
        assertEquals(e.getString("action"), kind(step), label)
        when (step) {
            is FetchStep.Send -> {
                assertEquals(e.getString("method"), step.request.method, label)
                assertEquals(e.getString("url"), step.request.url, label)
                checkHeaders(label, step.request.headers, e)
                if (e.has("body") && !e.isNull("body")) assertEquals(e.getString("body"), step.request.body?.decodeToString(), label)
                if (e.optBoolean("noBody", false)) assertNull(step.request.body, label)
                if (e.has("own")) assertEquals(e.getBoolean("own"), step.own, "$label: own")
            }
            is FetchStep.Sign -> assertEquals(e.getInt("digests"), step.digests.size, label)
            is FetchStep.Hook -> checkHook(label, step.point, step.context, e)
            is FetchStep.Fail -> assertEquals(e.getString("error"), step.error.code, label)
            is FetchStep.Done -> outcome(label, step.outcome, e)
            is FetchStep.Raise -> outcome(label, step.outcome, e)
            else -> {}
        }
    }

    private fun outcome(label: String, o: FetchOutcome, e: JSONObject) {
        if (e.has("paid")) assertEquals(e.getBoolean("paid"), o.payment != null, "$label: paid")
        if (e.has("open")) assertEquals(e.getBoolean("open"), o.open, "$label: open")
        if (e.has("paidStatus")) assertEquals(e.getInt("paidStatus"), o.paidStatus?.toInt(), "$label: paidStatus")
        if (e.has("reused")) assertEquals(e.getBoolean("reused"), o.payment!!.reused(), "$label: reused")
        if (e.has("bodyRead")) assertEquals(e.getBoolean("bodyRead"), o.bodyRead, "$label: bodyRead")
        if (e.has("signedIn")) assertEquals(e.getBoolean("signedIn"), o.signedIn, "$label: signedIn")
        if (e.has("passUsed")) assertEquals(e.getBoolean("passUsed"), o.passUsed, "$label: passUsed")
        if (e.has("unpaid")) assertEquals(e.getString("unpaid"), o.unpaid?.code, "$label: unpaid")
        e.optJSONObject("settlement")?.let { want ->
            val got = JSONObject(o.settlement!!.toJson())
            for (k in want.keys()) sameJson(want.get(k), got.get(k), "$label: settlement member $k")
        }
    }

    fun client(c: JSONObject) {
        val p = c.getJSONObject("payer")
        val key = LocalSigner(p.getString("key"))
        val policy = if (p.has("policy")) Policy.fromJson(p.getJSONObject("policy").toString()) else null
        val payer = Payer.withLocalSigner(
            key,
            policy,
            PayerOptions(expiryMargin = p.getLong("expiryMargin").toULong(), now = p.getLong("now").toULong(), randomness = bytes(p.getString("nonce"))),
        )
        val o = c.getJSONObject("options")
        val options = FetchOptions(
            followRedirects = o.optBoolean("followRedirects", true),
            maxRedirects = o.optInt("maxRedirects", 20).toUInt(),
            alreadyPaid = o.optBoolean("alreadyPaid", false),
            signInline = o.optBoolean("signInline", true),
            hooks = hookPoints(o.optJSONArray("hooks")),
            signIn = o.optBoolean("signIn", true),
            passFacilitators = o.optJSONArray("passFacilitators")?.let { a -> (0 until a.length()).map { a.getString(it) } },
        )
        val calls = mutableMapOf<String, Pair<PaidFetch, FetchStep>>()
        val moves = c.getJSONArray("moves")
        for (i in 0 until moves.length()) {
            val m = moves.getJSONObject(i)
            val label = "${c.getString("name")} (move $i)"
            val id: String
            val step = if (m.has("start")) {
                id = m.getString("start")
                val r = m.getJSONObject("request")
                val started = startPaidFetch(payer, FetchRequest(r.getString("method"), r.getString("url"), pairs(r.optJSONArray("headers")), if (r.has("body")) r.getString("body").toByteArray() else null), options)
                calls[id] = started.call to started.step
                started.step
            } else {
                id = m.getString("feed")
                val (call, last) = calls.getValue(id)
                val v = m.getJSONObject("input")
                when {
                    v.has("response") -> v.getJSONObject("response").let { call.feedResponse(it.getInt("status").toUShort(), pairs(it.getJSONArray("headers"))) }
                    v.has("body") -> call.feedBody(v.getString("body").toByteArray())
                    v.has("sendFailed") -> call.feedSendFailed()
                    v.has("hooked") -> call.feedHooked(verdict(v.getJSONObject("hooked")))
                    else -> call.feedSignatures((last as FetchStep.Sign).digests.map { key.signDigest(it) })
                }
            }
            calls[id] = calls.getValue(id).first to step
            checkFetch(label, step, m.getJSONObject("expect"))
        }
    }
}

/** JSON equality that ignores member order and number representation. */
internal object JsonCompare {
    fun same(a: Any?, b: Any?): Boolean = when {
        a is JSONObject && b is JSONObject -> a.keySet() == b.keySet() && a.keySet().all { same(a.get(it), b.get(it)) }
        a is JSONArray && b is JSONArray -> a.length() == b.length() && (0 until a.length()).all { same(a.get(it), b.get(it)) }
        a is Number && b is Number -> a.toString().toBigDecimal().compareTo(b.toString().toBigDecimal()) == 0
        else -> a == b
    }
}
