package dev.paywire.examples

import dev.paywire.PaywireHttpClient
import dev.paywire.Payer
import dev.paywire.ffi.PaywireException
import dev.paywire.ffi.LocalSigner
import dev.paywire.ffi.Policy
import dev.paywire.paidExchange
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import kotlin.system.exitProcess

/**
 * An agent paying for an API with java.net.http: at most $0.01 per request and $1 in all.
 *
 *     PAYWIRE_KEY=0x... java -cp ... dev.paywire.examples.AgentKt http://127.0.0.1:8000/weather
 *
 * The key's address needs USDC on the bill's network.
 */
fun main(args: Array<String>) {
    val url = args.firstOrNull() ?: "http://127.0.0.1:8000/weather"
    val key = System.getenv("PAYWIRE_KEY") ?: run {
        System.err.println("set PAYWIRE_KEY to the payer's hex private key")
        exitProcess(2)
    }
    val signer = LocalSigner(key)
    val payer = Payer(signer, Policy.fromJson("""{"maxPerPayment": "$0.01", "budget": "$1"}"""))
    val client = PaywireHttpClient(HttpClient.newHttpClient(), payer)
    val response = try {
        client.send(HttpRequest.newBuilder(URI(url)).build(), HttpResponse.BodyHandlers.ofString())
    } catch (e: PaywireException) { // the bill broke the policy, or the signer failed
        System.err.println("not paid: ${e.message}")
        exitProcess(1)
    }
    println("${response.statusCode()} ${response.body()}")
    val settlement = response.paidExchange?.settlement
    if (settlement != null && settlement.success()) {
        println("paid ${payer.spentUsd()} from ${signer.address()} in transaction ${settlement.transaction()} on ${settlement.network()}")
    }
    exitProcess(if (response.statusCode() in 200..299) 0 else 1)
}
