/// A wake-up signal that a store raises after committing events, and that the relay (or anyone else)
/// waits on instead of polling in a tight loop.
///
/// The signal counts: ``generation`` grows by one with every ``signal()``. A waiter reads the generation
/// *before* it looks for work, and then waits for a generation past it, so a commit that happens between
/// the look and the wait is never missed.
public final class CommitSignal: Sendable {
    private enum Slot {
        case registered
        case waiting(after: UInt64, CheckedContinuation<Bool, Never>)
        case cancelled
    }

    private struct State {
        var generation: UInt64 = 0
        var nextWaiterID: UInt64 = 0
        var slots: [UInt64: Slot] = [:]
    }

    private let state = Locked(State())

    /// Creates a signal at generation 0.
    public init() {}

    /// How many times the signal was raised.
    public var generation: UInt64 {
        state.withLock { $0.generation }
    }

    /// Raises the signal: wakes every waiter.
    public func signal() {
        let woken = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.generation += 1
            var woken: [CheckedContinuation<Bool, Never>] = []
            for (id, slot) in state.slots {
                if case .waiting(let after, let continuation) = slot, after < state.generation {
                    woken.append(continuation)
                    state.slots[id] = nil
                }
            }
            return woken
        }
        for continuation in woken { continuation.resume(returning: true) }
    }

    /// Waits until the generation passes `seen`, the timeout elapses or the task is cancelled.
    ///
    /// - Returns: `true` when the signal was raised, `false` on timeout or cancellation.
    public func wait(after seen: UInt64, timeout: Duration) async -> Bool {
        if generation > seen { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait(after: seen) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func wait(after seen: UInt64) async -> Bool {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            state.slots[state.nextWaiterID] = .registered
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { state in
                    if state.generation > seen {
                        state.slots[id] = nil
                        return true
                    }
                    if case .cancelled = state.slots[id] {
                        state.slots[id] = nil
                        return false
                    }
                    state.slots[id] = .waiting(after: seen, continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                switch state.slots[id] {
                case .waiting(_, let continuation):
                    state.slots[id] = nil
                    return continuation
                case .registered:
                    state.slots[id] = .cancelled
                    return nil
                case .cancelled, nil:
                    return nil
                }
            }
            continuation?.resume(returning: false)
        }
    }
}

/// A store that raises a ``CommitSignal`` after every commit that appended events, so that a relay or a
/// projection can wake up instead of polling. A store that can't see every commit (another process writing)
/// raises it for those it sees; its readers poll as well.
public protocol CommitSignalling: Sendable {
    /// Raised after every commit that appended events.
    var commitSignal: CommitSignal { get }
}
