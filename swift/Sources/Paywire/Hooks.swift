import Foundation
import PaywireFFI

/// What a hook decides.
public enum HookResult: Sendable {
    /// Go on.
    case proceed
    /// Stop the payment with a machine-readable `reason` and a `message` for a person (only before anything is
    /// paid; afterwards the core logs and ignores it).
    case abort(reason: String, message: String? = nil)
}

/// A hook: told where the payment is (`HookContext`), it decides whether it goes on. A hook that throws stops
/// a payment not yet made (`hook_failed`) and is ignored afterwards.
public typealias Hook = @Sendable (HookContext) async throws -> HookResult

/// Hooks by point, run in the order they were added, at the points of the core's machines (the same points,
/// with the same context, as in Python, Node and Kotlin). Give them to a `PayingSession`.
public final class Hooks: @unchecked Sendable { // the lists are guarded by `lock`
    private var byPoint: [HookPoint: [Hook]] = [:]
    private var order: [HookPoint] = []
    private let lock = NSLock()

    public init() {}

    /// Adds `hook` at `point`; returns self.
    @discardableResult
    public func on(_ point: HookPoint, _ hook: @escaping Hook) -> Hooks {
        lock.lock()
        defer { lock.unlock() }
        if byPoint[point] == nil { order.append(point) }
        byPoint[point, default: []].append(hook)
        return self
    }

    /// A bill is to be paid, before the payment is chosen and signed; may abort.
    @discardableResult
    public func onBeforePaymentCreation(_ hook: @escaping Hook) -> Hooks { on(.beforePaymentCreation, hook) }

    /// A payment was created, before it is sent.
    @discardableResult
    public func onAfterPaymentCreation(_ hook: @escaping Hook) -> Hooks { on(.afterPaymentCreation, hook) }

    /// Creating a payment failed (the policy refused every offer, the signer failed).
    @discardableResult
    public func onPaymentCreationFailure(_ hook: @escaping Hook) -> Hooks { on(.paymentCreationFailure, hook) }

    /// The points with hooks, for the core's machine.
    public var points: [HookPoint] {
        lock.lock()
        defer { lock.unlock() }
        return order
    }

    /// The hooks at `point` (a synchronous helper: the lock is never held across an `await`).
    private func hooks(at point: HookPoint) -> [Hook] {
        lock.lock()
        defer { lock.unlock() }
        return byPoint[point] ?? []
    }

    /// Runs the hooks at `point` in order; the first abort or throw decides.
    func run(_ point: HookPoint, _ context: HookContext) async -> HookVerdict {
        for hook in hooks(at: point) {
            do {
                if case let .abort(reason, message) = try await hook(context) {
                    return .abort(reason: reason, message: message)
                }
            } catch {
                return .failed(message: "\(type(of: error)): \(error)")
            }
        }
        return .continue
    }
}
