package dev.paywire

import dev.paywire.ffi.ErrorDetails
import dev.paywire.ffi.OfferRefusal
import dev.paywire.ffi.PaywireException

// paywire's errors arrive as `PaywireException.Failure`, one case carrying the same fields as in every other
// language. These properties read them off any `PaywireException`.

private val PaywireException.failure: PaywireException.Failure
    get() = when (this) {
        is PaywireException.Failure -> this
    }

/** The stable, machine-readable code (x402's reason string where x402 has one), e.g. `invalid_exact_evm_payload_signature`. */
val PaywireException.code: String get() = failure.code

/** `malformed_input`, `refused`, `configuration`, `local` or `upstream`: the core decides, as in the other languages. */
val PaywireException.category: String get() = failure.category

/** What was wrong and what to do, in words. */
val PaywireException.detail: String get() = failure.detail

/** The payer the error concerns, when known. */
val PaywireException.payer: String? get() = failure.payer

/** Why a payer's policy refused each offer of a bill (empty for other errors). */
val PaywireException.refusals: List<OfferRefusal> get() = failure.refusals

/** The exception for error details the core handed over (a paying client's `Fail` step). */
fun ErrorDetails.toException(): PaywireException =
    PaywireException.Failure(code, category, detail, payer, refusals)
