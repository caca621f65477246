package dev.paywire

import dev.paywire.ffi.*
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.DynamicContainer
import org.junit.jupiter.api.DynamicNode
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File

/**
 * Every file of tests/vectors/ through the Kotlin API (formats: tests/vectors/README.md). The Rust, Python and
 * Node suites run the same files.
 */
class VectorsTest {
    private val dir = File(System.getProperty("paywire.vectors") ?: "../tests/vectors")

    private fun load(name: String) = JSONObject(File(dir, "$name.json").readText())

    private val runners: Map<String, (JSONObject, Int) -> Unit> = mapOf(
        "headers" to { c, _ -> headers(c) },
        "responses" to { c, _ -> responses(c) },
        "networks" to { c, _ -> networks(c) },
        "assets" to ::assets,
        "typed_data" to { c, _ -> typedData(c) },
        "money" to { c, _ -> money(c) },
        "payments" to { c, _ -> payments(c) },
        "selection" to { c, _ -> selection(c) },
        "verification" to { c, _ -> verification(c) },
        "credentials" to { c, _ -> credentials(c) },
        "malformed" to { c, _ -> malformed(c) },
        "routes" to { c, _ -> ExchangeVectors.routes(c) },
        "gate" to { c, _ -> ExchangeVectors.gate(c) },
        "client" to { c, _ -> ExchangeVectors.client(c) },
    )

    private fun files() = dir.listFiles { f -> f.name.endsWith(".json") }!!.map { it.name.removeSuffix(".json") }.sorted()

    @Test
    fun `every vector file has a Kotlin runner and every runner a file`() {
        assertEquals(runners.keys.sorted(), files())
    }

    @Test
    fun `the asset table has exactly the vector entries`() {
        assertEquals(load("assets").getJSONArray("cases").length(), knownAssets().size)
    }

    @TestFactory
    fun vectors(): List<DynamicNode> = files().map { file ->
        val data = load(file)
        val cases = data.getJSONArray("cases")
        assertEquals(1, data.getInt("formatVersion"))
        assertTrue(cases.length() > 0, "$file.json has no cases")
        DynamicContainer.dynamicContainer(file, (0 until cases.length()).map { i ->
            val case = cases.getJSONObject(i)
            DynamicTest.dynamicTest(case.getString("name")) { runners.getValue(file)(case, i) }
        })
    }

    // ---- helpers

    private val categories = setOf("malformed_input", "refused", "configuration", "local", "upstream")

    private fun expectError(code: String, call: () -> Any?): PaywireException {
        val result = try {
            call()
        } catch (e: PaywireException) {
            assertEquals(code, e.code, e.toString())
            assertTrue(e.detail.isNotEmpty(), "the error has no message")
            assertTrue(e.category in categories, "unknown category ${e.category}")
            return e
        }
        fail<Unit>("expected $code, but the call returned $result")
        throw IllegalStateException()
    }

    private fun hex(bytes: ByteArray) = "0x" + bytes.joinToString("") { "%02x".format(it) }

    private fun bytes(hex: String): ByteArray = hex.removePrefix("0x").chunked(2).map { it.toInt(16).toByte() }.toByteArray()

    private fun sameJson(expected: Any, actualText: String, what: String = "JSON") {
        val actual: Any = if (actualText.trimStart().startsWith("[")) JSONArray(actualText) else JSONObject(actualText)
        val same = when (expected) {
            is JSONObject -> actual is JSONObject && expected.similar(actual)
            is JSONArray -> actual is JSONArray && expected.similar(actual)
            else -> false
        }
        assertTrue(same, "$what differs:\n expected $expected\n actual   $actualText")
    }

    private fun billOf(wire: JSONObject): PaymentRequired =
        if (wire.has("header")) PaymentRequired.fromHeader(wire.getString("header"))
        else PaymentRequired.fromBody(wire.getString("body").toByteArray())

    private fun JSONObject.optLongOrNull(key: String): Long? = if (has(key)) getLong(key) else null

    // ---- runners

    private fun headers(c: JSONObject) {
        val value = c.getString("value")
        assertEquals(c.getString("jsonText"), decodeHeaderText(value))
        assertEquals(value, encodeJsonText(c.getString("jsonText")))
        val decoded = decode(value)
        assertEquals(c.getString("message"), decoded.message)
        sameJson(c.get("json"), decoded.json)
        when (c.getString("message")) {
            "PaymentRequired" -> assertEquals(value, PaymentRequired.fromHeader(value).toHeader())
            "PaymentPayload" -> assertEquals(value, PaymentPayload.fromHeader(value).toHeader())
            "SettleResponse" -> SettleResponse.fromHeader(value)
            else -> fail("unknown message ${c.getString("message")}")
        }
    }

    private fun responses(c: JSONObject) {
        val pairs = c.getJSONArray("headers")
        val headers = (0 until pairs.length()).map { HttpHeader(pairs.getJSONArray(it).getString(0), pairs.getJSONArray(it).getString(1)) }
        val body = c.getString("body").toByteArray()
        val expect = c.getJSONObject("expect")
        val read: () -> Pair<Int?, String>? = {
            when (c.getString("read")) {
                "paymentRequired" -> PaymentRequired.fromResponse(headers, body).let { it.x402Version().toInt() to it.toJson() }
                "payment" -> readPayment(headers)?.let { it.x402Version().toInt() to it.toJson() }
                "settlement" -> readSettlement(headers)?.let { null to it.toJson() }
                else -> fail("unknown read ${c.getString("read")}")
            }
        }
        when {
            expect.has("error") -> expectError(expect.getString("error")) { read() }
            expect.has("none") -> assertNull(read())
            else -> {
                val (version, json) = read() ?: fail<Pair<Int?, String>>("nothing was read")
                if (expect.has("x402Version")) assertEquals(expect.getInt("x402Version"), version)
                sameJson(expect.get("json"), json)
            }
        }
    }

    private fun networks(c: JSONObject) {
        val expect = c.getJSONObject("expect")
        val network = c.getString("network")
        if (expect.has("error")) {
            expectError(expect.getString("error")) { chainId(network) }
        } else {
            assertEquals(expect.getLong("chainId"), chainId(network).toLong())
            assertEquals(expect.getString("caip2"), toCaip2(network))
        }
    }

    private fun typed(domain: JSONObject, primaryType: String, message: JSONObject): TypedDataHashes =
        typedDataHashes(JSONObject().put("domain", domain).put("primaryType", primaryType).put("message", message).toString())

    private fun assets(c: JSONObject, index: Int) {
        val ours = knownAssets()[index]
        val theirs = c.getJSONObject("asset")
        assertEquals(chainId(theirs.getString("network")), ours.chainId, "table order differs")
        assertEquals(theirs.getString("address"), ours.address)
        assertEquals(theirs.getString("eip712Name"), ours.eip712Name)
        assertEquals(theirs.getString("eip712Version"), ours.eip712Version)
        assertEquals(theirs.getInt("decimals"), ours.decimals.toInt())
        assertEquals(theirs.getString("symbol"), ours.symbol)
        assertEquals(theirs.getString("transferMethod"), ours.transferMethod)
        assertEquals(theirs.getBoolean("supportsEip2612"), ours.supportsEip2612)
        val domain = JSONObject().put("name", ours.eip712Name).put("version", ours.eip712Version)
            .put("chainId", ours.chainId.toLong()).put("verifyingContract", ours.address)
        val transfer = c.getJSONObject("transfer")
        val hashes = typed(domain, "TransferWithAuthorization", transfer.getJSONObject("message"))
        assertEquals(c.getString("domainSeparator"), hex(hashes.domainSeparator))
        assertEquals(transfer.getString("digest"), hex(hashes.digest))
        assertEquals(transfer.getString("signature"), hex(LocalSigner(transfer.getString("key")).signDigest(hashes.digest)))
    }

    private fun typedData(c: JSONObject) {
        val hashes = typed(c.getJSONObject("domain"), c.getString("primaryType"), c.getJSONObject("message"))
        assertEquals(c.getString("domainSeparator"), hex(hashes.domainSeparator))
        assertEquals(c.getString("digest"), hex(hashes.digest))
        assertEquals(c.getString("signer"), recoverAddress(hashes.digest, bytes(c.getString("signature"))))
        if (c.has("key")) assertEquals(c.getString("signature"), hex(LocalSigner(c.getString("key")).signDigest(hashes.digest)))
    }

    private fun money(c: JSONObject) {
        // As in every binding, a tag that cannot make an offer is refused when it is made.
        val offerOf = { PriceTag(PriceTagOptions(network = c.getString("network"), payTo = c.getString("payTo"), price = c.getString("price"))).toRequirements("https://example.com/r") }
        val expect = c.getJSONObject("expect")
        if (expect.has("error")) {
            expectError(expect.getString("error")) { offerOf() }
            return
        }
        val offer = offerOf()
        assertEquals(expect.getString("amount"), offer.amount())
        assertEquals(expect.getString("asset"), offer.asset())
        sameJson(expect.getJSONObject("extra"), offer.extraJson() ?: "{}", "extra")
    }

    private fun payerFor(c: JSONObject, policy: Policy? = null) = Payer.withLocalSigner(
        LocalSigner(c.getString("key")),
        policy,
        PayerOptions(
            expiryMargin = c.optLongOrNull("expiryMargin")?.toULong(),
            now = c.getLong("now").toULong(),
            randomness = bytes(c.getString("nonce")),
        ),
    )

    private fun payments(c: JSONObject) {
        val payer = payerFor(c)
        val header = payer.pay(billOf(c.getJSONObject("bill")), eip2612Nonce = if (c.has("eip2612Nonce")) c.get("eip2612Nonce").toString() else null)
        val expect = c.getJSONObject("expect")
        assertEquals(expect.getInt("offerIndex"), header.offerIndex().toInt())
        assertEquals(expect.getString("headerName"), header.name())
        assertEquals(expect.getString("headerValue"), header.value(), "paywire's header differs from @x402/core's")
    }

    private fun selection(c: JSONObject) {
        val payer = payerFor(c, Policy.fromJson(c.getJSONObject("policy").toString()))
        val steps = c.getJSONArray("steps")
        for (i in 0 until steps.length()) {
            val step = steps.getJSONObject(i)
            val bill = billOf(step.getJSONObject("bill"))
            val expect = step.getJSONObject("expect")
            if (expect.has("index")) {
                assertEquals(expect.getInt("index"), payer.pay(bill).offerIndex().toInt(), "step $i")
            } else {
                val e = expectError(expect.getString("error")) { payer.pay(bill) }
                val refused = expect.getJSONArray("refused")
                assertEquals((0 until refused.length()).map { refused.getInt(it) }, e.refusals.map { it.index.toInt() }, "step $i")
            }
        }
    }

    private fun verification(c: JSONObject) {
        val payment = PaymentPayload.fromHeader(c.getString("payment"))
        val requirements = PaymentRequirements.fromJson(c.getJSONObject("requirements").toString())
        val options = VerifyOptions(now = c.getLong("now").toULong())
        val verdict = verifyToResponse(payment, requirements, options)
        val expect = c.getJSONObject("expect")
        assertEquals(expect.getBoolean("isValid"), verdict.isValid, verdict.invalidMessage)
        assertEquals(expect.optString("invalidReason", null), verdict.invalidReason)
        assertEquals(expect.optString("payer", null), verdict.payer)
        if (expect.getBoolean("isValid")) {
            assertEquals(expect.getString("payer"), verifyPayment(payment, requirements, options).payer)
        } else {
            val e = expectError(expect.getString("invalidReason")) { verifyPayment(payment, requirements, options) }
            assertEquals(expect.optString("payer", null), e.payer)
        }
    }

    private fun credentials(c: JSONObject) {
        val issuer = Issuer(LocalSigner(c.getString("key")), c.getString("format"))
        val signer = c.getString("signer")
        assertEquals(signer, issuer.address())
        assertEquals(c.getString("kid"), issuer.kid())
        val given = c.getJSONObject("input")
        when (c.getString("kind")) {
            "offer" -> {
                val requirements = PaymentRequirements.fromJson(JSONObject(given.getJSONObject("requirements").toString()).put("maxTimeoutSeconds", 60).toString())
                val validUntil = given.getLong("validUntil").toULong()
                val ours = issuer.issueOffer(requirements, given.getString("resourceUrl"), given.getInt("acceptIndex").toUInt(), validUntil)
                sameJson(c.getJSONObject("expect"), ours.toJson(), "signed offer")
                val official = SignedOffer.fromJson(c.getJSONObject("expect").toString())
                assertEquals(signer, official.verify(listOf(signer), validUntil).signer)
                assertTrue(official.describes(requirements))
            }
            "receipt" -> {
                val transaction = if (given.has("transaction") && !given.isNull("transaction")) given.getString("transaction") else null
                val ours = issuer.issueReceipt(given.getString("resourceUrl"), given.getString("payer"), given.getString("network"), transaction, given.getLong("issuedAt").toULong())
                sameJson(c.getJSONObject("expect"), ours.toJson(), "signed receipt")
                val verified = SignedReceipt.fromJson(c.getJSONObject("expect").toString()).verify(listOf(signer))
                assertEquals(signer, verified.signer)
                val payload = JSONObject(verified.payloadJson)
                assertEquals(given.getString("payer"), payload.getString("payer"))
                assertEquals(transaction, payload.optString("transaction").ifEmpty { null })
            }
            else -> fail("unknown kind ${c.getString("kind")}")
        }
    }

    private fun malformed(c: JSONObject) {
        val input = c.getString("input")
        val parse: () -> Any = when (c.getString("kind")) {
            "header" -> { -> decodeHeaderJson(input) }
            "paymentRequired" -> { -> PaymentRequired.fromHeader(input) }
            "payment" -> { -> PaymentPayload.fromHeader(input) }
            "settleResponse" -> { -> SettleResponse.fromHeader(input) }
            else -> fail("unknown kind ${c.getString("kind")}")
        }
        expectError(c.getString("error"), parse)
    }

    @Test
    fun `an unknown error code is refused`() {
        assertFalse(isErrorCode("no_such_code"))
        assertTrue(errorCodes().all { isErrorCode(it) })
    }
}
