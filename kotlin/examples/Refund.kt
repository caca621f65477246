package dev.paywire.examples

import dev.paywire.PaywireHttpClient
import dev.paywire.Payer
import dev.paywire.code
import dev.paywire.ffi.LocalSigner
import dev.paywire.ffi.PaywireException
import java.net.http.HttpClient
import kotlin.system.exitProcess

/**
 * Getting back what a batch-settlement channel holds beyond the server's charges: the server (holding its
 * receiver authorizer's key) claims what it charged and returns the rest in one transaction. A payer that lost
 * its channel state gets it back from the server's answer first.
 *
 *     PAYWIRE_KEY=0x... java -cp ... dev.paywire.examples.RefundKt http://127.0.0.1:8000/batch [UNITS]
 *
 * UNITS: how much to return (atomic units of the token); everything when left out.
 */
fun main(args: Array<String>) {
    val url = args.firstOrNull() ?: "http://127.0.0.1:8000/batch"
    val key = System.getenv("PAYWIRE_KEY") ?: run {
        System.err.println("set PAYWIRE_KEY to the payer's hex private key")
        exitProcess(2)
    }
    val client = PaywireHttpClient(HttpClient.newHttpClient(), Payer(LocalSigner(key)))
    val receipt = try {
        client.refund(url, args.getOrNull(1))
    } catch (e: PaywireException) { // nothing to refund, the server cannot sign refunds, or it did not confirm
        println("not refunded: ${e.code}")
        System.err.println(e.message)
        exitProcess(1)
    }
    println("refunded in transaction ${receipt.transaction()} on ${receipt.network()}")
}
