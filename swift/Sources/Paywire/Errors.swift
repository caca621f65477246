@_exported import PaywireFFI

// paywire's errors arrive as `PaywireError`, one case per category (`.MalformedInput`, `.Refused`,
// `.Configuration`, `.Local`, `.Upstream`), so `catch PaywireError.Refused` picks a kind. These properties
// read the members every case has, whatever the case.
public extension PaywireError {
    /// The stable, machine-readable code (x402's reason string where x402 has one), e.g. `no_acceptable_offer`.
    var code: String {
        switch self {
        case let .MalformedInput(code, _, _, _), let .Refused(code, _, _, _), let .Configuration(code, _, _, _),
             let .Local(code, _, _, _), let .Upstream(code, _, _, _):
            return code
        }
    }

    /// What was wrong and what to do, in words.
    var detail: String {
        switch self {
        case let .MalformedInput(_, detail, _, _), let .Refused(_, detail, _, _), let .Configuration(_, detail, _, _),
             let .Local(_, detail, _, _), let .Upstream(_, detail, _, _):
            return detail
        }
    }

    /// The payer the error concerns, when known.
    var payer: String? {
        switch self {
        case let .MalformedInput(_, _, payer, _), let .Refused(_, _, payer, _), let .Configuration(_, _, payer, _),
             let .Local(_, _, payer, _), let .Upstream(_, _, payer, _):
            return payer
        }
    }

    /// Why a payer's policy refused each offer of a bill (empty for other errors).
    var refusals: [OfferRefusal] {
        switch self {
        case let .MalformedInput(_, _, _, refusals), let .Refused(_, _, _, refusals),
             let .Configuration(_, _, _, refusals), let .Local(_, _, _, refusals), let .Upstream(_, _, _, refusals):
            return refusals
        }
    }

    /// `malformed_input`, `refused`, `configuration`, `local` or `upstream`, as in the other languages.
    var category: String {
        switch self {
        case .MalformedInput: return "malformed_input"
        case .Refused: return "refused"
        case .Configuration: return "configuration"
        case .Local: return "local"
        case .Upstream: return "upstream"
        }
    }
}
