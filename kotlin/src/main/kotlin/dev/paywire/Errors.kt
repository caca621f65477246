package dev.paywire

import dev.paywire.ffi.OfferRefusal
import dev.paywire.ffi.PaywireException

// paywire's errors arrive as `PaywireException`, one subclass per category (`MalformedInput`, `Refused`,
// `Configuration`, `Local`, `Upstream`), so `catch (e: PaywireException.Refused)` picks a kind. These
// properties read the members every case has, whatever the case.

/** The stable, machine-readable code (x402's reason string where x402 has one), e.g. `invalid_exact_evm_payload_signature`. */
val PaywireException.code: String
    get() = when (this) {
        is PaywireException.MalformedInput -> code
        is PaywireException.Refused -> code
        is PaywireException.Configuration -> code
        is PaywireException.Local -> code
        is PaywireException.Upstream -> code
    }

/** What was wrong and what to do, in words. */
val PaywireException.detail: String
    get() = when (this) {
        is PaywireException.MalformedInput -> detail
        is PaywireException.Refused -> detail
        is PaywireException.Configuration -> detail
        is PaywireException.Local -> detail
        is PaywireException.Upstream -> detail
    }

/** The payer the error concerns, when known. */
val PaywireException.payer: String?
    get() = when (this) {
        is PaywireException.MalformedInput -> payer
        is PaywireException.Refused -> payer
        is PaywireException.Configuration -> payer
        is PaywireException.Local -> payer
        is PaywireException.Upstream -> payer
    }

/** Why a payer's policy refused each offer of a bill (empty for other errors). */
val PaywireException.refusals: List<OfferRefusal>
    get() = when (this) {
        is PaywireException.MalformedInput -> refusals
        is PaywireException.Refused -> refusals
        is PaywireException.Configuration -> refusals
        is PaywireException.Local -> refusals
        is PaywireException.Upstream -> refusals
    }

/** `malformed_input`, `refused`, `configuration`, `local` or `upstream`, as in the other languages. */
val PaywireException.category: String
    get() = when (this) {
        is PaywireException.MalformedInput -> "malformed_input"
        is PaywireException.Refused -> "refused"
        is PaywireException.Configuration -> "configuration"
        is PaywireException.Local -> "local"
        is PaywireException.Upstream -> "upstream"
    }
