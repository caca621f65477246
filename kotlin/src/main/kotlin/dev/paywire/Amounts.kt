package dev.paywire

import dev.paywire.ffi.PaymentHeader
import dev.paywire.ffi.PaymentRequirements
import dev.paywire.ffi.VerifiedPayment
import java.math.BigInteger

// Token amounts cross the native boundary as decimal strings (a uint256 does not fit a Long); these read
// them as BigInteger, in the token's atomic units (USDC has 6 decimals: 10000 is $0.01).

/** The price of the offer in atomic units. */
val PaymentRequirements.atomicAmount: BigInteger get() = BigInteger(amount())

/** The amount the payment authorizes, in atomic units. */
val PaymentHeader.atomicAmount: BigInteger get() = BigInteger(amount())

/** The amount the verified payment authorizes, in atomic units. */
val VerifiedPayment.atomicAmount: BigInteger get() = BigInteger(amount)
