package dev.paywire

import dev.paywire.ffi.PaymentPayload
import dev.paywire.ffi.PaymentRequirements
import dev.paywire.ffi.SettleResponse
import dev.paywire.ffi.VerifyOptions
import dev.paywire.ffi.VerifyResponse
import dev.paywire.ffi.verifyPayment
import dev.paywire.ffi.verifyToResponse
import java.util.concurrent.atomic.AtomicInteger

/** A facilitator double for the JVM tests: verifies offline, settles everything, counts the calls. */
internal class OfflineFacilitator : Facilitator {
    val verifies = AtomicInteger()
    val settles = AtomicInteger()

    override fun verify(payment: PaymentPayload, requirements: PaymentRequirements): VerifyResponse {
        verifies.incrementAndGet()
        return verifyToResponse(payment, requirements, VerifyOptions())
    }

    override fun settle(payment: PaymentPayload, requirements: PaymentRequirements): SettleResponse {
        settles.incrementAndGet()
        val v = verifyPayment(payment, requirements, VerifyOptions())
        return SettleResponse.fromJson("""{"success":true,"transaction":"0x${"ab".repeat(32)}","network":"eip155:84532","payer":"${v.payer}"}""")
    }
}
