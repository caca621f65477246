package dev.paywire

import dev.paywire.ffi.FacilitatorEndpoint
import dev.paywire.ffi.FetchOptions
import dev.paywire.ffi.FetchRequest
import dev.paywire.ffi.HttpHeader
import dev.paywire.ffi.LocalSigner
import dev.paywire.ffi.Payer
import dev.paywire.ffi.PaymentPayload
import dev.paywire.ffi.PriceTag
import dev.paywire.ffi.PriceTagOptions
import dev.paywire.ffi.RequestHead
import dev.paywire.ffi.buildPaymentRequired
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * The records that carry URLs and headers print without them: a data class's own `toString` would put an RPC
 * endpoint's API key, a payment or the caller's credentials into whatever log prints the record. A payment
 * prints without its signature.
 */
class PrintedFormsTest {
    private val secrets = listOf("SECRETKEY", "tok-123", "apikey=abc", "user:pw", "PAYMENTVALUE")

    private fun assertHidden(printed: String, vararg shown: String) {
        for (secret in secrets) assertFalse(printed.contains(secret), "$secret printed in $printed")
        for (part in shown) assertTrue(printed.contains(part), "$part missing from $printed")
    }

    @Test
    fun headersPrintTheirNamesOnly() {
        assertHidden(HttpHeader("Authorization", "Bearer tok-123").toString(), "Authorization")
    }

    @Test
    fun aFetchRequestPrintsItsOriginAndHeaderNames() {
        val request = FetchRequest(
            "POST",
            "https://user:pw@rpc.example:8545/v2/SECRETKEY?apikey=abc",
            listOf(HttpHeader("Authorization", "Bearer tok-123"), HttpHeader("PAYMENT-SIGNATURE", "PAYMENTVALUE")),
            "{}".toByteArray(),
        )
        assertHidden(request.toString(), "POST", "https://rpc.example:8545", "Authorization", "PAYMENT-SIGNATURE")
    }

    @Test
    fun fetchOptionsPrintTheNetworksOfTheirRpcUrls() {
        val options = FetchOptions(
            passFacilitators = listOf("https://user:pw@pass.example/x402?apikey=abc"),
            rpcUrls = mapOf("eip155:84532" to "https://base-sepolia.example/v2/SECRETKEY"),
        )
        assertHidden(options.toString(), "eip155:84532", "https://pass.example/x402")
    }

    @Test
    fun aRequestHeadPrintsItsPathAndHeaderNames() {
        val head = RequestHead("GET", "/weather", "/weather?apikey=abc", "https://api.example", listOf(HttpHeader("X-PAYMENT", "PAYMENTVALUE")))
        assertHidden(head.toString(), "/weather", "https://api.example", "X-PAYMENT")
    }

    @Test
    fun aPaymentPrintsWithoutItsSignature() {
        val bill = buildPaymentRequired(
            "https://api.example.com/weather",
            listOf(PriceTag(PriceTagOptions(network = "eip155:84532", payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", price = "$0.01"))),
        )
        val payment = PaymentPayload.fromHeader(Payer(LocalSigner("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")).pay(bill, "p").value())
        val signature = org.json.JSONObject(payment.payloadJson()).getString("signature")
        val printed = payment.toString()
        assertFalse(printed.contains(signature.removePrefix("0x").take(16)), printed)
        assertHidden(printed, "exact", "eip155:84532")
    }

    @Test
    fun aFacilitatorEndpointPrintsItsUrlWithoutCredentials() {
        assertHidden(FacilitatorEndpoint("https://user:pw@facilitator.example/settle?apikey=abc", "POST").toString(), "https://facilitator.example/settle")
    }
}
