package dev.paywire

import dev.paywire.ffi.HookContext
import dev.paywire.ffi.HookPoint
import dev.paywire.ffi.HookVerdict

// Hooks: your code at fixed points of a payment, as the official x402 SDKs offer them. The points are the
// core's exchange machines' (paywire_core::hooks), so a hook runs at the same moment, with the same context,
// in Kotlin, Python, Node and Swift. Before anything is paid or charged (the before hooks and afterVerify) a
// hook may abort: a client then throws `payment_aborted`, the PaymentFilter answers the bill with the reason;
// a hook that throws there stops the exchange too (`hook_failed`). Afterwards hooks only observe: an abort or
// a throw is logged by the core and ignored. A hook cannot stand in for the facilitator.

/** What a hook decides. */
sealed class HookResult {
    /** Go on. */
    object Continue : HookResult()

    /** Stop the exchange with a machine-readable [reason] (the bill's `error` on a server) and a [message]. */
    data class Abort(val reason: String, val message: String? = null) : HookResult()
}

/** A hook: told where the exchange is ([HookContext]), it decides whether it goes on. */
fun interface Hook {
    /** Runs the hook. */
    fun run(context: HookContext): HookResult
}

/** Hooks by point, run in the order they were added; give them to a paying client or a [PaymentFilter]. */
class Hooks {
    private val byPoint = LinkedHashMap<HookPoint, MutableList<Hook>>()

    /** Adds [hook] at [point]; returns this. */
    fun on(point: HookPoint, hook: Hook): Hooks = apply { byPoint.getOrPut(point) { mutableListOf() }.add(hook) }

    /** Before `/verify`, after the offline checks; may abort. */
    fun onBeforeVerify(hook: Hook) = on(HookPoint.BEFORE_VERIFY, hook)

    /** After `/verify` accepted, before the handler runs; may abort. */
    fun onAfterVerify(hook: Hook) = on(HookPoint.AFTER_VERIFY, hook)

    /** `/verify` refused the payment or failed. */
    fun onVerifyFailure(hook: Hook) = on(HookPoint.VERIFY_FAILURE, hook)

    /** The handler delivered, before the payment's first `/settle`; may abort (nothing is sent then). */
    fun onBeforeSettle(hook: Hook) = on(HookPoint.BEFORE_SETTLE, hook)

    /** The payment settled and is recorded, before the response is sent. */
    fun onAfterSettle(hook: Hook) = on(HookPoint.AFTER_SETTLE, hook)

    /** `/settle` refused the payment, left it pending or failed. */
    fun onSettleFailure(hook: Hook) = on(HookPoint.SETTLE_FAILURE, hook)

    /** Client: a bill is to be paid, before the payment is chosen and signed; may abort. */
    fun onBeforePaymentCreation(hook: Hook) = on(HookPoint.BEFORE_PAYMENT_CREATION, hook)

    /** Client: a payment was created, before it is sent. */
    fun onAfterPaymentCreation(hook: Hook) = on(HookPoint.AFTER_PAYMENT_CREATION, hook)

    /** Client: creating a payment failed (the policy refused every offer, the signer failed). */
    fun onPaymentCreationFailure(hook: Hook) = on(HookPoint.PAYMENT_CREATION_FAILURE, hook)

    /** The points with hooks, for the core's machines. */
    fun points(): List<HookPoint> = byPoint.keys.toList()

    /** Runs the hooks at [point] in order; the first abort or throw decides. */
    internal fun run(point: HookPoint, context: HookContext): HookVerdict {
        for (hook in byPoint[point].orEmpty()) {
            val result = try {
                hook.run(context)
            } catch (e: Exception) {
                return HookVerdict.Failed("${e.javaClass.simpleName}: ${e.message}")
            }
            if (result is HookResult.Abort) return HookVerdict.Abort(result.reason, result.message)
        }
        return HookVerdict.Continue
    }

    companion object {
        /** No hooks. */
        val NONE = Hooks()
    }
}
