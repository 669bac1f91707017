import UserPorts

/// Tracks the operations submitted to one connection so that cancelling a task interrupts its own
/// operation and no other: the shared core of the SQLite interrupter and the PostgreSQL canceller.
///
/// An operation is registered when it is submitted (``register()``), begins when the connection's thread
/// picks it up (``begin(_:)``) and ends afterwards (``end(_:)``). ``cancel(_:interrupt:)`` interrupts it
/// while it runs, or keeps it from beginning if it has not begun yet, so a cancel that arrives between the
/// task's last cancellation check and the start of the statement is never lost.
package final class OperationGate: Sendable {
    private struct State {
        var current: UInt64 = 0
        var nextID: UInt64 = 0
        var pending: Set<UInt64> = []
        var cancelledEarly: Set<UInt64> = []
    }

    private let state = Locked(State())

    package init() {}

    /// Registers a new operation and returns its id.
    package func register() -> UInt64 {
        state.withLock { state in
            state.nextID += 1
            state.pending.insert(state.nextID)
            return state.nextID
        }
    }

    /// Marks `id` as running; `false` when it was cancelled before it began (then it must not run).
    package func begin(_ id: UInt64) -> Bool {
        state.withLock { state in
            if state.cancelledEarly.remove(id) != nil { return false }
            state.current = id
            return true
        }
    }

    /// Ends `id`, run or not.
    package func end(_ id: UInt64) {
        state.withLock { state in
            if state.current == id { state.current = 0 }
            state.pending.remove(id)
            state.cancelledEarly.remove(id)
        }
    }

    /// Cancels `id`: calls `interrupt` if it is running (under the gate's lock, so it can't end meanwhile),
    /// or keeps it from beginning if it has not begun yet. Does nothing for an operation that ended.
    package func cancel(_ id: UInt64, interrupt: () -> Void) {
        state.withLock { state in
            if state.current == id {
                interrupt()
            } else if state.pending.contains(id) {
                state.cancelledEarly.insert(id)
            }
        }
    }
}
