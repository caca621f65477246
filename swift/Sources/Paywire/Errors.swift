@_exported import PaywireFFI

// paywire's errors arrive as `PaywireError.Failure`, one case carrying the same fields as in every other
// language (the category is a field the core fills). These properties read them off any `PaywireError`.
public extension PaywireError {
    /// The stable, machine-readable code (x402's reason string where x402 has one), e.g. `no_acceptable_offer`.
    var code: String {
        switch self {
        case let .Failure(code, _, _, _, _): return code
        }
    }

    /// `malformed_input`, `refused`, `configuration`, `local` or `upstream`: the core decides, as in the other
    /// languages.
    var category: String {
        switch self {
        case let .Failure(_, category, _, _, _): return category
        }
    }

    /// What was wrong and what to do, in words.
    var detail: String {
        switch self {
        case let .Failure(_, _, detail, _, _): return detail
        }
    }

    /// The payer the error concerns, when known.
    var payer: String? {
        switch self {
        case let .Failure(_, _, _, payer, _): return payer
        }
    }

    /// Why a payer's policy refused each offer of a bill (empty for other errors).
    var refusals: [OfferRefusal] {
        switch self {
        case let .Failure(_, _, _, _, refusals): return refusals
        }
    }
}

public extension ErrorDetails {
    /// The error to throw for details the core handed over (a paying machine's `fail` step).
    var error: PaywireError {
        .Failure(code: code, category: category, detail: detail, payer: payer, refusals: refusals)
    }
}
