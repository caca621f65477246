package dev.paywire

import dev.paywire.ffi.*
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.atomic.AtomicInteger

/** A signer written in Kotlin, called back from the core; and what happens when it misbehaves. */
class SignerCallbackTest {
    private val key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    private val payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
    private val bill = buildPaymentRequired(
        "https://api.example.com/weather",
        listOf(PriceTag(PriceTagOptions(network = "eip155:84532", payTo = payTo, price = "$0.01"))),
    )

    /** Signs with a key the core never sees (here held by a LocalSigner, as a keystore would hold it). */
    private class KeystoreSigner(private val inner: LocalSigner) : Signer {
        val calls = AtomicInteger()
        override fun address(): String = inner.address()
        override fun signDigest(digest: ByteArray): ByteArray {
            calls.incrementAndGet()
            // v as 0/1, as many keystores return it: paywire normalises it.
            return inner.signDigest(digest).also { it[64] = (it[64] - 27).toByte() }
        }
    }

    @Test
    fun `a Kotlin signer signs a payment the core verifies`() {
        val signer = KeystoreSigner(LocalSigner(key))
        val payer = Payer(signer)
        val header = payer.pay(bill, "purchase-1")
        assertEquals(1, signer.calls.get())
        assertEquals("PAYMENT-SIGNATURE", header.name())
        val accepted = checkPayment(bill, PaymentPayload.fromHeader(header.value()))
        assertEquals(signer.address(), accepted.verified().payer)
        assertTrue(accepted.verified().fullyVerified)
        assertEquals("10000", accepted.verified().amount)
        // The same purchase again: the same payment, no second signature.
        val again = payer.pay(bill, "purchase-1")
        assertTrue(again.reused())
        assertEquals(header.value(), again.value())
        assertEquals(1, signer.calls.get())
    }

    @Test
    fun `a signer that throws becomes signer_failed, not a crash`() {
        val payer = Payer(object : Signer {
            override fun address() = LocalSigner(key).address()
            override fun signDigest(digest: ByteArray): ByteArray = throw IllegalStateException("the keystore is locked")
        })
        val e = assertThrows(PaywireException::class.java) { payer.pay(bill) }
        assertEquals("signer_failed", e.code)
        assertTrue(e.detail.contains("the keystore is locked"), e.detail)
        // The payer is still usable afterwards.
        assertThrows(PaywireException::class.java) { payer.pay(bill) }
    }

    @Test
    fun `a signer that throws PaywireException keeps its words`() {
        val payer = Payer(object : Signer {
            override fun address() = LocalSigner(key).address()
            override fun signDigest(digest: ByteArray): ByteArray =
                throw PaywireException.Failure("signer_failed", "local", "the user declined", null, emptyList())
        })
        val e = assertThrows(PaywireException::class.java) { payer.pay(bill) }
        assertEquals("signer_failed", e.code)
        assertTrue(e.detail.contains("the user declined"), e.detail)
    }

    @Test
    fun `a signature by another key is refused`() {
        val other = LocalSigner.generate()
        val payer = Payer(object : Signer {
            override fun address() = LocalSigner(key).address()
            override fun signDigest(digest: ByteArray) = other.signDigest(digest)
        })
        val e = assertThrows(PaywireException::class.java) { payer.pay(bill) }
        assertEquals("signer_mismatch", e.code)
    }

    @Test
    fun `a signature of the wrong length is refused`() {
        val payer = Payer(object : Signer {
            override fun address() = LocalSigner(key).address()
            override fun signDigest(digest: ByteArray) = ByteArray(12)
        })
        val e = assertThrows(PaywireException::class.java) { payer.pay(bill) }
        assertEquals("signer_failed", e.code)
        assertTrue(e.detail.contains("unusable signature"), e.detail)
    }

    @Test
    fun `a signer with a malformed address is refused when the payer is made`() {
        val e = assertThrows(PaywireException::class.java) {
            Payer(object : Signer {
                override fun address() = "not an address"
                override fun signDigest(digest: ByteArray) = ByteArray(65)
            })
        }
        assertEquals("invalid_argument", e.code)
    }

    @Test
    fun `an asynchronous signer pays through prepare and complete`() {
        val local = LocalSigner(key)
        val payer = Payer(object : Signer {
            override fun address() = local.address()
            override fun signDigest(digest: ByteArray): ByteArray = throw IllegalStateException("not called")
        })
        val prepared = payer.prepare(bill, "p") as Prepared.NeedsSignatures
        val signatures = prepared.prepared.digests().map { local.signDigest(it) }
        val header = payer.complete(prepared.prepared, signatures)
        assertEquals(local.address(), checkPayment(bill, PaymentPayload.fromHeader(header.value())).verified().payer)
        assertTrue(payer.prepare(bill, "p") is Prepared.Ready)
    }
}
