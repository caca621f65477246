package dev.paywire

import dev.paywire.ffi.LocalSigner
import dev.paywire.ffi.Payer
import dev.paywire.ffi.PayerOptions
import dev.paywire.ffi.Policy

/**
 * A payer that signs with [signer] inside the native library, so `Payer(LocalSigner(key))` reads as it does
 * in Python and Node. (The generated `Payer(signer)` takes a [dev.paywire.ffi.Signer] written in Kotlin.)
 */
fun Payer(signer: LocalSigner, policy: Policy? = null, options: PayerOptions? = null): Payer =
    Payer.withLocalSigner(signer, policy, options)
