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
 * The key's address needs USDC on the bill's network. Where a server asks for Permit2 and sponsors its approval
 * (`eip2612GasSponsoring`), `PAYWIRE_RPC_URLS=eip155:84532=https://...` (comma-separated for more) names a
 * JSON-RPC endpoint per network: the payer's Permit2 allowance and EIP-2612 nonce are read there, and a payer
 * who never approved Permit2 pays with a permit.
 */
fun main(args: Array<String>) {
    val url = args.firstOrNull() ?: "http://127.0.0.1:8000/weather"
    val key = System.getenv("PAYWIRE_KEY") ?: run {
        System.err.println("set PAYWIRE_KEY to the payer's hex private key")
        exitProcess(2)
    }
    val signer = LocalSigner(key)
    val payer = Payer(signer, Policy.fromJson("""{"maxPerPayment": "$0.01", "budget": "$1"}"""))
    val rpcUrls = (System.getenv("PAYWIRE_RPC_URLS") ?: "").split(",").filter { "=" in it }
        .associate { it.substringBefore("=") to it.substringAfter("=") }
    val client = PaywireHttpClient(HttpClient.newHttpClient(), payer, rpcUrls = rpcUrls)
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
