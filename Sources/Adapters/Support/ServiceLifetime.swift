import UserPorts

/// The end of a long-lived component's life, exactly once: the shared core of the stores' `close()` and
/// `run()`.
///
/// ``close(_:)`` runs its body once: the first caller runs it, callers that arrive while it runs wait for it
/// to finish, later callers return at once; so `close()` is idempotent and safe to call from several tasks
/// at once (a `ServiceGroup` ending `run()` while a test calls `close()`). ``waitUntilEnding()`` is what a
/// Service's `run()` awaits: it returns once ``requestEnd()`` was called (by a graceful-shutdown or
/// cancellation handler) or a close began. Nothing here parks a thread: waiters are continuations, resumed
/// by whoever ends the wait.
///
/// Adapter plumbing, like ``OperationGate``.
package final class ServiceLifetime: Sendable {
    private enum Phase {
        case open, closing, closed
    }

    private struct State {
        var phase = Phase.open
        var endRequested = false
        var endWaiters: [CheckedContinuation<Void, Never>] = []
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())

    /// A component that is open.
    package init() {}

    /// Whether a close has begun (or ended): operations started now must fail with `closed`.
    package var isClosed: Bool {
        state.withLock { $0.phase != .open }
    }

    /// Ends ``waitUntilEnding()``: for a graceful-shutdown or cancellation handler (synchronous, any thread).
    package func requestEnd() {
        let waiters = state.withLock { state in
            state.endRequested = true
            defer { state.endWaiters.removeAll() }
            return state.endWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once ``requestEnd()`` was called or a close began.
    package func waitUntilEnding() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.endRequested || state.phase != .open { return true }
                state.endWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Runs `body` if this is the first close; otherwise waits until the first close's body has returned.
    package func close(_ body: () async -> Void) async {
        let (first, endWaiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard state.phase == .open else { return (false, []) }
            state.phase = .closing
            defer { state.endWaiters.removeAll() }
            return (true, state.endWaiters)
        }
        guard first else {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state in
                    if state.phase == .closed { return true }
                    state.closeWaiters.append(continuation)
                    return false
                }
                if done { continuation.resume() }
            }
            return
        }
        // A run() waiting for the end returns now and calls close() itself, which waits for this one.
        for waiter in endWaiters { waiter.resume() }
        await body()
        let closeWaiters = state.withLock { state in
            state.phase = .closed
            defer { state.closeWaiters.removeAll() }
            return state.closeWaiters
        }
        for waiter in closeWaiters { waiter.resume() }
    }
}
