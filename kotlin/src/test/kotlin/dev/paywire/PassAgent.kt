package dev.paywire

import dev.paywire.ffi.LocalSigner
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse

/**
 * The on-chain suite's JDK client with passes (tests/e2e/test_passes.py): `PAYWIRE_KEY=0x... PassAgentKt URL
 * PASS_FACILITATOR N` calls URL N times through a [PaywireHttpClient] that may ask PASS_FACILITATOR for a pass,
 * and prints "STATUS paid|unpaid BODY" per call.
 */
fun main(args: Array<String>) {
    val (url, passFacilitator, count) = args
    val payer = Payer(LocalSigner(System.getenv("PAYWIRE_KEY")), null)
    val client = PaywireHttpClient(HttpClient.newHttpClient(), payer, passFacilitators = listOf(passFacilitator))
    repeat(count.toInt()) {
        val response = client.send(HttpRequest.newBuilder(URI(url)).build(), HttpResponse.BodyHandlers.ofString())
        println("${response.statusCode()} ${if (response.paidExchange != null) "paid" else "unpaid"} ${response.body()}")
    }
}
